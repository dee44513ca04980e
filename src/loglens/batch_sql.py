"""The SQL that reads one batch of records into parsed rows (the temp table ``_parsed``).

The pipeline registers a batch as ``_batch_all`` and the records a parser reads as ``batch``;
a parser's SQL turns ``batch`` into ``_parsed``, one row per record. The events SELECT then
adds what every event gets: its id, provenance and the raw text it keeps.

When the parser offers a shaped reading, ``_parsed`` also *carries* those three for each
record (``_line_no``, ``_event_id``, ``_original``): the shaped reading passes ``line_no`` and
``raw`` through, so the events SELECT reads ``_parsed`` alone. Joining a million parsed rows
back to their raw text cost about a tenth of an ECS ingest; only the few records the shaped
reading does not recognise are joined, on their own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from loglens.normalize import event_id_sql
from loglens.parse.base import FastPath, ParseContext, Parser, sql_string
from loglens.schema import quote_ident

# The records a parser reads (the view ``batch``): not blank, not refused by the reader.
BATCH_SQL = (
    "SELECT record_no, line_no, raw FROM _batch_all WHERE NOT _blank AND _reader_error IS NULL"
)
CARRIED = "_event_id"  # its presence in ``_parsed`` says the batch's columns were carried


def run(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Execute and finish the statement (DuckDB refuses (un)registering while a result is open)."""
    con.execute(sql).fetchall()


@dataclass(frozen=True)
class RecordKeys:
    """How a record's event id and kept raw text are computed (the parsed row is ``p``)."""

    source_key: str
    host: str | None  # the input's host, when it has one
    keep_original: str  # ``ingest.keep_original``: auto, all or failures
    lossless: bool  # the parser's :attr:`Parser.lossless`

    def event_id(self, record_no: str, raw: str, failed: str, produced: set[str]) -> str:
        """The event id; a host filled in from the input is part of what the event says.

        A record that names its own host (a syslog line) gets the same id with or without an
        input host, so adding ``host_from_path`` to a remote-syslog ingest stores nothing
        twice. A record that names none (an access-log line) is hashed with the host it was
        given: two servers' identical lines stay two events, and the same line ingested once
        without and once with ``--host`` is stored twice (once per host setting).
        """
        plain = event_id_sql(self.source_key, record_no, raw)
        if self.host is None:
            return plain
        with_host = event_id_sql(
            self.source_key, record_no, f"({raw} || chr(31) || {sql_string(self.host)})"
        )
        own = parsed_host_sql(failed, produced)
        if own == "NULL":
            return with_host
        return f"CASE WHEN {own} IS NULL THEN {with_host} ELSE {plain} END"

    def original(self, raw: str, failed: str, produced: set[str]) -> str:
        """The raw record, for failures always; for parsed records as ``keep_original`` says.

        With ``auto``, a parser's ``_complete`` column decides record by record (the raw text
        is kept unless it is true); without one, the parser's ``lossless`` attribute does.
        """
        if self.keep_original == "auto" and "_complete" in produced:
            return f"CASE WHEN {failed} OR NOT coalesce(p._complete, false) THEN {raw} END"
        if self.keep_original == "all" or (self.keep_original == "auto" and not self.lossless):
            return raw
        return f"CASE WHEN {failed} THEN {raw} END"


def parsed_host_sql(failed: str, produced: set[str]) -> str:
    """The host the record itself names (none for a record that failed to parse)."""
    if "host.name" not in produced:
        return "NULL"
    return f'CASE WHEN {failed} THEN NULL ELSE p."host.name" END'


