"""Ingesting ECS documents with the shaped reading stores what the general reading stores.

Most records of the file have the layout of its first ones and are read in one pass; the others
(another key, an array, a broken line, ...) are read again by the general SQL in the same batch.
The stored events must not depend on which reading took a record.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import loglens.batch_sql as batch_sql_module
from loglens.config import load_config
from loglens.parse.base import ParseContext
from loglens.parse.json_docs import EcsJsonParser
from loglens.pipeline import IngestRecord, Pipeline
from loglens.schema import FIELDS
from loglens.store import open_store
from loglens.store.base import Query

COMPACT = (",", ":")


def _web(n: int, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@timestamp": f"2024-05-20T14:{n // 60:02d}:{n % 60:02d}.512Z",
        "event": {"dataset": "nginx.access", "module": "nginx"},
        "source": {"ip": f"198.51.100.{n % 250}"},
        "http": {"request": {"method": "GET"}, "response": {"status_code": 200}},
        "url": {"original": f"/items/{n}", "path": f"/items/{n}"},
    }
    doc.update(changes)
    return doc


def _lines() -> list[str]:
    odd = {
        45: _web(45, labels={"team": "payments"}),  # a top-level key no path reads
        50: _web(50, tags=["a", "b"]),  # an array: the general reading (held whole)
        55: _web(55, source={"ip": "999.1.1.1"}),
        60: _web(60, url={"original": "-", "path": " /x "}),
        65: _web(65, event={"dataset": "nginx.access", "module": None}),
        70: _web(70, user_agent={"original": "Mozilla/5.0 (Linux; Android 14) é"}),
    }
    lines = [json.dumps(odd.get(n, _web(n)), separators=COMPACT) for n in range(1, 90)]
    lines[74] = json.dumps(_web(75))  # spaced items
    lines[79] = '{"@timestamp": "2024-05-20T14:04:00Z", "url'  # cut off
    lines.insert(84, "")  # a blank line
    return lines


def _ingest(
    tmp_path: Path, name: str, path: Path, **settings: object
) -> tuple[IngestRecord, list[dict[str, Any]]]:
    store = tmp_path / name / "s.duckdb"
    config = load_config(env={}, overrides={"store.url": f"duckdb:{store}", **settings})
    with Pipeline(config) as pipeline:
        (record,) = pipeline.ingest([str(path)]).inputs
    fields = [f.name for f in FIELDS if f.name != "event.ingested"]
    with open_store(config.store.url) as store_:
        rows = store_.search(Query(size=None, fields=fields)).to_pylist()
    return record, sorted(rows, key=lambda row: row["log.file.line"])


def test_stored_events_do_not_depend_on_the_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.ndjson"
    lines = _lines()
    path.write_text("\n".join(lines) + "\n")
    record, shaped_rows = _ingest(tmp_path, "shaped", path)
    assert (record.format, record.records, record.blank) == ("ecs", 90, 1)
    assert (record.parsed, record.failed) == (88, 1)
    # Without the shaped reading (every record through the general SQL): the same events.
    monkeypatch.setattr(EcsJsonParser, "_select_shaped", lambda self, ctx, paths: None)
    _, general_rows = _ingest(tmp_path, "general", path)
    assert shaped_rows == general_rows
    kept = {row["log.file.line"] for row in shaped_rows if row["event.original"] is not None}
    assert kept == {45, 55, 60, 65, 80}  # not held whole by the columns, or broken
    by_line = {row["log.file.line"]: row for row in shaped_rows}
    assert by_line[70]["user_agent.original"].endswith("é")
    assert by_line[1]["url.path"] == "/items/1" and by_line[1]["event.original"] is None


@pytest.mark.parametrize(
    "settings",
    [
        {"ingest.host": "collector-1"},
        {"ingest.keep_original": "all"},
        {"ingest.keep_original": "failures", "ingest.max_line_bytes": 1024},
    ],
    ids=["input-host", "keep-all", "keep-failures-and-truncated"],
)
def test_carried_ids_and_text_match_the_joined_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: dict[str, object]
) -> None:
    """The shaped reading carries each record's id, line and kept text with its row; the
    general reading's rows are joined to the batch for them. Both store the same events,
    whatever the input's host and ``keep_original`` say."""
    lines = _lines()
    lines[20] = json.dumps(_web(21, host={"name": "web-7"}), separators=COMPACT)  # its own host
    lines[30] = json.dumps(_web(31, user_agent={"original": "x" * 1200}), separators=COMPACT)
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(lines) + "\n")
    carried: list[str] = []
    run = batch_sql_module.run

    def spying_run(con: Any, sql: str) -> None:
        if f"AS {batch_sql_module.CARRIED}" in sql:
            carried.append(sql)
        run(con, sql)

    monkeypatch.setattr(batch_sql_module, "run", spying_run)
    _, shaped_rows = _ingest(tmp_path, "shaped", path, **settings)
    assert carried, "the shaped reading carried nothing"
    monkeypatch.setattr(EcsJsonParser, "_select_shaped", lambda self, ctx, paths: None)
    _, general_rows = _ingest(tmp_path, "general", path, **settings)
    assert shaped_rows == general_rows
    by_line = {row["log.file.line"]: row for row in shaped_rows}
    assert len({row["event.id"] for row in shaped_rows}) == len(shaped_rows) == 89
    if "ingest.host" in settings:
        assert by_line[21]["host.name"] == "web-7" and by_line[1]["host.name"] == "collector-1"
    if settings.get("ingest.keep_original") == "all":
        assert all(row["event.original"] is not None for row in shaped_rows)
    if "ingest.max_line_bytes" in settings:
        assert "_truncated" in by_line[31]["tags"]


def test_the_file_is_read_with_its_layout() -> None:
    """The test above means something only if the sample gives a shaped reading."""
    ctx = ParseContext(source="events.ndjson", sample=tuple(_lines()[:40]))
    fast = EcsJsonParser().fast_path(ctx)
    assert fast is not None and fast.shaped is not None


def test_an_input_that_stops_looking_like_its_sample_stops_the_shaped_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a batch it mostly cannot read, the shaped reading is not tried again."""
    lines = [json.dumps(_web(n), separators=COMPACT) for n in range(100)]
    lines += [json.dumps(_web(n)) for n in range(100, 400)]  # spaced items from here on
    path = tmp_path / "events.ndjson"
    path.write_text("\n".join(lines) + "\n")
    shaped_runs: list[str] = []
    run = batch_sql_module.run

    def counting_run(con: Any, sql: str) -> None:
        if "AS _shaped" in sql:
            shaped_runs.append(sql)
        run(con, sql)

    monkeypatch.setattr(batch_sql_module, "run", counting_run)
    store = tmp_path / "s.duckdb"
    overrides = {"store.url": f"duckdb:{store}", "ingest.batch_lines": 100}
    with Pipeline(load_config(env={}, overrides=overrides)) as pipeline:
        (record,) = pipeline.ingest([str(path)]).inputs
    assert (record.parsed, record.failed) == (400, 0)
    # Batch 1 is read shaped; batch 2 is not (and read again); batches 3 and 4 skip it.
    assert len(shaped_runs) == 2
