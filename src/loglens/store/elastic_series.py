"""``SeriesSpec`` → ``SeriesFrame`` and ``terms_change`` inside Elasticsearch/OpenSearch.

The cluster does every per-event step; Python only scatters aggregated rows into arrays and
applies the silence rules of :mod:`loglens.series` with :mod:`loglens.store.series_rules`, as
:mod:`loglens.store.duckdb_series` does. No request ever returns a document (every search has
``"size": 0``).

A series takes these searches (a ``composite`` aggregation is always read to its last page):

1. the frame's range, when the spec leaves a bound open (``min``/``max`` of ``@timestamp``);
2. the groups: the spec's fields and ``event.dataset`` over the matching events, which gives each
   group's event count (to rank them and keep the largest ``max_groups``) and its sources;
3. the cells: the kept groups' fields and a ``date_histogram`` source (``fixed_interval``,
   epoch-aligned, hence UTC-aligned for an interval that divides a day), with the metric as a
   sub-aggregation: ``sum``, ``cardinality`` or a ``filter`` whose count over the cell's is the
   rate. Only non-empty cells come back, so no bounds are needed: the query's range on
   ``@timestamp`` is the frame, and an empty bucket inside a group's active life is a zero;
4. source activity: which of the kept groups' datasets sent anything in which bucket, whatever
   the query filter. Without a query filter, with every group kept and ``event.dataset`` among
   the group fields (the default spec), the cells already hold every event of the frame, and
   this is read off them instead;
5. whether each of those datasets sent anything before the frame (a multi-search of one search
   per dataset, each stopping at its first match), unless the frame starts at the first event
   of all. A source's life starts there, or else at its first sending bucket.

Differences from DuckDB, by the nature of the cluster:

- ``distinct`` is ``cardinality`` with ``precision_threshold`` at its maximum
  (:data:`PRECISION_THRESHOLD`): counts below 40,000 distinct values per cell are near-exact
  (exact in the tests), larger ones within a few percent (HyperLogLog++).
- Queries are translated by :mod:`loglens.store.elastic_query` (DuckDB's semantics, with the
  differences listed there).
- Fields: text fields group and count on their ``.keyword`` sub-field, ``event.original`` is
  not indexed, and date fields cannot be grouped on. A name outside the schema is a field of the
  index (as Beats and Logstash write them) and must be mapped there: in indices loglens writes,
  keys of ``extra`` are stored, not indexed, so an error names them instead of a frame of
  missing values.
- Timestamps are held to the millisecond (``date``), DuckDB's to the microsecond.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import numpy as np
from numpy.typing import NDArray

from loglens.cluster.connection import ClusterClient, describe_status
from loglens.errors import ClusterError, ConfigError, QueryError
from loglens.query import EXTRA_FIELD_NAME
from loglens.schema import FIELD_BY_NAME, Kind
from loglens.series import Series, SeriesFrame, SeriesSpec
from loglens.store.base import Query, TermChange, TermChanges
from loglens.store.elastic_query import (
    MATCH_ALL,
    all_of,
    events_filter,
    iso_utc,
    keyword_path,
    time_range,
    to_elastic_query,
)
from loglens.store.series_rules import (
    EPOCH,
    MICROS,
    BucketGrid,
    bucket_grid,
    check_frame_size,
    interval_us,
    mark_silence,
    rates,
)

__all__ = [
    "PAGE_SIZE",
    "PRECISION_THRESHOLD",
    "TERMS_SIZE",
    "series",
    "terms_change",
]

PRECISION_THRESHOLD = 40_000
"""``cardinality``'s largest precision threshold: counts below it are near-exact."""

PAGE_SIZE = 30_000
"""Composite buckets per page (halved when each carries a ``filter`` sub-bucket, for a rate):
under the clusters' default ``search.max_buckets`` (65,536), and few requests, since each one
reads every matching document's doc values again."""

TERMS_SIZE = 1_000
"""At least this many values per field are compared by ``terms_change`` (see there)."""

_MSEARCH_CHUNK = 200  # searches per multi-search request
_TS = "@timestamp"
_DATASET = "event.dataset"


# --- queries ----------------------------------------------------------------------------------


def _us_iso(epoch_us: int) -> str:
    return iso_utc(EPOCH + timedelta(microseconds=epoch_us))


