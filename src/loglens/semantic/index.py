"""A small exact vector index: a matrix of unit vectors, top-k by one matrix-vector product.

For the distinct templates of a store (hundreds to a few thousand, 384 floats each) an exact
scan takes well under a millisecond, so no approximate structure is needed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import numpy as np
import numpy.typing as npt

from loglens.errors import SemanticError
from loglens.semantic.cache import EmbeddingCache
from loglens.semantic.embedder import Embedder, Vectors
from loglens.semantic.rows import RowIds
from loglens.semantic.text import search_text
from loglens.semantic.threads import blas_threads


class SemanticIndex:
    """Texts embedded once (through an :class:`EmbeddingCache`), searched by cosine similarity.

    Args:
        embedder: turns texts (and queries) into unit vectors.
        cache: shared embedding cache; a private one by default.
        prepare: applied to each indexed text before embedding (template wildcards dropped
            and identifiers split by default); queries are embedded as typed.
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        cache: EmbeddingCache | None = None,
        prepare: Callable[[str], str] | None = search_text,
    ) -> None:
        self.embedder = embedder
        self.cache = cache if cache is not None else EmbeddingCache()
        self._prepare = prepare
        self._rows = RowIds()
        self._matrix = np.zeros((0, embedder.dim), dtype=np.float32)
        self._filled = 0

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def row_ids(self) -> RowIds:
        return self._rows

    def add(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Embed and index texts under ids; an id added again is replaced."""
        if len(ids) != len(texts):
            raise SemanticError(f"{len(ids)} ids for {len(texts)} texts")
        prepared = [self._prepare(text) for text in texts] if self._prepare else list(texts)
        vectors = self.cache.encode(self.embedder, prepared)
        self._rows.append(ids)
        needed = self._filled + len(ids)
        if needed > self._matrix.shape[0]:
            # Grow by doubling so a stream of small adds stays linear overall.
            capacity = max(needed, 2 * self._matrix.shape[0])
            grown = np.zeros((capacity, self.embedder.dim), dtype=np.float32)
            grown[: self._filled] = self._matrix[: self._filled]
            self._matrix = grown
        self._matrix[self._filled : needed] = vectors
        self._filled = needed

    def query_vector(self, query: str) -> Vectors:
        """The query's unit vector; not cached, so the cache holds only indexed texts."""
        vector: Vectors = self.embedder.encode([query])[0]
        return vector

    def scores(self, query: str | Vectors) -> npt.NDArray[np.float32]:
        """Cosine similarity of every row to the query (retired rows included; mask them)."""
        vector = self.query_vector(query) if isinstance(query, str) else query
        with blas_threads(1):
            result: npt.NDArray[np.float32] = self._matrix[: self._filled] @ vector
        return result

    def search(
        self, query: str, top: int = 10, candidates: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        """The ``top`` most similar (id, cosine) pairs, best first, among ``candidates`` ids."""
        return self._rows.top(self.scores(query), self._rows.mask(candidates), top)
