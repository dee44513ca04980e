"""The parser contract: sniff a sample, then turn a batch of raw records into ECS columns in SQL.

A parser never loops over records in Python. It returns one DuckDB ``SELECT`` over the table
``batch(record_no BIGINT, line_no BIGINT, raw VARCHAR)`` that yields, for **every** input row and in
any order:

- ``record_no`` (unchanged), the key the pipeline joins on;
- any subset of the canonical columns of ``loglens.schema`` under their quoted ECS names
  (``"source.ip"``), with types that cast to the schema's (timestamps as TIMESTAMPTZ);
- ``_error`` VARCHAR: NULL when the record parsed, else the reason, which the pipeline stores with
  the raw record (event.kind ``pipeline_error``, tag ``_parse_failure``); a failed record keeps only
  ``@timestamp`` (if the parser could salvage it), ``event.module`` and ``event.dataset``;
- optionally ``_skip`` BOOLEAN: true for lines that are not records (Zeek ``#`` headers);
- optionally ``_complete`` BOOLEAN: true when the record's columns (with ``extra``) hold
  everything the record says, so its raw text need not be kept (``ingest.keep_original``
  ``auto``). It decides per record and wins over :attr:`Parser.lossless`; NULL or false keeps
  the raw text. A parser says true only when sure: no value left unread, none dropped or
  rewritten by a cast.

Parsers are plain objects registered in ``loglens.parse.registry``; ``sniff`` scores a sample of
records between 0 (not this format) and 1 (certainly this format).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True)
class Sample:
    """The first records of an input, for format detection."""

    records: Sequence[str]
    name: str  # file name (no directories), '-' for stdin
    container: str  # lines, json, csv, parquet, xlsx


@dataclass(frozen=True)
class ParseContext:
    """What a parser may need to know about the input beyond the records themselves."""

    source: str  # the input as displayed (path or '-')
    reference_time: datetime = field(default_factory=lambda: datetime.now(UTC))
    """For year-less timestamps: no event is later than this (the file's mtime by default)."""
    year: int | None = None
    """A fixed year for year-less timestamps (config ``ingest.year``); wins over reference_time."""
    timezone: str = "UTC"
    """Zone of timestamps without an offset."""
    header: Sequence[str] = ()
    """The input's leading comment lines (those starting with '#'), e.g. a Zeek TSV header."""
    host: str | None = None
    """The machine the input came from (``ingest.host`` / ``ingest.host_from_path``). The
    pipeline fills ``host.name`` with it where the parser left it empty; parsers need not."""
    column_map: dict[str, str] = field(default_factory=dict)
    """Source column or key → ECS field, for tables and generic JSON (CLI ``--map``)."""
    sample: Sequence[str] = ()
    """The records format detection looked at (the start of the input), so a parser can plan
    its SQL for the shapes present. A plan built from it must still handle every other shape:
    later records are not guaranteed to look like the first ones."""


@dataclass(frozen=True)
class FastPath:
    """A cheaper SELECT for a batch whose every record passes ``check``.

    A parser whose full SQL routes each record to one of several readings (a plan built from
    the sample, and a general reading for the rest) can offer the planned reading alone: most
    batches have no record for the general one, and planning its SQL costs as much as running
    it on a few hundred thousand records.
    """

    check: str  # a boolean SQL expression over ``raw``: the fast SQL handles the record
    sql: str  # a SELECT over ``batch``, with the same output as the full SQL for such records
    shaped: str | None = None
    """A still cheaper SELECT over ``batch`` for the records it recognises (its ``_shaped``
    column is true for them, and their rows are those of the full SQL, less columns that are
    NULL for all of them); the other records are for ``check`` and ``sql``. None: no such
    SELECT. Its rows also pass the batch's ``line_no`` and ``raw`` through unchanged: the
    pipeline takes what it needs of them there, instead of joining the rows back to the
    batch."""


class Parser(ABC):
    """One log format."""

    name: str = ""
    """What ``--format`` calls it."""
    description: str = ""
    containers: frozenset[str] = frozenset({"lines"})
    """Containers whose records this parser understands."""
    lossless: bool = False
    """True when the parsed columns (with ``extra``) hold everything a parsed record says, so the
    raw text need not be kept as ``event.original`` (see ``ingest.keep_original``). A parser
    that outputs ``_complete`` decides record by record instead."""

    @abstractmethod
    def sniff(self, sample: Sample) -> float:
        """How sure this parser is that the sample is its format, from 0 to 1."""

    @abstractmethod
    def sql(self, ctx: ParseContext) -> str:
        """A SELECT over ``batch`` producing ``record_no``, ECS columns and ``_error``."""

    def fast_path(self, ctx: ParseContext) -> FastPath | None:
        """A cheaper SQL for batches whose records all pass its check (None: no such SQL)."""
        return None


def share_matching(records: Sequence[str], predicate: object) -> float:
    """The share of ``records`` for which ``predicate(record)`` is true (0 for no records)."""
    if not records:
        return 0.0
    assert callable(predicate)
    return sum(1 for record in records if predicate(record)) / len(records)


def sql_string(value: str) -> str:
    """A SQL string literal (for constants a parser builds into its SQL, never for log data)."""
    return "'" + value.replace("'", "''") + "'"
