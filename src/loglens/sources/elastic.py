"""Reading events from Elasticsearch/OpenSearch: a time-sliced scan of an index pattern.

The range ``[start, end)`` on the time field is cut into slices (``slice_length``); each slice is
read in pages of ``page_size`` hits, so memory stays bounded whatever the range holds. How the
pages are fetched:

- **point in time + search_after** where the cluster has it (Elasticsearch ``POST
  /PATTERN/_pit``, OpenSearch ``POST /PATTERN/_search/point_in_time``): one consistent snapshot
  for the whole scan, sorted on the time field, then ``_index`` and ``_shard_doc`` (``_id``
  where the cluster refuses ``_shard_doc``: OpenSearch before 3.3) — a total order, so every
  hit is read exactly once. The point in time is closed at the end, also when the scan fails
  or the caller stops.
- **scroll**, when opening a point in time is answered 400/404/405 (the API is missing, not the
  index): one scroll per slice in ``_doc`` order (the cheapest), cleared at the end of the
  slice. A scroll page request is not idempotent (a retried request whose answer was lost skips
  a page), so every slice checks that it received as many hits as the scroll's total, and is
  read again if not; the re-read hits are duplicates to the store, never new events.

**Watermark.** What a slice read is summed up as the newest millisecond seen on the time field
plus the hits (index, ``_id``) seen at exactly that millisecond. A later scan starts *at* that
millisecond (``gte``), leaving out only those hits: a document that arrives late with the same
timestamp is still read, and none is read twice. The watermark does not depend on the order
hits come in, so it is the same for both ways of reading; the caller saves it only for slices
read to their end whose hits are all stored (``_doc`` order says nothing about time within a
slice). A document indexed late with a timestamp *before* the watermark is not read by later
scans (use ``--full`` with ``--since`` to catch up). Hits without the time field are outside
every range and are never read.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import pyarrow as pa

from loglens.cluster.connection import ClusterClient, ClusterSettings, describe_status
from loglens.errors import ClusterError, ConfigError, SourceError
from loglens.parse.base import Parser, Sample
from loglens.sources.files import SAMPLE_RECORDS, RecordBatch

log = logging.getLogger("loglens.sources.elastic")

DEFAULT_PAGE_SIZE = 1000
DEFAULT_SLICE = timedelta(hours=1)
DEFAULT_KEEP_ALIVE = "5m"
DEFAULT_BATCH_RECORDS = 50_000
MAX_SEEN = 10_000
"""Beyond this many hits at the watermark's millisecond, they are not listed: a later scan reads
that millisecond again and the store counts the re-read hits as duplicates."""

_NO_PIT_STATUSES = frozenset({400, 404, 405})
_BAD_REQUEST = frozenset({400})
_SCROLL_PASSES = 3


@dataclass(frozen=True)
class Hit:
    """One document: where it lives, its time in epoch milliseconds, its ``_source`` as JSON."""

    index: str
    id: str
    millis: int
    source: str


@dataclass(frozen=True)
class Watermark:
    """The newest millisecond read, and the hits read at exactly that millisecond.

    ``seen`` is None when there were more than :data:`MAX_SEEN` of them (then they are read
    again, as duplicates).
    """

    millis: int
    seen: frozenset[tuple[str, str]] | None = frozenset()

    def advanced(self, hits: Sequence[Hit]) -> Watermark:
        """The watermark once ``hits`` are read too (in any order)."""
        millis = self.millis
        seen = None if self.seen is None else set(self.seen)
        for hit in hits:
            if hit.millis > millis:
                millis, seen = hit.millis, set()
            if hit.millis == millis and seen is not None:
                seen.add((hit.index, hit.id))
                if len(seen) > MAX_SEEN:
                    seen = None
        return Watermark(millis, None if seen is None else frozenset(seen))

    @property
    def timestamp(self) -> datetime:
        return datetime.fromtimestamp(self.millis / 1000, tz=UTC)

    def to_json(self) -> dict[str, Any]:
        seen = None if self.seen is None else sorted([i, d] for i, d in self.seen)
        return {"millis": self.millis, "timestamp": _iso(self.millis), "seen": seen}

    @classmethod
    def from_json(cls, value: Mapping[str, Any] | None) -> Watermark | None:
        """A saved watermark, or None for none; a malformed one is an error, not a restart."""
        if value is None:
            return None
        millis = value.get("millis")
        seen = value.get("seen")
        valid_seen = seen is None or (
            isinstance(seen, list)
            and all(
                isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
                for p in seen
            )
        )
        if not isinstance(millis, int) or isinstance(millis, bool) or not valid_seen:
            raise SourceError("the saved checkpoint is not a watermark loglens wrote")
        return cls(millis, None if seen is None else frozenset((i, d) for i, d in seen))


@dataclass(frozen=True)
class ClusterPull:
    """How ``loglens ingest es://PATTERN`` reads: the range, fields, sizes, and the checkpoint.

    ``incremental``: start after the watermark saved for this cluster and pattern (if any), and
    save the new one after each write (covering the slices read to their end); off: read
    ``[since, until)`` as asked and leave the checkpoint alone.
    """

    since: datetime | None = None
    until: datetime | None = None
    fields: tuple[str, ...] | None = None
    time_field: str = "@timestamp"
    page_size: int = DEFAULT_PAGE_SIZE
    slice_length: timedelta = DEFAULT_SLICE
    incremental: bool = True
    batch_records: int = DEFAULT_BATCH_RECORDS
    """Hits held before they are parsed and written (with ``page_size``, what bounds memory)."""

    def options(self, pattern: str) -> ScanOptions:
        return ScanOptions(
            pattern,
            start=self.since,
            end=self.until,
            fields=self.fields,
            time_field=self.time_field,
            page_size=self.page_size,
            slice_length=self.slice_length,
        )


@dataclass(frozen=True)
class PullSummary:
    """What one ``es://`` source gave: how it was read, and where its watermark now stands."""

    url: str
    method: str | None  # "pit", "scroll", or None when the range held nothing
    slices: int
    hits: int
    rereads: int
    watermark: Watermark | None
    incremental: bool

    def describe(self) -> str:
        how = {"pit": "point in time", "scroll": "scroll"}.get(self.method or "")
        text = f"{self.url}: {self.hits:,} hit(s)"
        if how:
            text += f" in {self.slices:,} slice(s) by {how}"
        if self.rereads:
            text += f", {self.rereads:,} slice(s) read again after a lost page"
        if self.incremental and self.watermark is not None:
            text += f"; watermark {_iso(self.watermark.millis)}"
        return text + ("" if self.hits else " (nothing new)" if self.incremental else "")


