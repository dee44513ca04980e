"""The embedded store: one DuckDB file (``.loglens/loglens.duckdb`` unless configured).

Writes are transactions of one batch each, so an ingest killed midway leaves whole batches and
a re-run completes it: the deterministic ``event.id`` makes re-written records duplicates, which
are counted and skipped, never stored twice.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from loglens import schema
from loglens.detect.base import Anomaly
from loglens.errors import QueryError, StoreError
from loglens.query import install_sql_functions, to_duckdb_sql
from loglens.schema import FIELD_BY_NAME, FIELDS, Kind, quote_ident
from loglens.series import SeriesFrame, SeriesSpec
from loglens.store.base import (
    DatasetInfo,
    GroupProfile,
    IngestRecord,
    Query,
    StagedCounts,
    TermChange,
    TermChanges,
    TermsBucket,
    TermsResult,
    WriteSummary,
)

SCHEMA_VERSION = "1"

_EVENTS_DDL = "CREATE TABLE IF NOT EXISTS events ({})".format(
    ", ".join(f"{quote_ident(f.name)} {f.sql_type}" for f in FIELDS)
)
_INGEST_DDL = """
CREATE TABLE IF NOT EXISTS ingest_files (
    source VARCHAR, format VARCHAR, container VARCHAR, records BIGINT, parsed BIGINT,
    failed BIGINT, duplicates BIGINT, blank BIGINT, headers BIGINT, truncated BIGINT,
    started TIMESTAMPTZ, finished TIMESTAMPTZ, notes VARCHAR[]
)"""
_ANOMALIES_DDL = """
CREATE TABLE IF NOT EXISTS anomalies (
    id VARCHAR PRIMARY KEY, start TIMESTAMPTZ, "end" TIMESTAMPTZ, series_name VARCHAR,
    series_key VARCHAR, detector VARCHAR, kind VARCHAR, score DOUBLE, severity VARCHAR,
    observed DOUBLE, expected DOUBLE, explanation VARCHAR, reasons VARCHAR[], entities VARCHAR,
    details VARCHAR, created TIMESTAMPTZ
)"""
_META_DDL = "CREATE TABLE IF NOT EXISTS loglens_meta (key VARCHAR PRIMARY KEY, value VARCHAR)"
# Incremental pulls' watermarks (JSON), one row per source: a daily run resumes from its own.
_CHECKPOINTS_DDL = """
CREATE TABLE IF NOT EXISTS checkpoints (
    name VARCHAR PRIMARY KEY, value VARCHAR NOT NULL, updated TIMESTAMPTZ NOT NULL
)"""

_FAILURE_TAG = "'" + schema.PARSE_FAILURE_TAG + "'"
_COLUMN_LIST = ", ".join(quote_ident(f.name) for f in FIELDS)
# An event's tags with the new ones (a list parameter) added after them, each once, in order
# (list_distinct would reorder them).
_ADDED_TAGS = (
    "list_concat(coalesce(tags, []), "
    "list_filter(?, lambda t: NOT list_contains(coalesce(tags, []), t)))"
)
# The insert takes every column from the staged rows except the id, already computed.
_INSERT_COLUMNS = ", ".join(
    "w.id" if f.name == "event.id" else f"s.{quote_ident(f.name)}" for f in FIELDS
)


class DuckDBStore:
    """Canonical events in a DuckDB database file (or in memory with ``duckdb::memory:``)."""

    def __init__(self, path: str, *, url: str | None = None, read_only: bool = False) -> None:
        self.path = path
        self.url = url or f"duckdb:{path}"
        if path != ":memory:" and not read_only:
            try:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the store's folder: {exc}", location=self.url
                ) from exc
        try:
            self.con = duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" in text.lower():
                raise StoreError(
                    "the store is in use by another process (DuckDB allows one writer); "
                    "wait for it to finish or use another --store",
                    location=self.url,
                ) from exc
            raise StoreError(f"cannot open the store: {text}", location=self.url) from exc
        except duckdb.Error as exc:
            raise StoreError(f"cannot open the store: {exc}", location=self.url) from exc
        self._run("SET TimeZone = 'UTC'")
        self._run("SET checkpoint_threshold = '256MB'")
        self._run("SET preserve_insertion_order = false")
        # A parallel insert leaves some row groups part-filled; by default the next checkpoint
        # merges them, decompressing and recompressing them on one thread: a quarter of a
        # 1M-event ingest's time, spent when the store closes. A few more row groups cost
        # scans next to nothing. (Events are never deleted, so nothing else needs vacuuming.)
        self._run("SET max_vacuum_tasks = 0")
        # DuckDB draws a progress bar on the terminal for long queries: not in loglens' output.
        self._run("SET enable_progress_bar = false")
        if not read_only:
            self._create_schema()
        install_sql_functions(self.con)

    # --- lifecycle ---------------------------------------------------------------------------

    def _create_schema(self) -> None:
        self._run(_EVENTS_DDL)
        self._run(_INGEST_DDL)
        self._run(_META_DDL)
        self._run(_ANOMALIES_DDL)
        self._run(_CHECKPOINTS_DDL)
        existing = {
            row[0]
            for row in self.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'events'"
            ).fetchall()
        }
        for f in FIELDS:  # a store made by an older loglens gains the new columns
            if f.name not in existing:
                self._run(f"ALTER TABLE events ADD COLUMN {quote_ident(f.name)} {f.sql_type}")
        self._run(
            "INSERT OR IGNORE INTO loglens_meta VALUES ('schema_version', ?)", [SCHEMA_VERSION]
        )

    def _run(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """Execute and consume the result (DuckDB wants results finished before other work)."""
        return self.con.execute(sql, list(params)).fetchall()

    def close(self) -> None:
        with contextlib.suppress(duckdb.Error):
            self.con.close()

    def __enter__(self) -> DuckDBStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing -----------------------------------------------------------------------------

    def staging_connection(self) -> duckdb.DuckDBPyConnection:
        return self.con

    def write_staged(
        self, events_sql: str, *, known_new: bool = False, counted: StagedCounts | None = None
    ) -> WriteSummary:
        """Insert the new rows of ``events_sql`` (run on this connection) in one transaction.

        ``events_sql`` yields the canonical columns plus ``_record_no`` (unique in the batch)
        and ``_failed``. Ids are computed once into a small table with a duplicate flag; the
        insert joins it on ``_record_no`` and takes the id from it, so the hash is not computed
        twice and the events table is scanned for ids once.

        ``known_new``: the caller knows no stored event can share an id with these rows (the
        store held no events when their input began, and ids differ within an input), so the
        duplicate check is skipped — the first load of a store, where it costs the most.
        With ``counted`` too, the rows are not counted beforehand: the insert must write as
        many rows as counted (a join that repeated records would write more), or nothing is
        written.
        """
        con = self.con
        try:
            self._run("BEGIN TRANSACTION")
            if known_new and counted is not None:
                counts = [(0, counted.failures, 0)]
            elif known_new:
                counts = con.execute(
                    f"""SELECT 0, count(*) FILTER (WHERE _failed),
                               count(*) - count(DISTINCT _record_no)
                        FROM ({events_sql})"""
                ).fetchall()
            else:
                self._run(
                    f"""CREATE OR REPLACE TEMP TABLE _write_ids AS
                        WITH ids AS (SELECT _record_no, "event.id" AS id, _failed
                                     FROM ({events_sql}))
                        SELECT ids.*, ids.id IN (SELECT "event.id" FROM events) AS dup FROM ids"""
                )
                counts = con.execute(
                    """SELECT count(*) FILTER (WHERE dup),
                              count(*) FILTER (WHERE _failed AND NOT dup),
                              count(*) - count(DISTINCT _record_no)
                       FROM _write_ids"""
                ).fetchall()
            if counts[0][2]:
                # A join that repeats records would store events twice: refuse the batch.
                raise StoreError(
                    "the batch repeats records; nothing was written", location=self.url
                )
            if known_new:
                inserted = con.execute(
                    f"INSERT INTO events ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM ({events_sql})"
                ).fetchall()
                if counted is not None and inserted[0][0] != counted.rows:
                    raise StoreError(
                        f"the batch gave {inserted[0][0]} rows for {counted.rows} records; "
                        "nothing was written",
                        location=self.url,
                    )
            else:
                inserted = con.execute(
                    f"""INSERT INTO events ({_COLUMN_LIST})
                        SELECT {_INSERT_COLUMNS} FROM ({events_sql}) s
                        JOIN (SELECT _record_no, id FROM _write_ids WHERE NOT dup) w
                            USING (_record_no)"""
                ).fetchall()
            self._run("COMMIT")
        except StoreError:
            _rollback(con)
            raise
        except duckdb.Error as exc:
            _rollback(con)
            raise StoreError(f"write failed: {exc}", location=self.url) from exc
        duplicates, new_failures, _ = counts[0]
        return WriteSummary(
            inserted=int(inserted[0][0]) if inserted else 0,
            inserted_failures=int(new_failures),
            duplicates=int(duplicates),
        )

    def write(self, events: pa.Table) -> WriteSummary:
        """Store events given as Arrow (columns by ECS name; missing ones are NULL)."""
        selected = []
        for f in FIELDS:
            if f.name in events.column_names:
                selected.append(f"CAST({quote_ident(f.name)} AS {f.sql_type})")
            else:
                selected.append(f"CAST(NULL AS {f.sql_type})")
        columns = ", ".join(
            f"{expr} AS {quote_ident(f.name)}" for expr, f in zip(selected, FIELDS, strict=True)
        )
        failed = f"coalesce(list_contains(tags, {_sql_str(schema.PARSE_FAILURE_TAG)}), false)"
        self.con.register("_incoming", events)
        try:
            self._run(
                f"""CREATE OR REPLACE TEMP TABLE _incoming_staged AS
                    SELECT {columns}, {failed} AS _failed, row_number() OVER () AS _record_no
                    FROM _incoming"""
            )
        except duckdb.Error as exc:
            raise StoreError(f"events do not fit the schema: {exc}", location=self.url) from exc
        finally:
            self.con.unregister("_incoming")
        return self.write_staged("SELECT * FROM _incoming_staged")

    def record_ingest(self, record: IngestRecord) -> None:
        self._run(
            "INSERT INTO ingest_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                record.source, record.format, record.container, record.records, record.parsed,
                record.failed, record.duplicates, record.blank, record.headers, record.truncated,
                record.started, record.finished or datetime.now(UTC), record.notes,
            ],
        )  # fmt: skip

    def tag(self, event_ids: Sequence[str], tags: Sequence[str]) -> int:
        if not event_ids or not tags:
            return 0
        ids = pa.table({"id": pa.array(list(event_ids), type=pa.string())})
        self.con.register("_tag_ids", ids)
        try:
            row = self.con.execute(
                f"""UPDATE events SET tags = {_ADDED_TAGS}
                   WHERE "event.id" IN (SELECT id FROM _tag_ids)""",
                [list(dict.fromkeys(tags))],
            ).fetchall()[0]
        finally:
            self.con.unregister("_tag_ids")
        return int(row[0]) if row else 0

    def tag_matching(self, query: Query, tags: Sequence[str]) -> int:
        if not tags:
            return 0
        where, params = self._where(query)
        row = self._fetchone(
            f"""UPDATE events SET tags = {_ADDED_TAGS}
                WHERE {where}""",
            [list(dict.fromkeys(tags)), *params],
        )
        return int(row[0]) if row else 0

    def tag_groups(self, groups: Sequence[tuple[Query, Sequence[str]]]) -> int:
        return sum(self.tag_matching(query, tags) for query, tags in groups)

    def write_anomalies(self, anomalies: Sequence[Anomaly]) -> int:
        if not anomalies:
            return 0
        created = datetime.now(UTC)
        rows = [
            (
                a.id,
                a.start,
                a.end,
                a.series_name,
                json.dumps(list(a.series_key)),
                a.detector,
                a.kind,
                _finite(a.score),
                a.severity,
                _finite(a.observed),
                _finite(a.expected),
                a.explanation,
                list(a.reasons),
                json.dumps([asdict(e) for e in a.entities], default=str),
                json.dumps(a.details, default=str),
                created,
            )
            for a in anomalies
        ]
        try:
            self._run("BEGIN TRANSACTION")
            self.con.executemany(
                "INSERT OR REPLACE INTO anomalies VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            self._run("COMMIT")
        except duckdb.Error as exc:
            _rollback(self.con)
            raise StoreError(f"writing anomalies failed: {exc}", location=self.url) from exc
        return len(rows)

    def anomalies(self, start: datetime | None = None, end: datetime | None = None) -> pa.Table:
        clauses: list[str] = ["true"]
        params: list[object] = []
        if start is not None:
            clauses.append('"end" > ?')
            params.append(start)
        if end is not None:
            clauses.append("start < ?")
            params.append(end)
        return self._arrow(
            f"""SELECT * FROM anomalies WHERE {" AND ".join(clauses)}
                ORDER BY CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1
                         WHEN 'medium' THEN 2 ELSE 3 END, score DESC NULLS LAST, start""",
            params,
        )

    def checkpoint(self, name: str) -> dict[str, Any] | None:
        row = self._fetchone("SELECT value FROM checkpoints WHERE name = ?", [name])
        if row is None:
            return None
        value = json.loads(row[0])
        return value if isinstance(value, dict) else None

    def save_checkpoint(self, name: str, value: Mapping[str, Any]) -> None:
        try:
            self._run(
                "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?)",
                [name, json.dumps(dict(value), sort_keys=True), datetime.now(UTC)],
            )
        except duckdb.Error as exc:
            raise StoreError(
                f"saving checkpoint {name!r} failed: {exc}", location=self.url
            ) from exc

    # --- templates ---------------------------------------------------------------------------

    def untemplated_messages(self, batch_size: int = 200_000) -> Iterator[pa.Table]:
        from loglens.store.duckdb_templates import untemplated_messages

        return untemplated_messages(self.con, batch_size, self.url)

    def assign_templates(self, mapping: pa.Table) -> int:
        from loglens.store.duckdb_templates import assign_templates

        return assign_templates(self.con, mapping, self.url)

    def rename_templates(self, renamed: Mapping[str, str]) -> int:
        from loglens.store.duckdb_templates import rename_templates

        return rename_templates(self.con, renamed, self.url)

    def template_stats(self, first_seen_from: datetime | None = None) -> pa.Table:
        from loglens.store.duckdb_templates import template_stats

        return template_stats(self.con, first_seen_from, self.url)

    # --- reading -----------------------------------------------------------------------------

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
        where, params = self._where(query)
        columns = []
        for index, name in enumerate(fields):
            expr, is_list = _field_expr(name)
            if is_list:
                raise QueryError(f"{name!r} holds lists; compare a single-valued field")
            columns.append(f"CAST({expr} AS VARCHAR) AS c{index}")
        amount = "1"
        if sum_field is not None:
            amount_expr, _ = _field_expr(sum_field)
            amount = f"coalesce(TRY_CAST({amount_expr} AS DOUBLE), 0)"
        ts = quote_ident("@timestamp")
        in_window = f"({ts} >= ? AND {ts} < ?)"
        spans = [f"({ts} >= ? AND {ts} < ?)" for _ in baseline] or ["false"]
        in_baseline = "(" + " OR ".join(spans) + ")"
        span_params: list[object] = [t for pair in baseline for t in pair]
        days = max(len(baseline), 1)
        selected = ", ".join(
            [*columns, f"{amount} AS amount", f"{in_window} AS w", f"{in_baseline} AS b"]
        )
        self._run(
            f"""CREATE OR REPLACE TEMP TABLE _terms_change AS
                SELECT {selected} FROM events
                WHERE ({where}) AND ({in_window} OR {in_baseline})""",
            [*window, *span_params, *params, *window, *span_params],
        )
        total = self._fetchone(
            "SELECT sum(amount) FILTER (WHERE w), sum(amount) FILTER (WHERE b) / ? "
            "FROM _terms_change",
            [days],
        )
        by_field: dict[str, list[TermChange]] = {name: [] for name in fields}
        if fields:
            names = ", ".join(f"c{i}" for i in range(len(fields)))
            rows = self._fetchall(
                f"""WITH u AS (UNPIVOT (SELECT {names}, amount, w, b FROM _terms_change)
                               ON {names} INTO NAME f VALUE v),
                    agg AS (SELECT f, v, sum(amount) FILTER (WHERE w) AS o,
                                   sum(amount) FILTER (WHERE b) / ? AS e
                            FROM u GROUP BY f, v)
                    SELECT f, v, o, e FROM agg
                    QUALIFY row_number() OVER (
                        PARTITION BY f ORDER BY abs(coalesce(o, 0) - coalesce(e, 0)) DESC, v
                    ) <= {int(size)}
                    ORDER BY f, abs(coalesce(o, 0) - coalesce(e, 0)) DESC, v""",
                [days],
            )
            for column, value, observed, expected in rows:
                name = fields[int(str(column)[1:])]
                by_field[name].append(TermChange(value, float(observed or 0), float(expected or 0)))
        observed_total = float(total[0] or 0) if total else 0.0
        expected_total = float(total[1] or 0) if total else 0.0
        return TermChanges(TermChange(None, observed_total, expected_total), by_field)

    def _where(self, query: Query) -> tuple[str, list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        predicate = to_duckdb_sql(query.text or "*", default_operator=query.default_operator)
        clauses.append(f"({predicate.sql})")
        params.extend(predicate.params)
        for rng in query.ranges:
            if rng.field not in FIELD_BY_NAME and not _is_extra_name(rng.field):
                raise QueryError(f"unknown field {rng.field!r} in a range filter")
            ranged = to_duckdb_sql(rng.as_lucene())
            clauses.append(f"({ranged.sql})")
            params.extend(ranged.params)
        if query.start is not None:
            clauses.append('"@timestamp" >= ?')
            params.append(query.start)
        if query.end is not None:
            clauses.append('"@timestamp" < ?')
            params.append(query.end)
        return " AND ".join(clauses), params

    def search(self, query: Query) -> pa.Table:
        where, params = self._where(query)
        columns = _projection(query.fields)
        sort = query.sort or "@timestamp"
        if sort not in FIELD_BY_NAME:
            raise QueryError(f"cannot sort by {sort!r}: not a field of the schema")
        order = "DESC" if query.descending else "ASC"
        limit = f" LIMIT {int(query.size)}" if query.size is not None else ""
        sql = (
            f"SELECT {columns} FROM events WHERE {where} "
            f'ORDER BY {quote_ident(sort)} {order} NULLS LAST, "log.file.path", "log.file.line"'
            f"{limit}"
        )
        return self._arrow(sql, params)

    def count(self, query: Query) -> int:
        where, params = self._where(query)
        row = self._fetchone(f"SELECT count(*) FROM events WHERE {where}", params)
        return int(row[0]) if row else 0

    def terms(self, field: str, query: Query, size: int = 10) -> TermsResult:
        where, params = self._where(query)
        expr, is_list = _field_expr(field)
        value = "v" if not is_list else "unnest(v)"
        base = f"SELECT {expr} AS v FROM events WHERE {where}"
        if is_list:
            base = f"SELECT {value} AS v FROM ({base})"
        rows = self._fetchall(
            f"""WITH vals AS ({base})
                SELECT v, count(*) AS n FROM vals WHERE v IS NOT NULL
                GROUP BY v ORDER BY n DESC, v LIMIT {int(size)}""",
            params,
        )
        totals = self._fetchone(
            f"WITH vals AS ({base}) SELECT count(v), count(*) - count(v) FROM vals", params
        )
        present, missing = (int(totals[0]), int(totals[1])) if totals else (0, 0)
        buckets = [TermsBucket(v, int(n)) for v, n in rows]
        return TermsResult(field, buckets, present - sum(b.count for b in buckets), missing)

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
        from loglens.store.duckdb_profiles import profiles

        where, params = self._where(query)
        return profiles(
            self.con, where, params, field, values, terms_fields, terms_size, examples,
            example_fields,
        )  # fmt: skip

    def datasets(self) -> list[DatasetInfo]:
        rows = self._fetchall(
            f"""SELECT "event.dataset", "event.module", count(*),
                       count(*) FILTER (WHERE list_contains(tags, {_FAILURE_TAG})),
                       min("@timestamp"), max("@timestamp")
                FROM events GROUP BY ALL ORDER BY 3 DESC, 1""",
            [],
        )
        return [DatasetInfo(d, m, int(n), int(f), _utc(a), _utc(b)) for d, m, n, f, a, b in rows]

    def ingest_history(self, limit: int = 50) -> pa.Table:
        return self._arrow(
            f"SELECT * FROM ingest_files ORDER BY finished DESC LIMIT {int(limit)}", []
        )

    def series(self, spec: SeriesSpec) -> SeriesFrame:
        """Bucketed frames of ``spec``, aggregated in DuckDB (see ``store.duckdb_series``)."""
        from loglens.store.duckdb_series import series_frame

        return series_frame(self.con, spec)

    def sql(self, statement: str, params: Sequence[object] = ()) -> pa.Table:
        """Run read-only SQL against the store (for the Python API and tests)."""
        return self._arrow(statement, list(params))

    def _arrow(self, sql: str, params: list[object]) -> pa.Table:
        try:
            return self.con.sql(sql, params=params).to_arrow_table()
        except duckdb.Error as exc:
            raise QueryError(f"the store could not run the query: {exc}") from exc

    def _fetchall(self, sql: str, params: list[object]) -> list[tuple[Any, ...]]:
        try:
            return self.con.execute(sql, params).fetchall()
        except duckdb.Error as exc:
            raise QueryError(f"the store could not run the query: {exc}") from exc

    def _fetchone(self, sql: str, params: list[object]) -> tuple[Any, ...] | None:
        rows = self._fetchall(sql, params)
        return rows[0] if rows else None


def _rollback(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):
        con.execute("ROLLBACK").fetchall()


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _utc(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def _is_extra_name(name: str) -> bool:
    return bool(name) and all(c.isalnum() or c in "_@.-" for c in name)


def _finite(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _field_expr(field: str) -> tuple[str, bool]:
    """SQL for a field's value, and whether it is a list (tags)."""
    known = FIELD_BY_NAME.get(field)
    if known is not None:
        if known.kind is Kind.JSON:
            raise QueryError(f"{field!r} holds whole objects; name one of its keys instead")
        return quote_ident(field), known.kind is Kind.KEYWORD_LIST
    if not _is_extra_name(field):
        raise QueryError(f"{field!r} is not a valid field name")
    return f'json_extract_string("extra", \'$."{field}"\')', False


def _projection(fields: Sequence[str] | None) -> str:
    if not fields:
        return "*"
    parts = []
    for name in fields:
        expr, _ = _field_expr(name) if name != "extra" else (quote_ident("extra"), False)
        parts.append(f"{expr} AS {quote_ident(name)}")
    return ", ".join(parts)
