"""Reading from a cluster into the embedded store: full pulls, ranges, fields, PIT and scroll,
incremental pulls that resume after being killed, transient page failures.

The data is a day of generated traffic, ingested into DuckDB, exported as ECS documents
(``_id`` = event.id) and bulk-loaded once into a module-wide osmem base; every test reads a
fresh clone of it, through either client (the ``cluster`` fixture).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner
from osmem_server import OsmemClone, OsmemServer

from loglens.cli import cli, main
from loglens.cluster import connect
from loglens.cluster.documents import documents, index_template
from loglens.config import Config, load_config
from loglens.pipeline import IngestReport, Pipeline
from loglens.sources.elastic import ClusterPull, ClusterScan, ScanOptions, Watermark
from loglens.sources.generate import generate
from loglens.store import DuckDBStore, open_store
from loglens.store.base import Query, StagedCounts, WriteSummary
from tests.cluster.conftest import Cluster

DAY = datetime(2024, 5, 1, tzinfo=UTC)
PATTERN = "logs-*"
COMPARED = (
    "@timestamp", "event.dataset", "event.module", "event.kind", "event.category",
    "event.action", "event.outcome", "source.ip", "source.port", "destination.ip",
    "destination.port", "network.transport", "network.protocol", "network.bytes", "host.name",
    "user.name", "http.request.method", "url.path", "http.response.status_code", "message",
    "tags",
)  # fmt: skip
# Small pages, slices and batches, so that a few thousand documents take many of each.
PULL = ClusterPull(page_size=200, slice_length=timedelta(hours=3), batch_records=1200)
SMALL_BATCHES = replace(PULL, batch_records=400)  # many writes, for pulls killed midway


@dataclass(frozen=True)
class Source:
    """What the module's cluster holds: the canonical events, and each document's index."""

    events: pa.Table
    index_of: dict[str, str]  # event.id (= _id) -> index

    def rows(self) -> dict[str, dict[str, Any]]:
        return {str(r["event.id"]): r for r in self.events.to_pylist()}


def _index_for(doc: dict[str, Any]) -> str:
    return "logs-web" if doc.get("event", {}).get("module") == "apache" else "logs-other"


def _bulk_lines(docs: list[tuple[str, dict[str, Any]]], index: str | None = None) -> str:
    lines = []
    for doc_id, doc in docs:
        lines.append(json.dumps({"index": {"_index": index or _index_for(doc), "_id": doc_id}}))
        lines.append(json.dumps(doc))
    return "\n".join(lines) + "\n"


def _raw_request(url: str, method: str, path: str, body: Any = None) -> Any:
    import urllib3

    data = body if isinstance(body, str) or body is None else json.dumps(body)
    content = "application/x-ndjson" if isinstance(body, str) else "application/json"
    answer = urllib3.request(
        method, url + path, body=data, headers={"content-type": content}, timeout=120
    )
    assert answer.status < 300, answer.data[:300]
    return json.loads(answer.data)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    out = tmp_path_factory.mktemp("generated")
    generate(out, days=1, seed=5, rate=0.012, incidents=[], start=DAY)
    store = open_store("duckdb::memory:")
    with Pipeline(load_config(env={}), store) as pipeline:
        pipeline.ingest([str(out)])
    events = store.search(Query(size=None))
    index_of = {doc_id: _index_for(doc) for doc_id, doc in documents(events)}
    return Source(events, index_of)


@pytest.fixture(scope="module")
def loaded_base(source: Source) -> Iterator[OsmemServer]:
    """An osmem base holding the documents (plus a non-ECS firewall index), frozen once."""
    server = OsmemServer.start(seed=[], freeze=False, japanese=False)
    try:
        _raw_request(server.url, "PUT", "/_index_template/loglens", index_template([PATTERN]))
        _raw_request(
            server.url, "POST", "/_bulk?refresh=true", _bulk_lines(list(documents(source.events)))
        )
        _raw_request(server.url, "POST", "/_bulk?refresh=true", _firewall_lines())
        yield server
    finally:
        server.close()


@pytest.fixture
def osmem_clone(loaded_base: OsmemServer) -> Iterator[OsmemClone]:
    """Overrides the plugin's clone: this module's tests read the loaded base."""
    clone = loaded_base.clone()
    yield clone
    clone.close()


def _config(cluster: Cluster, **overrides: object) -> Config:
    return load_config(env={}).with_overrides(
        {
            "cluster.hosts": (cluster.url,),
            "cluster.retry_backoff": 0.01,
            "cluster.retry_backoff_max": 0.05,
            "cluster.max_retries": 4,
            **overrides,
        }
    )


def _pull(
    cluster: Cluster,
    store: DuckDBStore,
    pull: ClusterPull = PULL,
    url: str = f"es://{PATTERN}",
    **options: Any,
) -> IngestReport:
    with Pipeline(_config(cluster), store) as pipeline:
        return pipeline.ingest([url], cluster=pull, **options)


def _pulled(store: DuckDBStore) -> dict[str, dict[str, Any]]:
    """Pulled events by the ``_id`` they came from."""
    rows = store.search(Query(size=None)).to_pylist()
    return {json.loads(r["extra"])["cluster._id"]: r for r in rows}


def _open_pits(cluster: Cluster) -> list[Any]:
    return list(_raw_request(cluster.clone.url, "GET", "/_search/point_in_time/_all")["pits"])


def test_a_full_pull_equals_the_source(cluster: Cluster, source: Source) -> None:
    store = open_store("duckdb::memory:")
    report = _pull(cluster, store)

    expected = source.rows()
    pulled = _pulled(store)
    assert set(pulled) == set(expected)
    assert store.count(Query()) == len(expected)  # no event twice
    for doc_id, row in pulled.items():
        assert row["log.file.path"] == f"es://{source.index_of[doc_id]}"
        assert {f: row[f] for f in COMPARED} == {f: expected[doc_id][f] for f in COMPARED}
    by_index = {r.source: r for r in report.inputs}
    assert set(by_index) == {"es://logs-web", "es://logs-other"}
    for index in ("logs-web", "logs-other"):
        record = by_index[f"es://{index}"]
        assert record.records == sum(1 for i in source.index_of.values() if i == index)
        assert record.parsed == record.records and record.balanced
        assert record.format == "ecs"
        # osmem lacks Elasticsearch's POST /_pit: that client falls back to scroll.
        assert record.container == ("pit" if cluster.flavour == "opensearch" else "scroll")
    assert _open_pits(cluster) == []
    requests = [(m, p) for m, p, _ in cluster.proxy.traffic.requests]
    if cluster.flavour == "opensearch":
        assert ("DELETE", "/_search/point_in_time") in requests
    else:
        opened = sum(1 for m, p in requests if m == "POST" and "scroll=" in p)
        cleared = requests.count(("DELETE", "/_search/scroll"))
        assert cleared == opened > 1  # a scroll per slice, each cleared


def test_a_cluster_document_is_the_same_event_as_in_a_file(
    cluster: Cluster, source: Source, tmp_path: Path
) -> None:
    store = open_store("duckdb::memory:")
    _pull(cluster, store, url="es://logs-web")
    docs = [
        doc for doc_id, doc in documents(source.events) if source.index_of[doc_id] == "logs-web"
    ]
    ndjson = tmp_path / "web.ndjson"
    ndjson.write_text("".join(json.dumps(doc, separators=(",", ":")) + "\n" for doc in docs))
    from_file = open_store("duckdb::memory:")
    with Pipeline(load_config(env={}), from_file) as pipeline:
        pipeline.ingest([str(ndjson)])

    # Provenance differs (where the record came from, when, and its raw text: the file's line
    # or the document as the cluster returned it); the pull adds the _id to extra.
    provenance = {"event.id", "event.ingested", "event.original", "log.file.path",
                  "log.file.line"}  # fmt: skip

    def canonical(table: pa.Table) -> list[dict[str, Any]]:
        rows = []
        for row in table.to_pylist():
            kept = {k: v for k, v in row.items() if k not in provenance}
            extra = json.loads(kept.pop("extra") or "{}")
            extra.pop("cluster._id", None)
            rows.append({**kept, "extra": extra or None})
        return sorted(rows, key=lambda r: json.dumps(r, default=str, sort_keys=True))

    pulled = store.search(Query(size=None))
    assert pulled.num_rows == len(docs) > 0
    assert canonical(pulled) == canonical(from_file.search(Query(size=None)))


def test_time_range_and_field_selection(cluster: Cluster, source: Source) -> None:
    since, until = DAY + timedelta(hours=5), DAY + timedelta(hours=9, minutes=30)
    fields = ("source.ip", "event.action", "event.dataset", "event.module", "url.path")
    store = open_store("duckdb::memory:")
    _pull(cluster, store, replace(PULL, since=since, until=until, fields=fields))

    expected = {i: r for i, r in source.rows().items() if since <= r["@timestamp"] < until}
    pulled = _pulled(store)
    assert set(pulled) == set(expected) and len(expected) > 100
    for doc_id, row in pulled.items():
        for name in ("@timestamp", *fields):
            assert row[name] == expected[doc_id][name]
        # Not fetched, so not stored (the source has them).
        assert row["message"] is None and row["host.name"] is None
    assert any(r["message"] is not None for r in expected.values())


def test_an_incremental_pull_takes_only_what_is_new(cluster: Cluster, source: Source) -> None:
    store = open_store("duckdb::memory:")
    first = _pull(cluster, store)
    assert sum(r.parsed for r in first.inputs) == source.events.num_rows

    again = _pull(cluster, store)
    assert sum(r.records for r in again.inputs) == 0  # the hits at the watermark are known

    # New documents: one late arrival at exactly the watermark's millisecond, later ones.
    mark = Watermark.from_json(store.checkpoint(f"cluster:{cluster.url}/{PATTERN}"))
    assert mark is not None and mark.seen
    last = max(source.events.column("@timestamp").to_pylist())
    assert mark.timestamp == last.replace(microsecond=last.microsecond // 1000 * 1000)
    late = _document("late-1", mark.timestamp + timedelta(microseconds=300))
    newer = [_document(f"new-{n}", mark.timestamp + timedelta(minutes=n)) for n in range(1, 31)]
    bulk = _bulk_lines([late, *newer], index="logs-other")
    _raw_request(cluster.clone.url, "POST", "/_bulk?refresh=true", bulk)

    third = _pull(cluster, store)
    assert [(r.source, r.records, r.parsed, r.duplicates) for r in third.inputs] == [
        ("es://logs-other", 31, 31, 0)
    ]
    assert set(_pulled(store)) == set(source.index_of) | {"late-1"} | {d for d, _ in newer}
    assert store.count(Query()) == source.events.num_rows + 31
    assert sum(r.records for r in _pull(cluster, store).inputs) == 0


def _document(doc_id: str, at: datetime) -> tuple[str, dict[str, Any]]:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return doc_id, {
        "@timestamp": stamp,
        "event": {"dataset": "app.log", "kind": "event", "action": "late-arrival"},
        "host": {"name": "app01"},
        "message": f"document {doc_id}",
    }


def test_hits_at_one_millisecond_in_several_indices_are_each_read_once(
    cluster: Cluster,
) -> None:
    at = DAY + timedelta(hours=1)
    docs = [_document(f"{index}-{n}", at) for index in "ab" for n in range(3)]
    for index in "ab":
        mine = [d for d in docs if d[0].startswith(index)]
        _raw_request(cluster.clone.url, "POST", "/_bulk?refresh=true",
                     _bulk_lines(mine, index=f"ties-{index}"))  # fmt: skip
    store = open_store("duckdb::memory:")
    # One hit per page: every page ends on a tie that only _index and _shard_doc break.
    report = _pull(cluster, store, replace(PULL, page_size=1), url="es://ties-*")
    assert sorted(_pulled(store)) == sorted(d for d, _ in docs)
    assert sum(r.records for r in report.inputs) == len(docs)


def test_without_shard_doc_ties_are_broken_by_id(cluster: Cluster) -> None:
    """OpenSearch before 3.3 has points in time but refuses to sort on _shard_doc."""
    if cluster.flavour != "opensearch":
        pytest.skip("the elasticsearch client reads osmem by scroll")
    at = DAY + timedelta(hours=1)
    docs = [_document(f"{index}-{n}", at) for index in "ab" for n in range(3)]
    for index in "ab":
        mine = [d for d in docs if d[0].startswith(index)]
        _raw_request(cluster.clone.url, "POST", "/_bulk?refresh=true",
                     _bulk_lines(mine, index=f"ties-{index}"))  # fmt: skip
    proxy = cluster.proxy
    proxy.inject(path="/_search", method="POST", times=2)  # the range, the point in time: as is
    refusal = "No mapping found for [_shard_doc] in order to sort on"
    proxy.inject(path="/_search", method="POST", status=400, reason=refusal)
    read: list[str] = []
    options = ScanOptions("ties-*", page_size=1)
    with connect(cluster.settings()) as client, ClusterScan(client, options) as scan:
        for window in scan.slices():
            for page in window:
                read.extend(hit.id for hit in page)
        assert scan.tiebreak == "_id"
    assert sorted(read) == sorted(d for d, _ in docs)  # each once
    assert proxy.traffic.faults_used == 3
    assert _open_pits(cluster) == []


class _Killed(Exception):
    """Stands for the process being killed."""


class _DyingStore(DuckDBStore):
    """A store whose writes stop (once) after ``writes`` batches, like a process killed midway."""

    def __init__(self, writes: int) -> None:
        super().__init__(":memory:")
        self.writes_left = writes

    def write_staged(
        self, events_sql: str, *, known_new: bool = False, counted: StagedCounts | None = None
    ) -> WriteSummary:
        if self.writes_left == 0:
            self.writes_left = -1
            raise _Killed
        self.writes_left -= 1
        return super().write_staged(events_sql, known_new=known_new, counted=counted)


def test_a_pull_killed_midway_resumes_with_the_exact_set(cluster: Cluster, source: Source) -> None:
    store = _DyingStore(writes=3)
    with pytest.raises(_Killed):
        _pull(cluster, store, SMALL_BATCHES)
    stored_before = store.count(Query())
    assert 0 < stored_before < source.events.num_rows
    mark = Watermark.from_json(store.checkpoint(f"cluster:{cluster.url}/{PATTERN}"))
    assert mark is not None  # at least one slice was written whole before the kill
    assert _open_pits(cluster) == []  # the point in time was closed on the way out

    resumed = _pull(cluster, store)
    pulled = _pulled(store)
    assert set(pulled) == set(source.index_of)
    assert store.count(Query()) == source.events.num_rows  # nothing twice
    read = sum(r.records for r in resumed.inputs)
    duplicates = sum(r.duplicates for r in resumed.inputs)
    # The resumed pull starts at the watermark: it reads less than everything, and what it
    # re-reads of the interrupted stretch is counted as duplicates, never stored again.
    assert read < source.events.num_rows
    assert sum(r.parsed for r in resumed.inputs) == source.events.num_rows - stored_before
    assert duplicates == read - (source.events.num_rows - stored_before)
    assert all(r.balanced for r in resumed.inputs)


def _page_requests(cluster: Cluster) -> int:
    return sum(
        1
        for method, path, status in list(cluster.proxy.traffic.requests)
        if method == "POST"
        and status == 200
        and path.split("?")[0] in ("/_search", "/_search/scroll")
    )


def test_a_pull_killed_by_a_signal_resumes_with_the_exact_set(
    cluster: Cluster, source: Source, tmp_path: Path
) -> None:
    db = tmp_path / "killed.duckdb"
    url = cluster.url.replace("http://", "es+http://") + f"/{PATTERN}"
    command = [sys.executable, "-m", "loglens", "--store", f"duckdb:{db}", "ingest", url,
               "--page-size", "100", "--slice", "3h"]  # fmt: skip
    env = {**os.environ, "LOGLENS_INGEST__BATCH_LINES": "300"}  # a write every three pages
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while _page_requests(cluster) < 8 and process.poll() is None:
            assert time.monotonic() < deadline, "the pull made no progress"
            time.sleep(0.02)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL  # killed midway, not finished

    store = open_store(f"duckdb:{db}")
    stored_before = store.count(Query())
    assert 0 < stored_before < source.events.num_rows
    assert store.checkpoint(f"cluster:{cluster.url}/{PATTERN}") is not None
    resumed = _pull(cluster, store)
    assert set(_pulled(store)) == set(source.index_of)
    assert store.count(Query()) == source.events.num_rows
    assert sum(r.parsed for r in resumed.inputs) == source.events.num_rows - stored_before


class _FaultsAfterFirstWrite(DuckDBStore):
    """Arms the proxy's faults once the first batch is stored: they hit page requests."""

    def __init__(self, arm: Callable[[], None]) -> None:
        super().__init__(":memory:")
        self._arm: Callable[[], None] | None = arm

    def write_staged(
        self, events_sql: str, *, known_new: bool = False, counted: StagedCounts | None = None
    ) -> WriteSummary:
        written = super().write_staged(events_sql, known_new=known_new, counted=counted)
        if self._arm is not None:
            self._arm()
            self._arm = None
        return written


