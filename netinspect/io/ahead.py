"""The second thread: preparing the next piece of data while the one before is used, or one job
beside the caller's."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

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


@contextlib.contextmanager
def alongside(job: Callable[..., T], *args: Any) -> Iterator[Future[T]]:
    """`job(*args)` on a second thread while the caller does its own work; its result (or error)
    is the future's. Worth it where both spend their time outside the GIL: reading a model file
    while another runtime builds its session."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool.submit(job, *args)
