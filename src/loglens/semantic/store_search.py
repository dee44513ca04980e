"""``loglens search``: the store's log templates ranked by meaning, with what a person needs next.

Each hit is a template (its text, events, first and last seen) with the entities most often in
its events and a few of the events themselves. A Lucene filter narrows the templates to those
of the matching events, and the counts then describe the filtered events.

Template vectors are computed once per distinct template text and model, and kept in the
store as a checkpoint (``embeddings:<model>``: text hash → base64 of the float32 vector), so a
second search encodes only templates that are new since the first. A checkpoint works on every
store backend; at a few kilobytes per template it stays small for the hundreds to thousands of
templates a store holds.

A hit's entities and examples come from every event of its template. All hits are described
together (``Store.profiles``: a couple of requests, not a few per hit), and without a filter the
descriptions are kept in the store until the template's events change (see
``semantic.profile_cache``), so a repeated or similar question reads no events at all.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from loglens.semantic.cache import EmbeddingCache
from loglens.semantic.embedder import Embedder, MiniLMEmbedder
from loglens.semantic.hybrid import HybridSearch
from loglens.semantic.profile_cache import template_profiles
from loglens.store.base import GroupProfile, Query, Store
from loglens.templates.stored import TemplateRow, list_templates

ENTITY_FIELDS = ("host.name", "user.name", "source.ip", "process.name")
EXAMPLE_FIELDS = ("@timestamp", "host.name", "message")
TEMPLATE_FIELD = "loglens.template.id"
ENTITY_VALUES = 3  # the most frequent values shown per entity field


@dataclass(frozen=True)
class TemplateHit:
    """One template that answers the query."""

    template: TemplateRow
    score: float
    semantic: float
    keyword: float
    entities: dict[str, list[tuple[Any, int]]] = field(default_factory=dict)
    examples: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class SearchResult:
    hits: list[TemplateHit]
    templates_searched: int
    encoded: int  # template texts encoded by this search (the others came from the store)
    rank_seconds: float  # ranking only (the query's vector and the scores)
    seconds: float  # everything, entities and examples included


def search_templates(
    store: Store,
    query: str,
    *,
    top: int = 10,
    lucene: str = "*",
    embedder: Embedder | None = None,
    entity_fields: Sequence[str] = ENTITY_FIELDS,
    examples: int = 3,
) -> SearchResult:
    """The store's templates that best answer ``query``, best first.

    Raises:
        StoreError: a query failed.
        SemanticError: the embedding model is missing or broken.
        QueryError: ``lucene`` is not a valid query.
    """
    started = time.perf_counter()
    rows = list_templates(store)
    narrowed = lucene.strip() not in ("", "*")
    if narrowed:
        counts = _filtered_counts(store, lucene, [r.id for r in rows])
        rows = [replace(r, events=counts[r.id]) for r in rows if r.id in counts]
    model = embedder or MiniLMEmbedder()
    cache = load_embeddings(store, model.name, model.dim)
    known = len(cache)
    search = HybridSearch(model, cache=cache)
    search.add([r.id for r in rows], [r.text for r in rows])
    encoded = len(cache) - known
    if encoded:
        save_embeddings(store, model.name, cache)
    ranking = time.perf_counter()
    found = search.search(query, top=top) if rows else []
    rank_seconds = time.perf_counter() - ranking
    by_id = {r.id: r for r in rows}
    ids = [hit.id for hit in found]
    if narrowed:
        profiles = _profiles(store, ids, lucene, entity_fields, examples)
    else:  # unchanged templates are described as they were last time

        def describe(missing: Sequence[str], keep: int) -> dict[str, GroupProfile]:
            return _profiles(store, missing, "*", entity_fields, keep)

        hit_rows = [by_id[i] for i in ids]
        profiles = template_profiles(
            store, hit_rows, entity_fields, examples, describe, current=by_id.keys()
        )
    hits = []
    for hit in found:
        profile = profiles.get(hit.id)
        hits.append(
            TemplateHit(
                template=by_id[hit.id],
                score=hit.score,
                semantic=hit.semantic,
                keyword=hit.keyword,
                entities=_entities(profile),
                examples=profile.examples if profile is not None else [],
            )
        )
    return SearchResult(hits, len(rows), encoded, rank_seconds, time.perf_counter() - started)


def _filtered_counts(store: Store, lucene: str, ids: Sequence[str]) -> dict[str, int]:
    """Each template's events among those ``lucene`` selects (templates without any left out)."""
    found = store.profiles(TEMPLATE_FIELD, ids, Query(text=lucene, size=None), examples=0)
    return {tid: profile.events for tid, profile in found.items()}


def _profiles(
    store: Store, ids: Sequence[str], lucene: str, entity_fields: Sequence[str], examples: int
) -> dict[str, GroupProfile]:
    """Entities and examples of every hit at once: a few store requests, not a few per hit."""
    if not ids:
        return {}
    return store.profiles(
        TEMPLATE_FIELD,
        ids,
        Query(text=lucene, size=None),
        terms_fields=entity_fields,
        terms_size=ENTITY_VALUES,
        examples=max(examples, 0),
        example_fields=EXAMPLE_FIELDS,
    )


def _entities(profile: GroupProfile | None) -> dict[str, list[tuple[Any, int]]]:
    if profile is None:
        return {}
    return {name: [(b.value, b.count) for b in buckets] for name, buckets in profile.terms.items()}


def _checkpoint_name(model: str) -> str:
    return f"embeddings:{model}"


def load_embeddings(store: Store, model: str, dim: int) -> EmbeddingCache:
    """The vectors of ``model`` the store keeps (an empty cache if none).

    A damaged entry (not base64, or not ``dim`` floats) is left out, to be encoded again.
    """
    cache = EmbeddingCache()
    saved = store.checkpoint(_checkpoint_name(model)) or {}
    vectors = saved.get("vectors", {})
    if not isinstance(vectors, dict):
        return cache
    for key, text in vectors.items():
        try:
            vector = np.frombuffer(base64.b64decode(text, validate=True), dtype=np.float32)
        except (ValueError, TypeError):
            continue
        if vector.shape == (dim,):
            cache.put(model, str(key), vector)
    return cache


def save_embeddings(store: Store, model: str, cache: EmbeddingCache) -> None:
    vectors = {
        key: base64.b64encode(np.asarray(vector, dtype=np.float32).tobytes()).decode()
        for key, vector in cache.entries(model)
    }
    store.save_checkpoint(_checkpoint_name(model), {"model": model, "vectors": vectors})