def test_pages_that_fail_transiently_are_retried(cluster: Cluster, source: Source) -> None:
    proxy = cluster.proxy

    def arm() -> None:  # point in time: any page request can be repeated
        proxy.inject(path="/_search", method="POST", status=429, times=2)
        proxy.inject(path="/_search", method="POST", drop=True, after_forward=True)

    if cluster.flavour == "opensearch":
        store = _FaultsAfterFirstWrite(arm)
    else:
        # Scroll: the first scroll request (the first slice's second page) is answered 429,
        # then its repeat is lost after the server moved the cursor: a page is missing, and
        # the slice is read again.
        store = DuckDBStore(":memory:")
        proxy.inject(path="/_search/scroll", method="POST", status=429)
        proxy.inject(path="/_search/scroll", method="POST", drop=True, after_forward=True)
    report = _pull(cluster, store)

    assert proxy.traffic.faults_used == (3 if cluster.flavour == "opensearch" else 2)
    assert set(_pulled(store)) == set(source.index_of)
    assert store.count(Query()) == source.events.num_rows
    assert sum(r.parsed for r in report.inputs) == source.events.num_rows
    assert all(r.balanced for r in report.inputs)
    rereads = sum(r.duplicates for r in report.inputs)
    if cluster.flavour == "opensearch":
        assert rereads == 0
    else:
        assert rereads > 0  # the slice read twice: its hits counted again, as duplicates
    assert [p.rereads for p in report.pulls] == [0 if cluster.flavour == "opensearch" else 1]


