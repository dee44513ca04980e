"""The cluster store: canonical events in an Elasticsearch or OpenSearch index.

``es://INDEX`` (see :mod:`loglens.cluster.urls`) names the index events are written to, or for
reading a pattern (``logs-*``). The store implements the protocol of :mod:`loglens.store.base`
with the work done in the cluster: searches and counts are Query DSL built from the parsed Lucene
query (:mod:`loglens.store.elastic_query`), terms and datasets are aggregations, series and term
changes are composite/date_histogram aggregations (:mod:`loglens.store.elastic_series`), log
templates' ids are written by bulk partial updates (:mod:`loglens.store.elastic_templates`).

Writing: the first write installs the index template (ECS mappings, ``index_template`` of
:mod:`loglens.cluster.documents`) for the index name and ``NAME-*``, and creates the index.
Parsed rows are streamed from the staging DuckDB connection as Arrow batches into the bulk writer
(:mod:`loglens.cluster.bulk`): ``_id`` = ``event.id``, so a re-run adds nothing. The index is
refreshed after every write, so counts are right at once.

Write-back, without scripts (clusters often forbid them):

- ``tag``/``tag_matching`` read the matching events' ``tags`` with their ``_seq_no`` and
  ``_primary_term``, and bulk-``update`` each with a partial document holding the new list,
  conditional on that version; an event changed meanwhile is read again and retried.
- Anomalies go to the ``loglens-anomalies`` index, one document per anomaly (``_id`` = its id,
  replaced when written again), in ECS terms: ``@timestamp`` and ``event.start`` are the window's
  start, ``event.end`` its end, ``event.kind: alert`` (ECS: raised by a detection system outside
  the Elastic Stack; ``signal`` is for the Stack's own rules), ``event.severity`` 1-4 and
  ``event.risk_score`` the score, ``message`` the explanation, ``tags: [loglens.anomaly]``; the
  rest under ``loglens.anomaly`` (detector, kind, series name and key, observed, expected,
  reasons, entities as objects with ``field``/``value``, details as JSON text). A plain
  ``query_string`` such as ``event.kind:alert AND loglens.anomaly.detector:baseline`` finds them.
- The accounting of each ingested input goes to ``loglens-ingest``; checkpoints (an incremental
  pull's watermark) to ``loglens-checkpoints``, one document per name.

Where answers differ from DuckDB's (beyond the query differences listed in
:mod:`loglens.store.elastic_query`):

- Timestamps are held to the millisecond, DuckDB's to the microsecond.
- Searches order as DuckDB does (the sort field, missing values last, then ``log.file.path`` and
  ``log.file.line``), with ``event.id`` as the last tie-breaker that paging needs; DuckDB leaves
  the order of full ties open. Sorting by ``@timestamp`` sees milliseconds (the ``date`` type):
  events less than a millisecond apart are ordered by file and line, not by the microseconds
  DuckDB compares (a ``date_nanos`` mapping would close this gap).
- ``terms`` on ``tags`` counts events without tags as missing (DuckDB: 0); ``terms`` on a key of
  ``extra`` reads the cluster field of that name (documents loglens wrote keep ``extra`` as text).
- Sorting by ``extra`` or ``event.original`` is refused (neither has sortable values).
"""

from __future__ import annotations

import contextlib
import json
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

import duckdb
import pyarrow as pa

from loglens import schema
from loglens.cluster.bulk import BulkResult, BulkWriter
from loglens.cluster.connection import ClusterClient
from loglens.cluster.documents import document, flatten, index_template, parse_date, table
from loglens.detect.base import SEVERITIES, Anomaly
from loglens.errors import ClusterError, QueryError, StoreError
from loglens.query import install_sql_functions
from loglens.schema import COLUMNS, FIELD_BY_NAME, FIELDS, Kind, quote_ident
from loglens.series import SeriesFrame, SeriesSpec
from loglens.store.base import (
    DatasetInfo,
    GroupProfile,
    IngestRecord,
    Query,
    StagedCounts,
    TermChanges,
    TermsBucket,
    TermsResult,
    WriteSummary,
)
from loglens.store.elastic_query import MATCH_ALL, events_filter, keyword_path
from loglens.store.elastic_templates import ClusterTemplates

ANOMALIES_INDEX: Final = "loglens-anomalies"
INGEST_INDEX: Final = "loglens-ingest"
CHECKPOINTS_INDEX: Final = "loglens-checkpoints"
PAGE_SIZE: Final = 5000
"""Hits per search request when reading many (below every cluster's ``max_result_window``)."""

