"""The weight store of a `.keras` archive under the paths today's Keras writes.

Keras 3.0 named a model's layer list `_layer_checkpoint_dependencies` (later `layers`), and
joined store paths with `os.path.join`, so an archive saved on Windows has one root group per
layer named by its whole path with backslashes (`_layer_checkpoint_dependencies\\functional\\
_layer_checkpoint_dependencies\\conv2d`, its `vars` inside, since HDF5 splits names only on `/`).
Keras cannot load such a file; netinspect reads it through `PathTree`, which regroups the
file's groups under the normalized paths (`layers/functional/layers/conv2d`). `vars` groups and
datasets stay the file's own objects, so where and how arrays are read does not change.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

OLD_LIST = "_layer_checkpoint_dependencies"


class PathTree:
    """A group made of the file's groups regrouped by normalized path (read-only)."""

    def __init__(self) -> None:
        self.children: dict[str, Any] = {}
        self.attrs: dict[str, Any] = {}

    def _walk(self, path: str) -> Any:
        node: Any = self
        for part in path.strip("/").split("/"):
            node = node.children[part] if isinstance(node, PathTree) else node[part]
        return node

    def __getitem__(self, path: str) -> Any:
        return self._walk(path)

    def __contains__(self, path: object) -> bool:
        try:
            self._walk(str(path))
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.children)


def normalized(root: Any) -> Any:
    """`root` itself when its names are today's, else a `PathTree` of it."""
    keys = list(root)
    if not any("\\" in k or k == OLD_LIST or k.startswith(OLD_LIST + "\\") for k in keys):
        return root
    tree = PathTree()
    _graft(tree, root)
    return tree


def _graft(node: PathTree, group: Any) -> None:
    import h5py

    for key in group:
        obj = group[key]
        parts = ["layers" if p == OLD_LIST else p for p in key.split("\\")]
        target = node
        for part in parts[:-1]:
            target = target.children.setdefault(part, PathTree())
        if key == "vars" or not isinstance(obj, h5py.Group):
            target.children[parts[-1]] = obj
        else:
            _graft(target.children.setdefault(parts[-1], PathTree()), obj)
