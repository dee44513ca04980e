"""Attribution, anomaly write-back and tagging against a real DuckDB store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from loglens.detect.attribution import attribute, baseline_windows, group_query
from loglens.detect.base import Anomaly
from loglens.series import SeriesSpec
from loglens.store.base import Query
from loglens.store.duckdb import DuckDBStore

START = datetime(2026, 3, 2, tzinfo=UTC)
WINDOW = (START + timedelta(days=7, hours=2), START + timedelta(days=7, hours=3))
SCANNER = "203.0.113.66"


def _events() -> pa.Table:
    """Eight days of DNS-ish traffic from 20 clients; on day 8, 02:00–03:00, one scanner."""
    rng = np.random.default_rng(7)
    times, ips, names, ports = [], [], [], []
    for minute in range(8 * 24 * 60):
        for _ in range(int(rng.poisson(3))):
            times.append(START + timedelta(minutes=minute, seconds=int(rng.integers(60))))
            ips.append(f"10.0.0.{int(rng.integers(1, 21))}")
            names.append("example.org")
            ports.append(53)
    for second in range(0, 3600, 2):
        times.append(WINDOW[0] + timedelta(seconds=second))
        ips.append(SCANNER)
        names.append("tunnel.example.net")
        ports.append(53)
    n = len(times)
    return pa.table(
        {
            "@timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
            "event.dataset": pa.array(["zeek.dns"] * n),
            "network.protocol": pa.array(["dns"] * n),
            "source.ip": pa.array(ips),
            "dns.question.registered_domain": pa.array(names),
            "destination.port": pa.array(ports, pa.int64()),
        }
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> DuckDBStore:
    path = Path(tmp_path_factory.mktemp("attr")) / "s.duckdb"
    opened = DuckDBStore(str(path))
    opened.write(_events())
    return opened


def _anomaly() -> Anomaly:
    return Anomaly(
        series_key=("dns",),
        series_name="dns",
        start=WINDOW[0],
        end=WINDOW[1],
        detector="test",
        score=20.0,
        severity="high",
        observed=0.0,
        expected=0.0,
        explanation="dns 02:00–03:00",
        id="a1",
    )


def test_group_query_and_baseline_windows() -> None:
    spec = SeriesSpec.of(("network.protocol", "user.name"), "15m", query="event.dataset:zeek.dns")
    text = group_query(spec, ("dns", None))
    assert text == '(event.dataset:zeek.dns) AND network.protocol:"dns" AND NOT _exists_:user.name'
    windows = baseline_windows(*WINDOW, days=7, earliest=START)
    assert len(windows) == 7
    assert windows[0] == (WINDOW[0] - timedelta(days=1), WINDOW[1] - timedelta(days=1))
    assert baseline_windows(*WINDOW, days=30, earliest=START)[-1][0] >= START


def test_attribution_names_the_injected_source(store: DuckDBStore) -> None:
    spec = SeriesSpec.of("network.protocol", "15m")
    anomaly = attribute(store, spec, _anomaly(), earliest=START)
    by_field = {c.field: c for c in anomaly.entities}
    assert by_field["source.ip"].value == SCANNER
    assert by_field["source.ip"].observed == 1800  # one query every 2 s for an hour
    assert by_field["source.ip"].expected == 0
    assert by_field["dns.question.registered_domain"].value == "tunnel.example.net"
    # Unchanged values (port 53 is used all the time) are not contributors.
    assert "destination.port" not in by_field
    samples = anomaly.details["samples"]
    assert samples and all(s["source.ip"] == SCANNER for s in samples)
    window_total = store.count(Query(text="network.protocol:dns", start=WINDOW[0], end=WINDOW[1]))
    assert anomaly.details["window_total"] == window_total


def test_terms_change_sums_a_field(store: DuckDBStore) -> None:
    changes = store.terms_change(
        ["source.ip", "destination.port"],
        Query(text="*"),
        WINDOW,
        baseline_windows(*WINDOW, days=1),
        size=1,
        sum_field="destination.port",
    )
    (top,) = changes.by_field["source.ip"]
    assert top.value == SCANNER and top.observed == 1800 * 53
    window_events = store.count(Query(start=WINDOW[0], end=WINDOW[1]))
    assert changes.total.observed == window_events * 53  # every event is on port 53
    assert [t.value for t in changes.by_field["destination.port"]] == ["53"]


def test_anomalies_are_written_read_back_and_replaced(store: DuckDBStore) -> None:
    anomaly = attribute(store, SeriesSpec.of("network.protocol"), _anomaly(), earliest=START)
    assert store.write_anomalies([anomaly]) == 1
    anomaly.explanation = "rewritten"
    assert store.write_anomalies([anomaly]) == 1
    rows = store.anomalies().to_pylist()
    assert len(rows) == 1 and rows[0]["explanation"] == "rewritten"
    assert SCANNER in rows[0]["entities"]
    assert store.anomalies(end=START).num_rows == 0  # ends before the anomaly starts


def test_events_inside_an_anomaly_are_tagged(store: DuckDBStore) -> None:
    query = Query(text='network.protocol:"dns"', start=WINDOW[0], end=WINDOW[1], size=None)
    expected = store.count(query)
    tagged = store.tag_matching(query, ["loglens.anomaly", "loglens.anomaly.a1"])
    assert tagged == expected
    assert store.count(Query(text="tags:loglens.anomaly.a1")) == expected
    assert store.tag_matching(query, ["loglens.anomaly"]) == expected  # idempotent tags
    again = store.search(Query(text="tags:loglens.anomaly", size=1, fields=["tags"]))
    assert again.column("tags").to_pylist()[0].count("loglens.anomaly") == 1


def _web_events_with_an_outage() -> pa.Table:
    """Eight days of access-log events, 3 of 4 from web01 and 1 of 4 from web02, except for
    day 8, 10:00–12:00, when neither wrote a line; and one zeek line a minute throughout."""
    times, datasets, hosts, clients = [], [], [], []
    silent = (START + timedelta(days=7, hours=10), START + timedelta(days=7, hours=12))
    for minute in range(8 * 24 * 60):
        moment = START + timedelta(minutes=minute)
        times.append(moment)
        datasets.append("zeek.conn")
        hosts.append(None)
        clients.append("10.0.0.1")
        if silent[0] <= moment < silent[1]:
            continue
        for index, host in enumerate(("web01", "web01", "web01", "web02")):
            times.append(moment + timedelta(seconds=index))
            datasets.append("apache.access")
            hosts.append(host)
            clients.append(f"203.0.113.{minute % 50}")
    return pa.table(
        {
            "@timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
            "event.dataset": pa.array(datasets),
            "host.name": pa.array(hosts, pa.string()),
            "source.ip": pa.array(clients),
        }
    )


def test_a_silence_is_explained_by_who_usually_sends_the_events(tmp_path: Path) -> None:
    from loglens.detect.explain import describe

    silent = (START + timedelta(days=7, hours=10), START + timedelta(days=7, hours=12))
    day = (START + timedelta(days=7), START + timedelta(days=8))
    with DuckDBStore(str(tmp_path / "s.duckdb")) as opened:
        opened.write(_web_events_with_an_outage())
        # As merged with a whole-day finding: the silent stretch is the headline window.
        anomaly = Anomaly(
            series_key=("apache.access",),
            series_name="events per dataset: apache.access",
            start=day[0],
            end=day[1],
            detector="baseline",
            score=30.0,
            severity="high",
            observed=0.0,
            expected=480.0,
            explanation="",
            kind="silence",
            details={
                "sources": ["apache.access"],
                "headline": {"start": silent[0].isoformat(), "end": silent[1].isoformat()},
            },
        )
        attribute(opened, SeriesSpec.of("event.dataset", "15m"), anomaly, earliest=START)
    assert [(c.field, c.value) for c in anomaly.entities] == [
        ("host.name", "web01"),
        ("host.name", "web02"),
    ]
    web01, web02 = anomaly.entities
    assert (web01.observed, web01.expected) == (0, 360)  # 3 a minute for 2 h on earlier days
    assert (web02.observed, web02.expected) == (0, 120)
    assert anomaly.details["window_total"] == 0 and anomaly.details["baseline_total"] == 480
    # The samples are the last lines before the silence, in time order.
    samples = anomaly.details["samples"]
    assert samples and all(s["@timestamp"] < silent[0].isoformat() for s in samples)
    assert [s["@timestamp"] for s in samples] == sorted(s["@timestamp"] for s in samples)
    assert describe(anomaly) == (
        "no events at all from apache.access for 2 h (2026-03-09 10:00–12:00 UTC); about 480 "
        "events expected; usually 75% from host web01, 25% from host web02"
    )
