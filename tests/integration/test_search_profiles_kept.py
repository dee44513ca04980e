"""loglens search keeps each template's entities and examples in the store, and renews them
when the template's events change."""

from __future__ import annotations

from pathlib import Path

import pytest

from loglens.config import load_config
from loglens.pipeline import Pipeline
from loglens.semantic import MiniLMEmbedder, profile_cache
from loglens.semantic.profile_cache import CHECKPOINT
from loglens.semantic.store_search import (
    ENTITY_FIELDS,
    EXAMPLE_FIELDS,
    SearchResult,
    search_templates,
)
from loglens.store import open_store
from loglens.store.duckdb import DuckDBStore
from tests.integration.test_search_templates import AUTH, _per_hit

MORE = """\
May 21 09:00:00 bastion02 sshd[900]: Failed password for carol from 192.0.2.50 port 7001 ssh2
May 21 09:00:05 bastion02 sshd[901]: Failed password for carol from 192.0.2.50 port 7002 ssh2
"""


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


def _ingest(url: str, folder: Path, name: str, text: str) -> None:
    log = folder / name
    log.write_text(text)
    config = load_config(env={}, overrides={"store.url": url, "ingest.year": 2024})
    with Pipeline(config) as pipeline:
        pipeline.ingest([str(log)])


def _search(url: str, embedder: MiniLMEmbedder, examples: int = 3) -> SearchResult:
    with open_store(url) as store:
        return search_templates(store, "failed login", examples=examples, embedder=embedder)


def _shown(result: SearchResult) -> list[tuple[object, ...]]:
    """What an answer shows, in its order (entity fields as asked, event fields as projected)."""
    return [
        (h.template.id, h.template.events, list(h.entities.items()),
         [list(e.items()) for e in h.examples])
        for h in result.hits
    ]  # fmt: skip


def _check_against_per_hit(url: str, result: SearchResult) -> None:
    with open_store(url) as store:
        for hit in result.hits:
            shown = (hit.template.events, hit.entities, hit.examples)
            assert shown == _per_hit(store, hit.template.id, "*", len(hit.examples))


def test_kept_profiles_answer_as_fresh_ones(tmp_path: Path, embedder: MiniLMEmbedder) -> None:
    url = f"duckdb:{tmp_path / 's.duckdb'}"
    _ingest(url, tmp_path, "auth.log", AUTH)
    first = _search(url, embedder)
    with open_store(url) as store:
        kept = store.checkpoint(CHECKPOINT)
    assert kept is not None and set(kept["templates"]) == {h.template.id for h in first.hits}
    second = _search(url, embedder)  # from the kept profiles
    assert _shown(second) == _shown(first)
    for hit in second.hits:
        assert list(hit.entities) == [f for f in ENTITY_FIELDS if f in hit.entities]
        assert all(list(e) == list(EXAMPLE_FIELDS) for e in hit.examples)
    _check_against_per_hit(url, second)
    fewer = _search(url, embedder, examples=1)
    assert all(len(h.examples) <= 1 for h in fewer.hits)
    _check_against_per_hit(url, fewer)
    more = _search(url, embedder, examples=5)  # more than kept: described again
    failed = next(h for h in more.hits if h.template.text.startswith("Failed password"))
    assert len(failed.examples) == 4
    _check_against_per_hit(url, more)


