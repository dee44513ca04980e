"""keep_original with ECS documents: the raw text is stored only where the columns cannot hold it.

The documents are built so that which of them the columns hold whole is known beforehand: the
store must keep ``event.original`` for exactly the others (``auto``), for the broken line only
(``failures``), or for every line (``all``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from loglens.config import Config, load_config
from loglens.pipeline import Pipeline
from loglens.store import open_store
from loglens.store.base import Query


def _web(n: int, **changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "@timestamp": f"2024-05-20T14:02:{n:02d}.512Z",
        "event": {"dataset": "nginx.access", "module": "nginx"},
        "source": {"ip": f"198.51.100.{n}"},
        "http": {
            "version": "1.1",
            "request": {"method": "GET", "referrer": "https://www.example.com/"},
            "response": {"status_code": 200, "body": {"bytes": 1000 + n}},
        },
        "url": {"original": f"/items/{n}?page=2", "path": f"/items/{n}"},
        "user_agent": {"original": "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101"},
    }
    doc.update(changes)
    return doc


# (document as JSON text, whether its columns hold it whole)
_DOCUMENTS: list[tuple[str, bool]] = [
    (json.dumps(_web(1), separators=(",", ":")), True),
    (json.dumps(_web(2)), True),  # ", " and ": " between items
    (json.dumps(_web(3, tags=["nginx", "web"], message="GET /items/3: ok")), True),
    (json.dumps(_web(4, **{"event.provider": "nginx", "host.name": "web-1"})), True),
    (json.dumps({"@timestamp": "2024-05-20T14:03:05Z", "event.dataset": "zeek.dns",
                 "source.ip": "10.0.0.5", "source.port": 53211, "destination.ip": "10.0.0.53",
                 "network.transport": "udp", "dns.question.name": "a.example.org"}), True),
    (json.dumps(_web(6, labels={"team": "payments"})), False),  # a key no column reads
    (json.dumps(_web(7, source={"ip": "999.1.1.1"})), False),  # not an address
    (json.dumps(_web(8, **{"@timestamp": "2024-05-20T16:02:08+02:00"})), False),  # offset
    (json.dumps(_web(9, **{"source.ip": "198.51.100.9"})), False),  # flat next to nested
    (json.dumps(_web(10, event={"dataset": "nginx.access", "module": None})), False),  # null
    (json.dumps(_web(11, event={"dataset": "nginx.access", "kind": "Alert"})), False),
    (json.dumps(_web(12, event={"dataset": "nginx.access", "category": ["web", "network"]})),
     False),
]  # fmt: skip
_BROKEN = '{"@timestamp": "2024-05-20T14:04:00Z", "event": {"dataset": "nginx.access"}, "url'


def _config(tmp_path: Path, keep: str) -> Config:
    store = tmp_path / keep / "s.duckdb"
    store.parent.mkdir(parents=True, exist_ok=True)
    overrides = {"store.url": f"duckdb:{store}", "ingest.keep_original": keep}
    return load_config(env={}, overrides=overrides)


def _ingest(config: Config, path: Path) -> dict[int, dict[str, Any]]:
    with Pipeline(config) as pipeline:
        (record,) = pipeline.ingest([str(path)]).inputs
    assert record.format == "ecs"
    fields = ["log.file.line", "event.original", "source.ip", "http.response.body.bytes"]
    with open_store(config.store.url) as store:
        rows = store.search(Query(size=None, fields=fields)).to_pylist()
    return {row["log.file.line"]: row for row in rows}


@pytest.fixture(scope="module")
def ecs_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ecs") / "events.ndjson"
    path.write_text("\n".join([*(doc for doc, _ in _DOCUMENTS), _BROKEN]) + "\n")
    return path


@pytest.mark.parametrize("keep", ["auto", "failures", "all"])
def test_raw_text_of_ecs_documents(tmp_path: Path, ecs_file: Path, keep: str) -> None:
    rows = _ingest(_config(tmp_path, keep), ecs_file)
    lines = ecs_file.read_text().splitlines()
    broken = len(lines)
    assert sorted(rows) == list(range(1, broken + 1))
    expected = {
        "auto": {n for n, (_, whole) in enumerate(_DOCUMENTS, 1) if not whole} | {broken},
        "failures": {broken},
        "all": set(rows),
    }[keep]
    kept = {n for n, row in rows.items() if row["event.original"] is not None}
    assert kept == expected
    for n in kept:
        assert rows[n]["event.original"] == lines[n - 1]  # the record exactly as read
    # A record stored without its raw text still has its values.
    assert (rows[1]["source.ip"], rows[1]["http.response.body.bytes"]) == ("198.51.100.1", 1001)


def test_parsers_without_the_column_keep_their_rule(tmp_path: Path) -> None:
    """Generic JSON has no ``_complete`` and is not lossless: ``auto`` keeps every raw text."""
    path = tmp_path / "app.json"
    lines = [json.dumps({"ts": f"2024-05-20T14:02:{n:02d}Z", "msg": "x", "n": n}) for n in range(5)]
    path.write_text("\n".join(lines) + "\n")
    config = _config(tmp_path, "auto")
    with Pipeline(config) as pipeline:
        (record,) = pipeline.ingest([str(path)]).inputs
    assert record.format == "json"
    with open_store(config.store.url) as store:
        rows = store.search(Query(size=None, fields=["event.original"])).to_pylist()
    assert sorted(r["event.original"] for r in rows) == sorted(lines)
