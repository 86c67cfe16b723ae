"""The one loop that overlaps preparing a piece of data with using the one before."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def ahead(items: Iterator[T]) -> Iterator[T]:
    """`items`, each made on a second thread while the caller uses the one before: a block is
    permuted, or read from its file, while the previous one is written. The source must keep two
    items valid at once (two buffers taken in turn), since the next is made while this one is used."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(next, items, _END)
        while (item := pending.result()) is not _END:
            pending = pool.submit(next, items, _END)
            yield item  # type: ignore[misc]


_END: object = object()
