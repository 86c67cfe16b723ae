"""`netinspect info` output: rich tables for people, `to_json` for programs.

Both read the summary dict (netinspect.analysis.summary), never the graph, so the two views cannot disagree.
Every cell is a `Text`, not markup, so layer names such as `conv[1]` print as they are.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from netinspect.errors import printable
from netinspect.renderers.formatting import format_shape, format_value, human_bytes, human_count


def to_json(summary: dict[str, Any]) -> str:
    """The summary as JSON (schema: netinspect/schemas/info.schema.json)."""
    return json.dumps(summary, indent=2, ensure_ascii=False)


_PIPED_WIDTH = 100_000
"""Columns a piped table may take: wider than any table, so none is wrapped."""


def print_summary(summary: dict[str, Any], console: Console, nodes: bool = False) -> None:
    """Print every section that has something to say; the node table only when asked for."""
    tables = [
        _overview(summary),
        _io(summary),
        _source_layers(summary),
        _ops(summary),
        _parameters(summary),
        _compute(summary),
        _metadata(summary),
        *_provenance(summary),
    ]
    if nodes and "list" in summary["nodes"]:
        tables.append(_nodes(summary["nodes"]["list"]))
    for table in tables:
        if table is None:
            continue
        if console.is_terminal:
            console.print(table)
        else:  # piped: as wide as the table needs, so no value (e.g. N×3×125×125) is split mid-token.
            # A table does not expand to the console's width, so printing it on a console wider than
            # any table lays it out at its natural width in one pass (measuring first cost a second
            # layout: ~30 ms of a 0.3 s `info`).
            width = console.width
            console.width = max(width, _PIPED_WIDTH)
            try:
                console.print(table, crop=False)
            finally:
                console.width = width


def _table(title: str, *columns: str, header: bool = True) -> Table:
    table = Table(title=title, title_justify="left", show_header=header, header_style="bold")
    for column in columns:
        numeric = column in (
            "Count",
            "Nodes",
            "With steps",
            "Tensors",
            "Parameters",
            "Bytes",
            "MACs",
            "FLOPs",
            "Unknown",
        )
        table.add_column(column, justify="right" if numeric else "left", overflow="fold")
    return table


def _row(table: Table, cells: Iterable[Any]) -> None:
    """Cells as plain text, with control characters from the model file (names, types) escaped
    line by line, so a hostile name cannot drive the terminal."""
    table.add_row(
        *(c if isinstance(c, Text) else Text("\n".join(map(printable, str(c).split("\n")))) for c in cells)
    )


def _overview(summary: dict[str, Any]) -> Table:
    fmt, counts, params, compute = (
        summary["format"],
        summary["nodes"],
        summary["parameters"],
        summary["compute"],
    )
    table = _table("Model", "Field", "Value", header=False)
    _row(table, ("Name", summary["model"]["name"] or "(unnamed)"))
    described = " ".join(x for x in (fmt["source_format"], fmt["format_version"]) if x)
    _row(table, ("Format", described or "?"))
    if fmt["producer"]:
        _row(table, ("Producer", fmt["producer"]))
    _row(table, ("Opset", ", ".join(f"{d} {v}" for d, v in summary["opset"].items())))
    nodes = f"{counts['count']}"
    if counts["subgraphs"]:
        nodes += f" ({counts['total']} with {counts['subgraphs']} subgraphs)"
    _row(table, ("Nodes", nodes))
    _row(
        table,
        (
            "Parameters",
            f"{human_count(params['count'])} ({params['count']:,}) in {params['tensors']} tensors, "
            f"{human_bytes(params['bytes'])}",
        ),
    )
    missing = params.get("missing_data")
    if missing:
        files = ", ".join(missing["files"])
        names = ", ".join(missing["names"][:5]) + (", …" if missing["tensors"] > 5 else "")
        count = f"{missing['tensors']} tensor{'s' if missing['tensors'] > 1 else ''}"
        _row(table, ("Missing data", f"{count} ({human_bytes(missing['bytes'])}) in {files}: {names}"))
    _row(table, ("Compute", _compute_line(compute)))
    line = untranslated_line(summary)
    if line:
        _row(table, ("Untranslated", line))
    if summary["model"]["doc"]:
        _row(table, ("Doc", summary["model"]["doc"]))
    return table


def untranslated_line(summary: dict[str, Any]) -> str | None:
    """One line on the layers shown without a translation, or None when there is none."""
    source = summary.get("source")
    if not source or not source["untranslated"]["count"]:
        return None
    untranslated = source["untranslated"]
    count = untranslated["count"]
    types = ", ".join(f"{t} ×{n}" if n > 1 else t for t, n in untranslated["types"].items())
    return (
        f"{count} layer{'s are' if count > 1 else ' is'} shown without a translation ({types}): "
        f"`convert` refuses {'them' if count > 1 else 'it'} (`convert --keep-unsupported` writes "
        f"{'them' if count > 1 else 'it'} as custom-domain ops)"
    )


SOURCE_ROWS = 500
"""Source layers listed by the text view (`--json` carries every one)."""


def _source_layers(summary: dict[str, Any]) -> Table | None:
    """The file's own layers as its framework names them, beside the ONNX operator table."""
    source = summary.get("source")
    if not source:
        return None
    title = f"Source layers ({source['framework']}, {len(source['layers'])})"
    table = _table(title, "Layer", "Type", "Configuration", "Output shape", "Parameters")
    for layer in source["layers"][:SOURCE_ROWS]:
        kind = layer["type"] if layer["supported"] else f"{layer['type']} (no translation)"
        shapes = " ".join(format_shape(t["shape"]) for t in layer["outputs"]) or "—"
        _row(table, (layer["name"], kind, layer["summary"], shapes, f"{layer['parameters']:,}"))
    if len(source["layers"]) > SOURCE_ROWS:
        table.caption = f"first {SOURCE_ROWS} of {len(source['layers'])} layers (info --json lists all)"
    return table