@dataclass
class ParserSql:
    """A parser's SQL, and its cheaper forms for the records and batches that allow them."""

    full: str
    fast: FastPath | None
    keys: RecordKeys | None = None  # None: nothing is carried (the events SELECT joins)
    shaped_off: bool = False  # the input stopped looking like its sample (see parse)
    _columns: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, parser: Parser, ctx: ParseContext, keys: RecordKeys | None = None) -> ParserSql:
        return cls(parser.sql(ctx), parser.fast_path(ctx), keys)

    def parse(self, con: duckdb.DuckDBPyConnection) -> None:
        """Parse the registered ``batch`` into the temp table ``_parsed``.

        With a shaped reading, it reads every record first; the records it does not
        recognise (usually none) are read again by the other SQL, on their own. Once it
        recognises fewer than half of a batch, the input no longer looks like its sample:
        its later batches skip it.
        """
        shaped = None if self.fast is None or self.shaped_off else self.fast.shaped
        if shaped is None:
            run(con, f"CREATE OR REPLACE TEMP TABLE _parsed AS {self.for_batch(con)}")
            return
        run(con, f"CREATE OR REPLACE TEMP TABLE _parsed AS {self._carried(con, shaped, True)}")
        (unshaped, records), *_ = con.execute(
            "SELECT count(*) FILTER (WHERE NOT _shaped), count(*) FROM _parsed"
        ).fetchall()
        if not unshaped:
            return
        self.shaped_off = unshaped * 2 > records
        run(
            con,
            "CREATE OR REPLACE TEMP TABLE _unshaped AS "
            "SELECT record_no FROM _parsed WHERE NOT _shaped",
        )
        try:
            run(
                con,
                f"CREATE OR REPLACE TEMP VIEW batch AS "
                f"SELECT * FROM ({BATCH_SQL}) SEMI JOIN _unshaped USING (record_no)",
            )
            reread = self.for_batch(con)
            if self.keys is not None:
                joined = (
                    f"SELECT r.*, b.line_no, b.raw FROM ({reread}) r JOIN batch b USING (record_no)"
                )
                reread = self._carried(con, joined)
            run(con, f"CREATE OR REPLACE TEMP TABLE _reread AS {reread}")
        finally:
            run(con, f"CREATE OR REPLACE TEMP VIEW batch AS {BATCH_SQL}")
        # The reread rows replace the unshaped ones in place: rebuilding ``_parsed`` would
        # copy every shaped row again for a handful of others.
        run(con, "DELETE FROM _parsed WHERE NOT _shaped")
        have = _described(con, "_parsed")
        for name, kind in _described(con, "_reread").items():
            if name not in have:  # a column the shaped reading leaves out
                run(con, f"ALTER TABLE _parsed ADD COLUMN {quote_ident(name)} {kind}")
        run(con, "INSERT INTO _parsed BY NAME SELECT * FROM _reread")

    def for_batch(self, con: duckdb.DuckDBPyConnection) -> str:
        """The SQL for the registered ``batch``: the fast one when every record passes."""
        if self.fast is None:
            return self.full
        rows = con.execute(
            f"SELECT count(*) FILTER (WHERE NOT coalesce({self.fast.check}, false)) FROM batch"
        ).fetchall()
        return self.fast.sql if rows[0][0] == 0 else self.full

    def _carried(self, con: duckdb.DuckDBPyConnection, sql: str, shaped: bool = False) -> str:
        """``sql`` (its rows with ``line_no`` and ``raw``) with the batch's columns carried;
        without keys to carry them with, ``line_no`` and ``raw`` are dropped.

        For the shaped reading only its records are worth the work: the others are read
        again and their rows dropped.
        """
        if self.keys is None:
            return f"SELECT * EXCLUDE (line_no, raw) FROM ({sql})"
        produced = self._columns.get(sql)
        if produced is None:  # the same SQL for every batch of the input: asked once
            produced = set(_described(con, sql))
            self._columns[sql] = produced
        failed = "p._error IS NOT NULL" if "_error" in produced else "false"
        event_id = self.keys.event_id("p.record_no", "p.raw", failed, produced)
        original = self.keys.original("p.raw", failed, produced)
        if shaped:
            event_id = f"CASE WHEN p._shaped THEN {event_id} END"
            original = f"CASE WHEN p._shaped THEN {original} END"
        return (
            f"SELECT p.* EXCLUDE (line_no, raw), p.line_no AS _line_no, "
            f"{event_id} AS {CARRIED}, {original} AS _original FROM ({sql}) p"
        )


def _described(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    """Column name → SQL type of a table or SELECT."""
    return {
        str(name): str(kind) for name, kind, *_ in con.execute(f"DESCRIBE {relation}").fetchall()
    }
