"""The store protocol and the request objects every backend understands.

A store keeps canonical events (schema.py) and answers searches. The embedded default is DuckDB
(``duckdb:PATH``); the cluster backends (Elasticsearch/OpenSearch) implement the same protocol.
No SQL or query DSL appears outside ``loglens.store``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import duckdb
import pyarrow as pa

from loglens.detect.base import Anomaly
from loglens.series import SeriesFrame, SeriesSpec


@dataclass(frozen=True)
class StagedCounts:
    """A staged batch's rows and, of them, parse failures, as the caller counted them (its
    rows are one per record: the store need not count them again)."""

    rows: int
    failures: int


@dataclass(frozen=True)
class WriteSummary:
    """What a write did: new events (of which parse failures), records already stored, and
    records the store refused for good (a cluster's mapping errors), with the first reasons."""

    inserted: int = 0
    inserted_failures: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: tuple[str, ...] = ()

    def __add__(self, other: WriteSummary) -> WriteSummary:
        return WriteSummary(
            self.inserted + other.inserted,
            self.inserted_failures + other.inserted_failures,
            self.duplicates + other.duplicates,
            self.rejected + other.rejected,
            (self.rejections + other.rejections)[:20],
        )


@dataclass(frozen=True)
class RangeFilter:
    """``field`` between ``gte`` and ``lte`` (either open); values as the user typed them."""

    field: str
    gte: str | None = None
    lte: str | None = None

    def as_lucene(self) -> str:
        low = self.gte if self.gte is not None else "*"
        high = self.lte if self.lte is not None else "*"
        return f"{_lucene_field(self.field)}:[{_lucene_value(low)} TO {_lucene_value(high)}]"


def _lucene_field(name: str) -> str:
    return name.replace("@", "\\@") if name.startswith("@") else name


def _lucene_value(value: str) -> str:
    if value == "*":
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class Query:
    """A search: Lucene text plus structured filters, projection, order and size."""

    text: str = "*"
    ranges: Sequence[RangeFilter] = ()
    fields: Sequence[str] | None = None  # None: every non-empty column
    size: int | None = 10  # None: no limit
    sort: str = "@timestamp"
    descending: bool = False
    default_operator: str = "OR"
    start: datetime | None = None  # shorthand for a range on @timestamp (start inclusive)
    end: datetime | None = None  # end exclusive


@dataclass(frozen=True)
class TermsBucket:
    value: object
    count: int


@dataclass(frozen=True)
class TermsResult:
    field: str
    buckets: list[TermsBucket]
    other: int  # events with other values beyond the top buckets
    missing: int  # events without the field


@dataclass(frozen=True)
class GroupProfile:
    """The events of one value of a field: how many, their top values, the newest of them."""

    value: str
    events: int
    terms: dict[str, list[TermsBucket]]  # per field with values: most events first, then value
    examples: list[dict[str, Any]]  # newest first, in the order of Store.search


@dataclass(frozen=True)
class TermChange:
    """One value of a field: its amount in a window and the average amount in baseline windows.

    The amount is an event count, or the sum of a numeric field when one was asked for.
    """

    value: object
    observed: float
    expected: float

    @property
    def change(self) -> float:
        return self.observed - self.expected


@dataclass(frozen=True)
class TermChanges:
    """What ``Store.terms_change`` found: the totals, and each field's top changed values."""

    total: TermChange
    by_field: dict[str, list[TermChange]]


@dataclass(frozen=True)
class DatasetInfo:
    dataset: str | None
    module: str | None
    events: int
    failures: int
    first: datetime | None
    last: datetime | None


@dataclass
class IngestRecord:
    """The accounting of one input, as ``loglens ingest`` prints it and the store keeps it."""

    source: str
    format: str
    container: str
    records: int = 0
    parsed: int = 0
    failed: int = 0
    duplicates: int = 0
    blank: int = 0
    headers: int = 0
    truncated: int = 0
    rejected: int = 0  # refused by the store (a cluster's mapping errors); reasons in notes
    started: datetime | None = None
    finished: datetime | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        """Every record is accounted for exactly once."""
        return self.records == (
            self.parsed + self.failed + self.duplicates + self.blank + self.headers + self.rejected
        )


class Store(Protocol):
    """What every backend offers."""

    url: str

    def staging_connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection parsers run in (the store's own for DuckDB)."""
        ...

    def write_staged(
        self, events_sql: str, *, known_new: bool = False, counted: StagedCounts | None = None
    ) -> WriteSummary:
        """Store the rows of a SELECT run on the staging connection (canonical columns and
        ``_failed``); rows whose ``event.id`` is already stored are counted as duplicates.
        ``counted``: the caller's counts of the rows (a store may trust them)."""
        ...

    def write(self, events: pa.Table) -> WriteSummary:
        """Store canonical events given as Arrow; duplicates (same event.id) are skipped."""
        ...

    def record_ingest(self, record: IngestRecord) -> None: ...

    def search(self, query: Query) -> pa.Table: ...

    def count(self, query: Query) -> int: ...

    def terms(self, field: str, query: Query, size: int = 10) -> TermsResult: ...

    def datasets(self) -> list[DatasetInfo]: ...

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
        """Per value of ``field`` among ``values`` (as text), the events ``query`` selects: their
        count, the top ``terms_size`` values of each of ``terms_fields`` (as ``terms`` orders
        them) and the newest ``examples`` events (``example_fields`` of them, as ``search``
        projects). A few requests in all, not one per value and field; values without events
        are left out."""
        ...

    def series(self, spec: SeriesSpec) -> SeriesFrame:
        """Bucketed frames of ``spec``: aggregated by the backend, silence kept apart."""
        ...

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
        """Per field, the top values by how much they changed in ``window`` against ``baseline``.

        ``expected`` is the average over the baseline windows; the amount is a count, or the sum
        of ``sum_field``. One pass over the matching events for all fields; each field's values
        are ordered by the size of their change, largest first. ``total`` sums every event.
        """
        ...

    def tag(self, event_ids: Sequence[str], tags: Sequence[str]) -> int: ...

    def tag_matching(self, query: Query, tags: Sequence[str]) -> int:
        """Add ``tags`` to every event ``query`` matches (its text and time range); the count."""
        ...

    def tag_groups(self, groups: Sequence[tuple[Query, Sequence[str]]]) -> int:
        """:meth:`tag_matching` for each ``(query, tags)``, the counts summed; a backend that
        rewrites whole events gives an event in several groups all its tags in one write."""
        ...

    def write_anomalies(self, anomalies: Sequence[Anomaly]) -> int:
        """Store anomalies (replacing any with the same id); how many were written."""
        ...

    def anomalies(self, start: datetime | None = None, end: datetime | None = None) -> pa.Table:
        """Stored anomalies overlapping ``[start, end)``, most severe first."""
        ...

    def checkpoint(self, name: str) -> dict[str, Any] | None:
        """The state saved under ``name`` (an incremental pull's watermark), or None."""
        ...

    def save_checkpoint(self, name: str, value: Mapping[str, Any]) -> None:
        """Save ``value`` (JSON-serialisable) under ``name``, replacing what was there."""
        ...

    # Log templates (``loglens.template.id`` on events with a message); the miner's state is
    # saved with ``save_checkpoint("templates", ...)``.

    def untemplated_messages(self, batch_size: int = 200_000) -> Iterator[pa.Table]:
        """Distinct messages of events without a template id (columns ``message``, ``events``),
        in slices of ``batch_size``, in a stable order."""
        ...

    def assign_templates(self, mapping: pa.Table) -> int:
        """Set the template id of untemplated events from ``mapping`` (``message`` →
        ``template_id``); the number of events updated."""
        ...

    def rename_templates(self, renamed: Mapping[str, str]) -> int:
        """Replace old template ids by new ones (templates that new data generalised)."""
        ...

    def template_stats(self, first_seen_from: datetime | None = None) -> pa.Table:
        """Per template id: ``events``, ``first_seen``, ``last_seen`` and an ``example`` message,
        most events first; with ``first_seen_from``, only templates first seen from then on."""
        ...

    def close(self) -> None: ...