def _compute_line(compute: dict[str, Any]) -> str:
    line = f"{human_count(compute['macs'], 'MACs')}, {human_count(compute['flops'], 'FLOPs')}"
    symbolic = compute["symbolic_dims_as_1"]
    at = compute.get("evaluated_at") or {}
    if at:
        line += " at " + ", ".join(f"{k}={v}" for k, v in at.items())
    line += f" with {', '.join(symbolic)} = 1" if symbolic else "" if at else " for the declared input shapes"
    count = compute["unknown"]["count"]
    if count:
        line += f"; {count} node{'s' if count > 1 else ''} with unknown shapes not counted"
    return line


def _io(summary: dict[str, Any]) -> Table:
    table = _table("Inputs and outputs", "Kind", "Name", "Dtype", "Shape")
    for kind in ("inputs", "outputs"):
        for value in summary[kind]:
            _row(table, (kind[:-1], value["name"], value["dtype"] or "?", format_shape(value["shape"])))
    return table


def _ops(summary: dict[str, Any]) -> Table | None:
    if not summary["ops"]:
        return None
    table = _table("Operators", "Op", "Count")
    for op, count in summary["ops"].items():
        _row(table, (op, count))
    return table


def _parameters(summary: dict[str, Any]) -> Table | None:
    params = summary["parameters"]
    if not params["by_dtype"]:
        return None
    table = _table("Parameters", "Group", "Tensors", "Parameters", "Bytes")
    groups = [(f"dtype {k}", v) for k, v in params["by_dtype"].items()]
    if set(params["by_source"]) != {"initializer"}:
        groups += [(f"from {k.replace('_', ' ')}", v) for k, v in params["by_source"].items()]
    for group, row in groups:
        _row(table, (group, row["tensors"], f"{row['count']:,}", human_bytes(row["bytes"])))
    if params["unknown_tensors"]:
        table.caption = f"{params['unknown_tensors']} ConstantOfShape tensors of unknown size not counted"
    return table