# --- a non-ECS index, read through a field mapping ---------------------------------------------

_FIREWALL = [
    {"ts": f"2024-05-01T0{h}:15:00Z", "src": f"203.0.113.{h}", "dst": "10.0.0.5",
     "dport": 22 + h, "verdict": "deny", "rule_name": f"r{h}", "bytes_out": 100 * h,
     "zone": "dmz"}
    for h in range(1, 7)
]  # fmt: skip


def _firewall_lines() -> str:
    return _bulk_lines([(f"fw-{n}", doc) for n, doc in enumerate(_FIREWALL)], index="fw-2024")


def test_a_non_ecs_index_through_a_field_mapping(cluster: Cluster) -> None:
    store = open_store("duckdb::memory:")
    pull = replace(PULL, time_field="ts", since=DAY + timedelta(hours=2))
    mapping = {"verdict": "event.action", "dport": "destination.port", "bytes_out": "network.bytes"}
    report = _pull(cluster, store, pull, url="es://fw-*", column_map=mapping)

    assert [(r.source, r.format, r.parsed) for r in report.inputs] == [("es://fw-2024", "json", 5)]
    rows = sorted(store.search(Query(size=None)).to_pylist(), key=lambda r: r["@timestamp"])
    assert [r["@timestamp"].hour for r in rows] == [2, 3, 4, 5, 6]
    first = rows[0]
    assert (first["source.ip"], first["destination.ip"]) == ("203.0.113.2", "10.0.0.5")
    assert (first["event.action"], first["destination.port"], first["network.bytes"]) == (
        "deny", 24, 200,
    )  # fmt: skip
    extra = json.loads(first["extra"])
    assert first["rule.name"] == "r2"  # a key named like an ECS field maps by itself
    assert extra == {"zone": "dmz", "cluster._id": "fw-1"}  # the rest, and where it came from
    assert store.checkpoint(f"cluster:{cluster.url}/fw-*#ts") is not None


