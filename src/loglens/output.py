"""Writing results for people and programs: aligned tables, JSON lines, CSV.

Log content is hostile. In a terminal, control characters (ANSI escapes can rewrite the screen or
the window title) are shown as visible escapes. In CSV, a cell starting with ``=``, ``+``, ``-``,
``@``, tab or carriage return is prefixed with ``'`` so a spreadsheet shows it as text instead of
running it as a formula (OWASP's CSV injection advice). JSON output is escaped by the encoder.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO

from loglens.store.base import IngestRecord

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_terminal_text(value: str) -> str:
    """``value`` with control characters shown as escapes (``\\x1b``), never interpreted."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", value).replace("\n", "\\n")


def neutralise_csv_cell(value: object) -> object:
    """A CSV cell that a spreadsheet will not evaluate as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def plain_value(value: object) -> object:
    """A JSON-friendly form of a value read from the store."""
    if isinstance(value, datetime):
        text = value.isoformat()
        return text.replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def display_value(value: object) -> str:
    if value is None:
        return ""
    plain = plain_value(value)
    if isinstance(plain, list):
        return ",".join(display_value(v) for v in plain)
    return safe_terminal_text(str(plain))


def to_ecs_document(row: Mapping[str, Any]) -> dict[str, Any]:
    """Nest dotted names (``source.ip``) into ECS objects; merge ``extra``; drop empty fields."""
    document: dict[str, Any] = {}
    flat = {k: v for k, v in row.items() if k != "extra"}
    extra = row.get("extra")
    if isinstance(extra, str) and extra:
        try:
            loaded = json.loads(extra)
            if isinstance(loaded, dict):
                flat = {**{k: v for k, v in loaded.items()}, **flat}
        except ValueError:
            flat["extra"] = extra
    for name, value in flat.items():
        if value is None or value == []:
            continue
        if name == "@timestamp":
            document[name] = plain_value(value)
            continue
        parts = name.split(".")
        node = document
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = plain_value(value)
    return document


def write_jsonl(rows: Iterable[Mapping[str, Any]], out: TextIO, *, nested: bool = True) -> int:
    count = 0
    for row in rows:
        doc = to_ecs_document(row) if nested else {k: plain_value(v) for k, v in row.items()}
        out.write(json.dumps(doc, ensure_ascii=False, default=str) + "\n")
        count += 1
    return count


def write_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str], out: TextIO) -> int:
    writer = csv.writer(out)
    writer.writerow([neutralise_csv_cell(c) for c in columns])
    for row in rows:
        cells = []
        for column in columns:
            value = plain_value(row.get(column))
            if isinstance(value, list):
                value = ",".join(str(v) for v in value)
            cells.append(neutralise_csv_cell("" if value is None else value))
        writer.writerow(cells)
    return len(rows)


def write_table(
    rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str],
    out: TextIO,
    *,
    max_width: int = 80,
    right_align: Iterable[str] = (),
) -> None:
    """An aligned plain-text table; long cells are cut with an ellipsis."""
    numeric = set(right_align)
    cells = [[_cut(display_value(row.get(c)), max_width) for c in columns] for row in rows]
    widths = [len(c) for c in columns]
    for line in cells:
        widths = [max(w, len(v)) for w, v in zip(widths, line, strict=True)]
    header = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()
    out.write(header + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for line in cells:
        parts = [
            v.rjust(w) if c in numeric else v.ljust(w)
            for c, v, w in zip(columns, line, widths, strict=True)
        ]
        out.write("  ".join(parts).rstrip() + "\n")


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def format_count(value: int) -> str:
    return f"{value:,}"


def describe_ingest(record: IngestRecord) -> str:
    """One line of ingest accounting: read = parsed + raw + duplicates + blank (+ headers)."""
    parts = [
        f"read {format_count(record.records)} = parsed {format_count(record.parsed)}",
        f"raw {format_count(record.failed)}",
        f"duplicates {format_count(record.duplicates)}",
        f"blank {format_count(record.blank)}",
    ]
    if record.headers:
        parts.append(f"headers {format_count(record.headers)}")
    if record.rejected:
        parts.append(f"rejected {format_count(record.rejected)}")
    balance = "ok" if record.balanced else "UNBALANCED"
    truncated = (
        f"  ({format_count(record.truncated)} cut at the line limit)" if record.truncated else ""
    )
    return (
        f"{safe_terminal_text(record.source)}  [{record.format}/{record.container}]  "
        + " + ".join(parts)
        + f"{truncated}  {balance}"
    )
