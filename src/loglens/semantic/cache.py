"""Embeddings cached by (model name, text hash): each distinct text is encoded once per model.

The cache is plain data (model name, SHA-256 hex of the text, a float32 vector): ``to_arrow``
gives the rows a store persists and ``from_arrow`` reads them back; vectors from another model
are never mixed in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

import numpy as np
import pyarrow as pa

from loglens.errors import SemanticError
from loglens.semantic.embedder import Embedder, Vectors


def text_key(text: str) -> str:
    """SHA-256 hex digest of the UTF-8 text (invalid surrogates replaced, never an error)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class EmbeddingCache:
    """Vectors by model name and text hash."""

    def __init__(self) -> None:
        self._vectors: dict[tuple[str, str], Vectors] = {}

    def __len__(self) -> int:
        return len(self._vectors)

    def get(self, model: str, key: str) -> Vectors | None:
        """The cached vector of a text hash under a model, or None."""
        return self._vectors.get((model, key))

    def put(self, model: str, key: str, vector: Vectors) -> None:
        """Store one vector (a 1-D float array) under a model name and text hash."""
        if vector.ndim != 1:
            raise SemanticError(f"a cached vector must be 1-D, not shape {vector.shape}")
        self._vectors[(model, key)] = np.asarray(vector, dtype=np.float32)

    def entries(self, model: str) -> Iterator[tuple[str, Vectors]]:
        """(text hash, vector) pairs of one model, for persisting."""
        for (name, key), vector in self._vectors.items():
            if name == model:
                yield key, vector

    def encode(self, embedder: Embedder, texts: Sequence[str]) -> Vectors:
        """Vectors of ``texts`` from the cache, encoding only distinct texts not yet seen."""
        keys = [text_key(text) for text in texts]
        missing: dict[str, str] = {}
        for key, text in zip(keys, texts, strict=True):
            if (embedder.name, key) not in self._vectors:
                missing.setdefault(key, text)
        if missing:
            fresh = embedder.encode(list(missing.values()))
            if fresh.shape != (len(missing), embedder.dim):
                raise SemanticError(
                    f"embedder {embedder.name} returned shape {fresh.shape} "
                    f"for {len(missing)} texts of dimension {embedder.dim}"
                )
            for key, vector in zip(missing, fresh, strict=True):
                self._vectors[(embedder.name, key)] = vector
        out = np.empty((len(texts), embedder.dim), dtype=np.float32)
        for row, key in enumerate(keys):
            out[row] = self._vectors[(embedder.name, key)]
        return out

    def to_arrow(self) -> pa.Table:
        """All entries as a table: ``model`` (string), ``text_hash`` (string), ``vector``."""
        items = list(self._vectors.items())
        return pa.table(
            {
                "model": pa.array([model for (model, _), _ in items], pa.string()),
                "text_hash": pa.array([key for (_, key), _ in items], pa.string()),
                "vector": pa.array(
                    [vector.tolist() for _, vector in items], pa.list_(pa.float32())
                ),
            }
        )

    @classmethod
    def from_arrow(cls, table: pa.Table) -> EmbeddingCache:
        """A cache holding the rows of a :meth:`to_arrow` table.

        Raises:
            SemanticError: a column is missing or a row has no vector.
        """
        missing = {"model", "text_hash", "vector"} - set(table.column_names)
        if missing:
            raise SemanticError(f"embedding table lacks column(s) {sorted(missing)}")
        cache = cls()
        columns = zip(
            table.column("model").to_pylist(),
            table.column("text_hash").to_pylist(),
            table.column("vector").to_pylist(),
            strict=True,
        )
        for row, (model, key, vector) in enumerate(columns):
            if model is None or key is None or not vector:
                raise SemanticError(f"embedding table row {row} is incomplete")
            cache.put(model, key, np.asarray(vector, dtype=np.float32))
        return cache