_TS: Final = "@timestamp"
_ANOMALY_TAG: Final = "loglens.anomaly"
# Most severe first: the order anomalies() returns, as DuckDB's store does.
_SEVERITY_RANK: Final = {name: rank for rank, name in enumerate(reversed(SEVERITIES))}
_TAG_ROUNDS: Final = 5
_UNMAPPED_TYPES: Final = {Kind.LONG: "long", Kind.DATE: "date", Kind.IP: "ip"}

_ANOMALY_SCHEMA: Final = pa.schema(
    [
        ("id", pa.string()),
        ("start", pa.timestamp("us", tz="UTC")),
        ("end", pa.timestamp("us", tz="UTC")),
        ("series_name", pa.string()),
        ("series_key", pa.string()),
        ("detector", pa.string()),
        ("kind", pa.string()),
        ("score", pa.float64()),
        ("severity", pa.string()),
        ("observed", pa.float64()),
        ("expected", pa.float64()),
        ("explanation", pa.string()),
        ("reasons", pa.list_(pa.string())),
        ("entities", pa.string()),
        ("details", pa.string()),
        ("created", pa.timestamp("us", tz="UTC")),
    ]
)
_KEYWORD: Final = {"type": "keyword", "ignore_above": 8191}
_STORED_ONLY: Final = {"type": "keyword", "index": False, "doc_values": False}
_DATE: Final = {"type": "date", "format": "strict_date_optional_time||epoch_millis"}
_ANOMALY_MAPPINGS: Final = {
    "dynamic": False,
    "properties": {
        "@timestamp": _DATE,
        "message": {"type": "text"},
        "tags": _KEYWORD,
        "event": {
            "properties": {
                "id": _KEYWORD,
                "kind": _KEYWORD,
                "module": _KEYWORD,
                "dataset": _KEYWORD,
                "start": _DATE,
                "end": _DATE,
                "created": _DATE,
                "severity": {"type": "long"},
                "risk_score": {"type": "double"},
            }
        },
        "loglens": {
            "properties": {
                "anomaly": {
                    "properties": {
                        "series_name": _KEYWORD,
                        "series_key": _KEYWORD,
                        "detector": _KEYWORD,
                        "kind": _KEYWORD,
                        "score": {"type": "double"},
                        "severity": _KEYWORD,
                        "severity_rank": {"type": "integer"},
                        "observed": {"type": "double"},
                        "expected": {"type": "double"},
                        "reasons": {"type": "text"},
                        "entities": {
                            "properties": {
                                "field": _KEYWORD,
                                "value": _KEYWORD,
                                "observed": {"type": "double"},
                                "expected": {"type": "double"},
                            }
                        },
                        "details": _STORED_ONLY,
                    }
                }
            }
        },
    },
}
_INGEST_COUNTS: Final = ("records", "parsed", "failed", "duplicates", "rejected", "blank",
                         "headers", "truncated")  # fmt: skip
_INGEST_MAPPINGS: Final = {
    "dynamic": False,
    "properties": {
        "@timestamp": _DATE,
        "store_index": _KEYWORD,
        "source": _KEYWORD,
        "format": _KEYWORD,
        "container": _KEYWORD,
        **{name: {"type": "long"} for name in _INGEST_COUNTS},
        "started": _DATE,
        "finished": _DATE,
        "notes": {"type": "text"},
    },
}
_CHECKPOINT_MAPPINGS: Final = {
    "dynamic": False,
    "properties": {"name": _KEYWORD, "value": _STORED_ONLY, "updated": _DATE},
}


@dataclass(frozen=True)
class IndexInfo:
    """One index as ``_cat/indices`` reports it."""

    name: str
    health: str
    status: str
    docs: int
    size_bytes: int