def _compute(summary: dict[str, Any]) -> Table | None:
    compute = summary["compute"]
    if not compute["by_op"]:
        return None
    table = _table("Compute", "Op", "Nodes", "MACs", "FLOPs", "Unknown")
    for op, row in compute["by_op"].items():
        _row(table, (op, row["nodes"], human_count(row["macs"]), human_count(row["flops"]), row["unknown"]))
    table.caption = f"FLOPs = 2 × MACs; only {', '.join(compute['ops_counted'])} are counted"
    table.caption_justify = "left"
    if compute["unknown"]["nodes"]:
        table.caption += "\nunknown shapes: " + printable(", ".join(compute["unknown"]["nodes"]))
    return table


def _metadata(summary: dict[str, Any]) -> Table | None:
    meta = summary["metadata"]
    table = _table("Metadata", "Field", "Value", header=False)
    pre = meta["preprocessing"] or {}
    assumed = set((pre.get("extra") or {}).get("assumed") or [])  # values the file does not record
    for key, value in pre.items():
        if key == "extra":
            for extra_key, extra_value in value.items():
                if extra_key != "assumed":
                    _row(table, (f"preprocessing: {extra_key}", format_value(extra_value)))
        elif key == "mean_image" and value is not None:
            _row(table, ("preprocessing: mean image", f"{format_shape(value['shape'])} {value['dtype']}"))
        elif value is not None:
            shown = format_value(value) + (" (assumed: not recorded in the file)" if key in assumed else "")
            _row(table, (f"preprocessing: {key.replace('_', ' ')}", shown))
    labels = meta["labels"]
    if labels is not None:
        first = ", ".join(labels["first"]) + (", …" if labels["count"] > len(labels["first"]) else "")
        _row(table, ("labels", f"{labels['count']}: {first}"))
    for key, value in meta["properties"].items():
        _row(table, (f"property: {key}", value))
    for note in meta["notes"]:
        _row(table, ("note", note))
    return table if table.row_count else None


def _provenance(summary: dict[str, Any]) -> list[Table | None]:
    prov = summary["provenance"]
    if len(prov["frameworks"]) < 2 and not prov["transforms"]:
        return [None]  # e.g. an ONNX model read as itself: every node is its own source, unchanged
    frameworks = _table("Provenance", "Framework", "Nodes", "With steps", "Steps", "Layer types")
    for name, row in prov["frameworks"].items():
        steps = ", ".join(f"{kind} {n}" for kind, n in row["steps"].items()) or "-"
        types = ", ".join(f"{kind} {n}" for kind, n in row["layer_types"].items())
        _row(frameworks, (name, row["nodes"], row["nodes_with_steps"], steps, types))
    if not prov["transforms"]:
        return [frameworks]
    transforms = _table("Transformations applied on import", "Kind", "Transformation", "Nodes")
    for row in prov["transforms"]:
        _row(transforms, (row["kind"], row["text"], row["nodes"]))
    return [frameworks, transforms]


def _nodes(nodes: list[dict[str, Any]]) -> Table:
    columns = ("Id", "Name", "Op", "Inputs", "Weights", "Outputs", "Attributes", "MACs", "Source")
    table = _table("Nodes", *columns)
    for node in nodes:
        op = node["op"] if not node["domain"] else f"{node['domain']}.{node['op']}"
        prov = node["provenance"]
        source = ""
        if prov is not None:
            source = f"{prov['framework']} {prov['layer_type']} {prov['layer']}"
            source += "".join(f"\n↺ {step['text']}" for step in prov["steps"])
        _row(
            table,
            (
                node["id"] + (f"\n{node['scope']}" if node["scope"] else ""),
                node["name"],
                op,
                "\n".join(format_shape(v["shape"]) for v in node["inputs"]),
                "\n".join(format_shape(v["shape"]) for v in node["weights"]),
                "\n".join(format_shape(v["shape"]) for v in node["outputs"]),
                "\n".join(f"{k}={format_value(v)}" for k, v in node["attributes"].items()),
                "" if node["macs"] is None else human_count(node["macs"]),
                source,
            ),
        )
    return table