def checkpoint_name(settings: ClusterSettings, pattern: str, time_field: str) -> str:
    """The store key of a pull's watermark: one per cluster, index pattern and time field."""
    name = f"cluster:{settings.where}/{pattern}"
    return name if time_field == "@timestamp" else f"{name}#{time_field}"


_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|min|h|d)\s*$", re.IGNORECASE)
_DURATION_MS = {"ms": 1, "s": 1000, "m": 60_000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration(text: str) -> timedelta:
    """``"90s"``, ``"15m"``, ``"6h"``, ``"2d"`` → timedelta (a slice length)."""
    match = _DURATION.match(text)
    if not match or int(match.group(1)) == 0:
        raise ConfigError(f"{text!r} is not a duration like 15m, 6h or 1d", location="--slice")
    return timedelta(milliseconds=int(match.group(1)) * _DURATION_MS[match.group(2).lower()])


@dataclass(frozen=True)
class ScanOptions:
    """What to read: an index pattern, a time range ``[start, end)``, fields, and page sizes."""

    pattern: str
    start: datetime | None = None
    end: datetime | None = None
    fields: tuple[str, ...] | None = None
    """``_source`` fields to fetch (the time field is always added); None: whole documents."""
    time_field: str = "@timestamp"
    page_size: int = DEFAULT_PAGE_SIZE
    slice_length: timedelta = DEFAULT_SLICE
    keep_alive: str = DEFAULT_KEEP_ALIVE

    def __post_init__(self) -> None:
        if not self.pattern or "/" in self.pattern:
            raise SourceError("no index pattern to read", location=self.pattern or None)
        if self.page_size < 1:
            raise SourceError("the page size must be at least 1", location=self.pattern)
        if self.slice_length < timedelta(milliseconds=1):
            raise SourceError("the slice length must be at least 1 ms", location=self.pattern)


@dataclass
class Slice:
    """One time window ``[start, end)`` in epoch milliseconds; iterate it for its pages."""

    scan: ClusterScan
    start: int
    end: int
    hits: int = 0

    def __iter__(self) -> Iterator[list[Hit]]:
        return self.scan._pages(self)


@dataclass
class ScanStats:
    windows: int = 0
    pages: int = 0
    hits: int = 0
    rereads: int = 0  # scroll slices read again after a lost page


class ClusterScan:
    """A scan of ``options.pattern``, resuming after ``after`` (a saved watermark) if given.

    Use it as a context manager; iterate :meth:`slices`, and each slice for its pages.
    :attr:`watermark` covers every page handed out so far (save it after committing a slice).
    """

    def __init__(
        self, client: ClusterClient, options: ScanOptions, after: Watermark | None = None
    ) -> None:
        self.client = client
        self.options = options
        self.after = after
        self.watermark = after
        self.method: str | None = None  # "pit" or "scroll", once known
        self.total: int | None = None  # hits in the range when the scan began
        self.stats = ScanStats()
        self._pit: str | None = None
        self.tiebreak = "_shard_doc"  # "_id" where the cluster cannot sort on _shard_doc
        self._path = "/" + quote(options.pattern, safe="*,:+-_.")

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> ClusterScan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the point in time, if one is open (a failure to close is logged, not raised)."""
        pit, self._pit = self._pit, None
        if pit is None:
            return
        body: dict[str, Any]
        if self.client.flavour == "elasticsearch":
            path, body = "/_pit", {"id": pit}
        else:
            path, body = "/_search/point_in_time", {"pit_id": [pit]}
        try:
            self.client.request("DELETE", path, body=body, ok_statuses=frozenset({404}))
        except ClusterError as exc:
            log.warning("could not close the point in time on %s: %s", self.options.pattern, exc)

    # --- the slices --------------------------------------------------------------------------

    def slices(self) -> Iterator[Slice]:
        """The time windows that hold hits, oldest first (empty stretches are jumped over)."""
        try:
            first, last, total = self._extent()
            self.total = total
            if total == 0 or first is None or last is None:
                return
            self._pit = self._open_pit()
            self.method = "pit" if self._pit is not None else "scroll"
            high = self._bounds()[1]
            end = last + 1 if high is None else min(last + 1, high)
            step = max(1, int(self.options.slice_length / timedelta(milliseconds=1)))
            start: int | None = first
            while start is not None and start < end:
                window = Slice(self, start, min(start + step, end))
                self.stats.windows += 1
                yield window
                start = window.end
                if window.hits == 0 and start < end:
                    start = self._first_from(start, end)
        finally:
            self.close()

    def _bounds(self) -> tuple[int | None, int | None]:
        """The range's lower (inclusive) and upper (exclusive) millisecond, after the watermark."""
        low = _millis(self.options.start) if self.options.start is not None else None
        if self.after is not None and (low is None or self.after.millis >= low):
            low = self.after.millis
        high = _millis(self.options.end) if self.options.end is not None else None
        return low, high

    def _query(self, low: int | None, high: int | None) -> dict[str, Any]:
        bounds: dict[str, Any] = {"format": "epoch_millis"}
        if low is not None:
            bounds["gte"] = low
        if high is not None:
            bounds["lt"] = high
        clauses: dict[str, Any] = {"filter": [{"range": {self.options.time_field: bounds}}]}
        already = self._already_read(low, high)
        if already:
            clauses["must_not"] = already
        return {"bool": clauses}

    def _already_read(self, low: int | None, high: int | None) -> list[dict[str, Any]]:
        """Clauses matching the hits at the watermark's millisecond that a past scan read."""
        mark = self.after
        if mark is None or not mark.seen:
            return []
        if (low is not None and mark.millis < low) or (high is not None and mark.millis >= high):
            return []
        by_index: dict[str, list[str]] = {}
        for index, doc_id in sorted(mark.seen):
            by_index.setdefault(index, []).append(doc_id)
        at_mark = {
            "range": {
                self.options.time_field: {
                    "gte": mark.millis,
                    "lt": mark.millis + 1,
                    "format": "epoch_millis",
                }
            }
        }
        return [
            {"bool": {"filter": [{"term": {"_index": index}}, {"ids": {"values": ids}}, at_mark]}}
            for index, ids in by_index.items()
        ]

    def _extent(self) -> tuple[int | None, int | None, int]:
        """The first and last millisecond in the range, and how many hits it holds."""
        tf = self.options.time_field
        low, high = self._bounds()
        answer = self._search_index(
            {
                "size": 0,
                "track_total_hits": True,
                "query": self._query(low, high),
                "aggs": {"first": {"min": {"field": tf}}, "last": {"max": {"field": tf}}},
            }
        )
        total = _total(answer)
        aggs = answer.get("aggregations") or {}
        return _agg_millis(aggs.get("first")), _agg_millis(aggs.get("last")), total

    def _first_from(self, low: int, high: int) -> int | None:
        """The first millisecond in ``[low, high)`` that holds a hit (None: none does)."""
        body: dict[str, Any] = {
            "size": 0,
            "query": self._query(low, high),
            "aggs": {"first": {"min": {"field": self.options.time_field}}},
        }
        if self._pit is not None:  # ask the snapshot the pages come from
            body["pit"] = {"id": self._pit, "keep_alive": self.options.keep_alive}
            answer = self.client.request(
                "POST", "/_search", body=body, location=self.options.pattern
            )
        else:
            answer = self._search_index(body)
        return _agg_millis((answer.get("aggregations") or {}).get("first"))

    def _search_index(self, body: dict[str, Any], **params: Any) -> Any:
        return self.client.request(
            "POST",
            self._path + "/_search",
            params=params or None,
            body=body,
            location=self.options.pattern,
        )

    # --- point in time -----------------------------------------------------------------------

    def _open_pit(self) -> str | None:
        """A point-in-time id, or None when the cluster does not offer the API."""
        if self.client.flavour == "elasticsearch":
            path, key = self._path + "/_pit", "id"
        else:
            path, key = self._path + "/_search/point_in_time", "pit_id"
        answer = self.client.request(
            "POST",
            path,
            params={"keep_alive": self.options.keep_alive},
            location=self.options.pattern,
            ok_statuses=_NO_PIT_STATUSES,
        )
        pit = answer.get(key) if isinstance(answer, dict) else None
        if isinstance(pit, str) and pit:
            return pit
        if _error_type(answer) == "index_not_found_exception":
            raise ClusterError("no such index", location=self.options.pattern, status=404)
        log.info("no point in time on %s (%s): reading with scroll",
                 self.options.pattern, _error_type(answer) or "no id")  # fmt: skip
        return None

    def _request_body(self, window: Slice) -> dict[str, Any]:
        opts = self.options
        body: dict[str, Any] = {
            "size": opts.page_size,
            "query": self._query(window.start, window.end),
            "docvalue_fields": [{"field": opts.time_field, "format": "epoch_millis"}],
            "_source": True,
        }
        if opts.fields is not None:
            body["_source"] = {"includes": sorted({*opts.fields, opts.time_field})}
        return body

    def _pages(self, window: Slice) -> Iterator[list[Hit]]:
        if self.method == "pit":
            yield from self._pit_pages(window)
        else:
            yield from self._scroll_pages(window)

    def _pit_sort(self) -> list[dict[str, Any]]:
        """Time, then ``_index`` and ``_shard_doc`` (or ``_id``): a total order of the hits.

        ``_index`` first: ``_shard_doc`` repeats across indices on some servers. numeric_type:
        date and date_nanos indices sort together; unmapped_type: an index of the pattern
        without the field does not fail the search. ``_id`` is the tie-breaker where
        ``_shard_doc`` is missing (it costs the cluster memory, so it is only the fallback).
        """
        time_order = {"order": "asc", "numeric_type": "date", "unmapped_type": "date"}
        return [
            {self.options.time_field: time_order},
            {"_index": "asc"},
            {self.tiebreak: "asc"},
        ]

    def _pit_pages(self, window: Slice) -> Iterator[list[Hit]]:
        opts = self.options
        body = self._request_body(window)
        body["track_total_hits"] = False
        while True:
            assert self._pit is not None
            body["pit"] = {"id": self._pit, "keep_alive": opts.keep_alive}
            body["sort"] = self._pit_sort()
            answer = self.client.request(
                "POST", "/_search", body=body, location=opts.pattern, ok_statuses=_BAD_REQUEST
            )
            if "error" in answer:
                if self.tiebreak == "_shard_doc" and "_shard_doc" in json.dumps(answer["error"]):
                    # OpenSearch before 3.3 has points in time but no _shard_doc.
                    log.info("no _shard_doc on %s: ties broken by _id", opts.pattern)
                    self.tiebreak = "_id"
                    continue
                raise ClusterError(describe_status(400, answer), location=opts.pattern, status=400)
            if isinstance(answer.get("pit_id"), str):
                self._pit = answer["pit_id"]  # the id may change from one page to the next
            raw = _raw_hits(answer)
            if not raw:
                return
            page = [self._hit(h, window) for h in raw]
            yield page
            self._handed_out(window, page)
            if len(raw) < opts.page_size:
                return
            body["search_after"] = raw[-1].get("sort")

    # --- scroll ------------------------------------------------------------------------------

    def _scroll_pages(self, window: Slice) -> Iterator[list[Hit]]:
        opts = self.options
        body = self._request_body(window)
        body["sort"] = ["_doc"]
        body["track_total_hits"] = True
        for attempt in range(_SCROLL_PASSES):
            if attempt:
                self.stats.rereads += 1
                log.warning("a scroll page of %s was lost; reading the slice again", opts.pattern)
            answer = self._search_index(body, scroll=opts.keep_alive)
            expected = _total(answer)
            received = 0
            scroll_id = answer.get("_scroll_id")
            try:
                raw = _raw_hits(answer)
                while raw:
                    page = [self._hit(h, window) for h in raw]
                    yield page
                    self._handed_out(window, page)
                    received += len(raw)
                    if not isinstance(scroll_id, str):
                        break
                    answer = self.client.request(
                        "POST",
                        "/_search/scroll",
                        body={"scroll": opts.keep_alive, "scroll_id": scroll_id},
                        location=opts.pattern,
                    )
                    scroll_id = answer.get("_scroll_id", scroll_id)
                    raw = _raw_hits(answer)
            finally:
                if isinstance(scroll_id, str):
                    self._clear_scroll(scroll_id)
            if received == expected:
                return
        raise ClusterError(
            f"a scroll over {_iso(window.start)}..{_iso(window.end)} kept losing pages "
            f"({_SCROLL_PASSES} tries)",
            location=opts.pattern,
        )

    def _clear_scroll(self, scroll_id: str) -> None:
        try:
            self.client.request(
                "DELETE",
                "/_search/scroll",
                body={"scroll_id": [scroll_id]},
                ok_statuses=frozenset({404}),
            )
        except ClusterError as exc:
            log.warning("could not clear a scroll on %s: %s", self.options.pattern, exc)

    # --- hits --------------------------------------------------------------------------------

    def _hit(self, raw: Mapping[str, Any], window: Slice) -> Hit:
        values = (raw.get("fields") or {}).get(self.options.time_field)
        millis = _to_millis(values[0]) if isinstance(values, list) and values else None
        source = raw.get("_source")
        return Hit(
            index=str(raw.get("_index", "")),
            id=str(raw.get("_id", "")),
            millis=window.start if millis is None else millis,
            source=json.dumps(
                source if isinstance(source, dict) else {},
                ensure_ascii=False,
                separators=(",", ":"),
            ),
        )

    def _handed_out(self, window: Slice, page: list[Hit]) -> None:
        """The caller is done with ``page`` (it asked for the next one)."""
        window.hits += len(page)
        self.stats.pages += 1
        self.stats.hits += len(page)
        base = self.watermark or Watermark(page[0].millis, frozenset())
        self.watermark = base.advanced(page)


def _raw_hits(answer: Any) -> list[dict[str, Any]]:
    hits = answer.get("hits") if isinstance(answer, dict) else None
    inner = hits.get("hits") if isinstance(hits, dict) else None
    return [h for h in inner if isinstance(h, dict)] if isinstance(inner, list) else []


def _total(answer: Any) -> int:
    hits = answer.get("hits") if isinstance(answer, dict) else None
    total = hits.get("total") if isinstance(hits, dict) else None
    if isinstance(total, dict):
        total = total.get("value")
    return int(total) if isinstance(total, int | float) else 0


def _agg_millis(agg: Any) -> int | None:
    value = agg.get("value") if isinstance(agg, dict) else None
    return _to_millis(value) if value is not None else None


def _to_millis(value: Any) -> int | None:
    """Epoch milliseconds (floored) from what a cluster returns: 1714521600123, "…123.456"."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    return int(number.to_integral_value(rounding=ROUND_FLOOR))


def _millis(moment: datetime) -> int:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    delta = aware - datetime(1970, 1, 1, tzinfo=UTC)
    return delta // timedelta(milliseconds=1)


def _iso(millis: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _error_type(answer: Any) -> str:
    error = answer.get("error") if isinstance(answer, dict) else None
    if isinstance(error, dict):
        return str(error.get("type", ""))
    return ""


@dataclass
class HitBatch(RecordBatch):
    """Records that are cluster hits: ``raw`` is each ``_source``; ``doc_ids`` their ``_id``s.

    The pipeline makes the event id from the index and ``_id`` (not from the record number and
    text: two documents with the same content stay two events, the same document read twice is
    one) and keeps the ``_id`` in ``extra`` as ``cluster._id``.
    """

    doc_ids: pa.Array = field(default_factory=lambda: pa.array([], pa.string()))

    def hits_table(self) -> pa.Table:
        return pa.table({"record_no": self.record_no, "doc_id": self.doc_ids})


def hit_batch(hits: Sequence[Hit], first_record_no: int) -> HitBatch:
    """A record batch of ``hits`` numbered from ``first_record_no``."""
    count = len(hits)
    return HitBatch(
        record_no=pa.array(range(first_record_no, first_record_no + count), pa.int64()),
        line_no=pa.nulls(count, pa.int64()),
        raw=pa.array([h.source for h in hits], pa.large_string()),
        doc_ids=pa.array([h.id for h in hits], pa.string()),
    )


def hit_parser(
    hits: Sequence[Hit], fmt: str, source: str, fields: Sequence[str] | None = None
) -> Parser:
    """The parser for an index's hits: ``fmt`` if forced, else detected from the first ones.

    Hits are JSON objects: ECS documents go to the ``ecs`` parser, Suricata or Zeek JSON to
    theirs, anything else to generic JSON (with ``--map`` for its keys). When only ECS fields
    were fetched, the hits are ECS documents cut down, too bare for detection to be sure of
    (one ``event`` object): the ``ecs`` parser reads them.
    """
    from loglens.parse.registry import detect_format, get_parser
    from loglens.schema import FIELD_BY_NAME

    if fmt and fmt != "auto":
        parser = get_parser(fmt)
        if "json" not in parser.containers:
            raise SourceError(
                f"format {fmt!r} does not read JSON documents (try ecs or json)", location=source
            )
        return parser
    if fields and all(name in FIELD_BY_NAME for name in fields):
        return get_parser("ecs")
    sample = [h.source for h in hits[:SAMPLE_RECORDS]]
    detection = detect_format(Sample(sample, source, "json"))
    return detection.parser if detection is not None else get_parser("json")