class ElasticStore:
    """Canonical events in one index (or, for reading, an index pattern) of a cluster.

    Args:
        client: the connection (see :func:`loglens.cluster.connect`); the store closes it.
        index: the index written to, or a pattern read from.
        url: the store URL as the user gave it (without secrets), for messages.
        bulk_docs: documents per bulk request.
        bulk_bytes: bytes per bulk request, about.
    """

    def __init__(
        self,
        client: ClusterClient,
        index: str,
        *,
        url: str,
        bulk_docs: int = 2000,
        bulk_bytes: int = 5_000_000,
    ) -> None:
        if not index:
            raise StoreError("no index named", location=url)
        self.client = client
        self.index = index
        self.url = url
        self.bulk_docs = bulk_docs
        self.bulk_bytes = bulk_bytes
        self.last_bulk: BulkResult | None = None
        self._staging: duckdb.DuckDBPyConnection | None = None
        self._ready: set[str] = set()
        self._template_ops: ClusterTemplates | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        if self._staging is not None:
            with contextlib.suppress(duckdb.Error):
                self._staging.close()
            self._staging = None
        self.client.close()

    def __enter__(self) -> ElasticStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_pattern(self) -> bool:
        return any(c in self.index for c in "*?,")

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        kwargs.setdefault("location", f"{self.url}")
        return self.client.request(method, path, **kwargs)

    def _prepare_events_index(self) -> None:
        """Install the index template and create the index, once per store."""
        if self.index in self._ready:
            return
        if self.is_pattern:
            raise StoreError(
                f"{self.index!r} is a pattern: events are written to one index (es://NAME)",
                location=self.url,
            )
        template = (
            "loglens-events" if self.index == "loglens-events" else f"loglens-events.{self.index}"
        )
        self._request(
            "PUT",
            f"/_index_template/{quote(template, safe='')}",
            body=index_template([self.index, f"{self.index}-*"]),
        )
        self._create_index(self.index, None)
        self._ready.add(self.index)

    def _create_index(self, name: str, mappings: Mapping[str, Any] | None) -> None:
        body: dict[str, Any] = {"settings": {"number_of_replicas": 0}}
        if mappings is not None:
            body["mappings"] = mappings
        answer = self._request(
            "PUT", f"/{quote(name, safe='')}", body=body, ok_statuses=frozenset({400})
        )
        error = answer.get("error") if isinstance(answer, dict) else None
        if isinstance(error, dict) and "already_exists" not in str(error.get("type", "")):
            raise ClusterError(f"cannot create index {name!r}: {error.get('reason', error)}",
                               location=self.url, status=400)  # fmt: skip

    def _ensure_index(self, name: str, mappings: Mapping[str, Any]) -> None:
        if name not in self._ready:
            self._create_index(name, mappings)
            self._ready.add(name)

    def _refresh(self, name: str) -> None:
        self._request("POST", f"/{quote(name, safe='*,')}/_refresh")

    # --- writing -----------------------------------------------------------------------------

    def staging_connection(self) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection for parsing; the index is made ready for writing."""
        self._prepare_events_index()
        if self._staging is None:
            self._staging = duckdb.connect(":memory:")
            self._staging.execute("SET TimeZone = 'UTC'").fetchall()
            self._staging.execute("SET enable_progress_bar = false").fetchall()
            install_sql_functions(self._staging)
        return self._staging

    def write_staged(
        self, events_sql: str, *, known_new: bool = False, counted: StagedCounts | None = None
    ) -> WriteSummary:
        """Bulk-index the rows of ``events_sql`` (canonical columns, ``_failed``; ``counted``
        is not needed: the bulk answers count what was written).

        ``known_new``: the index held none of these ids when their input began, so the bulk
        writer need not ask which are stored (see :mod:`loglens.cluster.bulk`).
        """
        con = self.staging_connection()
        writer = BulkWriter(
            self.client,
            self.index,
            docs=self.bulk_docs,
            bytes=self.bulk_bytes,
            known_new=known_new,
        )
        try:
            reader = con.sql(f"SELECT * FROM ({events_sql})").to_arrow_reader(10_000)
            for batch in reader:
                for row in batch.to_pylist():
                    canonical = {k: v for k, v in row.items() if k in FIELD_BY_NAME}
                    writer.add(
                        str(row["event.id"]), document(canonical), flagged=bool(row["_failed"])
                    )
        except duckdb.Error as exc:
            raise StoreError(f"staged rows cannot be read: {exc}", location=self.url) from exc
        writer.flush()
        self._refresh(self.index)
        result = writer.result
        self.last_bulk = result
        return WriteSummary(
            inserted=result.created,
            inserted_failures=result.created_flagged,
            duplicates=result.duplicates,
            rejected=result.rejected,
            rejections=tuple(str(r) for r in result.rejections[:20]),
        )

    def write(self, events: pa.Table) -> WriteSummary:
        """Store events given as Arrow (columns by ECS name; missing ones are left out)."""
        con = self.staging_connection()
        selected = []
        for f in FIELDS:
            expr = (
                f"CAST({quote_ident(f.name)} AS {f.sql_type})"
                if f.name in events.column_names
                else f"CAST(NULL AS {f.sql_type})"
            )
            selected.append(f"{expr} AS {quote_ident(f.name)}")
        failed = f"coalesce(list_contains(tags, '{schema.PARSE_FAILURE_TAG}'), false) AS _failed"
        con.register("_incoming", events)
        try:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _incoming_staged AS "
                f"SELECT {', '.join(selected)}, {failed} FROM _incoming"
            ).fetchall()
        except duckdb.Error as exc:
            raise StoreError(f"events do not fit the schema: {exc}", location=self.url) from exc
        finally:
            con.unregister("_incoming")
        try:
            return self.write_staged("SELECT * FROM _incoming_staged")
        finally:
            con.execute("DROP TABLE IF EXISTS _incoming_staged").fetchall()

    def record_ingest(self, record: IngestRecord) -> None:
        self._ensure_index(INGEST_INDEX, _INGEST_MAPPINGS)
        finished = record.finished or datetime.now(UTC)
        body = {
            "@timestamp": _iso(finished),
            "store_index": self.index,
            "source": record.source,
            "format": record.format,
            "container": record.container,
            "records": record.records,
            "parsed": record.parsed,
            "failed": record.failed,
            "duplicates": record.duplicates,
            "rejected": record.rejected,
            "blank": record.blank,
            "headers": record.headers,
            "truncated": record.truncated,
            "started": _iso(record.started) if record.started else None,
            "finished": _iso(finished),
            "notes": list(record.notes),
        }
        self._request("PUT", f"/{INGEST_INDEX}/_doc/{uuid.uuid4().hex}", body=body)

    # --- reading -----------------------------------------------------------------------------

    def query_filter(self, query: Query) -> dict[str, Any]:
        """The Query DSL for the events ``query`` selects (text, ranges, time range)."""
        return events_filter(query)

    def search(self, query: Query) -> pa.Table:
        sort = query.sort or _TS
        known = FIELD_BY_NAME.get(sort)
        if known is None:
            raise QueryError(f"cannot sort by {sort!r}: not a field of the schema")
        if known.kind is Kind.JSON or sort == "event.original":
            raise QueryError(f"cannot sort by {sort!r} in the cluster: it has no sortable values")
        body: dict[str, Any] = {
            "query": self.query_filter(query),
            "sort": _sort_spec(sort, query.descending),
            "track_total_hits": False,
        }
        wanted = list(query.fields) if query.fields else list(COLUMNS)
        extra_keys = [name for name in wanted if name not in FIELD_BY_NAME]
        for name in extra_keys:
            if not _is_extra_name(name):
                raise QueryError(f"{name!r} is not a valid field name")
        if query.fields:
            body["_source"] = sorted(set(wanted) | ({"extra"} if extra_keys else set()))
        sources = [hit.get("_source") or {} for hit in self._hits(self.index, body, query.size)]
        return _project(sources, wanted)

    def _hits(
        self, index: str, body: dict[str, Any], limit: int | None
    ) -> Iterator[dict[str, Any]]:
        """Hits of a sorted search, paged with ``search_after`` up to ``limit`` (None: all)."""
        remaining = limit
        page = dict(body)
        while remaining is None or remaining > 0:
            size = PAGE_SIZE if remaining is None else min(PAGE_SIZE, remaining)
            page["size"] = size
            answer = self._request("POST", f"/{quote(index, safe='*,')}/_search", body=page)
            hits = answer.get("hits", {}).get("hits", [])
            yield from hits
            if remaining is not None:
                remaining -= len(hits)
            if len(hits) < size:
                return
            page["search_after"] = hits[-1]["sort"]

    def count(self, query: Query) -> int:
        answer = self._request(
            "POST",
            f"/{quote(self.index, safe='*,')}/_count",
            body={"query": self.query_filter(query)},
        )
        return int(answer.get("count", 0))

    def terms(self, field: str, query: Query, size: int = 10) -> TermsResult:
        path, kind = _aggregatable(field)
        body = {
            "size": 0,
            "track_total_hits": False,
            "query": self.query_filter(query),
            "aggs": {
                "top": {
                    "terms": {
                        "field": path,
                        "size": max(int(size), 1),
                        "order": [{"_count": "desc"}, {"_key": "asc"}],
                    }
                },
                "missing": {"missing": {"field": path}},
            },
        }
        aggs = self._search(body).get("aggregations", {})
        top = aggs.get("top", {})
        buckets = [
            TermsBucket(_bucket_value(b, kind), int(b["doc_count"])) for b in top.get("buckets", [])
        ][: int(size)]
        other = int(top.get("sum_other_doc_count", 0))
        if len(top.get("buckets", [])) > len(buckets):
            other += sum(int(b["doc_count"]) for b in top["buckets"][len(buckets) :])
        return TermsResult(field, buckets, other, int(aggs.get("missing", {}).get("doc_count", 0)))

    def profiles(
        self,
        field: str,
        values: Sequence[str],
        query: Query,
        *,
        terms_fields: Sequence[str] = (),
        terms_size: int = 3,
        examples: int = 3,
        example_fields: Sequence[str] | None = None,
    ) -> dict[str, GroupProfile]:
        """One search for every group (see :mod:`loglens.store.elastic_profiles`)."""
        from loglens.store import elastic_profiles

        return elastic_profiles.profiles(
            self, field, values, query, terms_fields, terms_size, examples, example_fields
        )

    def datasets(self) -> list[DatasetInfo]:
        sources = [
            {"dataset": {"terms": {"field": "event.dataset", "missing_bucket": True}}},
            {"module": {"terms": {"field": "event.module", "missing_bucket": True}}},
        ]
        sub = {
            "failures": {"filter": {"term": {"tags": schema.PARSE_FAILURE_TAG}}},
            "first": {"min": {"field": _TS}},
            "last": {"max": {"field": _TS}},
        }
        infos = []
        after: Any = None
        while True:
            composite: dict[str, Any] = {"size": 1000, "sources": sources}
            if after is not None:
                composite["after"] = after
            body = {"size": 0, "aggs": {"groups": {"composite": composite, "aggs": sub}}}
            groups = self._search(body).get("aggregations", {}).get("groups", {})
            buckets = groups.get("buckets", [])
            for b in buckets:
                infos.append(
                    DatasetInfo(
                        b["key"].get("dataset"),
                        b["key"].get("module"),
                        int(b["doc_count"]),
                        int(b["failures"]["doc_count"]),
                        _epoch_ms(b["first"].get("value")),
                        _epoch_ms(b["last"].get("value")),
                    )
                )
            after = groups.get("after_key")
            if not buckets or after is None:
                break
        infos.sort(key=lambda i: (-i.events, i.dataset is None, i.dataset or ""))
        return infos

    def indices(self) -> list[IndexInfo]:
        """The indices the store's name or pattern matches: health, documents, size."""
        rows = self._request(
            "GET",
            f"/_cat/indices/{quote(self.index, safe='*,')}",
            params={
                "format": "json",
                "bytes": "b",
                "h": "index,health,status,docs.count,store.size",
            },
        )
        found = [
            IndexInfo(
                str(r.get("index")),
                str(r.get("health") or ""),
                str(r.get("status") or ""),
                _int(r.get("docs.count")),
                _int(r.get("store.size")),
            )
            for r in rows
            if isinstance(r, dict)
        ]
        return sorted(found, key=lambda i: i.name)

    def series(self, spec: SeriesSpec) -> SeriesFrame:
        """Bucketed frames of ``spec``, aggregated in the cluster (``store.elastic_series``)."""
        from loglens.store import elastic_series

        return elastic_series.series(self.client, self.index, spec)

    def terms_change(
        self,
        fields: Sequence[str],
        query: Query,
        window: tuple[datetime, datetime],
        baseline: Sequence[tuple[datetime, datetime]],
        *,
        size: int = 10,
        sum_field: str | None = None,
    ) -> TermChanges:
        from loglens.store import elastic_series

        return elastic_series.terms_change(
            self.client, self.index, fields, query, window, baseline, size, sum_field
        )

    def _search(self, body: dict[str, Any], index: str | None = None) -> dict[str, Any]:
        target = quote(index or self.index, safe="*,")
        answer = self._request("POST", f"/{target}/_search", body=body)
        return answer if isinstance(answer, dict) else {}

    # --- write-back --------------------------------------------------------------------------

    def tag(self, event_ids: Sequence[str], tags: Sequence[str]) -> int:
        if not event_ids or not tags:
            return 0
        ids = list(dict.fromkeys(event_ids))
        matched = 0
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            body = {
                "query": {"ids": {"values": chunk}},
                "_source": ["tags"],
                "seq_no_primary_term": True,
                "size": len(chunk),
            }
            hits = self._search(body).get("hits", {}).get("hits", [])
            matched += self._add_tags(hits, tags)
        self._refresh(self.index)
        return matched

    def tag_matching(self, query: Query, tags: Sequence[str]) -> int:
        if not tags:
            return 0
        matched = 0
        page: list[dict[str, Any]] = []
        for hit in self._hits(self.index, self._tag_search(query), None):
            page.append(hit)
            if len(page) >= PAGE_SIZE:
                matched += self._add_tags(page, tags)
                page = []
        matched += self._add_tags(page, tags)
        self._refresh(self.index)
        return matched

    def tag_groups(self, groups: Sequence[tuple[Query, Sequence[str]]]) -> int:
        """Every group's events read first, then each event updated once with all its tags:
        an event in several anomalies is rewritten once, not once per anomaly."""
        wanted: dict[tuple[str, str], list[str]] = {}
        hits: dict[tuple[str, str], dict[str, Any]] = {}
        matched = 0
        for query, tags in groups:
            if not tags:
                continue
            for hit in self._hits(self.index, self._tag_search(query), None):
                key = (str(hit["_index"]), str(hit["_id"]))
                hits.setdefault(key, hit)
                wanted.setdefault(key, []).extend(tags)
                matched += 1
        keys = list(hits)
        for start in range(0, len(keys), PAGE_SIZE):
            self._add_tags([hits[key] for key in keys[start : start + PAGE_SIZE]], wanted)
        if keys:
            self._refresh(self.index)
        return matched

    def _tag_search(self, query: Query) -> dict[str, Any]:
        return {
            "query": self.query_filter(query),
            "sort": _sort_spec(_TS, False),
            "_source": ["tags"],
            "seq_no_primary_term": True,
            "track_total_hits": False,
        }

    def _add_tags(
        self,
        hits: Sequence[Mapping[str, Any]],
        tags: Sequence[str] | Mapping[tuple[str, str], Sequence[str]],
    ) -> int:
        """Conditional partial updates adding ``tags`` (the same for all, or per (index, id));
        how many events now carry them."""
        pending = list(hits)
        for _ in range(_TAG_ROUNDS):
            lines: list[str] = []
            sent: list[Mapping[str, Any]] = []
            for hit in pending:
                current = _tag_list((hit.get("_source") or {}).get("tags"))
                added = tags[(hit["_index"], hit["_id"])] if isinstance(tags, Mapping) else tags
                wanted = list(dict.fromkeys([*current, *added]))
                if wanted == current:
                    continue
                action = {
                    "update": {
                        "_index": hit["_index"],
                        "_id": hit["_id"],
                        "if_seq_no": hit["_seq_no"],
                        "if_primary_term": hit["_primary_term"],
                    }
                }
                lines.append(json.dumps(action) + "\n" + json.dumps({"doc": {"tags": wanted}}))
                sent.append(hit)
            if not lines:
                return len(hits)
            answer = self._request(
                "POST",
                "/_bulk",
                body="\n".join(lines) + "\n",
                ndjson=True,
                params={"filter_path": "items.*.status,items.*.error.type,items.*.error.reason"},
            )
            again: list[str] = []
            for hit, item in zip(sent, answer.get("items", []), strict=False):
                outcome: dict[str, Any] = next(iter(item.values()), {})
                status = int(outcome.get("status", 0))
                if status in (409, 429, 503):  # changed meanwhile, or busy: read and try again
                    again.append(str(hit["_id"]))
                elif status >= 300:
                    error = outcome.get("error") or {}
                    raise StoreError(
                        f"tagging event {hit['_id']} failed: {error.get('type', status)}: "
                        f"{error.get('reason', '')}",
                        location=self.url,
                    )
            if not again:
                return len(hits)
            body = {
                "query": {"ids": {"values": again}},
                "_source": ["tags"],
                "seq_no_primary_term": True,
                "size": len(again),
            }
            pending = self._search(body).get("hits", {}).get("hits", [])
        raise StoreError(
            f"tagging gave up: {len(pending)} events kept changing under the update",
            location=self.url,
        )

    def write_anomalies(self, anomalies: Sequence[Anomaly]) -> int:
        if not anomalies:
            return 0
        self._ensure_index(ANOMALIES_INDEX, _ANOMALY_MAPPINGS)
        created = datetime.now(UTC)
        lines = []
        for a in anomalies:
            action = {"index": {"_index": ANOMALIES_INDEX, "_id": a.id}}
            lines.append(json.dumps(action) + "\n" + json.dumps(_anomaly_doc(a, created)))
        answer = self._request(
            "POST",
            "/_bulk",
            body="\n".join(lines) + "\n",
            ndjson=True,
            params={"refresh": "true", "filter_path": "errors,items.*.error"},
        )
        if answer.get("errors"):
            first: dict[str, Any] = next(
                (v["error"] for i in answer.get("items", []) for v in i.values() if "error" in v),
                {},
            )
            raise StoreError(f"writing anomalies failed: {first.get('type')}: "
                             f"{first.get('reason')}", location=self.url)  # fmt: skip
        return len(anomalies)

    def anomalies(self, start: datetime | None = None, end: datetime | None = None) -> pa.Table:
        clauses: list[dict[str, Any]] = []
        if start is not None:
            clauses.append({"range": {"event.end": {"gt": _iso(start)}}})
        if end is not None:
            clauses.append({"range": {"event.start": {"lt": _iso(end)}}})
        body: dict[str, Any] = {
            "query": {"bool": {"filter": clauses}} if clauses else dict(MATCH_ALL),
            "sort": [
                {"loglens.anomaly.severity_rank": {"order": "asc"}},
                {"loglens.anomaly.score": {"order": "desc", "missing": "_last"}},
                {"event.start": {"order": "asc"}},
                {"event.id": {"order": "asc"}},
            ],
            "track_total_hits": False,
        }
        if not self._exists(ANOMALIES_INDEX):
            return _ANOMALY_SCHEMA.empty_table()
        rows = [
            _anomaly_row(hit.get("_source") or {})
            for hit in self._hits(ANOMALIES_INDEX, body, None)
        ]
        return pa.Table.from_pylist(rows, schema=_ANOMALY_SCHEMA)

    def _exists(self, index: str) -> bool:
        answer = self._request("GET", f"/{quote(index, safe='')}/_count",
                               ok_statuses=frozenset({404}))  # fmt: skip
        return isinstance(answer, dict) and "count" in answer

    # --- templates ---------------------------------------------------------------------------

    @property
    def _templates(self) -> ClusterTemplates:
        if self._template_ops is None:
            self._template_ops = ClusterTemplates(self.client, self.index, self.url)
        return self._template_ops

    def untemplated_messages(self, batch_size: int = 200_000) -> Iterator[pa.Table]:
        return self._templates.untemplated_messages(batch_size)

    def assign_templates(self, mapping: pa.Table) -> int:
        return self._templates.assign_templates(mapping)

    def rename_templates(self, renamed: Mapping[str, str]) -> int:
        return self._templates.rename_templates(renamed)

    def template_stats(self, first_seen_from: datetime | None = None) -> pa.Table:
        return self._templates.template_stats(first_seen_from)

    # --- checkpoints -------------------------------------------------------------------------

    def checkpoint(self, name: str) -> dict[str, Any] | None:
        answer = self._request(
            "GET",
            f"/{CHECKPOINTS_INDEX}/_doc/{quote(name, safe='')}",
            ok_statuses=frozenset({404}),
        )
        if not isinstance(answer, dict) or not answer.get("found"):
            return None
        value = json.loads(answer.get("_source", {}).get("value") or "null")
        return value if isinstance(value, dict) else None

    def save_checkpoint(self, name: str, value: Mapping[str, Any]) -> None:
        self._ensure_index(CHECKPOINTS_INDEX, _CHECKPOINT_MAPPINGS)
        body = {"name": name, "value": json.dumps(value), "updated": _iso(datetime.now(UTC))}
        self._request(
            "PUT",
            f"/{CHECKPOINTS_INDEX}/_doc/{quote(name, safe='')}",
            body=body,
            params={"refresh": "true"},
        )


