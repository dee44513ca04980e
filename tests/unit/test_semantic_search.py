"""Searching templates by meaning: the vector index, its cache, and hybrid ranking."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from loglens.errors import SemanticError
from loglens.semantic import (
    EmbeddingCache,
    HybridSearch,
    KeywordIndex,
    MiniLMEmbedder,
    SemanticIndex,
    text_key,
)
from loglens.semantic.embedder import Vectors
from tests.semantic_model import needs_model

REPO = Path(__file__).resolve().parents[2]
LOGHUB = REPO.parent / "shared" / "datasets" / "loghub_2k"
QUERIES = REPO / "benchmarks" / "data" / "template_queries.json"

TEMPLATES = {
    "ssh-accepted": "Accepted password for <*> from <*> port <*> ssh2",
    "ssh-failed": "Failed password for invalid user <*> from <*> port <*> ssh2",
    "ssh-reset": "fatal: Write failed: Connection reset by peer [preauth]",
    "pam-failure": "pam_unix(sshd:auth): authentication failure; logname= uid=<*> euid=<*>",
    "session-opened": "pam_unix(sshd:session): session opened for user <*> by (uid=<*>)",
    "hdfs-received": "Received block blk_<*> of size <*> from /<*>",
    "hdfs-delete": "BLOCK* NameSystem.delete: blk_<*> is added to invalidSet of <*>:<*>",
    "hpc-temperature": "Temperature (<*>C) exceeds warning threshold",
    "hpc-psu": "psu failure\\ ambient=<*>",
    "vm-started": "[instance: <*>] VM Started (Lifecycle Event)",
    "vm-deleted": "[instance: <*>] Deleting instance files <*>",
    "zk-election": "New election. My id =  <*>, proposed zxid=<*>",
    "zk-expired": "Expiring session <*>, timeout of <*>ms exceeded",
    "bgl-core": "ciod: generated <*> core files for program <*>",
    "spark-task": "Finished task <*> in stage <*> (TID <*>). <*> bytes result sent to driver",
    "android-battery": "ACTION_BATTERY_CHANGED AMP: <*>; Volt: <*>",
    "win-upload": "SQM: Failed to start upload with file pattern: <*>, flags: <*>",
    "linux-cups": "cupsd startup succeeded",
}


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture(scope="module")
def search(embedder: MiniLMEmbedder) -> HybridSearch:
    hybrid = HybridSearch(embedder)
    hybrid.add(list(TEMPLATES), list(TEMPLATES.values()))
    return hybrid


class CountingEmbedder:
    """Bag-of-letters vectors; counts the texts it is asked to encode."""

    def __init__(self, name: str = "letters") -> None:
        self._name = name
        self.encoded: list[str] = []

    @property
    def name(self) -> str:
        return self._name

    @property
    def dim(self) -> int:
        return 26

    def encode(self, texts: Sequence[str]) -> Vectors:
        self.encoded.extend(texts)
        out = np.zeros((len(texts), 26), dtype=np.float32)
        for row, text in enumerate(texts):
            for char in text.lower():
                if "a" <= char <= "z":
                    out[row, ord(char) - ord("a")] += 1
        norms = np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        result: Vectors = out / norms
        return result


@needs_model
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("password accepted for ssh login", "ssh-accepted"),
        ("temperature above the warning limit", "hpc-temperature"),
        ("power supply broke", "hpc-psu"),
        ("virtual machine booted", "vm-started"),
        ("leader election", "zk-election"),
        ("client session timed out", "zk-expired"),
        ("program crashed and dumped core", "bgl-core"),
        ("phone battery status", "android-battery"),
        ("connection reset by peer", "ssh-reset"),
        ("printing service started", "linux-cups"),
    ],
)
def test_unambiguous_queries_find_their_template_first(
    search: HybridSearch, query: str, expected: str
) -> None:
    hits = search.search(query, top=3)
    assert hits[0].id == expected, [(hit.id, round(hit.score, 3)) for hit in hits]


@needs_model
def test_hits_carry_both_signals_and_are_ranked(search: HybridSearch) -> None:
    hits = search.search("failed password", top=5)
    assert hits[0].id == "ssh-failed"
    assert hits[0].keyword > 0
    assert -1.0 <= hits[0].semantic <= 1.0
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert len(search.search("anything at all", top=100)) == len(TEMPLATES)


@needs_model
def test_candidates_narrow_the_ranking(search: HybridSearch) -> None:
    hits = search.search("login", top=10, candidates={"hdfs-received", "vm-started"})
    assert {hit.id for hit in hits} == {"hdfs-received", "vm-started"}
    assert search.search("login", candidates=set()) == []


@needs_model
def test_empty_query_is_an_error(search: HybridSearch) -> None:
    with pytest.raises(SemanticError, match="empty"):
        search.search("   ")


def test_each_distinct_text_is_encoded_once() -> None:
    embedder = CountingEmbedder()
    index = SemanticIndex(embedder, prepare=None)
    index.add(["a", "b", "c"], ["disk full", "disk full", "link down"])
    assert embedder.encoded == ["disk full", "link down"]
    index.add(["d"], ["link down"])
    assert embedder.encoded == ["disk full", "link down"]
    assert index.search("disk", top=1)[0][0] in {"a", "b"}
    # Queries are encoded each time and never cached: the cache holds indexed texts only.
    assert embedder.encoded == ["disk full", "link down", "disk"]
    assert len(index.cache) == 2


def test_cache_keeps_models_apart_and_exposes_entries() -> None:
    cache = EmbeddingCache()
    first, second = CountingEmbedder("one"), CountingEmbedder("two")
    cache.encode(first, ["alpha"])
    cache.encode(second, ["alpha"])
    assert first.encoded == ["alpha"] and second.encoded == ["alpha"]
    entries = dict(cache.entries("one"))
    assert list(entries) == [text_key("alpha")]
    assert entries[text_key("alpha")].shape == (26,)
    assert cache.get("three", text_key("alpha")) is None


def test_cache_round_trips_through_arrow() -> None:
    cache = EmbeddingCache()
    cache.encode(CountingEmbedder("one"), ["alpha", "beta"])
    cache.encode(CountingEmbedder("two"), ["alpha"])
    table = cache.to_arrow()
    assert table.num_rows == 3
    assert table.column_names == ["model", "text_hash", "vector"]
    restored = EmbeddingCache.from_arrow(table)
    again = CountingEmbedder("one")
    vectors = restored.encode(again, ["beta", "alpha"])
    assert again.encoded == []
    original = cache.get("one", text_key("beta"))
    assert original is not None
    np.testing.assert_array_equal(vectors[0], original)
    with pytest.raises(SemanticError, match="lacks column"):
        EmbeddingCache.from_arrow(table.drop_columns(["vector"]))


def test_wrong_shaped_embedder_output_is_an_error() -> None:
    class Broken(CountingEmbedder):
        def encode(self, texts: Sequence[str]) -> Vectors:
            return np.zeros((len(texts) + 1, 26), dtype=np.float32)

    with pytest.raises(SemanticError, match="returned shape"):
        EmbeddingCache().encode(Broken(), ["x"])


def test_vector_index_replaces_an_id_and_restricts_candidates() -> None:
    index = SemanticIndex(CountingEmbedder(), prepare=None)
    index.add(["a", "b"], ["aaaa", "bbbb"])
    index.add(["a"], ["cccc"])
    assert len(index) == 2
    assert index.search("aaaa", top=1)[0][0] != "a"
    assert index.search("cccc", top=1) == [("a", pytest.approx(1.0))]
    assert [item for item, _ in index.search("cccc", candidates=["b"])] == ["b"]
    with pytest.raises(SemanticError, match="1 ids for 2 texts"):
        index.add(["x"], ["y", "z"])


def test_index_grows_past_its_capacity() -> None:
    index = SemanticIndex(CountingEmbedder(), prepare=None)
    for i in range(40):
        index.add([f"id{i}"], ["x" * (i + 1) + "y" * (40 - i)])
    assert len(index) == 40
    assert index.search("x" * 40 + "y", top=1)[0][0] == "id39"


def test_hybrid_needs_a_non_negative_weight() -> None:
    with pytest.raises(SemanticError, match="keyword_weight"):
        HybridSearch(CountingEmbedder(), keyword_weight=-1)


def test_empty_hybrid_index_finds_nothing() -> None:
    search = HybridSearch(CountingEmbedder())
    assert search.search("disk failure") == []
    search.add(["a"], ["disk failure"])
    assert [hit.id for hit in search.search("disk failure")] == ["a"]


def _loghub_templates() -> tuple[list[str], list[str]]:
    ids: list[str] = []
    texts: list[str] = []
    for path in sorted(LOGHUB.glob("*/*_2k.log_templates.csv")):
        system = path.name.split("_")[0]
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                ids.append(f"{system}:{row['EventId']}")
                texts.append(row["EventTemplate"])
    return ids, texts


def _quality(rank: dict[str, list[str]], queries: list[dict[str, object]]) -> tuple[float, float]:
    recalls, reciprocal = [], []
    for item in queries:
        relevant = set(item["relevant"])  # type: ignore[call-overload]
        ranking = rank[str(item["query"])]
        recalls.append(len(relevant & set(ranking[:10])) / min(10, len(relevant)))
        first = next((i for i, tid in enumerate(ranking, 1) if tid in relevant), None)
        reciprocal.append(1 / first if first else 0.0)
    return float(np.mean(recalls)), float(np.mean(reciprocal))


@needs_model
@pytest.mark.slow
@pytest.mark.shared_data
def test_labelled_queries_meet_the_quality_bar(embedder: MiniLMEmbedder) -> None:
    ids, texts = _loghub_templates()
    if len(ids) < 700:
        pytest.skip("loghub_2k templates not available under ../shared/datasets")
    queries = json.loads(QUERIES.read_text(encoding="utf-8"))["queries"]
    hybrid = HybridSearch(embedder)
    hybrid.add(ids, texts)
    keyword = KeywordIndex()
    keyword.add(ids, texts)
    words = [str(q["query"]) for q in queries]
    hybrid_rank = {q: [hit.id for hit in hybrid.search(q, top=len(ids))] for q in words}
    keyword_rank = {q: [item for item, _ in keyword.search(q, top=len(ids))] for q in words}
    hybrid_recall, hybrid_mrr = _quality(hybrid_rank, queries)
    keyword_recall, _ = _quality(keyword_rank, queries)
    # Measured 0.83 / 0.75 (hybrid) and 0.60 recall (BM25): the bars leave room for noise.
    assert hybrid_recall >= 0.78
    assert hybrid_mrr >= 0.68
    assert hybrid_recall >= keyword_recall + 0.15
