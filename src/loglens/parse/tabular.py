"""Tables: CSV/TSV, Parquet and Excel rows, one JSON object per row keyed by column header.

The readers (``loglens.sources.files``) turn every row into a JSON object: CSV cells as text,
Parquet values as DuckDB's ``to_json`` gives them (numbers stay numbers, timestamps read
``2024-01-01 10:00:00+00``), Excel cells as text or numbers with dates as ISO text, and a
``log.sheet`` key naming the sheet when a workbook has several.

Columns map to fields exactly as top-level keys of generic JSON do (``json_docs.KeyedRecords``,
one alias table for both): ``--map`` first (``ctx.column_map``), then ECS names in any case and
with ``_``, ``-`` or spaces for dots (``Source IP`` → ``source.ip``, ``@timestamp`` /
``Timestamp``), then the aliases (``src_ip``, ``TimeGenerated``, ``Computer``, ``level``, ...).
Values are cast to the field's kind; a value that does not cast (a port ``abc``, a timestamp in
no known spelling) keeps the row: the value goes to ``extra`` under its column name and the
field is listed in ``extra["loglens.invalid_fields"]``. Every column that fills no field goes to
``extra`` under its column name.

``event.dataset`` is ``table.<file stem>`` (``Firewall Export 2024.csv.gz`` →
``table.firewall_export_2024``; ``table.stdin`` for standard input) unless a column gives
``event.dataset``; ``event.module`` is ``table``. Detection: the container decides (1.0 for
``csv``/``parquet``/``xlsx`` records, 0 otherwise).
"""

from __future__ import annotations

import re
from pathlib import PurePath

from loglens.parse.base import ParseContext, Parser, Sample, sql_string
from loglens.parse.json_docs import KeyedRecords

_TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq", ".xlsx", ".xlsm")
_COMPRESSION_SUFFIXES = (".gz", ".bz2", ".xz")


def table_dataset(source: str) -> str:
    """``table.<stem>`` for an input as displayed (a path, or ``-`` for stdin)."""
    if source in ("", "-"):
        return "table.stdin"
    name = PurePath(source).name.lower()
    for suffixes in (_COMPRESSION_SUFFIXES, _TABLE_SUFFIXES):
        for suffix in suffixes:
            if name.endswith(suffix):
                name = name[: -len(suffix)]
                break
    stem = re.sub(r"[^a-z0-9]+", "_", name).strip("_")[:64].rstrip("_")
    return f"table.{stem or 'table'}"


class TableParser(Parser):
    """Rows of CSV, Parquet or Excel tables: columns named like ECS fields or common aliases."""

    name = "table"
    description = "Tables (CSV/TSV, Parquet, Excel): columns mapped by ECS name, alias or --map"
    containers = frozenset({"csv", "parquet", "xlsx"})

    def sniff(self, sample: Sample) -> float:
        return 1.0 if sample.container in self.containers else 0.0

    def sql(self, ctx: ParseContext) -> str:
        dataset = sql_string(table_dataset(ctx.source))
        return KeyedRecords(ctx, module="table", dataset=dataset).sql()