def test_kept_profiles_are_used_until_the_template_changes(
    tmp_path: Path, embedder: MiniLMEmbedder
) -> None:
    url = f"duckdb:{tmp_path / 's.duckdb'}"
    _ingest(url, tmp_path, "auth.log", AUTH)
    first = _search(url, embedder)
    failed = next(h for h in first.hits if h.template.text.startswith("Failed password"))
    with open_store(url) as store:  # mark the kept entry, to see whether it is read
        kept = store.checkpoint(CHECKPOINT)
        assert kept is not None
        terms = kept["templates"][failed.template.id]["terms"]
        kept["templates"][failed.template.id]["terms"] = [
            [name, [["marked", 99]] if name == "user.name" else values] for name, values in terms
        ]
        store.save_checkpoint(CHECKPOINT, kept)
    again = _search(url, embedder)
    marked = next(h for h in again.hits if h.template.id == failed.template.id)
    assert marked.entities["user.name"] == [("marked", 99)]
    _ingest(url, tmp_path, "more.log", MORE)  # new events of that template
    renewed = _search(url, embedder)
    fresh = next(h for h in renewed.hits if h.template.id == failed.template.id)
    assert fresh.template.events == failed.template.events + 2
    assert fresh.entities["user.name"][0] == ("carol", 2)
    assert fresh.examples[0]["host.name"] == "bastion02"
    _check_against_per_hit(url, renewed)
    with open_store(url) as store:  # an entry of a template the store no longer has is dropped
        kept = store.checkpoint(CHECKPOINT)
        assert kept is not None
        kept["templates"]["Tgone"] = kept["templates"][failed.template.id]
        kept["templates"][failed.template.id] = None
        store.save_checkpoint(CHECKPOINT, kept)
    assert _shown(_search(url, embedder)) == _shown(renewed)
    with open_store(url) as store:
        kept = store.checkpoint(CHECKPOINT)
        assert kept is not None and "Tgone" not in kept["templates"]
        assert kept["templates"][failed.template.id]["stamp"].startswith(
            f"{fresh.template.events}|"
        )


@pytest.mark.parametrize("damage", [{"fields": "x"}, {"templates": 7}, "entries"])
def test_damaged_kept_profiles_are_described_again(
    tmp_path: Path, embedder: MiniLMEmbedder, damage: object
) -> None:
    url = f"duckdb:{tmp_path / 's.duckdb'}"
    _ingest(url, tmp_path, "auth.log", AUTH)
    first = _search(url, embedder)
    with open_store(url) as store:
        kept = store.checkpoint(CHECKPOINT)
        assert kept is not None
        if damage == "entries":
            for entry in kept["templates"].values():
                entry["terms"] = [1, 2]
                entry["examples"] = None
        else:
            assert isinstance(damage, dict)
            kept.update(damage)
        store.save_checkpoint(CHECKPOINT, kept)
    assert _shown(_search(url, embedder)) == _shown(first)


def test_a_read_only_store_answers_without_keeping(
    tmp_path: Path, embedder: MiniLMEmbedder
) -> None:
    path = tmp_path / "s.duckdb"
    url = f"duckdb:{path}"
    _ingest(url, tmp_path, "auth.log", AUTH)
    first = _search(url, embedder)  # template vectors kept
    with open_store(url) as store:
        store.save_checkpoint(CHECKPOINT, {})
    with DuckDBStore(str(path), read_only=True) as store:
        again = search_templates(store, "failed login", embedder=embedder)
        assert store.checkpoint(CHECKPOINT) == {}
    assert _shown(again) == _shown(first)


def test_the_least_recently_described_are_dropped_beyond_the_limit(
    tmp_path: Path, embedder: MiniLMEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(profile_cache, "MAX_KEPT", 2)
    url = f"duckdb:{tmp_path / 's.duckdb'}"
    _ingest(url, tmp_path, "auth.log", AUTH)
    with open_store(url) as store:
        disk = search_templates(store, "disk error", top=1, embedder=embedder)
        login = search_templates(store, "failed login", top=2, embedder=embedder)
        kept = store.checkpoint(CHECKPOINT)
        assert kept is not None
        assert set(kept["templates"]) == {h.template.id for h in login.hits}
        assert disk.hits[0].template.id not in {h.template.id for h in login.hits}
        again = search_templates(store, "disk error", top=1, embedder=embedder)
        kept = store.checkpoint(CHECKPOINT)
        assert kept is not None and disk.hits[0].template.id in kept["templates"]
        assert len(kept["templates"]) == 2
    assert _shown(again) == _shown(disk)
