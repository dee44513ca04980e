"""The pieces of an incremental pull that need no cluster: the watermark, durations, checkpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from loglens.errors import ConfigError, SourceError
from loglens.sources import elastic
from loglens.sources.elastic import Hit, ScanOptions, Watermark, parse_duration
from loglens.store import open_store


def _hit(index: str, doc_id: str, millis: int) -> Hit:
    return Hit(index, doc_id, millis, "{}")


def test_the_watermark_keeps_the_newest_millisecond_and_its_hits() -> None:
    mark = Watermark(100).advanced([_hit("a", "1", 90), _hit("a", "2", 120), _hit("b", "2", 120)])
    assert mark == Watermark(120, frozenset({("a", "2"), ("b", "2")}))
    # Order does not matter (scroll pages come in _doc order); older hits change nothing.
    assert (
        Watermark(100).advanced([_hit("b", "2", 120), _hit("a", "1", 90), _hit("a", "2", 120)])
        == mark
    )
    assert mark.advanced([_hit("c", "9", 119)]) == mark
    # A late arrival at the same millisecond joins the set; a newer one starts a new set.
    assert mark.advanced([_hit("c", "3", 120)]).seen == {("a", "2"), ("b", "2"), ("c", "3")}
    assert mark.advanced([_hit("c", "3", 121)]) == Watermark(121, frozenset({("c", "3")}))


def test_too_many_hits_at_one_millisecond_are_not_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(elastic, "MAX_SEEN", 3)
    mark = Watermark(0).advanced([_hit("a", str(n), 5) for n in range(4)])
    assert mark == Watermark(5, None)  # read again next time, as duplicates
    assert mark.advanced([_hit("a", "x", 6)]) == Watermark(6, frozenset({("a", "x")}))


def test_the_watermark_round_trips_through_json() -> None:
    mark = Watermark(1_714_607_988_266, frozenset({("logs-a", "x"), ("logs-b", "y")}))
    saved = mark.to_json()
    assert saved["timestamp"] == "2024-05-01T23:59:48.266Z"
    assert Watermark.from_json(saved) == mark
    assert Watermark.from_json(Watermark(5, None).to_json()) == Watermark(5, None)
    assert Watermark.from_json(None) is None
    assert mark.timestamp == datetime(2024, 5, 1, 23, 59, 48, 266000, tzinfo=UTC)


@pytest.mark.parametrize(
    "saved",
    [
        {},
        {"millis": "5"},
        {"millis": True},
        {"millis": 5, "seen": [["a"]]},
        {"millis": 5, "seen": "a"},
    ],
)
def test_a_malformed_checkpoint_is_an_error_not_a_restart(saved: dict[str, object]) -> None:
    with pytest.raises(SourceError, match="not a watermark"):
        Watermark.from_json(saved)


def test_checkpoints_are_kept_in_the_store(tmp_path: object) -> None:
    path = f"duckdb:{tmp_path}/store.duckdb"
    store = open_store(path)
    assert store.checkpoint("cluster:x/logs-*") is None
    store.save_checkpoint("cluster:x/logs-*", {"millis": 1})
    store.save_checkpoint("cluster:x/logs-*", {"millis": 2})
    store.save_checkpoint("cluster:x/other-*", {"millis": 3})
    store.close()
    reopened = open_store(path)
    assert reopened.checkpoint("cluster:x/logs-*") == {"millis": 2}
    assert reopened.checkpoint("cluster:x/other-*") == {"millis": 3}


def test_durations_and_scan_options() -> None:
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_duration("500ms") == timedelta(milliseconds=500)
    for bad in ("0h", "1w", "h", "-1h"):
        with pytest.raises(ConfigError):
            parse_duration(bad)
    with pytest.raises(SourceError):
        ScanOptions("logs-*", page_size=0)
    with pytest.raises(SourceError):
        ScanOptions("")
