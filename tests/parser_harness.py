"""Run one parser's SQL over a list of records, the way the pipeline does, without a store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa

from loglens.parse.base import ParseContext, Parser, Sample


def sample(records: Sequence[str], name: str = "test.log", container: str = "lines") -> Sample:
    return Sample([r for r in records if r.strip()][:40], name, container)


def run_parser(
    parser: Parser, records: Sequence[str], ctx: ParseContext | None = None
) -> list[dict[str, Any]]:
    """Rows (dicts keyed by output column) for each record, in record order.

    Checks the contract on the way: one output row per input record, record_no preserved.
    """
    ctx = ctx or ParseContext(source="test.log", reference_time=datetime(2024, 6, 1, tzinfo=UTC))
    con = _connect(records)
    rows = _rows(con, parser.sql(ctx))
    assert [r["record_no"] for r in rows] == list(range(1, len(records) + 1)), "one row per record"
    fast = parser.fast_path(ctx)
    if fast is not None:
        check = f"SELECT bool_and(coalesce({fast.check}, false)) FROM batch"
        if con.execute(check).fetchall()[0][0]:
            # The pipeline runs the fast SQL on such a batch: it must say exactly the same.
            assert _rows(con, fast.sql) == rows, "the fast path differs from the full SQL"
        if fast.shaped is not None:
            # The shaped reading runs on every record; those it recognises keep its row (a
            # column it leaves out is NULL for them). Every row passes the batch's line
            # number and text through.
            for at, (shaped, full) in enumerate(zip(_rows(con, fast.shaped), rows, strict=True)):
                passed = (shaped.pop("line_no"), shaped.pop("raw"))
                assert passed == (_line_no(at + 1), records[at]), "line_no and raw pass through"
                if shaped.pop("_shaped"):
                    expected = {k: v for k, v in full.items() if k in shaped or v is not None}
                    assert shaped == expected, "the shaped reading differs from the full SQL"
    con.close()
    return rows


def shaped(parser: Parser, records: Sequence[str], ctx: ParseContext) -> list[bool] | None:
    """Which records the parser's shaped reading takes (None: it offers none)."""
    fast = parser.fast_path(ctx)
    if fast is None or fast.shaped is None:
        return None
    con = _connect(records)
    flags = [bool(row["_shaped"]) for row in _rows(con, fast.shaped)]
    con.close()
    return flags


def _connect(records: Sequence[str]) -> duckdb.DuckDBPyConnection:
    """A connection with ``records`` registered as ``batch``, the way the pipeline has it."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    numbers = pa.array(range(1, len(records) + 1), type=pa.int64())
    lines = pa.array([_line_no(n) for n in range(1, len(records) + 1)], type=pa.int64())
    raw = pa.array(list(records), type=pa.large_string())
    con.register("batch", pa.table({"record_no": numbers, "line_no": lines, "raw": raw}))
    return con


def _line_no(record_no: int) -> int:
    """Line numbers that differ from record numbers (a record is not always a line)."""
    return record_no * 2 + 5


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    result = con.execute(f"SELECT * FROM ({sql}) ORDER BY record_no")
    names = [d[0] for d in result.description]
    return [dict(zip(names, row, strict=True)) for row in result.fetchall()]


def extra(row: dict[str, Any]) -> dict[str, Any]:
    """The row's ``extra`` JSON object ({} when empty)."""
    return json.loads(row["extra"]) if row["extra"] else {}


def utc(*parts: int) -> datetime:
    """A UTC datetime from year, month, day, ... ."""
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]
