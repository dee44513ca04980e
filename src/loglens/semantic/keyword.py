"""BM25 over template text: the keyword side of hybrid search and the keyword-only baseline.

Okapi BM25 with Lucene's defaults (k1 = 1.2, b = 0.75) and its idf, log(1 + (N - df + 0.5) /
(df + 0.5)), over the terms of :func:`loglens.semantic.text.keyword_terms`. Postings are kept
per term and scored with vector operations, so a query costs in proportion to the rows that
hold its terms.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence

import numpy as np
import numpy.typing as npt

from loglens.errors import SemanticError
from loglens.semantic.rows import RowIds
from loglens.semantic.text import keyword_terms


class KeywordIndex:
    """BM25 scores of texts for a query; ``search`` returns the best (id, score) pairs."""

    def __init__(self, *, k1: float = 1.2, b: float = 0.75) -> None:
        self.k1 = k1
        self.b = b
        self._rows = RowIds()
        self._lengths: list[int] = []
        self._postings: dict[str, tuple[list[int], list[int]]] = {}
        self._frozen: dict[str, tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]] = {}
        self._length_array = np.zeros(0, dtype=np.float64)

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def row_ids(self) -> RowIds:
        return self._rows

    def add(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        """Index texts under ids; an id added again is replaced."""
        if len(ids) != len(texts):
            raise SemanticError(f"{len(ids)} ids for {len(texts)} texts")
        start = self._rows.rows
        self._rows.append(ids)
        for offset, text in enumerate(texts):
            counts = Counter(keyword_terms(text))
            self._lengths.append(sum(counts.values()))
            for term, count in counts.items():
                rows, tfs = self._postings.setdefault(term, ([], []))
                rows.append(start + offset)
                tfs.append(count)
                self._frozen.pop(term, None)
        self._length_array = np.asarray(self._lengths, dtype=np.float64)

    def scores(self, query: str) -> npt.NDArray[np.float64]:
        """BM25 score of every row for ``query`` (retired rows included; mask them)."""
        scores = np.zeros(self._rows.rows, dtype=np.float64)
        live = self._rows.mask()
        n_live = int(live.sum())
        if n_live == 0:
            return scores
        lengths = self._length_array
        average = float(lengths[live].mean()) or 1.0
        norm = self.k1 * (1.0 - self.b + self.b * lengths / average)
        for term in dict.fromkeys(keyword_terms(query)):
            posting = self._posting(term)
            if posting is None:
                continue
            rows, tfs = posting
            df = int(live[rows].sum())
            if df == 0:
                continue
            idf = np.log1p((n_live - df + 0.5) / (df + 0.5))
            scores[rows] += idf * tfs * (self.k1 + 1.0) / (tfs + norm[rows])
        return scores

    def query_weight(self, query: str) -> float:
        """Sum of the idf of the query's distinct terms: about the score of a full match.

        A term of average-length text matched once scores its idf, so ``scores / weight``
        reads as the share of the query's information a text matches. A term no text holds
        counts with the largest idf (df = 0): an unmatched rare word keeps that share low.
        """
        live = self._rows.mask()
        n_live = int(live.sum())
        total = 0.0
        for term in dict.fromkeys(keyword_terms(query)):
            posting = self._posting(term)
            df = int(live[posting[0]].sum()) if posting is not None else 0
            total += float(np.log1p((n_live - df + 0.5) / (df + 0.5)))
        return total

    def search(
        self, query: str, top: int = 10, candidates: Collection[str] | None = None
    ) -> list[tuple[str, float]]:
        """Best rows with a positive score, best first."""
        scores = self.scores(query)
        mask = self._rows.mask(candidates) & (scores > 0)
        return self._rows.top(scores, mask, top)

    def _posting(self, term: str) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]] | None:
        frozen = self._frozen.get(term)
        if frozen is None:
            raw = self._postings.get(term)
            if raw is None:
                return None
            frozen = (np.asarray(raw[0], dtype=np.intp), np.asarray(raw[1], dtype=np.float64))
            self._frozen[term] = frozen
        return frozen
