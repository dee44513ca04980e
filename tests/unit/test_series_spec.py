"""SeriesSpec building blocks: intervals, metrics, and the frame views (no store involved)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from loglens.errors import ConfigError
from loglens.series import (
    Metric,
    Series,
    SeriesFrame,
    SeriesSpec,
    parse_interval,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15m", 900),
        ("1h", 3600),
        ("1d", 86400),
        (" 30 min ", 1800),
        ("1H", 3600),
        ("90s", 90),
        (timedelta(minutes=5), 300),
    ],
)
def test_parse_interval_accepts_intervals_that_divide_a_day(
    text: str | timedelta, seconds: int
) -> None:
    assert parse_interval(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["7m", "0m", "25h", "2d", "1w", "abc", "", "15", "-5m"])
def test_parse_interval_refuses_the_rest_with_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_interval(text)
    assert caught.value.location == "interval"


def test_metric_validation() -> None:
    assert Metric().kind == "count"
    with pytest.raises(ConfigError, match="not one of"):
        Metric("median", field="network.bytes")
    with pytest.raises(ConfigError, match="needs a field"):
        Metric("sum")
    with pytest.raises(ConfigError, match="needs a field"):
        Metric("distinct")
    with pytest.raises(ConfigError, match="needs a query"):
        Metric("rate")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("count", Metric()),
        (" COUNT ", Metric()),
        ("sum:network.bytes", Metric("sum", field="network.bytes")),
        ("distinct: source.ip", Metric("distinct", field="source.ip")),
        # the query keeps its own colons
        (
            "rate:http.response.status_code:[400 TO 599]",
            Metric("rate", query="http.response.status_code:[400 TO 599]"),
        ),
    ],
)
def test_metric_parse(text: str, expected: Metric) -> None:
    assert Metric.parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sum", "needs a field"),
        ("sum:", "needs a field"),
        ("distinct", "needs a field"),
        ("rate", "needs a query"),
        ("rate:  ", "needs a query"),
        ("count:network.bytes", "no argument"),
        ("avg:network.bytes", "not one of"),
        ("", "not one of"),
    ],
)
def test_metric_parse_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Metric.parse(text)


def test_metric_labels() -> None:
    assert Metric.parse("count").label == "count"
    assert Metric.parse("sum:network.bytes").label == "sum(network.bytes)"
    assert Metric.parse("rate:status:500").label == "rate(status:500)"


def test_spec_of_builds_a_spec() -> None:
    spec = SeriesSpec.of("network.protocol", "1h", "count", max_groups=5)
    assert spec.group_by == ("network.protocol",)
    assert spec.interval == timedelta(hours=1)
    assert spec.max_groups == 5
    assert SeriesSpec().interval == timedelta(minutes=15)


# --- frame views on a hand-made frame ----------------------------------------------------------

STEP = np.timedelta64(15, "m")


def _frame(first: str, count: int, rng: np.random.Generator) -> SeriesFrame:
    """Two groups on a 15-minute grid: values, a silent stretch, and an inactive start."""
    buckets = np.datetime64(first, "us") + np.arange(count) * STEP
    spec = SeriesSpec.of(("event.dataset",), "15m")
    series = []
    for name, inactive in (("a", 0), ("b", 10)):
        values = rng.integers(0, 50, count).astype(float)
        active = np.arange(count) >= inactive
        silent = np.zeros(count, dtype=bool)
        silent[30:34] = True
        values[~active | silent] = np.nan
        series.append(Series((name,), buckets, values, silent & active, active, (name,)))
    return SeriesFrame(spec, buckets, series)


def test_per_day_folds_buckets_into_time_of_day_rows_and_day_columns() -> None:
    rng = np.random.default_rng(7)
    count = 72 + 96 + 20  # from 06:00: three days touched, the first and last partly
    frame = _frame("2024-05-01T06:00", count, rng)
    table = frame.per_day("b")
    assert table.values.shape == (96, 3)
    assert table.day_labels() == ["2024-05-01", "2024-05-02", "2024-05-03"]
    labels = table.time_labels()
    assert labels[0] == "00:00" and labels[1] == "00:15" and labels[-1] == "23:45"
    series = frame.get(("b",))
    for i in range(count):
        minutes = 6 * 60 + 15 * i
        day, row = divmod(minutes // 15, 96)
        assert np.array_equal(table.values[row, day], series.values[i], equal_nan=True)
        assert table.silent[row, day] == series.silent[i]
        assert table.active[row, day] == series.active[i]
    # cells outside the frame: NaN, neither active nor silent
    assert np.isnan(table.values[:24, 0]).all() and not table.active[:24, 0].any()
    assert np.isnan(table.values[20:, 2]).all() and not table.active[20:, 2].any()
    # the numbers survive the folding
    assert np.nansum(table.values) == np.nansum(series.values)
    assert table.silent.sum() == series.silent.sum() == 4


def test_per_day_with_hourly_and_daily_buckets() -> None:
    buckets = np.datetime64("2024-05-01T00:00", "us") + np.arange(48) * np.timedelta64(1, "h")
    ones = np.ones(48)
    flags = np.zeros(48, dtype=bool)
    series = Series(("x",), buckets, ones, flags, ~flags)
    frame = SeriesFrame(SeriesSpec.of("event.dataset", "1h"), buckets, [series])
    assert frame.per_day("x").values.shape == (24, 2)
    days = np.datetime64("2024-05-01", "us") + np.arange(3) * np.timedelta64(1, "D")
    daily = Series(("x",), days, np.ones(3), np.zeros(3, bool), np.ones(3, bool))
    frame = SeriesFrame(SeriesSpec.of("event.dataset", "1d"), days, [daily])
    table = frame.per_day("x")
    assert table.values.shape == (1, 3) and table.time_labels() == ["00:00"]


def test_get_unknown_group_is_a_key_error() -> None:
    frame = _frame("2024-05-01T00:00", 40, np.random.default_rng(1))
    with pytest.raises(KeyError):
        frame.get("nope")


def test_to_arrow_long_format() -> None:
    rng = np.random.default_rng(3)
    frame = _frame("2024-05-01T00:00", 40, rng)
    table = frame.to_arrow()
    assert table.column_names == ["event.dataset", "bucket", "value", "state"]
    assert table.num_rows == 2 * 40
    rows = table.to_pylist()
    for row in rows:
        series = frame.get(row["event.dataset"])
        start = np.datetime64(row["bucket"].replace(tzinfo=None), "us")
        i = int((start - series.buckets[0]) // STEP)
        expected_state = (
            "inactive" if not series.active[i] else "silent" if series.silent[i] else "value"
        )
        assert row["state"] == expected_state
        if expected_state == "value":
            assert row["value"] == series.values[i]
        else:
            assert row["value"] is None
    assert row["bucket"].tzinfo is not None
    assert sum(r["state"] == "inactive" for r in rows) == 10
    assert sum(r["state"] == "silent" for r in rows) == 8
    assert table.schema.metadata[b"metric"] == b"count"


def test_between_and_for_day_slice_by_bucket_start() -> None:
    frame = _frame("2024-05-01T00:00", 96 * 3, np.random.default_rng(5))
    series = frame.get("a")
    day = series.for_day(date(2024, 5, 2))
    assert len(day.buckets) == 96
    assert day.buckets[0] == np.datetime64("2024-05-02T00:00", "us")
    assert np.array_equal(day.values, series.values[96:192], equal_nan=True)
    window = series.between(datetime(2024, 5, 1, 10, tzinfo=UTC), datetime(2024, 5, 1, 11))
    assert len(window.buckets) == 4 and window.key == ("a",)
    # an aware datetime in another zone is compared in UTC
    cet = datetime(2024, 5, 1, 12, tzinfo=UTC).astimezone()
    assert series.between(cet, None).buckets[0] == np.datetime64("2024-05-01T12:00", "us")
