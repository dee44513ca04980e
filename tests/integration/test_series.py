"""Series from a real DuckDB store, checked against the same rows aggregated in plain Python."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from click.testing import CliRunner

from loglens.cli import cli, main
from loglens.config import load_config
from loglens.errors import ConfigError, QueryError
from loglens.pipeline import Pipeline
from loglens.series import Metric, SeriesFrame, SeriesSpec
from loglens.sources.generate import generate
from loglens.store import DuckDBStore, open_store
from loglens.store.base import Query

US = 1_000_000
DAY = datetime(2024, 5, 1, tzinfo=UTC)
GAP = (datetime(2024, 5, 2, 10, tzinfo=UTC), datetime(2024, 5, 2, 12, tzinfo=UTC))
LATE_START = datetime(2024, 5, 2, 3, tzinfo=UTC)
EARLY_STOP = datetime(2024, 5, 2, 18, tzinfo=UTC)
END = datetime(2024, 5, 4, tzinfo=UTC)

Row = dict[str, Any]


def _us(moment: datetime) -> int:
    return int(moment.timestamp()) * US + moment.microsecond


def _events(seed: int = 11) -> list[Row]:
    """Four sources over three days: one with a two-hour gap, one starting late, one stopping
    early; some events without a protocol, bytes, or status."""
    rng = np.random.default_rng(seed)
    plan = {
        "web.access": (DAY, END, 2500),
        "net.flow": (DAY, END, 2500),
        "late.auth": (LATE_START, END, 600),
        "early.dns": (DAY, EARLY_STOP, 700),
    }
    rows: list[Row] = []
    ips = [f"10.0.{i // 10}.{i}" for i in range(40)]
    for dataset, (start, end, n) in plan.items():
        stamps = rng.integers(_us(start), _us(end), n)
        if dataset == "web.access":
            stamps = stamps[(stamps < _us(GAP[0])) | (stamps >= _us(GAP[1]))]
        stamps[0] = _us(start)  # the source's first event is exactly at its start
        for stamp in stamps.tolist():
            protocol = {
                "web.access": rng.choice(["http", "http", "http", None]),
                "net.flow": rng.choice(["dns", "ssh", "http", None]),
                "late.auth": "ssh",
                "early.dns": "dns",
            }[dataset]
            status = int(rng.choice([200, 200, 200, 404, 500])) if dataset == "web.access" else None
            extra = {"app.shard": str(rng.choice(["s1", "s2"])), "app.latency": int(stamp % 97)}
            rows.append(
                {
                    "@timestamp": stamp,
                    "event.id": f"{dataset}-{len(rows)}",
                    "event.dataset": dataset,
                    "network.protocol": protocol,
                    "network.bytes": None if rng.random() < 0.1 else int(rng.integers(0, 5000)),
                    "source.ip": ips[int(rng.zipf(1.5)) % len(ips)],
                    "user.name": str(rng.choice(["alice", "bob", "carol", "dave"])),
                    "http.response.status_code": status,
                    "extra": json.dumps(extra) if rng.random() < 0.8 else None,
                }
            )
    return rows


def _table(rows: Sequence[Row]) -> pa.Table:
    columns = {name: [r[name] for r in rows] for name in rows[0]}
    types = {
        "@timestamp": pa.timestamp("us", tz="UTC"),
        "network.bytes": pa.int64(),
        "http.response.status_code": pa.int64(),
    }
    return pa.table({k: pa.array(v, types.get(k, pa.string())) for k, v in columns.items()})


@pytest.fixture(scope="module")
def rows() -> list[Row]:
    return _events()


@pytest.fixture(scope="module")
def store(rows: list[Row]) -> Iterator[DuckDBStore]:
    with open_store("duckdb::memory:") as opened:
        summary = opened.write(_table(rows))
        assert summary.inserted == len(rows)
        yield opened


# --- the expected frame, computed in Python -----------------------------------------------------


@dataclass
class Expected:
    start_us: int
    step_us: int
    count: int
    values: dict[tuple[str | None, ...], np.ndarray]
    silent: dict[tuple[str | None, ...], np.ndarray]
    active: dict[tuple[str | None, ...], np.ndarray]
    sources: dict[tuple[str | None, ...], set[str | None]]


def _field(row: Row, name: str) -> Any:
    if name.startswith("app."):
        return json.loads(row["extra"]).get(name) if row["extra"] else None
    return row[name]


def expected_frame(
    rows: Sequence[Row],
    group_by: Sequence[str],
    step: timedelta,
    metric: str,
    *,
    field: str | None = None,
    matches: Callable[[Row], bool] = lambda r: True,
    hit: Callable[[Row], bool] = lambda r: False,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Expected:
    step_us = int(step.total_seconds()) * US
    selected = [r for r in rows if matches(r)]
    lo = _us(start) if start else min(r["@timestamp"] for r in selected)
    hi = _us(end) if end else max(r["@timestamp"] for r in selected) + 1
    first = lo - lo % step_us
    last = hi if hi % step_us == 0 else hi - hi % step_us + step_us
    count = (last - first) // step_us
    cells: dict[tuple[Any, ...], dict[int, list[Row]]] = defaultdict(lambda: defaultdict(list))
    sources: dict[tuple[Any, ...], set[str | None]] = defaultdict(set)
    for r in selected:
        if first <= r["@timestamp"] < last:
            key = tuple(None if _field(r, f) is None else str(_field(r, f)) for f in group_by)
            cells[key][(r["@timestamp"] - first) // step_us].append(r)
            sources[key].add(r["event.dataset"])
    sending: dict[str | None, set[int]] = defaultdict(set)
    first_event: dict[str | None, int] = {}
    for r in rows:
        ds = r["event.dataset"]
        first_event[ds] = min(first_event.get(ds, r["@timestamp"]), r["@timestamp"])
        if first <= r["@timestamp"] < last:
            sending[ds].add((r["@timestamp"] - first) // step_us)
    values, silent, active = {}, {}, {}
    for key, by_bucket in cells.items():
        v = np.full(count, np.nan)
        s = np.zeros(count, dtype=bool)
        a = np.zeros(count, dtype=bool)
        for b in range(count):
            bucket_start = first + b * step_us
            a[b] = any(first_event[ds] < bucket_start + step_us for ds in sources[key])
            s[b] = a[b] and not any(b in sending[ds] for ds in sources[key])
            if not a[b] or s[b]:
                continue
            events = by_bucket.get(b, [])
            if metric == "count":
                v[b] = len(events)
            elif metric == "sum":
                v[b] = sum(_field(r, field or "") or 0 for r in events)
            elif metric == "distinct":
                v[b] = len({_field(r, field or "") for r in events} - {None})
            else:
                v[b] = sum(hit(r) for r in events) / len(events) if events else np.nan
        values[key], silent[key], active[key] = v, s, a
    return Expected(first, step_us, count, values, silent, active, dict(sources))


def assert_frame_matches(frame: SeriesFrame, expected: Expected) -> None:
    assert len(frame.buckets) == expected.count
    assert frame.buckets[0] == np.datetime64(expected.start_us, "us")
    assert {s.key for s in frame.series} == set(expected.values)
    for series in frame.series:
        np.testing.assert_allclose(
            series.values, expected.values[series.key], rtol=1e-12, equal_nan=True
        )
        assert np.array_equal(series.silent, expected.silent[series.key]), series.key
        assert np.array_equal(series.active, expected.active[series.key]), series.key
        assert set(series.sources) == expected.sources[series.key] - {None}


def _status_error(r: Row) -> bool:
    return r["http.response.status_code"] is not None and r["http.response.status_code"] >= 400


# --- metrics ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "field", "kind"),
    [
        (Metric(), None, "count"),
        (Metric("sum", field="network.bytes"), "network.bytes", "sum"),
        (Metric("distinct", field="source.ip"), "source.ip", "distinct"),
        (Metric("rate", query="http.response.status_code:[400 TO 599]"), None, "rate"),
    ],
)
def test_metrics_per_protocol_match_python(
    store: DuckDBStore, rows: list[Row], metric: Metric, field: str | None, kind: str
) -> None:
    frame = store.series(SeriesSpec.of("network.protocol", "15m", metric))
    expected = expected_frame(
        rows, ["network.protocol"], timedelta(minutes=15), kind, field=field, hit=_status_error
    )
    assert_frame_matches(frame, expected)
    assert (None,) in {s.key for s in frame.series}  # missing protocol: a group of its own
    assert len(frame.buckets) == 3 * 96
    counts = Counter(r["network.protocol"] for r in rows)
    assert [s.key[0] for s in frame.series] == [k for k, _ in counts.most_common()]


def test_zero_silent_and_inactive_are_kept_apart(store: DuckDBStore, rows: list[Row]) -> None:
    frame = store.series(SeriesSpec.of("event.dataset", "15m", query="user.name:alice"))
    expected = expected_frame(
        rows, ["event.dataset"], timedelta(minutes=15), "count", matches=_alice
    )
    assert_frame_matches(frame, expected)
    grid = frame.buckets

    def at(moment: datetime) -> int:
        return int(np.searchsorted(grid, np.datetime64(moment.replace(tzinfo=None), "us")))

    web = frame.get("web.access")
    gap = slice(at(GAP[0]), at(GAP[1]))
    assert web.silent[gap].all() and np.isnan(web.values[gap]).all()
    late = frame.get("late.auth")
    assert not late.active[: at(LATE_START)].any() and late.active[at(LATE_START) :].all()
    assert not late.silent[: at(LATE_START)].any()  # inactive is not silence
    early = frame.get("early.dns")
    assert early.silent[at(EARLY_STOP) :].all()  # stopped sending: silent to the frame's end
    # the source sent events but none matched: a zero, not silence
    zeros = (web.values == 0) & ~web.silent
    assert zeros.sum() > 10
    web_sending = {(r["@timestamp"] - _us(DAY)) // (900 * US) for r in rows if _web(r)}
    assert all(int(b) in web_sending for b in np.flatnonzero(zeros))


def _alice(r: Row) -> bool:
    return bool(r["user.name"] == "alice")


def _web(r: Row) -> bool:
    return bool(r["event.dataset"] == "web.access")


def test_explicit_bounds_widen_to_the_grid_and_reach_past_the_data(
    store: DuckDBStore, rows: list[Row]
) -> None:
    start = datetime(2024, 4, 30, 23, 7, tzinfo=UTC)
    end = datetime(2024, 5, 4, 1, 50, tzinfo=UTC)
    spec = SeriesSpec.of("event.dataset", "1h", start=start, end=end)
    frame = store.series(spec)
    expected = expected_frame(
        rows, ["event.dataset"], timedelta(hours=1), "count", start=start, end=end
    )
    assert_frame_matches(frame, expected)
    assert frame.buckets[0] == np.datetime64("2024-04-30T23:00", "us")
    assert frame.buckets[-1] == np.datetime64("2024-05-04T01:00", "us")
    for series in frame.series:
        assert not series.active[0]  # before every source's first event
        assert series.silent[-2:].all()  # after the data: silent, not zero


def test_bounds_inside_the_data_and_naive_times_are_utc(
    store: DuckDBStore, rows: list[Row]
) -> None:
    start, end = datetime(2024, 5, 2, 6), datetime(2024, 5, 2, 20)
    frame = store.series(SeriesSpec.of("event.dataset", "15m", start=start, end=end))
    expected = expected_frame(
        rows,
        ["event.dataset"],
        timedelta(minutes=15),
        "count",
        start=start.replace(tzinfo=UTC),
        end=end.replace(tzinfo=UTC),
    )
    assert_frame_matches(frame, expected)
    assert len(frame.buckets) == 14 * 4


@pytest.mark.parametrize("interval", ["1h", "1d"])
def test_hourly_and_daily_buckets(store: DuckDBStore, rows: list[Row], interval: str) -> None:
    spec = SeriesSpec.of(("event.dataset", "network.protocol"), interval)
    frame = store.series(spec)
    step = timedelta(hours=1) if interval == "1h" else timedelta(days=1)
    expected = expected_frame(rows, ["event.dataset", "network.protocol"], step, "count")
    assert_frame_matches(frame, expected)
    assert sum(np.nansum(s.values) for s in frame.series) == len(rows)


def test_extra_fields_group_and_sum(store: DuckDBStore, rows: list[Row]) -> None:
    spec = SeriesSpec.of("app.shard", "1h", Metric("sum", field="app.latency"))
    frame = store.series(spec)
    expected = expected_frame(rows, ["app.shard"], timedelta(hours=1), "sum", field="app.latency")
    assert_frame_matches(frame, expected)
    assert {s.key for s in frame.series} == {("s1",), ("s2",), (None,)}


def test_max_groups_keeps_the_largest_and_counts_the_rest(
    store: DuckDBStore, rows: list[Row]
) -> None:
    frame = store.series(SeriesSpec.of("source.ip", "1h", max_groups=3))
    counts = Counter(r["source.ip"] for r in rows)
    assert [s.key[0] for s in frame.series] == [ip for ip, _ in counts.most_common(3)]
    assert frame.groups_left_out == len(counts) - 3
    for series in frame.series:
        assert np.nansum(series.values) == counts[series.key[0]]


def test_per_day_view_from_the_store(store: DuckDBStore, rows: list[Row]) -> None:
    frame = store.series(SeriesSpec.of("event.dataset", "15m"))
    table = frame.per_day("web.access")
    assert table.values.shape == (96, 3)
    assert table.day_labels() == ["2024-05-01", "2024-05-02", "2024-05-03"]
    per_day = Counter((r["@timestamp"] - _us(DAY)) // (86400 * US) for r in rows if _web(r))
    assert [np.nansum(table.values[:, d]) for d in range(3)] == [per_day[d] for d in range(3)]
    rows_10_to_12 = slice(40, 48)  # 10:00 .. 11:45 on the gap day
    assert table.silent[rows_10_to_12, 1].all() and np.isnan(table.values[rows_10_to_12, 1]).all()
    late = frame.per_day("late.auth")
    assert not late.active[:, 0].any() and np.isnan(late.values[:, 0]).all()


def test_long_arrow_format_from_the_store(store: DuckDBStore) -> None:
    frame = store.series(SeriesSpec.of("event.dataset", "1h"))
    table = frame.to_arrow()
    assert table.num_rows == len(frame.series) * len(frame.buckets)
    states = Counter(table.column("state").to_pylist())
    assert states["silent"] == sum(int(s.silent.sum()) for s in frame.series)
    assert states["inactive"] == sum(int((~s.active).sum()) for s in frame.series)
    assert table.column("value").null_count == states["silent"] + states["inactive"]


# --- edges and errors ---------------------------------------------------------------------------


def test_nothing_matches() -> None:
    with open_store("duckdb::memory:") as empty:
        frame = empty.series(SeriesSpec())
        assert frame.series == [] and len(frame.buckets) == 0
        start = datetime(2024, 5, 1, tzinfo=UTC)
        bounded = empty.series(SeriesSpec(start=start, end=start + timedelta(hours=2)))
        assert len(bounded.buckets) == 8 and bounded.series == []


def test_filter_matching_nothing_gives_no_series(store: DuckDBStore) -> None:
    frame = store.series(SeriesSpec.of("event.dataset", query="user.name:nobody"))
    assert frame.series == [] and frame.groups_left_out == 0


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        (SeriesSpec(query="status:(500"), QueryError, "invalid|syntax|parenthes"),
        (SeriesSpec.of(metric=Metric("sum", field="message")), QueryError, "not a numeric"),
        (SeriesSpec.of("tags"), QueryError, "list"),
        (SeriesSpec.of("bad name!"), QueryError, "not a valid field"),
        (SeriesSpec.of(metric=Metric("rate", query="network.bytes:abc")), QueryError, "bytes"),
        (SeriesSpec(max_groups=0), ConfigError, "max_groups"),
        (SeriesSpec(start=datetime(2024, 5, 3), end=datetime(2024, 5, 2)), ConfigError, "ends"),
        (SeriesSpec(interval=timedelta(minutes=7)), ConfigError, "interval"),
        (
            SeriesSpec(interval=timedelta(seconds=1), start=datetime(2000, 1, 1), end=END),
            ConfigError,
            "too large",
        ),
    ],
)
def test_bad_specs_raise_typed_errors(
    store: DuckDBStore, spec: SeriesSpec, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        store.series(spec)


# --- the command line ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory, rows: list[Row]) -> str:
    path = tmp_path_factory.mktemp("series") / "s.duckdb"
    hostile = [
        {**rows[0], "event.id": "h1", "event.dataset": "=HYPERLINK(1)"},
        {**rows[1], "event.id": "h2", "event.dataset": "evil\x1b[31m"},
    ]
    with open_store(f"duckdb:{path}") as opened:
        opened.write(_table([*rows, *hostile]))
    return f"duckdb:{path}"


def test_cli_csv_matches_the_stored_counts(store_url: str, rows: list[Row]) -> None:
    result = CliRunner().invoke(
        cli, ["--store", store_url, "series", "--interval", "1d", "-o", "csv"]
    )
    assert result.exit_code == 0, result.output
    records = list(csv.DictReader(io.StringIO(result.output)))
    assert set(records[0]) == {"event.dataset", "bucket", "value", "state"}
    totals: Counter[str] = Counter()
    for record in records:
        if record["state"] == "value":
            totals[record["event.dataset"]] += int(record["value"])
    expected = Counter(r["event.dataset"] for r in rows)
    for dataset, count in expected.items():
        assert totals[dataset] == count
    # a formula in log content stays text in a spreadsheet
    assert "'=HYPERLINK(1)" in totals and "=HYPERLINK(1)" not in totals


def test_cli_table_escapes_control_characters(store_url: str) -> None:
    result = CliRunner().invoke(cli, ["--store", store_url, "series", "--interval", "1d"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "evil\\x1b[31m" in result.output
    assert "group(s)" in result.output.splitlines()[-1]


def test_cli_per_day_json_and_top(store_url: str, rows: list[Row]) -> None:
    result = CliRunner().invoke(
        cli,
        [
            *("--store", store_url, "series", "--by", "network.protocol", "--per-day"),
            *("--top", "2", "--since", "2024-05-01", "--until", "2024-05-03", "-o", "json"),
        ],
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.output.splitlines()]
    top = [k for k, _ in Counter(r["network.protocol"] for r in rows).most_common(2)]
    assert [line["network.protocol"] for line in lines[::96]] == top
    assert len(lines) == 2 * 96
    assert set(lines[0]) == {"network.protocol", "time", "2024-05-01", "2024-05-02", "2024-05-03"}
    first_day = sum(
        1
        for r in rows
        if r["network.protocol"] == top[0] and r["@timestamp"] < _us(DAY) + 86400 * US
    )
    assert sum(line["2024-05-01"] or 0 for line in lines[:96]) == first_day


def test_cli_rate_metric_with_query(store_url: str, rows: list[Row]) -> None:
    result = CliRunner().invoke(
        cli,
        [
            *("--store", store_url, "series", "--metric", "rate:http.response.status_code:>=400"),
            *("--query", "event.dataset:web.access", "--interval", "1d", "-o", "csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    records = list(csv.DictReader(io.StringIO(result.output)))
    web = [r for r in rows if _web(r)]
    for record in records:
        day = (datetime.fromisoformat(record["bucket"]) - DAY).days
        in_day = [r for r in web if (r["@timestamp"] - _us(DAY)) // (86400 * US) == day]
        share = sum(_status_error(r) for r in in_day) / len(in_day)
        assert float(record["value"]) == pytest.approx(share)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "median:network.bytes"], "not one of"),
        (["--metric", "sum:message"], "not a numeric field"),
        (["--interval", "7m"], "divide a day"),
        (["--since", "yesterday"], "ISO date"),
        (["--query", "status:(500"], "error"),
    ],
)
def test_cli_errors_are_messages(
    store_url: str, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--store", store_url, "series", *args])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


# --- generated traffic, ingested end to end -----------------------------------------------------


STEP = np.timedelta64(15, "m")


def _np(moment: datetime) -> np.datetime64:
    return np.datetime64(moment.astimezone(UTC).replace(tzinfo=None), "us")


def store_hours(frame: SeriesFrame, start: datetime) -> dict[int, float]:
    """The web log's 15-minute counts summed per hour since ``start``."""
    web = frame.get("apache.access")
    hours = ((web.buckets - _np(start)) // np.timedelta64(1, "h")).astype(int)
    totals: dict[int, float] = defaultdict(float)
    for hour, value in zip(hours.tolist(), web.values.tolist(), strict=True):
        if value == value:
            totals[hour] += value
    return totals


def test_generated_outage_is_silent_for_the_web_log(tmp_path: Path) -> None:
    start = datetime(2024, 5, 6, tzinfo=UTC)
    result = generate(
        tmp_path / "gen", days=2, seed=5, rate=0.05, start=start, incidents=["outage"]
    )
    # The labels are ground truth, not logs: keep them out of the store.
    (tmp_path / "gen" / "labels.json").rename(tmp_path / "labels.json")
    config = load_config(env={}, overrides={"store.url": f"duckdb:{tmp_path / 'g.duckdb'}"})
    with Pipeline(config) as pipeline:
        pipeline.ingest([str(tmp_path / "gen")])
    (outage,) = result.incidents
    with open_store(config.store.url) as store:
        frame = store.series(SeriesSpec.of("event.dataset", "15m"))
        stored = store.count(Query())
        web = frame.get("apache.access")
        flows = frame.get("zeek.conn")
        in_window = (web.buckets >= _np(outage.start)) & (web.buckets + STEP <= _np(outage.end))
        checks = [
            store.count(Query("event.dataset:apache.access", start=b, end=b + timedelta(hours=1)))
            for b in (start + timedelta(hours=h) for h in (3, 10, 30))
        ]
    assert sum(np.nansum(s.values) for s in frame.series) == stored
    assert in_window.sum() >= 4  # outages last an hour at least
    assert web.silent[in_window].all()  # recall: every bucket inside the outage is silent
    assert not flows.silent[in_window].any()  # the other sources kept sending
    # precision: outside the outage the web log (about 20 lines per 15 minutes) is never silent
    overlaps = (web.buckets + STEP > _np(outage.start)) & (web.buckets < _np(outage.end))
    assert not web.silent[~overlaps].any()
    web_hourly = store_hours(frame, start)
    assert [web_hourly[h] for h in (3, 10, 30)] == checks
