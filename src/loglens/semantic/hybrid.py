"""Hybrid search: meaning (cosine of MiniLM vectors) plus words (BM25), fused per template.

The fused score is ``cosine + keyword_weight * min(1, bm25 / idf mass of the query)``: BM25 is
read as the share of the query's information a template matches (see
:meth:`KeywordIndex.query_weight`), so one generic shared word lifts a template a little and
all the query's rare words lift it a lot. Scaling by the best match instead (bm25 / max) gave
a one-word match the full boost and lost recall at every weight. Measured on the labelled
query set (benchmarks/bench_semantic.py, 59 queries): recall@10 0.830 / MRR 0.753 at weight
0.3, against 0.811 / 0.728 for the vectors alone and 0.602 / 0.662 for BM25 alone; weights
0.2-0.5 all reach 0.825-0.830. The idf scaling was chosen after seeing the max scaling fail on
this set; choosing the fusion on half the queries and scoring the other half gives 0.808 /
0.733, so the gain over the vectors alone is small and mostly in MRR.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

from loglens.errors import SemanticError
from loglens.semantic.cache import EmbeddingCache
from loglens.semantic.embedder import Embedder
from loglens.semantic.index import SemanticIndex
from loglens.semantic.keyword import KeywordIndex

DEFAULT_KEYWORD_WEIGHT = 0.3


@dataclass(frozen=True)
class SearchHit:
    """One ranked template: the fused score and the two signals it came from."""

    id: str
    score: float
    semantic: float
    keyword: float


class HybridSearch:
    """Templates searched by meaning and keywords together.

    Args:
        embedder: the sentence embedder (``MiniLMEmbedder()`` for the default model).
        keyword_weight: weight of the scaled BM25 score beside the cosine; 0 is meaning only.
        cache: embedding cache shared with other indexes; a private one by default.
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        keyword_weight: float = DEFAULT_KEYWORD_WEIGHT,
        cache: EmbeddingCache | None = None,
    ) -> None:
        if keyword_weight < 0:
            raise SemanticError(f"keyword_weight must be >= 0, not {keyword_weight}")
        self.keyword_weight = keyword_weight
        self.semantic = SemanticIndex(embedder, cache=cache)
        self.keywords = KeywordIndex()

    def __len__(self) -> int:
        return len(self.semantic)

    def add(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Index template texts under their ids (an id added again is replaced)."""
        if len(ids) != len(texts):
            raise SemanticError(f"{len(ids)} ids for {len(texts)} texts")
        self.semantic.add(ids, texts)
        self.keywords.add(ids, texts)

    def search(
        self, query: str, top: int = 10, candidates: Collection[str] | None = None
    ) -> list[SearchHit]:
        """The ``top`` templates for ``query``, best first.

        Args:
            query: plain words ("login failure").
            top: how many hits to return.
            candidates: when given, only these ids are ranked (the templates a keyword
                filter on the events left over).
        """
        if not query.strip():
            raise SemanticError("the search query is empty")
        mask = self.semantic.row_ids.mask(candidates)
        cosine = self.semantic.scores(query).astype(np.float64)
        bm25 = self.keywords.scores(query)
        mass = self.keywords.query_weight(query)
        scaled = np.minimum(bm25 / mass, 1.0) if mass > 0 else np.zeros_like(bm25)
        fused = cosine + self.keyword_weight * scaled
        return [
            SearchHit(id=item, score=score, semantic=float(cosine[row]), keyword=float(bm25[row]))
            for row, (item, score) in self._ranked(fused, mask, top)
        ]

    def _ranked(
        self, fused: np.ndarray, mask: np.ndarray, top: int
    ) -> list[tuple[int, tuple[str, float]]]:
        rows = self.semantic.row_ids
        hits = rows.top(fused, mask, top)
        return [(rows.row_of(item), (item, score)) for item, score in hits]
