"""Templates in the store: mined after ingest, ids stable across ingests, state saved as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from loglens.config import Config, load_config
from loglens.pipeline import Pipeline
from loglens.schema import TEMPLATE_ID
from loglens.store.duckdb import DuckDBStore
from loglens.templates.stored import (
    STATE_NAME,
    list_templates,
    load_miner,
    mine_store,
    template_texts,
)

AUTH = Path(__file__).parents[1] / "data" / "syslog" / "auth.log"


def _config(url: str, **overrides: object) -> Config:
    return load_config(env={}, overrides={"store.url": url, "ingest.year": 2024, **overrides})


def _ids(store: DuckDBStore) -> dict[str, str | None]:
    rows = store.sql(f'SELECT "event.id", "{TEMPLATE_ID}" FROM events WHERE message IS NOT NULL')
    return dict(zip(rows.column(0).to_pylist(), rows.column(1).to_pylist(), strict=True))


def test_ingest_mines_templates_and_keeps_ids_across_appended_data(tmp_path: Path) -> None:
    lines = AUTH.read_text(encoding="utf-8").splitlines(keepends=True)
    log = tmp_path / "auth.log"
    log.write_text("".join(lines[:100]), encoding="utf-8")
    url = f"duckdb:{tmp_path / 's.duckdb'}"
    with Pipeline(_config(url)) as pipeline:
        first = pipeline.ingest([str(log)])
    with DuckDBStore(str(tmp_path / "s.duckdb")) as store:
        before = _ids(store)
        state = store.checkpoint(STATE_NAME)
    assert first.templates is not None and first.templates.events == len(before) > 90
    assert state is not None and state["format"] == "loglens.templates"  # JSON, not a pickle
    assert None not in before.values()

    log.write_text("".join(lines), encoding="utf-8")  # the file grew
    with Pipeline(_config(url)) as pipeline:
        second = pipeline.ingest([str(log)])
    assert second.templates is not None
    with DuckDBStore(str(tmp_path / "s.duckdb")) as store:
        after = _ids(store)
        miner = load_miner(store)
        texts = template_texts(store)
        listed = list_templates(store)
    # A known message keeps its template: the same id, or the id of the template that
    # generalised it (the old id is an alias in the state).
    for event_id, template in before.items():
        assert after[event_id] == miner.resolve(str(template))
    assert None not in after.values()
    assert second.templates.events == len(after) - len(before)  # only new events were mined
    assert set(after.values()) <= set(texts)
    assert sum(t.events for t in listed) == len(after)
    by_text = {t.text: t for t in listed}
    accepted = "Accepted publickey for alice from <*> port <*> ssh2: ED25519 SHA<*>"
    assert accepted in by_text, sorted(by_text)
    assert by_text[accepted].example is not None
    assert by_text[accepted].example.startswith("Accepted publickey for ")
    first_seen = [t.first_seen for t in listed]
    assert all(t is not None for t in first_seen)


def test_generalised_template_renames_stored_events(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text("worker alpha ready\nworker alpha ready\n", encoding="utf-8")
    url = f"duckdb:{tmp_path / 's.duckdb'}"
    config = _config(url, **{"ingest.format": "text"})
    with Pipeline(config) as pipeline:
        pipeline.ingest([str(log)])
        store = pipeline.store
        assert isinstance(store, DuckDBStore)
        (old,) = set(_ids(store).values())
        log.write_text("worker alpha ready\nworker alpha ready\nworker 17 ready\n", "utf-8")
        report = pipeline.ingest([str(log)])
        assert report.templates is not None and report.templates.renamed_events == 2
        ids = set(_ids(store).values())
        (listed,) = list_templates(store)
        resolved = load_miner(store).resolve(str(old))
    assert ids == {listed.id} and listed.id != old
    assert listed.text == "worker <*> ready" and listed.events == 3
    assert resolved == listed.id


def test_mining_in_small_slices_covers_every_message(tmp_path: Path) -> None:
    with DuckDBStore(str(tmp_path / "s.duckdb")) as store:
        messages = [f"user u{i % 7} logged in from 10.0.0.{i}" for i in range(50)]
        messages += [f"disk {i} is full" for i in range(30)]
        store.write(pa.table({"message": messages, "event.dataset": ["app.log"] * 80}))
        store.write(pa.table({"url.path": ["/index.html"], "event.dataset": ["web"]}))
        report = mine_store(store, batch_messages=7)
        again = mine_store(store, batch_messages=7)
        listed = list_templates(store)
        new = list_templates(store, top=1)
    assert report.messages == 80 and report.events == 80
    assert again.messages == 0 and again.events == 0  # incremental: nothing left to mine
    assert {t.text for t in listed} == {"user u<*> logged in from <*>", "disk <*> is full"}
    assert [t.events for t in listed] == [50, 30]
    assert len(new) == 1


def test_bad_state_is_a_clear_error(tmp_path: Path) -> None:
    from loglens.templates import TemplateStateError

    with DuckDBStore(str(tmp_path / "s.duckdb")) as store:
        store.write(pa.table({"message": ["hello world"]}))
        store.save_checkpoint(STATE_NAME, {"format": "something else"})
        with pytest.raises(TemplateStateError, match="not a template state"):
            mine_store(store)


def test_state_is_plain_json(tmp_path: Path) -> None:
    with DuckDBStore(str(tmp_path / "s.duckdb")) as store:
        store.write(pa.table({"message": ["service started", "service stopped"]}))
        mine_store(store)
        raw = store.sql("SELECT value FROM checkpoints WHERE name = ?", [STATE_NAME])
    document = json.loads(raw.column(0)[0].as_py())
    assert {t["text"] for t in document["templates"]} == {"service started", "service stopped"}
