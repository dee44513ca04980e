"""EventOutliers: per-event outliers of a numeric field within groups, by MAD or IQR."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from loglens.detect.base import DetectError
from loglens.detect.outliers import EventOutliers

START = datetime(2024, 3, 1, tzinfo=UTC)
TYPICAL_NS = {"/": 2e7, "/login": 1.5e8, "/api/search": 4e8, "/report": 3e9}


def _events(seed, n=4000, planted=30, sigma=0.25, log_normal=True, extra_groups=None):
    """Events of four endpoints with their own typical durations; ``planted`` outliers."""
    rng = np.random.default_rng(seed)
    paths = rng.choice(list(TYPICAL_NS), size=n, p=[0.4, 0.2, 0.3, 0.1])
    typical = np.array([TYPICAL_NS[p] for p in paths])
    if log_normal:
        values = typical * rng.lognormal(0.0, sigma, n)
    else:
        values = typical * (1 + sigma * rng.standard_normal(n))
    rows = rng.choice(n, size=planted, replace=False)
    high = rows[: planted * 2 // 3]
    low = rows[planted * 2 // 3 :]
    values[high] *= rng.uniform(8, 30, len(high))
    values[low] /= rng.uniform(8, 30, len(low)) if log_normal else 1e9
    times = [START + timedelta(seconds=7 * i) for i in range(n)]
    table = {
        "url.path": list(paths),
        "event.duration": values.astype(np.int64),
        "@timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
        "event.id": [f"ev{i:05d}" for i in range(n)],
    }
    if extra_groups:
        for key, count in extra_groups.items():
            table["url.path"] += [key] * count
            table["event.duration"] = np.r_[table["event.duration"], np.full(count, 10**9)]
            table["@timestamp"] = pa.concat_arrays(
                [table["@timestamp"], pa.array([START] * count, pa.timestamp("us", tz="UTC"))]
            )
            table["event.id"] += [f"{key}-{i}" for i in range(count)]
    return pa.table(table), {f"ev{i:05d}" for i in rows}, {f"ev{i:05d}" for i in high}


def _quality(detector, seeds=range(4), **kwargs):
    found_true = found = planted_total = 0
    for seed in seeds:
        table, planted, _ = _events(seed, **kwargs)
        anomalies = detector.fit_detect(table)
        flagged = {a.details["event_ids"][0] for a in anomalies}
        found_true += len(flagged & planted)
        found += len(flagged)
        planted_total += len(planted)
    return found_true / planted_total, found_true / max(found, 1)


@pytest.mark.parametrize("method", ["mad", "iqr"])
def test_planted_outliers_are_found_on_the_log_scale(method):
    recall, precision = _quality(EventOutliers(method=method, log_scale=True))
    assert recall >= 0.9, recall
    assert precision >= 0.8, precision


@pytest.mark.parametrize("method", ["mad", "iqr"])
def test_planted_outliers_are_found_in_symmetric_data(method):
    recall, precision = _quality(EventOutliers(method=method), log_normal=False, sigma=0.1)
    assert recall >= 0.9, recall
    assert precision >= 0.8, precision


def test_ignoring_the_groups_fails_the_bar():
    # One group for everything: the slow endpoint's normal events look like outliers and the
    # fast endpoint's outliers look normal.
    class OneGroup(EventOutliers):
        def _read(self, table, needed):
            _, values = super()._read(table, needed)
            return pa.array(["all"] * len(values)), values

    recall, precision = _quality(OneGroup(log_scale=True))
    assert recall < 0.9 or precision < 0.8


def test_side_high_reports_only_large_values():
    table, planted, high = _events(5)
    anomalies = EventOutliers(log_scale=True, side="high").fit_detect(table)
    flagged = {a.details["event_ids"][0] for a in anomalies}
    assert flagged & planted == flagged & high
    assert len(flagged & high) >= 0.9 * len(high)
    assert all(a.details["direction"] == "up" for a in anomalies)


def test_explanation_names_the_group_and_the_distance():
    table, _, _ = _events(6, planted=0)
    values = table.column("event.duration").to_numpy().copy()
    paths = table.column("url.path").to_pylist()
    row = paths.index("/api/search")
    values[row] = int(20 * TYPICAL_NS["/api/search"])
    table = table.set_column(1, "event.duration", pa.array(values))
    anomalies = EventOutliers(log_scale=True).fit_detect(table)
    mine = [a for a in anomalies if a.details["event_ids"] == [f"ev{row:05d}"]]
    assert len(mine) == 1
    anomaly = mine[0]
    group = np.array(paths) == "/api/search"
    typical = np.median(values[group])
    assert anomaly.kind == "outlier" and anomaly.detector == "outliers"
    assert anomaly.observed == values[row]
    assert anomaly.expected == pytest.approx(typical, rel=0.01)
    assert anomaly.explanation.startswith("url.path=/api/search: event.duration 8 s at ")
    assert f"{values[row] / typical:.1f}× the group's typical" in anomaly.explanation
    assert anomaly.start == START + timedelta(seconds=7 * row)


def test_small_groups_are_skipped_and_listed():
    table, _, _ = _events(7, planted=0, extra_groups={"/rare": 5, "/enough": 25})
    detector = EventOutliers(min_events=20).fit(table)
    assert detector.skipped_groups_ == {"/rare": 5}
    scores = detector.score(table)
    paths = np.array(table.column("url.path").to_pylist())
    assert np.isnan(scores[paths == "/rare"]).all()
    assert np.isfinite(scores[paths == "/enough"]).all()


def test_constant_group_does_not_explode():
    n = 50
    table = pa.table(
        {
            "host.name": ["web1"] * n,
            "network.bytes": [1000] * (n - 1) + [1010],
            "@timestamp": pa.array([START] * n, pa.timestamp("us", tz="UTC")),
            "event.id": [str(i) for i in range(n)],
        }
    )
    detector = EventOutliers(group="host.name", value="network.bytes").fit(table)
    scores = detector.score(table)
    assert np.all(np.isfinite(scores)) and scores[-1] < 100
    found = detector.detect(table)
    assert [a.details["event_ids"] for a in found] == [[str(n - 1)]]
    assert "1.01 kB" in found[0].explanation


def test_unknown_groups_nulls_and_missing_values():
    history, _, _ = _events(8, planted=0)
    table = pa.table(
        {
            "url.path": ["/new", None, "/", "/"],
            "event.duration": pa.array([10**12, 10**12, None, int(50 * TYPICAL_NS["/"])]),
            "@timestamp": pa.array([START] * 3 + [None], pa.timestamp("us", tz="UTC")),
            "event.id": ["a", "b", "c", "d"],
        }
    )
    detector = EventOutliers(log_scale=True).fit(history)
    scores = detector.score(table)
    assert np.isnan(scores[:3]).all() and scores[3] > 5
    assert detector.detect(table) == []  # the outlier has no time to place it


def test_null_group_is_its_own_group():
    values = np.r_[np.full(30, 100.0), [10_000.0]]
    table = pa.table(
        {
            "user.name": [None] * 31,
            "event.duration": values,
            "@timestamp": pa.array([START] * 31, pa.timestamp("us", tz="UTC")),
            "event.id": [str(i) for i in range(31)],
        }
    )
    found = EventOutliers(group="user.name").fit_detect(table)
    assert len(found) == 1 and found[0].series_key == (None,)
    assert "user.name=(none)" in found[0].explanation


def test_bad_input_is_a_clear_error():
    table, _, _ = _events(9, n=100, planted=0)
    with pytest.raises(DetectError, match="no column 'nope'"):
        EventOutliers(value="nope").fit(table)
    with pytest.raises(DetectError, match="not numeric"):
        EventOutliers(group="event.duration", value="url.path").fit(table)
    with pytest.raises(DetectError, match="method"):
        EventOutliers(method="zscore").fit(table)
    with pytest.raises(DetectError, match="not fitted"):
        EventOutliers().detect(table)
    with pytest.raises(DetectError, match="Table"):
        EventOutliers().fit({"url.path": []})


def test_ids_are_stable_and_distinct():
    table, _, _ = _events(10)
    first = [a.id for a in EventOutliers(log_scale=True).fit_detect(table)]
    second = [a.id for a in EventOutliers(log_scale=True).fit_detect(table)]
    assert first == second and len(set(first)) == len(first)


def test_many_events_are_fast():
    import time

    table, _, _ = _events(11, n=200_000, planted=100)
    began = time.perf_counter()
    EventOutliers(log_scale=True).fit_detect(table)
    assert time.perf_counter() - began < 2.0
