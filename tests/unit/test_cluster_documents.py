from __future__ import annotations

import json
from datetime import UTC, datetime

import pyarrow as pa

from loglens.cluster.documents import document, documents, flatten, mappings, parse_date, table
from loglens.schema import COLUMNS, EVENT_SCHEMA, FIELD_BY_NAME

T0 = datetime(2024, 5, 20, 14, 2, 11, 512345, tzinfo=UTC)


def _row(**values: object) -> dict[str, object]:
    return {c: values.get(c) for c in COLUMNS}


def test_a_row_becomes_a_nested_document_without_empty_values() -> None:
    row = _row(**{"@timestamp": T0, "event.id": "abc", "source.ip": "10.0.0.5",
                  "source.port": 51000, "tags": ["a"], "extra": '{"zeek.uid": "C1"}'})  # fmt: skip
    assert document(row) == {
        "@timestamp": "2024-05-20T14:02:11.512345Z",
        "event": {"id": "abc"},
        "source": {"ip": "10.0.0.5", "port": 51000},
        "tags": ["a"],
        "extra": '{"zeek.uid": "C1"}',
    }


def test_documents_round_trip_to_the_same_table() -> None:
    rows = [
        _row(**{"@timestamp": T0, "event.id": "1", "host.name": "web01", "tags": ["x", "y"],
                "http.response.status_code": 404, "message": "GET /a", "extra": '{"k": 1}'}),
        _row(**{"@timestamp": T0, "event.id": "2", "event.original": "raw line"}),
    ]  # fmt: skip
    original = pa.Table.from_pylist(rows, schema=EVENT_SCHEMA)
    back = table(doc for _, doc in documents(original))
    assert [i for i, _ in documents(original)] == ["1", "2"]
    assert back.to_pylist() == original.to_pylist()


def test_real_shapes_are_read_dotted_nested_epoch_and_text_numbers() -> None:
    sources = [
        {"@timestamp": 1716213731512, "source.ip": "10.0.0.5", "source": {"port": "443"},
         "tags": "single", "agent": {"name": "fb-1"}, "event": {"category": ["web", "network"]}},
    ]  # fmt: skip
    (row,) = table(sources).to_pylist()
    assert row["@timestamp"] == datetime(2024, 5, 20, 14, 2, 11, 512000, tzinfo=UTC)
    assert (row["source.ip"], row["source.port"], row["tags"]) == ("10.0.0.5", 443, ["single"])
    assert row["event.category"] == "web"  # the schema holds one category; the first is kept
    assert json.loads(row["extra"]) == {"agent.name": "fb-1"}


def test_selected_columns_only() -> None:
    result = table([{"host": {"name": "a"}, "user": {"name": "b"}}], ["user.name"])
    assert result.column_names == ["user.name"] and result.to_pylist() == [{"user.name": "b"}]


def test_mapping_types_follow_the_schema() -> None:
    props = mappings()["properties"]
    assert props["source"]["properties"]["ip"] == {"type": "ip"}
    assert props["@timestamp"]["type"] == "date"
    assert props["http"]["properties"]["response"]["properties"]["status_code"] == {"type": "long"}
    assert props["message"]["type"] == "text"
    assert props["event"]["properties"]["original"]["index"] is False
    leaves = flatten({k: v for k, v in _leaf_types(props).items()})
    assert set(leaves) == set(FIELD_BY_NAME)


def _leaf_types(props: dict[str, object], prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in props.items():
        assert isinstance(value, dict)
        if "properties" in value:
            out.update(_leaf_types(value["properties"], f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value["type"]
    return out


def test_dates() -> None:
    assert parse_date("2024-05-20T16:02:11+02:00") == datetime(2024, 5, 20, 14, 2, 11, tzinfo=UTC)
    assert parse_date("2024-05-20T14:02:11") == datetime(2024, 5, 20, 14, 2, 11, tzinfo=UTC)
    assert parse_date("yesterday") is None and parse_date(None) is None