# --- fields -----------------------------------------------------------------------------------


@dataclass
class _Fields:
    """Validates the fields a request aggregates on; names outside the schema are checked
    against the cluster's mappings (once, before any aggregation is asked for)."""

    client: ClusterClient
    index: str
    outside_schema: set[str] = field(default_factory=set)

    def path(self, name: str, purpose: str, *, numeric: bool = False, dates: bool = True) -> str:
        """The indexed field to aggregate ``name`` on, or a :class:`QueryError` saying why not."""
        known = FIELD_BY_NAME.get(name)
        if known is None:
            if not EXTRA_FIELD_NAME.fullmatch(name or ""):
                raise QueryError(f"{name!r} is not a valid field name")
            self.outside_schema.add(name)
            return name
        if known.kind in (Kind.JSON, Kind.KEYWORD_LIST):
            raise QueryError(f"cannot {purpose} {name!r}: it holds a list or an object")
        if name == "event.original":
            raise QueryError(f"cannot {purpose} {name!r}: the cluster keeps it unindexed")
        if numeric and known.kind is not Kind.LONG:
            raise QueryError(f"cannot {purpose} {name!r}: it is not a numeric field")
        if not dates and known.kind is Kind.DATE:
            raise QueryError(f"cannot {purpose} {name!r} in the cluster: it is a date field")
        return keyword_path(name)

    def check_mapped(self) -> None:
        """A field outside the schema must be a field of the index (as Beats and Logstash write
        them); in indices loglens wrote, keys of ``extra`` are stored, not indexed."""
        for name in sorted(self.outside_schema):
            answer = self.client.request(
                "GET", f"/{_quoted(self.index)}/_mapping/field/{quote(name)}", location=self.index
            )
            mapped = isinstance(answer, dict) and any(
                isinstance(i, dict) and i.get("mappings") for i in answer.values()
            )
            if not mapped:
                raise QueryError(
                    f"{name!r} is not indexed in {self.index} (keys of extra are stored, not "
                    "indexed, in indices loglens writes): group and count on schema fields"
                )


def _key(value: Any) -> str | None:
    # Keys come back as text whatever the field type, as Series.key promises.
    return None if value is None else str(value)


def _quoted(index: str) -> str:
    return quote(index, safe="*,")


# --- paging -----------------------------------------------------------------------------------


def _search(client: ClusterClient, index: str, body: dict[str, Any]) -> dict[str, Any]:
    path = f"/{_quoted(index)}/_search"
    answer = client.request("POST", path, body={"size": 0, **body}, location=index)
    return answer if isinstance(answer, dict) else {}


def _composite(
    client: ClusterClient,
    index: str,
    query: dict[str, Any],
    sources: list[tuple[str, dict[str, Any]]],
    aggs: dict[str, Any] | None = None,
    page_size: int = PAGE_SIZE,
) -> Iterator[dict[str, Any]]:
    """Every bucket of a composite aggregation, page after page (``after_key``)."""
    composite: dict[str, Any] = {
        "size": page_size,
        "sources": [{name: source} for name, source in sources],
    }
    body: dict[str, Any] = {"query": query, "track_total_hits": False}
    after: dict[str, Any] | None = None
    while True:
        if after is not None:
            composite["after"] = after
        agg: dict[str, Any] = {"composite": composite}
        if aggs:
            agg["aggs"] = aggs
        answer = _search(client, index, {**body, "aggs": {"c": agg}})
        result = answer.get("aggregations", {}).get("c", {})
        buckets = result.get("buckets", [])
        yield from buckets
        after = result.get("after_key")
        # A short page is the last one: no need to ask for the empty page after it.
        if not buckets or after is None or len(buckets) < page_size:
            return


def _terms_source(field: str) -> dict[str, Any]:
    return {"terms": {"field": field, "missing_bucket": True}}


def _histogram_source(step_us: int) -> dict[str, Any]:
    return {
        "date_histogram": {
            "field": _TS,
            "fixed_interval": f"{step_us // MICROS}s",
            "time_zone": "UTC",
        }
    }


# --- series -----------------------------------------------------------------------------------


def _grid_range(grid: BucketGrid) -> dict[str, Any]:
    """The events inside the grid's buckets."""
    return {
        "range": {
            _TS: {
                "gte": _us_iso(grid.start_us),
                "lt": _us_iso(grid.end_us),
                "format": "strict_date_optional_time",
            }
        }
    }


