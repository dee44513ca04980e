"""One store contract, every backend: the cluster answers as the embedded store does.

Each test asks ``backend`` (DuckDB, or a cluster through either client) and the DuckDB
``reference`` the same question and expects the same answer; the reference answers are also
checked to be non-trivial (a query that matches nothing anywhere proves nothing).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from loglens.detect.base import Anomaly, Contributor
from loglens.errors import QueryError
from loglens.store import elastic
from loglens.store.base import DatasetInfo, Query, RangeFilter, Store

# Lucene queries and the least number of events each matches in the reference.
QUERIES: list[tuple[str, int]] = [
    ("*", 3000),
    ("*:*", 3000),
    ("event.dataset:apache.access", 1000),
    ("event.dataset:zeek.*", 500),
    ("event.dataset:(zeek.conn OR zeek.dns)", 500),
    ("-event.dataset:zeek.conn", 1000),
    ("NOT event.dataset:zeek.conn AND NOT event.dataset:zeek.dns", 1000),
    ("event.module:apache AND http.response.status_code:404", 5),
    ("http.response.status_code:[400 TO 499]", 10),
    ("http.response.status_code:{200 TO 404}", 5),
    ("http.response.status_code:>=400", 10),
    ("http.response.status_code:<300 AND http.request.method:GET", 100),
    ("source.ip:10.0.0.0/8", 100),
    ('source.ip:"192.168.0.0/16"', 1),
    ("NOT source.ip:10.0.0.0/8", 1000),
    ("source.ip:[10.0.0.0 TO 10.0.4.255]", 100),
    ("source.ip:10.0.4.*", 10),
    ("destination.port:53 AND network.transport:udp", 10),
    ("_exists_:user.name", 100),
    ("NOT _exists_:user.name", 1000),
    ("user.name:*", 100),
    ("user.name:[* TO *]", 100),
    ("message:password", 10),
    ('message:"Failed password"', 1),
    ("message:FAILED", 1),
    ("message:pass*rd", 10),
    ("Failed password", 10),
    ("failed AND password", 1),
    ('"session opened"', 10),
    ("wp-login", 1),
    ("*admin*", 1),
    ("url.path:*.php", 1),
    ("url.path:\\/cart", 1),
    ("url.original:*login*", 1),
    ("user_agent.original:*bot*", 10),
    ("event.action:/ssh_.*/", 1),
    ("message:/fail(ed|ure)/", 1),
    ("tags:_parse_failure", 1),
    ("-tags:_parse_failure", 3000),
    ("event.outcome:failure OR event.outcome:success", 10),
    ("event.outcome:failure AND NOT user.name:root", 1),
    ("+event.dataset:system.auth -process.name:CRON", 10),
    ("@timestamp:2024-05-02", 1000),
    ("@timestamp:[2024-05-01 TO 2024-05-01]", 1000),
    ("@timestamp:{2024-05-01 TO 2024-05-03}", 1000),
    ("@timestamp:>=2024-05-02T12:00 AND @timestamp:<2024-05-02T13:00", 10),
    ("@timestamp:[2015-01-01 TO 2020-01-01]", 100),
    ("dns.question.name:*.com", 10),
    ("rule.name:*", 1),
    ("zeek.conn.conn_state:SHR", 1),
    ("zeek.session_id:Cnsu5m395zFmE9ikp4", 1),
    ("http.request.method:POST AND http.response.status_code:[200 TO 299]", 1),
]


def _counts_agree(backend: Store, reference: Store, text: str, **options: object) -> int:
    query = Query(text=text, **options)  # type: ignore[arg-type]
    expected = reference.count(query)
    assert backend.count(query) == expected, text
    return expected


@pytest.mark.parametrize(("text", "at_least"), QUERIES)
def test_counts(backend: Store, reference: Store, text: str, at_least: int) -> None:
    assert _counts_agree(backend, reference, text) >= at_least


@pytest.mark.parametrize("text", ["Failed password", "session opened", "session closed"])
def test_counts_with_and_as_the_default_operator(
    backend: Store, reference: Store, text: str
) -> None:
    with_or = _counts_agree(backend, reference, text)
    with_and = _counts_agree(backend, reference, text, default_operator="AND")
    assert 0 < with_and < with_or


def test_range_filters_and_time_bounds(backend: Store, reference: Store) -> None:
    start, end = datetime(2024, 5, 1, 6, tzinfo=UTC), datetime(2024, 5, 1, 18, tzinfo=UTC)
    assert _counts_agree(backend, reference, "*", start=start, end=end) > 100
    statuses = [RangeFilter("http.response.status_code", "300", None)]
    assert _counts_agree(backend, reference, "*", ranges=statuses) > 10
    mixed = [RangeFilter("http.response.status_code", "200", "299"),
             RangeFilter("@timestamp", "2024-05-01", "2024-05-01")]  # fmt: skip
    assert _counts_agree(backend, reference, "event.module:apache", ranges=mixed) > 100


@pytest.mark.parametrize(
    "options",
    [
        {"text": "*", "size": 40},
        {"text": "*", "size": 40, "descending": True},
        {
            "text": "event.dataset:apache.access",
            "size": 30,
            "sort": "http.response.status_code",
            "descending": True,
        },
        {"text": "event.dataset:system.auth", "size": 25, "sort": "user.name"},
        {"text": "message:session", "size": 25, "sort": "message"},
        {"text": "source.ip:10.0.0.0/8", "size": None},
    ],
)
def test_search_returns_the_same_events_in_the_same_order(
    backend: Store, reference: Store, options: dict[str, object]
) -> None:
    query = Query(fields=["event.id"], **options)  # type: ignore[arg-type]
    expected = reference.search(query).column("event.id").to_pylist()
    assert len(expected) > 20
    assert backend.search(query).column("event.id").to_pylist() == expected


def test_search_returns_whole_events_as_stored(backend: Store, reference: Store) -> None:
    for text in ("event.dataset:zeek.conn", "tags:_parse_failure", "event.dataset:windows*",
                 "event.dataset:suricata.eve"):  # fmt: skip
        # Sorted by a field without ties (the clusters order @timestamp by the millisecond).
        query = Query(text=text, size=10, sort="event.id")
        # event.ingested: when each backend was loaded (template ids are compared: both stores
        # mine them at ingest).
        apart = ["event.ingested"]
        expected = reference.search(query).drop_columns(apart)
        got = backend.search(query).drop_columns(apart)
        assert got.schema == expected.schema
        differences = [
            (row["event.id"], name)
            for row, other in zip(got.to_pylist(), expected.to_pylist(), strict=True)
            for name in row
            if row[name] != other[name]
        ]
        assert differences == [], text
        assert expected.num_rows > 0


def test_search_projects_fields_and_keys_of_extra(backend: Store, reference: Store) -> None:
    query = Query(
        text="event.dataset:zeek.conn",
        size=10,
        sort="network.bytes",
        fields=["source.ip", "network.bytes", "zeek.conn.conn_state", "@timestamp"],
    )
    expected = reference.search(query).to_pylist()
    assert backend.search(query).to_pylist() == expected
    assert any(row["zeek.conn.conn_state"] for row in expected)


def test_search_pages_through_everything(
    backend: Store, reference: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(elastic, "PAGE_SIZE", 700)  # many pages of search_after
    # Without the Suricata samples, whose alerts are less than a millisecond apart (see
    # store.elastic on the order of such events).
    query = Query(text="-event.dataset:zeek.conn -event.dataset:suricata.eve", size=None,
                  fields=["event.id"])  # fmt: skip
    expected = reference.search(query).column("event.id").to_pylist()
    assert len(expected) > 3 * 700
    assert backend.search(query).column("event.id").to_pylist() == expected
    limited = Query(text="*", size=1500, fields=["event.id"], descending=True)
    assert backend.search(limited).column("event.id").to_pylist() == (
        reference.search(limited).column("event.id").to_pylist()
    )


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("event.dataset", "*"),
        ("source.ip", "event.dataset:apache.access"),
        ("http.response.status_code", "*"),
        ("user.name", "event.dataset:system.auth"),
        ("message", "event.dataset:system.auth"),
        ("destination.port", "event.dataset:zeek.conn"),
    ],
)
def test_terms(backend: Store, reference: Store, field: str, text: str) -> None:
    expected = reference.terms(field, Query(text=text), size=5)
    assert len(expected.buckets) == 5 and expected.other > 0
    assert backend.terms(field, Query(text=text), size=5) == expected


def _to_ms(info: DatasetInfo) -> DatasetInfo:
    def ms(t: datetime | None) -> datetime | None:
        return None if t is None else t.replace(microsecond=t.microsecond // 1000 * 1000)

    return replace(info, first=ms(info.first), last=ms(info.last))


def test_datasets(backend: Store, reference: Store) -> None:
    expected = reference.datasets()
    assert len(expected) >= 6 and any(d.failures for d in expected)
    # The cluster's min/max of a date are held to the millisecond.
    assert [_to_ms(d) for d in backend.datasets()] == [_to_ms(d) for d in expected]


def test_errors_are_query_errors(backend: Store) -> None:
    for text in ("status:[", "message:pass~2", "source.ip:not-an-ip", "extra:x",
                 "http.response.status_code:abc", "@timestamp:yesterday"):  # fmt: skip
        with pytest.raises(QueryError):
            backend.count(Query(text=text))
    with pytest.raises(QueryError):
        backend.search(Query(sort="no.such.field"))


def test_tag_matching_then_counting_the_tag(backend: Store, reference: Store) -> None:
    query = Query(
        text="event.dataset:apache.access AND http.response.status_code:404",
        start=datetime(2024, 5, 1, tzinfo=UTC),
        end=datetime(2024, 5, 3, tzinfo=UTC),
    )
    expected = reference.count(query)
    assert expected > 0
    assert backend.tag_matching(query, ["loglens.anomaly"]) == expected
    assert backend.count(Query(text="tags:loglens.anomaly")) == expected
    # Again: the events keep one copy of the tag; other tags stay.
    assert backend.tag_matching(query, ["loglens.anomaly", "reviewed"]) == expected
    assert backend.count(Query(text="tags:loglens.anomaly AND tags:reviewed")) == expected
    failure = Query(text="tags:_parse_failure")
    failures = backend.count(failure)
    assert backend.tag_matching(failure, ["loglens.anomaly"]) == failures
    assert backend.count(Query(text="tags:loglens.anomaly")) == expected + failures
    assert backend.count(failure) == failures  # the parse-failure tag is kept
    ids = backend.search(Query(text="event.dataset:zeek.dns", size=7, fields=["event.id"]))
    assert backend.tag(ids.column("event.id").to_pylist(), ["seen"]) == 7
    assert backend.count(Query(text="tags:seen")) == 7


def test_tag_groups_gives_each_event_every_group_tag(backend: Store, reference: Store) -> None:
    day = datetime(2024, 5, 1, tzinfo=UTC), datetime(2024, 5, 3, tzinfo=UTC)
    web = Query(text="event.dataset:apache.access", start=day[0], end=day[1])
    both = "event.dataset:apache.access AND http.response.status_code:404"
    missing = Query(text=both, start=day[0], end=day[1])
    expected = reference.count(web) + reference.count(missing)
    assert reference.count(missing) > 0
    groups = [(web, ["loglens.anomaly", "loglens.anomaly.w"]),
              (missing, ["loglens.anomaly", "loglens.anomaly.m"]), (web, [])]  # fmt: skip
    assert backend.tag_groups(groups) == expected  # per group, as tag_matching counts
    assert backend.count(Query(text="tags:loglens.anomaly")) == reference.count(web)
    assert backend.count(Query(text="tags:loglens.anomaly.m")) == reference.count(missing)
    in_both = (
        backend.search(
            Query(text=f"({both}) AND tags:loglens.anomaly.w", size=None, fields=["tags"])
        )
        .column("tags")
        .to_pylist()
    )
    assert len(in_both) == reference.count(missing)  # every 404 of the window is in both
    assert all(
        [t for t in tags if t.startswith("loglens.anomaly")]
        == ["loglens.anomaly", "loglens.anomaly.w", "loglens.anomaly.m"]  # in the order added
        for tags in in_both
    )
    assert backend.tag_groups([]) == 0


def _anomalies() -> list[Anomaly]:
    def at(hour: int) -> datetime:
        return datetime(2024, 5, 2, hour, tzinfo=UTC)

    return [
        Anomaly(("zeek.dns", None), "events by dataset", at(5), at(6), "baseline", 14.5,
                "critical", 400.0, 20.0, "20x the usual DNS queries", kind="spike",
                reasons=["baseline: 20x"], entities=[Contributor("source.ip", "10.0.4.2", 380.0,
                                                                 3.0)],
                details={"spec": "by_dataset", "bucket": "15m"}, id="a-1"),
        Anomaly(("apache.access",), "events by dataset", at(3), at(4), "spectral", 6.0,
                "medium", 90.0, 30.0, "a burst of 404s", reasons=["spectral: level 3"],
                id="a-2"),
        Anomaly(("system.auth",), "failures", at(0), at(1), "baseline", float("inf"), "high",
                50.0, 0.0, "logins failing", kind="new_category", id="a-3"),
    ]  # fmt: skip


def test_anomalies_round_trip(backend: Store, reference: Store) -> None:
    assert backend.anomalies().num_rows == 0
    assert backend.write_anomalies(_anomalies()) == 3
    assert backend.write_anomalies(_anomalies()[:1]) == 1  # replaced, not added
    got = backend.anomalies().drop_columns(["created"]).to_pylist()
    assert [row["id"] for row in got] == ["a-1", "a-3", "a-2"]  # most severe first
    assert got[0]["series_key"] == '["zeek.dns", null]' and got[2]["score"] == 6.0
    assert got[1]["score"] is None  # not finite
    assert got[0]["entities"] == (
        '[{"field": "source.ip", "value": "10.0.4.2", "observed": 380.0, "expected": 3.0}]'
    )
    window = backend.anomalies(datetime(2024, 5, 2, 2, tzinfo=UTC),
                               datetime(2024, 5, 2, 5, tzinfo=UTC))  # fmt: skip
    assert window.column("id").to_pylist() == ["a-2"]
    assert backend.anomalies().schema == reference.anomalies().schema
