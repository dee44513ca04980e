"""Canonical events as cluster documents and back, and the index template loglens writes with.

A document is the ECS event as nested objects (``{"source": {"ip": "10.0.0.5"}}``), the way
Beats and Elastic Agent write it, so Kibana's ECS-aware views work on what loglens writes. Its
``_id`` is ``event.id``: a repeated or retried bulk request overwrites nothing and adds nothing.

Reading back accepts what real indices hold: nested or dotted keys (or both), a date as text or
epoch milliseconds, a number as text, one keyword where an array is expected. Keys the schema
lacks go to ``extra`` (a JSON object with dotted keys), as the file parsers do.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from loglens.schema import COLUMNS, EVENT_SCHEMA, FIELD_BY_NAME, Kind

_MAPPING_TYPES: dict[Kind, dict[str, Any]] = {
    Kind.KEYWORD: {"type": "keyword", "ignore_above": 8191},
    Kind.TEXT: {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 8191}}},
    Kind.LONG: {"type": "long"},
    Kind.IP: {"type": "ip"},
    Kind.DATE: {"type": "date", "format": "strict_date_optional_time||epoch_millis"},
    Kind.KEYWORD_LIST: {"type": "keyword", "ignore_above": 8191},
    # The other fields of a source, as JSON text: searchable by its words, never a mapping
    # explosion (a field per key of every source format).
    Kind.JSON: {"type": "text"},
}


def mappings() -> dict[str, Any]:
    """ECS-compatible mappings of the canonical schema (nested ``properties``)."""
    root: dict[str, Any] = {}
    for field in FIELD_BY_NAME.values():
        node = root
        *parents, leaf = field.name.split(".")
        for part in parents:
            node = node.setdefault(part, {"properties": {}})["properties"]
        node[leaf] = dict(_MAPPING_TYPES[field.kind])
    # ECS keeps the raw record but does not index it: free text searches the parsed fields.
    root["event"]["properties"]["original"] = {"type": "keyword", "index": False,
                                               "doc_values": False}  # fmt: skip
    return {"dynamic": False, "properties": root}


def index_template(patterns: Sequence[str], *, priority: int = 200) -> dict[str, Any]:
    """A composable index template body for ``PUT _index_template/NAME``."""
    return {
        "index_patterns": list(patterns),
        "priority": priority,
        "template": {"settings": {"number_of_replicas": 0}, "mappings": mappings()},
        "_meta": {"managed_by": "loglens"},
    }


def document(row: Mapping[str, Any]) -> dict[str, Any]:
    """One canonical row (column → value) as a nested ECS document; empty values left out."""
    doc: dict[str, Any] = {}
    for name, value in row.items():
        if value is None or (isinstance(value, list) and not value):
            continue
        if isinstance(value, datetime):
            value = _iso(value)
        node = doc
        *parents, leaf = name.split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):  # a leaf already there: keep the dotted key
                node = doc
                leaf = name
                break
            node = child
        node[leaf] = value
    return doc


def documents(table: pa.Table) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(event.id, document)`` for every row of a canonical table."""
    for batch in table.to_batches(max_chunksize=10_000):
        for row in batch.to_pylist():
            yield str(row["event.id"]), document(row)


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def flatten(source: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys for a document's leaves (arrays are leaves)."""
    flat: dict[str, Any] = {}
    for key, value in source.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def table(sources: Iterable[Mapping[str, Any]], columns: Sequence[str] = COLUMNS) -> pa.Table:
    """Canonical columns from documents' ``_source``; what the schema lacks goes to ``extra``."""
    wanted = [c for c in columns if c in FIELD_BY_NAME]
    values: dict[str, list[Any]] = {c: [] for c in wanted}
    for source in sources:
        flat = flatten(source)
        for name in wanted:
            if name == "extra":
                values[name].append(_extra(flat))
            else:
                values[name].append(_convert(flat.get(name), FIELD_BY_NAME[name].kind))
    return pa.table(
        {c: pa.array(values[c], type=EVENT_SCHEMA.field(c).type) for c in wanted},
        schema=pa.schema([EVENT_SCHEMA.field(c) for c in wanted]),
    )


def _extra(flat: Mapping[str, Any]) -> str | None:
    known = {k: v for k, v in flat.items() if k not in FIELD_BY_NAME and v is not None}
    stored = flat.get("extra")
    if isinstance(stored, str):
        try:
            parsed = json.loads(stored)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            known = {**parsed, **known}
    return json.dumps(known, ensure_ascii=False, sort_keys=True) if known else None


def _convert(value: Any, kind: Kind) -> Any:
    if value is None:
        return None
    if kind is Kind.KEYWORD_LIST:
        items = value if isinstance(value, list) else [value]
        return [str(v) for v in items if v is not None]
    if isinstance(value, list):  # one value where an array came: keep the first
        value = value[0] if value else None
        if value is None:
            return None
    if kind is Kind.LONG:
        try:
            return int(value) if not isinstance(value, float) else round(value)
        except (TypeError, ValueError):
            return None
    if kind is Kind.DATE:
        return parse_date(value)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def parse_date(value: Any) -> datetime | None:
    """A date as documents hold it: ISO 8601 text or epoch milliseconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