def _bucket(grid: BucketGrid, key_ms: Any) -> int:
    """The grid's bucket of a ``date_histogram`` key (epoch milliseconds)."""
    return grid.bucket_of(int(key_ms) * 1000)


@dataclass
class _Group:
    """A group's key, its matching events in the frame and their datasets."""

    key: tuple[str | None, ...]
    events: int = 0
    sources: set[str | None] = field(default_factory=set)


def series(
    client: ClusterClient,
    index: str,
    spec: SeriesSpec,
    *,
    page_size: int = PAGE_SIZE,
) -> SeriesFrame:
    """Compute the frame of ``spec`` over ``index`` (a name or pattern) inside the cluster.

    Args:
        client: An open cluster connection.
        index: The index or index pattern holding canonical event documents.
        spec: What to count, grouped how, bucketed how; see :class:`loglens.series.SeriesSpec`.
        page_size: Composite buckets per request.

    Returns:
        The same frame :meth:`loglens.store.DuckDBStore.series` gives for the same events.

    Raises:
        ConfigError: an invalid interval, range or ``max_groups``, or a grid too large.
        QueryError: an invalid query filter or rate query, or a field the cluster cannot
            group, sum or count on.
        ClusterError: the cluster failed a request.
    """
    step_us = interval_us(spec)
    if spec.max_groups < 1:
        raise ConfigError("max_groups must be at least 1", location="max_groups")
    if page_size < 1:
        raise ConfigError("page_size must be at least 1", location="page_size")
    checked = _Fields(client, index)
    fields = [checked.path(name, "group by", dates=False) for name in spec.group_by]
    metric_aggs = _metric_aggs(spec, checked)
    where = to_elastic_query(spec.query or "*")
    checked.check_mapped()
    grid = _grid(client, index, spec, step_us, where)
    if grid is None or grid.count == 0:
        empty = np.empty(0, dtype="datetime64[us]")
        return SeriesFrame(spec, grid.starts() if grid else empty, [])
    check_frame_size(grid.count, 1)
    selected = all_of([where, _grid_range(grid)])
    groups = _groups(client, index, fields, selected, page_size)
    if not groups:
        return SeriesFrame(spec, grid.starts(), [])
    kept = groups[: spec.max_groups]
    check_frame_size(grid.count, len(kept))
    cell_page = max(1, page_size // 2) if spec.metric.kind == "rate" else page_size
    # Groups left out: ask only for cells of the values the kept groups take.
    of_kept = (
        all_of([selected, _kept_filter(fields, kept)]) if len(kept) < len(groups) else selected
    )
    counts, values = _cells(
        client, index, spec, grid, fields, kept, of_kept, metric_aggs, cell_page
    )
    if spec.metric.kind == "rate":
        values = rates(counts, values)
    members = sorted({d for g in kept for d in g.sources}, key=lambda d: (d is None, d or ""))
    datasets = {name: i for i, name in enumerate(members)}
    everything = where == MATCH_ALL
    # With no filter, every group kept and the dataset among the group fields, every event of the
    # frame's range is in a cell: the cells tell when each source sent, without asking again.
    if everything and _DATASET in spec.group_by and len(kept) == len(groups):
        has = _sending_from_cells(counts, kept, datasets)
    else:
        has = _sending(client, index, grid, datasets, page_size)
    # With neither a filter nor a start, the frame starts at the first event of all.
    if everything and spec.start is None:
        before = np.zeros(len(datasets), dtype=bool)
    else:
        before = _sent_before(client, index, grid, datasets)
    frame = _assemble(spec, grid, kept, values, datasets, has, _first_buckets(has, before))
    frame.groups_left_out = len(groups) - len(kept)
    return frame


def _first_buckets(has: NDArray[np.bool_], before: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Where each source's life starts: before the frame (-1) if it sent anything earlier, else
    its first sending bucket (after the frame if none)."""
    first_in_frame = np.where(has.any(axis=1), has.argmax(axis=1), has.shape[1])
    return np.where(before, -1, first_in_frame).astype(np.int64)


def _metric_aggs(spec: SeriesSpec, checked: _Fields) -> dict[str, Any]:
    """The per-cell sub-aggregation named ``v`` (none for a count: the cell's doc_count)."""
    metric = spec.metric
    if metric.kind == "count":
        return {}
    if metric.kind == "rate":
        return {"v": {"filter": to_elastic_query(metric.query or "*")}}
    name = metric.field or ""
    if metric.kind == "sum":
        return {"v": {"sum": {"field": checked.path(name, "sum", numeric=True)}}}
    path = checked.path(name, "count distinct values of")
    return {"v": {"cardinality": {"field": path, "precision_threshold": PRECISION_THRESHOLD}}}


def _grid(
    client: ClusterClient, index: str, spec: SeriesSpec, step_us: int, where: dict[str, Any]
) -> BucketGrid | None:
    """The bucket grid, with the first and last matching events for the bounds left open."""

    def first_and_last() -> tuple[int, int] | None:
        answer = _search(
            client,
            index,
            {
                "query": all_of([where, time_range(spec.start, spec.end)]),
                "track_total_hits": False,
                "aggs": {"lo": {"min": {"field": _TS}}, "hi": {"max": {"field": _TS}}},
            },
        )
        found = answer.get("aggregations", {})
        lo = found.get("lo", {}).get("value")
        hi = found.get("hi", {}).get("value")
        # min/max of a date field are epoch milliseconds.
        return None if lo is None or hi is None else (int(lo) * 1000, int(hi) * 1000)

    return bucket_grid(spec, step_us, first_and_last)


def _groups(
    client: ClusterClient,
    index: str,
    fields: list[str],
    selected: dict[str, Any],
    page_size: int,
) -> list[_Group]:
    """Every group with its event count and datasets, largest first (ties by key, None last)."""
    names = [f"k{i}" for i in range(len(fields))]
    sources = [(n, _terms_source(f)) for n, f in zip(names, fields, strict=True)]
    found: dict[tuple[str | None, ...], _Group] = {}
    for bucket in _composite(
        client, index, selected, [*sources, ("ds", _terms_source(_DATASET))], None, page_size
    ):
        key = tuple(_key(bucket["key"][n]) for n in names)
        group = found.setdefault(key, _Group(key))
        group.events += int(bucket["doc_count"])
        group.sources.add(_key(bucket["key"]["ds"]))
    return sorted(found.values(), key=lambda g: (-g.events, *_nulls_last(g.key)))


def _nulls_last(key: tuple[str | None, ...]) -> list[tuple[bool, str]]:
    return [(value is None, value or "") for value in key]


def _kept_filter(fields: list[str], kept: list[_Group]) -> dict[str, Any]:
    """A filter no narrower than the kept groups: per field, the values they take."""
    clauses: list[dict[str, Any]] = []
    for i, path in enumerate(fields):
        values = sorted({value for g in kept if (value := g.key[i]) is not None})
        with_missing = any(g.key[i] is None for g in kept)
        options: list[dict[str, Any]] = [{"terms": {path: values}}] if values else []
        if with_missing:
            options.append({"bool": {"must_not": [{"exists": {"field": path}}]}})
        either = {"bool": {"should": options, "minimum_should_match": 1}}
        clauses.append(options[0] if len(options) == 1 else either)
    return all_of(clauses)


def _cells(
    client: ClusterClient,
    index: str,
    spec: SeriesSpec,
    grid: BucketGrid,
    fields: list[str],
    kept: list[_Group],
    selected: dict[str, Any],
    metric_aggs: dict[str, Any],
    page_size: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Per kept group and bucket: the event count and the metric's aggregate."""
    rank = {g.key: i for i, g in enumerate(kept)}
    counts = np.zeros((len(kept), grid.count))
    values = np.zeros((len(kept), grid.count))
    names = [f"k{i}" for i in range(len(fields))]
    sources = [(n, _terms_source(f)) for n, f in zip(names, fields, strict=True)]
    histogram = ("b", _histogram_source(grid.step_us))
    pages = _composite(client, index, selected, [*sources, histogram], metric_aggs, page_size)
    for bucket in pages:
        row = rank.get(tuple(_key(bucket["key"][n]) for n in names))
        if row is None:  # a group beyond max_groups that the value filter let through
            continue
        column = _bucket(grid, bucket["key"]["b"])
        counts[row, column] = bucket["doc_count"]
        values[row, column] = _cell_value(spec, bucket)
    return counts, values


def _cell_value(spec: SeriesSpec, bucket: Mapping[str, Any]) -> float:
    kind = spec.metric.kind
    if kind == "count":
        return float(bucket["doc_count"])
    if kind == "rate":
        return float(bucket["v"]["doc_count"])
    value = bucket["v"].get("value")
    return float(value) if value is not None else 0.0


def _sending_from_cells(
    counts: NDArray[np.float64], kept: list[_Group], datasets: Mapping[str | None, int]
) -> NDArray[np.bool_]:
    """Which datasets sent in which bucket, read off cells that hold every event of the frame."""
    has = np.zeros((len(datasets), counts.shape[1]), dtype=bool)
    for i, group in enumerate(kept):
        for name in group.sources:
            has[datasets[name]] |= counts[i] > 0
    return has


def _assemble(
    spec: SeriesSpec,
    grid: BucketGrid,
    kept: list[_Group],
    values: NDArray[np.float64],
    datasets: Mapping[str | None, int],
    has: NDArray[np.bool_],
    first_bucket: NDArray[np.int64],
) -> SeriesFrame:
    """The silence rules of :mod:`loglens.series`, from the kept groups' datasets' activity."""
    membership = np.zeros((len(kept), len(datasets)), dtype=bool)
    for i, group in enumerate(kept):
        membership[i, [datasets[d] for d in group.sources]] = True
    silent, active = mark_silence(values, membership, has, first_bucket)
    buckets = grid.starts()
    frame = [
        Series(
            key=group.key,
            buckets=buckets,
            values=values[i],
            silent=silent[i],
            active=active[i],
            sources=tuple(sorted(d for d in group.sources if d is not None)),
        )
        for i, group in enumerate(kept)
    ]
    return SeriesFrame(spec, buckets, frame)


def _members_filter(datasets: Mapping[str | None, int]) -> dict[str, Any]:
    named = [d for d in datasets if d is not None]
    options: list[dict[str, Any]] = [{"terms": {_DATASET: named}}] if named else []
    if None in datasets:
        options.append({"bool": {"must_not": [{"exists": {"field": _DATASET}}]}})
    return {"bool": {"should": options, "minimum_should_match": 1}}


def _sending(
    client: ClusterClient,
    index: str,
    grid: BucketGrid,
    datasets: Mapping[str | None, int],
    page_size: int,
) -> NDArray[np.bool_]:
    """Which of ``datasets`` sent anything in which bucket, whatever the query filter: silence
    is the source's, not the query's."""
    has = np.zeros((len(datasets), grid.count), dtype=bool)
    query = all_of([_members_filter(datasets), _grid_range(grid)])
    sources = [("ds", _terms_source(_DATASET)), ("b", _histogram_source(grid.step_us))]
    for bucket in _composite(client, index, query, sources, None, page_size):
        row = datasets.get(_key(bucket["key"]["ds"]))
        if row is not None:
            has[row, _bucket(grid, bucket["key"]["b"])] = True
    return has


def _sent_before(
    client: ClusterClient, index: str, grid: BucketGrid, datasets: Mapping[str | None, int]
) -> NDArray[np.bool_]:
    """Which of ``datasets`` sent anything before the frame.

    One multi-search, a search per dataset that stops at its first match (``terminate_after``),
    so the cost does not grow with the history before the frame.
    """
    names = list(datasets)
    before = np.zeros(len(names), dtype=bool)
    earlier = {
        "range": {_TS: {"lt": _us_iso(grid.start_us), "format": "strict_date_optional_time"}}
    }
    for first in range(0, len(names), _MSEARCH_CHUNK):
        lines = []
        for name in names[first : first + _MSEARCH_CHUNK]:
            lines.append("{}")
            lines.append(
                json.dumps(
                    {
                        "size": 0,
                        "terminate_after": 1,
                        "track_total_hits": True,
                        "query": all_of([_members_filter({name: 0}), earlier]),
                    }
                )
            )
        answer = client.request(
            "POST",
            f"/{_quoted(index)}/_msearch",
            body="\n".join(lines) + "\n",
            ndjson=True,
            location=index,
        )
        for offset, response in enumerate(answer.get("responses", [])):
            if "error" in response:
                raise ClusterError(
                    f"a search failed: {describe_status(response.get('status', 0), response)}",
                    location=index,
                    status=response.get("status"),
                )
            total = response.get("hits", {}).get("total", 0)
            count = total.get("value", 0) if isinstance(total, dict) else total
            before[first + offset] = int(count) > 0
    return before


# --- terms_change -----------------------------------------------------------------------------


def terms_change(
    client: ClusterClient,
    index: str,
    fields: Sequence[str],
    query: Query,
    window: tuple[datetime, datetime],
    baseline: Sequence[tuple[datetime, datetime]],
    size: int = 10,
    sum_field: str | None = None,
    *,
    terms_size: int = TERMS_SIZE,
) -> TermChanges:
    """Per field, the top values by how much they changed in ``window`` against ``baseline``.

    The semantics of :meth:`loglens.store.DuckDBStore.terms_change`: ``expected`` is the amount
    over the union of the baseline windows divided by their number (an event in two overlapping
    baseline windows counts once), values ordered by the size of their change, then by value.

    One search: the events ``query`` selects inside the window or a baseline window; per field a
    ``terms`` aggregation over both, ordered by amount, each value split by a ``filters``
    aggregation into window and baseline. The top ``max(terms_size, 20 × size)`` values per field
    are compared: the result is exact when a field has no more values than that; otherwise a
    value left out cannot have changed by more than the smallest amount compared (for counts and
    non-negative sums), so only near-ties with it can be missed.

    Raises:
        QueryError: an invalid query, or a field the cluster cannot aggregate on.
        ClusterError: the cluster failed the request.
    """
    checked = _Fields(client, index)
    paths = []
    for name in fields:
        known = FIELD_BY_NAME.get(name)
        if known is not None and known.kind is Kind.KEYWORD_LIST:
            raise QueryError(f"{name!r} holds lists; compare a single-valued field")
        paths.append(checked.path(name, "compare values of", dates=False))
    amount = (
        {"amount": {"sum": {"field": checked.path(sum_field, "sum", numeric=True)}}}
        if sum_field is not None
        else {}
    )
    selected = events_filter(query)
    checked.check_mapped()
    in_window = time_range(*window)
    spans = [time_range(*pair) for pair in baseline]
    in_baseline = (
        {"bool": {"should": spans, "minimum_should_match": 1}} if spans else {"match_none": {}}
    )
    split: dict[str, Any] = {"filters": {"filters": {"w": in_window, "b": in_baseline}}}
    if amount:
        split["aggs"] = amount
    top = max(terms_size, 20 * size)
    aggs: dict[str, Any] = {"split": split}
    for i, path in enumerate(paths):
        terms: dict[str, Any] = {"field": path, "size": top, "shard_size": 2 * top}
        if amount:
            terms["order"] = [{"amount": "desc"}, {"_key": "asc"}]
        aggs[f"f{i}"] = {"terms": terms, "aggs": {**amount, "split": split}}
    either = {"bool": {"should": [in_window, in_baseline], "minimum_should_match": 1}}
    answer = _search(
        client,
        index,
        {
            "query": all_of([selected, either]),
            "track_total_hits": False,
            "aggs": aggs,
        },
    )
    found = answer.get("aggregations", {})
    days = max(len(baseline), 1)
    observed, expected = _split_amounts(found.get("split", {}), days)
    by_field: dict[str, list[TermChange]] = {name: [] for name in fields}
    for i, name in enumerate(fields):
        changes = []
        for bucket in found.get(f"f{i}", {}).get("buckets", []):
            o, e = _split_amounts(bucket.get("split", {}), days)
            changes.append(TermChange(_key(bucket["key"]), o, e))
        changes.sort(key=lambda c: (-abs(c.change), str(c.value)))
        by_field[name] = changes[:size]
    return TermChanges(TermChange(None, observed, expected), by_field)


def _split_amounts(split: Mapping[str, Any], days: int) -> tuple[float, float]:
    """(window amount, baseline amount per baseline window) of one ``filters`` aggregation."""
    parts = split.get("buckets", {})

    def amount(name: str) -> float:
        part = parts.get(name, {})
        if "amount" in part:
            return float(part["amount"].get("value") or 0)
        return float(part.get("doc_count", 0))

    return amount("w"), amount("b") / days
