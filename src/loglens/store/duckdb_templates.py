"""DuckDB's side of log templates: distinct untemplated messages out, template ids in.

Mining happens outside the store, on distinct messages (few, even when every line differs only
by an address or a number); the store hands them out in slices with their event counts and
writes the ids back with one ``UPDATE`` joining a registered Arrow mapping. Listing aggregates
the events by template id on demand, so counts and first/last seen never drift from the events.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from datetime import datetime

import duckdb
import pyarrow as pa

from loglens.errors import StoreError
from loglens.schema import TEMPLATE_ID, quote_ident

_ID = quote_ident(TEMPLATE_ID)
_TS = quote_ident("@timestamp")


def untemplated_messages(
    con: duckdb.DuckDBPyConnection, batch_size: int, location: str
) -> Iterator[pa.Table]:
    """Distinct messages of events without a template id, in slices of ``batch_size``.

    Each slice has columns ``message`` and ``events`` (how many events carry it), in message
    order (the same store gives the same slices). The messages are listed once up front, so
    assigning ids between slices does not move the slices.
    """
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _untemplated AS
                SELECT message, count(*) AS events, row_number() OVER (ORDER BY message) AS n
                FROM events WHERE message IS NOT NULL AND {_ID} IS NULL
                GROUP BY message"""
        ).fetchall()
        total = con.execute("SELECT count(*) FROM _untemplated").fetchall()[0][0]
        for start in range(0, int(total), batch_size):
            yield con.sql(
                "SELECT message, events FROM _untemplated WHERE n > ? AND n <= ? ORDER BY n",
                params=[start, start + batch_size],
            ).to_arrow_table()
    except duckdb.Error as exc:
        raise StoreError(f"listing untemplated messages failed: {exc}", location=location) from exc
    finally:
        with contextlib.suppress(duckdb.Error):  # a store closed before the last slice
            con.execute("DROP TABLE IF EXISTS _untemplated").fetchall()


def assign_templates(con: duckdb.DuckDBPyConnection, mapping: pa.Table, location: str) -> int:
    """Set the template id of the untemplated events whose message ``mapping`` names.

    ``mapping`` has columns ``message`` and ``template_id``; returns the events updated.
    """
    if not mapping.num_rows:
        return 0
    table = pa.table(
        {
            "message": mapping.column("message").cast(pa.string()),
            "template_id": mapping.column("template_id").cast(pa.string()),
        }
    )
    return _update(
        con,
        table,
        "_template_map",
        f"""UPDATE events SET {_ID} = m.template_id FROM _template_map m
            WHERE events.message = m.message AND events.{_ID} IS NULL""",
        location,
    )


def rename_templates(
    con: duckdb.DuckDBPyConnection, renamed: Mapping[str, str], location: str
) -> int:
    """Give events of a template that mining generalised the new template's id."""
    pairs = {old: new for old, new in renamed.items() if old != new}
    if not pairs:
        return 0
    table = pa.table(
        {
            "old": pa.array(list(pairs), pa.string()),
            "new": pa.array(list(pairs.values()), pa.string()),
        }
    )
    return _update(
        con,
        table,
        "_template_renames",
        f"UPDATE events SET {_ID} = r.new FROM _template_renames r WHERE events.{_ID} = r.old",
        location,
    )


def template_stats(
    con: duckdb.DuckDBPyConnection, first_seen_from: datetime | None, location: str
) -> pa.Table:
    """Per template id: events, first and last seen, and the first message as an example.

    ``first_seen_from``: only templates first seen at or after it (new templates).
    """
    having = f"HAVING min({_TS}) >= ?" if first_seen_from is not None else ""
    params: list[object] = [first_seen_from] if first_seen_from is not None else []
    try:
        return con.sql(
            f"""SELECT {_ID} AS template_id, count(*) AS events,
                       min({_TS}) AS first_seen, max({_TS}) AS last_seen,
                       coalesce(arg_min(message, {_TS}), any_value(message)) AS example
                FROM events WHERE {_ID} IS NOT NULL
                GROUP BY {_ID} {having}
                ORDER BY events DESC, template_id""",
            params=params,
        ).to_arrow_table()
    except duckdb.Error as exc:
        raise StoreError(f"listing templates failed: {exc}", location=location) from exc


def _update(
    con: duckdb.DuckDBPyConnection, table: pa.Table, name: str, sql: str, location: str
) -> int:
    con.register(name, table)
    try:
        con.execute("BEGIN TRANSACTION").fetchall()
        row = con.execute(sql).fetchall()
        con.execute("COMMIT").fetchall()
    except duckdb.Error as exc:
        with contextlib.suppress(duckdb.Error):  # the failure came before BEGIN
            con.execute("ROLLBACK").fetchall()
        raise StoreError(f"writing template ids failed: {exc}", location=location) from exc
    finally:
        con.unregister(name)
    return int(row[0][0]) if row else 0