# --- helpers -----------------------------------------------------------------------------------


def _sort_spec(sort: str, descending: bool) -> list[dict[str, Any]]:
    kind = FIELD_BY_NAME[sort].kind

    def key(field: str, order: str, field_kind: Kind) -> dict[str, Any]:
        spec: dict[str, Any] = {"order": order, "missing": "_last"}
        spec["unmapped_type"] = _UNMAPPED_TYPES.get(field_kind, "keyword")
        return {keyword_path(field): spec}

    return [
        key(sort, "desc" if descending else "asc", kind),
        key("log.file.path", "asc", Kind.KEYWORD),
        key("log.file.line", "asc", Kind.LONG),
        key("event.id", "asc", Kind.KEYWORD),
    ]


def _aggregatable(field: str) -> tuple[str, Kind | None]:
    known = FIELD_BY_NAME.get(field)
    if known is not None:
        if known.kind is Kind.JSON:
            raise QueryError(f"{field!r} holds whole objects; name one of its keys instead")
        if field == "event.original":
            raise QueryError(f"{field!r} is stored but not indexed in the cluster")
        return keyword_path(field), known.kind
    if not _is_extra_name(field):
        raise QueryError(f"{field!r} is not a valid field name")
    return field, None


def _bucket_value(bucket: Mapping[str, Any], kind: Kind | None) -> object:
    key = bucket.get("key")
    if kind is Kind.DATE:
        return _epoch_ms(key)
    if kind is Kind.LONG and isinstance(key, float) and key.is_integer():
        return int(key)
    if kind is None and key is not None and not isinstance(key, str):
        return str(bucket.get("key_as_string", key))
    return key


