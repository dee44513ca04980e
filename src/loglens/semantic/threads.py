"""BLAS thread limits around the small matrix products of encoding and searching.

On a machine whose cores are busy, multithreaded OpenBLAS made a one-line query encode 10x
slower (p50 92 ms against 9 ms single-threaded) and bulk encoding 2x slower: its threads wait
for each other on every small product. The limit is set per call and restored afterwards, so
other numpy work in the process keeps its own setting.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import cache

from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]


@cache
def _controller() -> ThreadpoolController:
    # Inspecting the loaded native libraries is slow; once per process is enough.
    return ThreadpoolController()


@contextlib.contextmanager
def blas_threads(limit: int | None) -> Iterator[None]:
    """Run the block with at most ``limit`` BLAS threads (None: leave BLAS as it is)."""
    if limit is None:
        yield
        return
    with _controller().limit(limits=limit, user_api="blas"):
        yield
