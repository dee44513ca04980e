"""Shared machinery for parsers of JSON records: map JSON paths to ECS columns in one pass.

Each record is parsed once by DuckDB (``json_extract_string`` with a list of paths); every ECS
column is then the first non-null of its candidate paths, optionally cast or transformed in SQL.
A path is written with dots between keys (``source.ip`` = nested ``{"source": {"ip": ..}}``); the
same dotted name as one flat key (``{"source.ip": ..}``, common in exports) can be added with
``flat=True``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loglens.parse.base import sql_string


@dataclass(frozen=True)
class JsonField:
    """One output column from the first non-null of ``paths``.

    ``sql`` wraps the extracted text: ``"TRY_CAST({} AS BIGINT)"``; ``{}`` is the value.
    """

    target: str
    paths: tuple[str, ...]
    sql: str = "{}"


def json_path(dotted: str, *, flat: bool = False) -> str:
    """A DuckDB JSON path for a dotted key path, quoting every key (keys may hold '@', '-')."""
    if flat:
        return "$." + _quote_key(dotted)
    return "$." + ".".join(_quote_key(part) for part in dotted.split("."))


def _quote_key(key: str) -> str:
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


class JsonExtraction:
    """Builds the SELECT list for a set of JsonFields over a column of JSON text.

    Usage: ``x = JsonExtraction(fields)``; put ``x.values_sql("raw")`` AS ``j`` in an inner
    query (one parse per record), then ``x.column_sql(target, "j")`` for each output column.
    """

    def __init__(self, fields: Sequence[JsonField], *, flat_aliases: bool = True) -> None:
        self.fields = list(fields)
        self._paths: list[str] = []
        self._index: dict[str, list[int]] = {}
        for f in self.fields:
            slots = []
            for path in f.paths:
                variants = [json_path(path)]
                if flat_aliases and "." in path:
                    variants.append(json_path(path, flat=True))
                for variant in variants:
                    if variant not in self._paths:
                        self._paths.append(variant)
                    slots.append(self._paths.index(variant) + 1)  # DuckDB lists are 1-based
            self._index[f.target] = slots

    def values_sql(self, column: str = "raw") -> str:
        """One list of extracted texts per record (NULL for a record that is not JSON)."""
        paths = ", ".join(sql_string(p) for p in self._paths)
        return f"CASE WHEN json_valid({column}) THEN json_extract_string({column}, [{paths}]) END"

    def value_sql(self, target: str, values: str = "j") -> str:
        """The raw extracted text of ``target`` (first non-null candidate)."""
        slots = self._index[target]
        parts = [f"nullif({values}[{slot}], '')" for slot in slots]
        return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"

    def column_sql(self, target: str, values: str = "j") -> str:
        """``target``'s final SQL expression (with its transform), aliased to the ECS name."""
        field = next(f for f in self.fields if f.target == target)
        expr = field.sql.replace("{}", self.value_sql(target, values))
        return f"{expr} AS {_quote_column(target)}"

    def columns_sql(self, values: str = "j") -> str:
        """All output columns, comma-separated (fields whose target starts with '_' skipped)."""
        return ",\n       ".join(
            self.column_sql(f.target, values) for f in self.fields if not f.target.startswith("_")
        )


def extra_sql(pairs: Sequence[tuple[str, str]]) -> str:
    """SQL for the ``extra`` JSON object from (dotted key, SQL value) pairs; nulls are dropped."""
    if not pairs:
        return "CAST(NULL AS VARCHAR)"
    args = ", ".join(f"{sql_string(key)}, {value}" for key, value in pairs)
    # A JSON merge patch deletes keys whose value is null (RFC 7386): that drops empty fields.
    return f"nullif(CAST(json_merge_patch('{{}}', json_object({args})) AS VARCHAR), '{{}}')"


def _quote_column(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
