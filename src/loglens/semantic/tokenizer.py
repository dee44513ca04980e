"""WordPiece tokenization through the ``tokenizers`` package (a Rust wheel, no torch).

The model folder's ``tokenizer.json`` is read as shipped; only its truncation and padding are
replaced: sentence-transformers truncates at the model's ``max_seq_length`` and pads each batch
to its longest text, while the file itself says "cut at 128, pad to 128".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from tokenizers import Tokenizer

from loglens.errors import SemanticError


class WordPieceTokenizer:
    """Text → token ids with ``[CLS]``/``[SEP]``, truncated to ``max_length`` tokens."""

    def __init__(self, path: Path, max_length: int) -> None:
        try:
            tokenizer = Tokenizer.from_file(str(path))
        except Exception as exc:  # the Rust side raises a plain Exception on a bad file
            raise SemanticError(f"cannot load tokenizer: {exc}", location=str(path)) from exc
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=max_length)
        self._tokenizer = tokenizer
        self.max_length = max_length

    def encode(self, texts: Sequence[str]) -> list[npt.NDArray[np.int64]]:
        """Token ids of each text, unpadded."""
        encodings = self._tokenizer.encode_batch(list(texts))
        return [np.asarray(encoding.ids, dtype=np.int64) for encoding in encodings]

    def tokens(self, text: str) -> list[str]:
        """The word pieces of one text (for explanations and tests)."""
        return list(self._tokenizer.encode(text).tokens)
