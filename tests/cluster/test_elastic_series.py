"""Series and term changes computed inside the cluster equal DuckDB's for the same events.

The same hand-built events (four sources over three days: one with a two-hour gap, one starting
late, one stopping early, some events without a source; missing protocols, bytes and statuses;
80 users for a composite with many groups; a key of ``extra``) go into a DuckDB store and, read
back from it, into a cluster index through a plain bulk request. Every frame is compared whole:
buckets, group order, values, silence, activity, sources and the groups left out.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from osmem_server import OsmemServer

from loglens.cluster import ClusterClient, connect
from loglens.cluster.documents import documents, index_template
from loglens.errors import ClusterError, QueryError
from loglens.schema import FIELD_BY_NAME
from loglens.series import Metric, SeriesFrame, SeriesSpec
from loglens.store import DuckDBStore, open_store
from loglens.store.base import Query, TermChanges
from loglens.store.elastic_series import series, terms_change
from tests.cluster.conftest import FLAVOURS, Cluster
from tests.cluster.proxy import ClusterProxy

INDEX = "events-test"
DAY = datetime(2024, 5, 1, tzinfo=UTC)
GAP = (datetime(2024, 5, 2, 10, tzinfo=UTC), datetime(2024, 5, 2, 12, tzinfo=UTC))
LATE_START = datetime(2024, 5, 2, 3, tzinfo=UTC)
EARLY_STOP = datetime(2024, 5, 2, 18, tzinfo=UTC)
END = datetime(2024, 5, 4, tzinfo=UTC)
USERS = [f"u{i:02d}" for i in range(80)]


def _events(seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    plan: dict[str | None, tuple[datetime, datetime, int]] = {
        "web.access": (DAY, END, 1800),
        "net.flow": (DAY, END, 1800),
        "late.auth": (LATE_START, END, 400),
        "early.dns": (DAY, EARLY_STOP, 500),
        None: (DAY, END, 120),
    }
    ips = [f"10.0.{i // 10}.{i}" for i in range(30)]
    rows: list[dict[str, Any]] = []
    for dataset, (start, end, n) in plan.items():
        span = int((end - start).total_seconds() * 1_000_000)
        offsets = rng.integers(0, span, n)
        offsets[0] = 0  # the source's first event exactly at its start
        for offset in offsets.tolist():
            stamp = start + timedelta(microseconds=offset)
            if dataset == "web.access" and GAP[0] <= stamp < GAP[1]:
                continue
            protocol = {
                "web.access": rng.choice(["http", "http", "http", None]),
                "net.flow": rng.choice(["dns", "ssh", "http", None]),
                "late.auth": "ssh",
                "early.dns": "dns",
                None: None,
            }[dataset]
            status = int(rng.choice([200, 200, 200, 404, 500])) if dataset == "web.access" else None
            shard = str(rng.choice(["s1", "s2", "s3"]))
            rows.append(
                {
                    "@timestamp": stamp,
                    "event.id": f"{dataset}-{len(rows)}",
                    "event.dataset": dataset,
                    "network.protocol": None if protocol is None else str(protocol),
                    "network.bytes": None if rng.random() < 0.1 else int(rng.integers(0, 5000)),
                    "source.ip": ips[int(rng.zipf(1.5)) % len(ips)],
                    "user.name": USERS[int(rng.integers(0, len(USERS)))],
                    "http.response.status_code": status,
                    "message": f"request {len(rows) % 7}",
                    "extra": None if rng.random() < 0.2 else json.dumps({"app.shard": shard}),
                }
            )
    return pa.Table.from_pylist(rows)


@dataclass
class Loaded:
    """The same events in DuckDB and in a cluster index."""

    flavour: str
    duck: DuckDBStore
    client: ClusterClient
    proxy: ClusterProxy


@pytest.fixture(scope="module")
def duck() -> Iterator[DuckDBStore]:
    with open_store("duckdb::memory:") as store:
        summary = store.write(_events())
        assert summary.inserted > 4000
        yield store


def _bulk(client: ClusterClient, table: pa.Table) -> None:
    """The documents loglens writes, plus one key of ``extra`` as a mapped field of its own,
    the way Beats or Logstash would have written it."""
    client.request("PUT", "/_index_template/loglens-test", body=index_template(["events-*"]))
    client.request("PUT", f"/{INDEX}")
    shard = {"properties": {"app": {"properties": {"shard": {"type": "keyword"}}}}}
    client.request("PUT", f"/{INDEX}/_mapping", body=shard)
    lines: list[str] = []
    for event_id, doc in documents(table):
        if doc.get("extra"):
            doc["app"] = {"shard": json.loads(doc["extra"])["app.shard"]}
        lines.append(json.dumps({"index": {"_index": INDEX, "_id": event_id}}))
        lines.append(json.dumps(doc))
    for start in range(0, len(lines), 4000):
        body = "\n".join(lines[start : start + 4000]) + "\n"
        answer = client.request("POST", "/_bulk", body=body, ndjson=True)
        assert answer["errors"] is False
    client.request("POST", f"/{INDEX}/_refresh")
    assert client.request("GET", f"/{INDEX}/_count")["count"] == table.num_rows


@pytest.fixture(scope="module", params=FLAVOURS)
def loaded(
    request: pytest.FixtureRequest, osmem_server: OsmemServer, duck: DuckDBStore
) -> Iterator[Loaded]:
    """One clone per flavour for the whole module: bulk loading is the slow part."""
    flavour = request.param
    with (
        osmem_server.clone() as clone,
        ClusterProxy(clone.url, pretend_elasticsearch=flavour == "elasticsearch") as proxy,
    ):
        settings = Cluster(flavour, proxy, clone).settings()
        with connect(settings) as client:
            _bulk(client, duck.sql("SELECT * FROM events"))
            yield Loaded(flavour, duck, client, proxy)


# --- comparing frames -------------------------------------------------------------------------


def assert_same_frame(got: SeriesFrame, want: SeriesFrame) -> None:
    assert np.array_equal(got.buckets, want.buckets)
    assert [s.key for s in got.series] == [s.key for s in want.series]
    assert got.groups_left_out == want.groups_left_out
    for mine, theirs in zip(got.series, want.series, strict=True):
        np.testing.assert_array_equal(mine.values, theirs.values, err_msg=str(mine.key))
        np.testing.assert_array_equal(mine.silent, theirs.silent, err_msg=str(mine.key))
        np.testing.assert_array_equal(mine.active, theirs.active, err_msg=str(mine.key))
        assert mine.sources == theirs.sources


SPECS: dict[str, SeriesSpec] = {
    "count by dataset 15m": SeriesSpec.of("event.dataset", "15m"),
    "sum of bytes by protocol 1h": SeriesSpec.of(
        "network.protocol", "1h", Metric("sum", field="network.bytes")
    ),
    "distinct source.ip by dataset 1h": SeriesSpec.of(
        "event.dataset", "1h", Metric("distinct", field="source.ip")
    ),
    "rate of 4xx/5xx 15m": SeriesSpec.of(
        "event.dataset", "15m", Metric("rate", query="http.response.status_code:[400 TO 599]")
    ),
    "query filter": SeriesSpec.of(
        "network.protocol",
        "1h",
        query="event.dataset:(web.access OR net.flow) AND NOT user.name:u01",
    ),
    "query: substring, CIDR, wildcard": SeriesSpec.of(
        "event.dataset",
        "1h",
        Metric("distinct", field="user.name"),
        query="message:quest AND source.ip:10.0.1.0/24 AND user.name:u1*",
    ),
    "time range, bounds off the grid": SeriesSpec.of(
        "event.dataset",
        "15m",
        start=datetime(2024, 5, 2, 5, 7, 30, tzinfo=UTC),
        end=datetime(2024, 5, 3, 9, 50, tzinfo=UTC),
    ),
    "a source starting inside a given range": SeriesSpec.of(
        "event.dataset",
        "1h",
        start=datetime(2024, 5, 1, 12, tzinfo=UTC),
        end=datetime(2024, 5, 3, tzinfo=UTC),
    ),
    "start only": SeriesSpec.of("network.protocol", "1h", start=datetime(2024, 5, 3, tzinfo=UTC)),
    "end only": SeriesSpec.of("event.dataset", "1h", end=datetime(2024, 5, 1, 20, tzinfo=UTC)),
    "two group fields": SeriesSpec.of(("event.dataset", "network.protocol"), "1h"),
    "largest 2 datasets": SeriesSpec.of("event.dataset", "15m", max_groups=2),
    "largest 7 users by day": SeriesSpec.of("user.name", "1d", max_groups=7),
    "a numeric group field": SeriesSpec.of("http.response.status_code", "1h"),
    "distinct users of a text group": SeriesSpec.of(
        "message", "1d", Metric("distinct", field="user.name")
    ),
    "a field outside the schema, mapped in the index": SeriesSpec.of(
        ("app.shard", "event.dataset"), "1h", Metric("sum", field="network.bytes")
    ),
    "no group": SeriesSpec.of((), "1d", Metric("sum", field="network.bytes")),
    "nothing matches": SeriesSpec.of("event.dataset", "1h", query="user.name:nobody"),
    "nothing in range": SeriesSpec.of(
        "event.dataset", "1h", start=datetime(2025, 1, 1, tzinfo=UTC)
    ),
}


@pytest.mark.parametrize("name", list(SPECS))
def test_series_equal_duckdb(loaded: Loaded, name: str) -> None:
    spec = SPECS[name]
    assert_same_frame(series(loaded.client, INDEX, spec), loaded.duck.series(spec))


def test_silence_and_the_per_day_view_agree(loaded: Loaded) -> None:
    spec = SPECS["count by dataset 15m"]
    got, want = series(loaded.client, INDEX, spec), loaded.duck.series(spec)
    web = got.get("web.access")
    gap = (web.buckets >= np.datetime64(GAP[0].replace(tzinfo=None), "us")) & (
        web.buckets < np.datetime64(GAP[1].replace(tzinfo=None), "us")
    )
    assert web.silent[gap].all() and gap.sum() == 8  # the data has the gap it should
    assert not got.get("late.auth").active[0]
    assert got.get("early.dns").silent[-1]
    assert got.get(None).sources == ()  # events without a dataset: a group of their own
    ranged = series(loaded.client, INDEX, SPECS["a source starting inside a given range"])
    assert not ranged.get("late.auth").active[0] and ranged.get("late.auth").active[-1]
    assert ranged.get("web.access").active.all()  # it sent before the range
    for key in ("web.access", "late.auth", "early.dns"):
        mine, theirs = got.per_day(key), want.per_day(key)
        assert np.array_equal(mine.days, theirs.days)
        np.testing.assert_array_equal(mine.values, theirs.values)
        np.testing.assert_array_equal(mine.silent, theirs.silent)
        np.testing.assert_array_equal(mine.active, theirs.active)


def test_a_composite_with_many_groups_is_read_to_its_last_page(
    loaded: Loaded, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = SeriesSpec.of("user.name", "1h", max_groups=100)
    sent: list[dict[str, Any]] = []
    forward = loaded.client.request

    def spy(method: str, path: str, **kwargs: Any) -> Any:
        sent.append(kwargs.get("body") or {})
        return forward(method, path, **kwargs)

    monkeypatch.setattr(loaded.client, "request", spy)
    page = 200
    got = series(loaded.client, INDEX, spec, page_size=page)
    want = loaded.duck.series(spec)
    assert_same_frame(got, want)
    assert len(got.series) == len(USERS)

    # Never a document: every search asks for none.
    assert sent and all(body.get("size") == 0 for body in sent)
    cells = int(sum((s.values > 0).sum() for s in want.series))
    composites = [body["aggs"]["c"]["composite"] for body in sent if "c" in body["aggs"]]
    cell_pages = [c for c in composites if [next(iter(s)) for s in c["sources"]] == ["k0", "b"]]
    # Pages of 200 until a short one (or an empty one after an exact multiple).
    assert cells > 10 * page
    assert len(cell_pages) == cells // page + 1
    assert all("after" in body for body in cell_pages[1:])


# --- terms_change -----------------------------------------------------------------------------

WINDOW = (datetime(2024, 5, 2, 10, tzinfo=UTC), datetime(2024, 5, 2, 12, tzinfo=UTC))
BASELINE = [
    (datetime(2024, 5, 1, 10, tzinfo=UTC), datetime(2024, 5, 1, 12, tzinfo=UTC)),
    (datetime(2024, 5, 3, 10, tzinfo=UTC), datetime(2024, 5, 3, 12, tzinfo=UTC)),
]
OVERLAPPING = [
    (datetime(2024, 5, 1, 6, tzinfo=UTC), datetime(2024, 5, 1, 14, tzinfo=UTC)),
    (datetime(2024, 5, 1, 10, tzinfo=UTC), datetime(2024, 5, 1, 18, tzinfo=UTC)),
    (datetime(2024, 5, 2, 11, tzinfo=UTC), datetime(2024, 5, 2, 13, tzinfo=UTC)),
]
FIELDS = ["event.dataset", "network.protocol", "user.name", "http.response.status_code"]

CHANGES: dict[str, dict[str, Any]] = {
    "counts during the gap": {"fields": FIELDS, "query": Query(), "baseline": BASELINE},
    "bytes during the gap": {
        "fields": FIELDS,
        "query": Query(),
        "baseline": BASELINE,
        "sum_field": "network.bytes",
    },
    "a query, overlapping baselines, top 3": {
        "fields": ["user.name", "source.ip"],
        "query": Query("event.dataset:net.flow OR network.protocol:ssh"),
        "baseline": OVERLAPPING,
        "size": 3,
    },
    "a field outside the schema": {
        "fields": ["app.shard", "network.protocol"],
        "query": Query(),
        "baseline": BASELINE,
    },
    "no baseline": {"fields": ["network.protocol"], "query": Query(), "baseline": []},
    "no field": {"fields": [], "query": Query("user.name:u0*"), "baseline": BASELINE},
}


def assert_same_changes(got: TermChanges, want: TermChanges) -> None:
    assert got.total == want.total
    assert got.by_field.keys() == want.by_field.keys()
    for name in want.by_field:
        assert got.by_field[name] == want.by_field[name], name


@pytest.mark.parametrize("name", list(CHANGES))
def test_terms_change_equal_duckdb(loaded: Loaded, name: str) -> None:
    case = dict(CHANGES[name])
    fields, query, baseline = case.pop("fields"), case.pop("query"), case.pop("baseline")
    before = loaded.client.requests
    got = terms_change(loaded.client, INDEX, fields, query, WINDOW, baseline, **case)
    # One search for every field, after asking the mapping of a field outside the schema.
    mapping_checks = sum(name not in FIELD_BY_NAME for name in fields)
    assert loaded.client.requests == before + 1 + mapping_checks
    want = loaded.duck.terms_change(fields, query, WINDOW, baseline, **case)
    assert want.total.observed > 0
    assert_same_changes(got, want)


def test_terms_change_compares_the_largest_values_only(loaded: Loaded) -> None:
    """With fewer values compared than a field has, the largest changes still come out."""
    args = (["user.name"], Query(), WINDOW, BASELINE)
    want = loaded.duck.terms_change(*args, size=3)
    got = terms_change(loaded.client, INDEX, *args, size=3, terms_size=40)
    assert abs(got.by_field["user.name"][0].change) == abs(want.by_field["user.name"][0].change)


# --- refusals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        (SeriesSpec.of("tags", "1h"), "list"),
        (SeriesSpec.of("event.original", "1h"), "unindexed"),
        (SeriesSpec.of("@timestamp", "1h"), "date field"),
        (SeriesSpec.of("event.dataset", "1h", Metric("sum", field="user.name")), "numeric"),
        (SeriesSpec.of("event.dataset", "1h", query="a AND (b"), "query"),
        (SeriesSpec.of("event.dataset", "1h", Metric("rate", query="x:[1 TO")), "query"),
    ],
)
def test_what_the_cluster_cannot_do_is_refused_before_asking(
    loaded: Loaded, spec: SeriesSpec, words: str
) -> None:
    before = loaded.client.requests
    with pytest.raises(QueryError) as caught:
        series(loaded.client, INDEX, spec)
    assert words in str(caught.value)
    assert loaded.client.requests == before
    with pytest.raises(QueryError, match="lists"):
        terms_change(loaded.client, INDEX, ["tags"], Query(), WINDOW, BASELINE)


def test_a_field_outside_the_schema_must_be_mapped_in_the_cluster(loaded: Loaded) -> None:
    before = loaded.client.requests
    with pytest.raises(QueryError, match="not indexed in events-test"):
        series(loaded.client, INDEX, SeriesSpec.of("app.tenant", "1h"))
    with pytest.raises(QueryError, match="not indexed"):
        terms_change(loaded.client, INDEX, ["app.tenant"], Query(), WINDOW, BASELINE)
    assert loaded.client.requests == before + 2  # the mapping was asked for, nothing else


def test_a_missing_index_is_one_clear_error(loaded: Loaded) -> None:
    with pytest.raises(ClusterError) as caught:
        series(loaded.client, "no-such-index", SPECS["count by dataset 15m"])
    assert caught.value.status == 404
    assert str(caught.value).startswith("no-such-index: ") and "\n" not in str(caught.value)
    frame = series(loaded.client, "no-such-*", SPECS["count by dataset 15m"])
    assert frame.series == [] and len(frame.buckets) == 0  # a pattern matching nothing


def test_groups_left_out_are_not_asked_for(loaded: Loaded, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = SeriesSpec.of("user.name", "1h", max_groups=3)
    answers: list[Any] = []
    forward = loaded.client.request

    def spy(method: str, path: str, **kwargs: Any) -> Any:
        answers.append(forward(method, path, **kwargs))
        return answers[-1]

    monkeypatch.setattr(loaded.client, "request", spy)
    got = series(loaded.client, INDEX, spec)
    assert_same_frame(got, loaded.duck.series(spec))
    assert got.groups_left_out == len(USERS) - 3
    kept = {s.key[0] for s in got.series}
    cell_keys = {
        bucket["key"]["k0"]
        for answer in answers
        for bucket in answer.get("aggregations", {}).get("c", {}).get("buckets", [])
        if "b" in bucket["key"] and "k0" in bucket["key"]
    }
    assert cell_keys == kept
