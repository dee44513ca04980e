"""The ECS parser's shaped reading: records with the sample's layout, read in one pass.

The harness (``run_parser``) checks on every call that a record the shaped reading takes gets
exactly the row of the full reading; these tests make sure it takes the usual records and
turns away every record whose text it could misread.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loglens.parse.base import ParseContext
from loglens.parse.json_docs import EcsJsonParser
from tests.parser_harness import run_parser, shaped

ECS = EcsJsonParser()
CTX = ParseContext(source="docs.json", reference_time=datetime(2024, 6, 1, tzinfo=UTC))
DATA = Path(__file__).parent.parent / "data" / "json"
COMPACT = (",", ":")


def _web(i: int, *, body: bool = True) -> dict[str, Any]:
    """A web access document as one program writes them (``body`` is left out of some)."""
    response: dict[str, Any] = {"status_code": [200, 404, 304][i % 3]}
    if body:
        response["body"] = {"bytes": 100 + i}
    return {
        "@timestamp": f"2024-05-20T14:02:{i % 60:02d}.512Z",
        "event": {"dataset": "nginx.access", "module": "nginx"},
        "source": {"ip": f"198.51.100.{i % 250}", "port": 40000 + i},
        "http": {"version": "1.1", "request": {"method": "GET"}, "response": response},
        "url": {"original": f"/a/{i}?b=1", "path": f"/a/{i}"},
        "user_agent": {"original": "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101"},
    }


def _docs(count: int, separators: tuple[str, str] = COMPACT) -> list[str]:
    return [json.dumps(_web(i, body=i % 4 != 0), separators=separators) for i in range(count)]


SAMPLE = _docs(40)
PLANNED = replace(CTX, sample=tuple(SAMPLE))


def _complete(records: list[str], ctx: ParseContext = PLANNED) -> list[bool]:
    return [bool(row["_complete"]) for row in run_parser(ECS, records, ctx)]


@pytest.mark.parametrize("separators", [COMPACT, (", ", ": ")], ids=["compact", "spaced"])
def test_takes_every_record_with_the_sample_layout(separators: tuple[str, str]) -> None:
    records = _docs(300, separators)
    ctx = replace(CTX, sample=tuple(records[:40]))
    assert shaped(ECS, records, ctx) == [True] * len(records)
    assert _complete(records, ctx) == [True] * len(records)  # and equal to the full reading


def _edited(change: str) -> str:
    """The first sample document with one textual change (``old=>new``)."""
    old, new = change.split("=>")
    text = json.dumps(_web(1), separators=COMPACT)
    assert old in text, old
    return text.replace(old, new, 1)


# Each change leaves the document valid JSON; the shaped reading must not take it (some are
# complete all the same: the general reading decides).
TURNED_AWAY = {
    "escaped slash": '"/a/1?b=1"=>"\\/a\\/1?b=1"',
    "escaped letter": '"GET"=>"G\\u0045T"',
    "array": '"198.51.100.1"=>["198.51.100.1"]',
    "text like an array": '"/a/1?b=1"=>"[1]"',
    "text like an object": '"/a/1?b=1"=>"{}"',
    "object for a number": '"status_code":404=>"status_code":{"a":1}',
    "array for a number": '"status_code":404=>"status_code":[404]',
    "dash": '"GET"=>"-"',
    "empty text": '"GET"=>""',
    "leading space": '"GET"=>" GET"',
    "trailing space": '"GET"=>"GET "',
    "unicode space": '"GET"=>"GET\u00a0"',
    "text outside ASCII": '"nginx.access"=>"nginx.accès"',
    "null": '"port":40001=>"port":null',
    "unread key": '"nginx"}=>"nginx","provider":"x","original":"y"}',
    "unknown top-level key": '{"@timestamp"=>{"ecs":{"version":"8.11"},"@timestamp"',
    "flat key beside the nested one": '"source":{=>"source.ip":"1.2.3.4","source":{',
    "repeated key": '"nginx"}=>"nginx","module":"nginx"}',
    "members in another order": (
        '"dataset":"nginx.access","module":"nginx"=>"module":"nginx","dataset":"nginx.access"'
    ),
    "number as text": '"status_code":404=>"status_code":"404"',
    "text as a number": '"version":"1.1"=>"version":1.1',
    "boolean for text": '"version":"1.1"=>"version":true',
    "first member missing": '"@timestamp":"2024-05-20T14:02:01.512Z",=>',
    "spaces between items": '","event"=>", "event"',
    "empty object": '"port":40001}=>"port":40001,"geo":{}}',
}


# Other values, and members some documents lack, are taken.
TAKEN = {
    "optional member missing": ',"body":{"bytes":101}=>',
    "other values": '"198.51.100.1"=>"203.0.113.250"',
    "colon and brace inside text": '"/a/1?b=1"=>"/a:{x}?b=1"',
    "fraction for a count": '"bytes":101=>"bytes":1.5',
}
_CASES = {
    **{k: (v, False) for k, v in TURNED_AWAY.items()},
    **{k: (v, True) for k, v in TAKEN.items()},
}


@pytest.mark.parametrize(("change", "taken"), _CASES.values(), ids=_CASES.keys())
def test_takes_the_layout_and_turns_away_what_it_could_misread(change: str, taken: bool) -> None:
    record = _edited(change)
    json.loads(record)
    records = [*SAMPLE[:3], record]
    assert shaped(ECS, records, PLANNED) == [True, True, True, taken]
    run_parser(ECS, records, PLANNED)  # the planned and shaped readings agree with the full one


def test_shaped_record_with_a_value_a_column_changes_is_not_complete() -> None:
    records = [_edited('"bytes":101=>"bytes":1.5'), _edited('"status_code":404=>"status_code":0')]
    assert shaped(ECS, records, PLANNED) == [True, True]
    assert _complete(records) == [False, True]


def test_documents_shipped_by_filebeat_are_read_shaped_and_whole() -> None:
    """Beats add their own metadata to every document (agent, ecs.version, log.offset, ...):
    held in extra, it neither keeps such documents out of the shaped reading nor makes them
    keep their raw text."""
    shipped = []
    for i in range(60):
        doc = _web(i)
        doc["agent"] = {"type": "filebeat", "version": "8.13.4", "id": "3f2a", "name": "web-1"}
        doc["ecs"] = {"version": "8.11.0"}
        doc["log"] = {"offset": 300 * i, "file": {"path": "/var/log/nginx/access.log"}}
        doc["input"] = {"type": "filestream"}
        doc["data_stream"] = {"type": "logs", "dataset": "nginx.access", "namespace": "default"}
        shipped.append(json.dumps(doc, separators=COMPACT))
    ctx = replace(CTX, sample=tuple(shipped[:40]))
    assert shaped(ECS, shipped, ctx) == [True] * 60
    rows = run_parser(ECS, shipped, ctx)
    assert all(row["_complete"] for row in rows)
    assert json.loads(rows[7]["extra"])["log.offset"] == "2100"


def test_no_shaped_reading_when_the_sample_has_no_common_layout() -> None:
    # The test file's documents are each written differently.
    filebeat = [line for line in (DATA / "ecs_documents.ndjson").read_text().splitlines() if line]
    assert shaped(ECS, filebeat, replace(CTX, sample=tuple(filebeat))) is None
    # Two spellings: the one most of the sample has is learnt.
    mixed = [json.dumps(_web(i), separators=COMPACT if i % 3 else None) for i in range(40)]
    flags = shaped(ECS, mixed, replace(CTX, sample=tuple(mixed)))
    assert flags == [i % 3 != 0 for i in range(40)]
    mixed = [json.dumps(_web(i), separators=COMPACT if i % 3 == 0 else None) for i in range(40)]
    flags = shaped(ECS, mixed, replace(CTX, sample=tuple(mixed)))
    assert flags == [i % 3 != 0 for i in range(40)]


_TRICKY_VALUES = st.one_of(
    st.sampled_from(
        ["-", "", " x", "x ", "{}", "[1]", "a:b", "é", "x\u00a0", "1.1", "404", '{"a":1}']
    ),
    st.integers(-3, 70000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.lists(st.sampled_from(["a", "10.0.0.1"]), max_size=2),
    st.dictionaries(st.sampled_from(["a", "ip"]), st.sampled_from(["x", 1]), max_size=2),
    st.text(max_size=5),
)
_PATHS = [
    ("@timestamp",), ("event", "dataset"), ("event", "kind"), ("source", "ip"),
    ("source", "port"), ("http", "response", "status_code"), ("http", "version"),
    ("url", "original"), ("user_agent", "original"), ("event", "outcome"), ("labels", "x"),
]  # fmt: skip


def _with(doc: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    node = doc
    for key in path[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            return doc
        node = child
    node[path[-1]] = value
    return doc


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    changes=st.lists(
        st.lists(st.tuples(st.sampled_from(_PATHS), _TRICKY_VALUES), max_size=3),
        min_size=1,
        max_size=12,
    ),
    compact=st.booleans(),
)
def test_arbitrary_values_read_as_the_full_reading_reads_them(
    changes: list[list[tuple[tuple[str, ...], Any]]], compact: bool
) -> None:
    records = []
    for i, edits in enumerate(changes):
        doc = _web(i)
        for path, value in edits:
            doc = _with(doc, path, value)
        records.append(json.dumps(doc, separators=COMPACT if compact else None))
    run_parser(ECS, records, PLANNED)  # asserts the shaped rows equal the full reading's
    flags = shaped(ECS, records, PLANNED)
    assert flags is not None
    for flag, edits in zip(flags, changes, strict=True):
        if compact and not edits:
            assert flag  # an unchanged document is always taken
