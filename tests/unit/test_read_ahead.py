"""ReadAhead: the next batch is read on a thread, in order, one ahead at most."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from loglens.sources.read_ahead import ReadAhead


def _counted(n: int, produced: list[int], fail_at: int | None = None) -> Iterator[int]:
    for i in range(n):
        if i == fail_at:
            raise OSError(f"disk gone at {i}")
        produced.append(i)
        yield i


def test_items_come_in_order_and_at_most_one_ahead() -> None:
    produced: list[int] = []
    seen = []
    with ReadAhead(_counted(50, produced)) as ahead:
        for item in ahead:
            time.sleep(0.002)  # the thread has time to run ahead, if it would
            assert len(produced) <= item + 2  # this item, and one read ahead
            seen.append(item)
    assert seen == list(range(50))


def test_an_error_is_raised_where_its_item_would_come() -> None:
    seen = []
    with ReadAhead(_counted(10, [], fail_at=4)) as ahead, pytest.raises(OSError, match="at 4"):
        for item in ahead:
            seen.append(item)
    assert seen == [0, 1, 2, 3]


def test_stopping_early_ends_the_thread() -> None:
    produced: list[int] = []
    before = threading.active_count()
    with ReadAhead(_counted(1_000_000, produced)) as ahead:
        for item in ahead:
            if item == 3:
                break
    assert threading.active_count() == before
    assert len(produced) <= 5


def test_an_empty_input() -> None:
    with ReadAhead(iter([])) as ahead:
        assert list(ahead) == []