def _project(sources: list[dict[str, Any]], wanted: list[str]) -> pa.Table:
    """Columns ``wanted`` from documents: schema fields typed, keys of ``extra`` as text."""
    known = [name for name in wanted if name in FIELD_BY_NAME]
    canonical = table(sources, known)
    columns: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name in wanted:
        if name == "extra":  # the JSON text as stored, not re-serialised
            stored = [s.get("extra") for s in sources]
            columns[name] = pa.array([v if isinstance(v, str) else None for v in stored],
                                     pa.string())  # fmt: skip
        elif name in FIELD_BY_NAME:
            columns[name] = canonical.column(name)
        else:
            columns[name] = pa.array([_extra_value(s, name) for s in sources], pa.string())
    return pa.table(columns)


def _extra_value(source: Mapping[str, Any], name: str) -> str | None:
    flat = flatten(source)
    value = flat.get(name)
    if value is None and isinstance(flat.get("extra"), str):
        try:
            parsed = json.loads(flat["extra"])
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            value = parsed.get(name)
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _anomaly_doc(a: Anomaly, created: datetime) -> dict[str, Any]:
    rank = _SEVERITY_RANK.get(a.severity, len(SEVERITIES))
    entities = [asdict(e) for e in a.entities]
    return {
        "@timestamp": _iso(a.start),
        "message": a.explanation,
        "tags": [_ANOMALY_TAG],
        "event": {
            "id": a.id,
            "kind": "alert",
            "module": "loglens",
            "dataset": "loglens.anomaly",
            "start": _iso(a.start),
            "end": _iso(a.end),
            "created": _iso(created),
            "severity": len(SEVERITIES) - rank,
            "risk_score": _finite(a.score),
        },
        "loglens": {
            "anomaly": {
                "series_name": a.series_name,
                "series_key": list(a.series_key),
                "detector": a.detector,
                "kind": a.kind,
                "score": _finite(a.score),
                "severity": a.severity,
                "severity_rank": rank,
                "observed": _finite(a.observed),
                "expected": _finite(a.expected),
                "reasons": list(a.reasons),
                "entities": json.loads(json.dumps(entities, default=str)),
                "details": json.dumps(a.details, default=str),
            }
        },
    }


def _anomaly_row(source: Mapping[str, Any]) -> dict[str, Any]:
    event = source.get("event") or {}
    body = (source.get("loglens") or {}).get("anomaly") or {}
    return {
        "id": event.get("id"),
        "start": parse_date(event.get("start")),
        "end": parse_date(event.get("end")),
        "series_name": body.get("series_name"),
        "series_key": json.dumps(list(body.get("series_key") or [])),
        "detector": body.get("detector"),
        "kind": body.get("kind"),
        "score": body.get("score"),
        "severity": body.get("severity"),
        "observed": body.get("observed"),
        "expected": body.get("expected"),
        "explanation": source.get("message"),
        "reasons": list(body.get("reasons") or []),
        "entities": json.dumps(body.get("entities") or []),
        "details": body.get("details"),
        "created": parse_date(event.get("created")),
    }


def _tag_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value if v is not None]
    return [str(value)]


def _iso(instant: datetime) -> str:
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _epoch_ms(value: Any) -> datetime | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return parse_date(value)


def _finite(value: float | None) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _is_extra_name(name: str) -> bool:
    return bool(name) and all(c.isalnum() or c in "_@.-" for c in name)