# --- the command line --------------------------------------------------------------------------


def test_loglens_ingest_es_prints_the_accounting_per_index(
    cluster: Cluster, source: Source, tmp_path: Path
) -> None:
    db = tmp_path / "pulled.duckdb"
    url = cluster.url.replace("http://", "es+http://") + "/logs-web"
    args = ["--store", f"duckdb:{db}", "ingest", url, "--page-size", "300", "--slice", "6h",
            "--since", "2024-05-01T06:00", "--until", "2024-05-01T18:00"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    expected = sum(
        1
        for i, r in source.rows().items()
        if source.index_of[i] == "logs-web"
        and DAY + timedelta(hours=6) <= r["@timestamp"] < DAY + timedelta(hours=18)
    )
    line = next(line for line in result.output.splitlines() if line.startswith("es://logs-web"))
    assert line.startswith("es://logs-web  [ecs/")
    assert f"read {expected:,} = parsed {expected:,} + raw 0 + duplicates 0" in line
    assert line.endswith("ok")
    how = "point in time" if cluster.flavour == "opensearch" else "scroll"
    assert f"/logs-web: {expected:,} hit(s) in 2 slice(s) by {how}; watermark 2024-05-01T1" in (
        result.output
    )

    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert "read 0," in again.output
    assert "/logs-web: 0 hit(s); watermark 2024-05-01T1" in again.output
    assert again.output.count("(nothing new)") == 1


def test_a_missing_index_is_one_clear_line(
    cluster: Cluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = cluster.url.replace("http://", "es+http://") + "/no-such-index"
    with pytest.raises(SystemExit) as done:
        main(["--store", f"duckdb:{tmp_path / 'x.duckdb'}", "ingest", url])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no-such-index: ") and "no such index" in err
    assert "\n" not in err
