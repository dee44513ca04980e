"""loglens search: templates of a real store ranked by meaning, vectors kept in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from loglens.cli import cli
from loglens.config import load_config
from loglens.pipeline import Pipeline
from loglens.semantic import MiniLMEmbedder
from loglens.semantic.store_search import (
    ENTITY_FIELDS,
    EXAMPLE_FIELDS,
    TEMPLATE_FIELD,
    _checkpoint_name,
    load_embeddings,
    search_templates,
)
from loglens.store import open_store
from loglens.store.base import Query, Store

AUTH = """\
May 20 10:00:01 bastion01 sshd[100]: Failed password for root from 203.0.113.9 port 5001 ssh2
May 20 10:00:02 bastion01 sshd[101]: Failed password for admin from 203.0.113.9 port 5002 ssh2
May 20 10:00:03 bastion01 sshd[102]: Failed password for oracle from 203.0.113.7 port 5003 ssh2
May 20 10:05:00 bastion01 sshd[103]: Accepted publickey for alice from 10.0.0.5 port 6001 ssh2
May 20 10:06:00 db01 kernel: EXT4-fs error (device sda1): ext4_find_entry: reading directory block 0
May 20 10:07:00 db01 kernel: EXT4-fs error (device sdb2): ext4_find_entry: reading directory block 7
May 20 10:08:00 web01 CRON[200]: (root) CMD (/usr/local/bin/backup.sh --full)
May 20 10:09:00 web01 useradd[300]: new user: name=mallory, UID=1005, GID=1005, home=/home/mallory
May 20 10:10:00 web01 sshd[104]: Failed password for bob from 198.51.100.4 port 5004 \x1b]0;x\x07
"""


@pytest.fixture(scope="module")
def store_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("search")
    log = root / "auth.log"
    log.write_text(AUTH)
    url = f"duckdb:{root / 's.duckdb'}"
    config = load_config(env={}, overrides={"store.url": url, "ingest.year": 2024})
    with Pipeline(config) as pipeline:
        pipeline.ingest([str(log)])
    return url


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def test_the_answer_ranks_first_with_its_entities(store_url: str, embedder: MiniLMEmbedder) -> None:
    with open_store(store_url) as store:
        result = search_templates(store, "wrong password on login", top=3, embedder=embedder)
        disk = search_templates(store, "disk error", top=1, embedder=embedder)
    best = result.hits[0]
    assert best.template.text.startswith("Failed password for")
    assert best.template.events == 4
    assert best.entities["source.ip"][0] == ("203.0.113.9", 2)
    assert len(best.examples) == 3 and all("Failed password" in e["message"] for e in best.examples)
    assert "reading directory block" in disk.hits[0].template.text


def test_vectors_are_kept_in_the_store_and_reused(store_url: str, embedder: MiniLMEmbedder) -> None:
    with open_store(store_url) as store:
        search_templates(store, "new account", embedder=embedder)
        again = search_templates(store, "new account", embedder=embedder)
        saved = load_embeddings(store, embedder.name, embedder.dim)
        assert again.encoded == 0 and len(saved) == again.templates_searched
        # A damaged entry is not trusted: it is encoded again.
        state = store.checkpoint(_checkpoint_name(embedder.name))
        assert state is not None
        first = next(iter(state["vectors"]))
        state["vectors"][first] = "not base64!"
        store.save_checkpoint(_checkpoint_name(embedder.name), state)
        assert search_templates(store, "new account", embedder=embedder).encoded == 1


def test_a_filter_narrows_templates_and_counts(store_url: str, embedder: MiniLMEmbedder) -> None:
    with open_store(store_url) as store:
        result = search_templates(
            store, "wrong password", lucene="host.name:web01", embedder=embedder, top=5
        )
    assert result.templates_searched == 3  # web01's CRON, useradd and sshd templates
    best = result.hits[0]
    assert best.template.text.startswith("Failed password") and best.template.events == 1
    assert best.entities["host.name"] == [("web01", 1)]


def _per_hit(store: Store, template_id: str, lucene: str, examples: int = 2) -> tuple[Any, ...]:
    """What a hit showed when it was asked for on its own: count, entities, examples."""
    scope = f'{TEMPLATE_FIELD}:"{template_id}"' + ("" if lucene == "*" else f" AND ({lucene})")
    entities = {}
    for name in ENTITY_FIELDS:
        terms = store.terms(name, Query(text=scope, size=None), size=3)
        if terms.buckets:
            entities[name] = [(b.value, b.count) for b in terms.buckets]
    newest = Query(text=scope, size=examples, fields=list(EXAMPLE_FIELDS), descending=True)
    return store.count(Query(text=scope)), entities, store.search(newest).to_pylist()


@pytest.mark.parametrize("lucene", ["*", "host.name:bastion01", "source.ip:203.0.113.9"])
def test_hits_show_what_asking_per_hit_showed(
    store_url: str, embedder: MiniLMEmbedder, lucene: str
) -> None:
    with open_store(store_url) as store:
        result = search_templates(
            store, "failed login", lucene=lucene, top=10, examples=2, embedder=embedder
        )
        assert result.hits
        for hit in result.hits:
            shown = (hit.template.events, hit.entities, hit.examples)
            assert shown == _per_hit(store, hit.template.id, lucene), hit.template.text
    failed = next(h for h in result.hits if h.template.text.startswith("Failed password"))
    if lucene == "*":  # newest first; four events, two shown
        newest, next_newest = (e["message"] for e in failed.examples)
        assert "for bob " in newest and "for oracle " in next_newest
        assert failed.entities["user.name"][0] == ("admin", 1)


def test_cli_prints_templates_without_control_characters(store_url: str) -> None:
    result = CliRunner().invoke(cli, ["--store", store_url, "search", "failed login", "-n", "2"])
    assert result.exit_code == 0, result.output
    assert "Failed password for" in result.output
    assert "\x1b" not in result.output and "\\x1b" in result.output
    as_json = CliRunner().invoke(
        cli, ["--store", store_url, "search", "disk", "-n", "1", "-o", "json"]
    )
    assert as_json.exit_code == 0
    assert '"template": "EXT4-fs error (device <*>): ext4_find_entry:' in as_json.output


def test_a_store_without_templates_says_so(tmp_path: Path) -> None:
    url = f"duckdb:{tmp_path / 'empty.duckdb'}"
    result = CliRunner().invoke(cli, ["--store", url, "search", "anything"])
    assert result.exit_code == 0
    assert "no template answers the question (0 searched)" in result.output
