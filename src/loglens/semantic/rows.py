"""Row bookkeeping shared by the vector and keyword indexes: ids ↔ rows, replaced rows, top-k.

Rows are only appended. Adding an id again gives it a new row and retires the old one, so an
index never rewrites its matrices in place and both indexes of a hybrid search stay aligned.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import numpy.typing as npt

from loglens.errors import SemanticError


class RowIds:
    """The id of each row and which rows are live."""

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._row_of: dict[str, int] = {}
        self._live = np.zeros(0, dtype=np.bool_)

    def __len__(self) -> int:
        return len(self._row_of)

    @property
    def rows(self) -> int:
        """Rows allocated, live or retired."""
        return len(self._ids)

    def append(self, ids: Sequence[str]) -> None:
        """Give each id the next row; an id seen before has its old row retired."""
        for item in ids:
            if not isinstance(item, str):
                raise SemanticError(f"index ids must be strings, not {type(item).__name__}")
        start = len(self._ids)
        live = np.ones(start + len(ids), dtype=np.bool_)
        live[:start] = self._live
        for offset, item in enumerate(ids):
            old = self._row_of.get(item)
            if old is not None:
                live[old] = False
            self._row_of[item] = start + offset
            self._ids.append(item)
        self._live = live

    def id_at(self, row: int) -> str:
        return self._ids[row]

    def row_of(self, item: str) -> int:
        """The live row of an id."""
        try:
            return self._row_of[item]
        except KeyError:
            raise SemanticError(f"no such id in the index: {item!r}") from None

    def mask(self, candidates: Collection[str] | None = None) -> npt.NDArray[np.bool_]:
        """Live rows, restricted to ``candidates`` ids when given (unknown ids are ignored)."""
        if candidates is None:
            return self._live.copy()
        mask = np.zeros(len(self._ids), dtype=np.bool_)
        rows = [self._row_of[item] for item in candidates if item in self._row_of]
        mask[rows] = True
        return mask

    def top(
        self, scores: npt.NDArray[np.floating], mask: npt.NDArray[np.bool_], top: int
    ) -> list[tuple[str, float]]:
        """The ``top`` (id, score) pairs among masked rows, best first (ties by row order)."""
        if top < 1:
            raise SemanticError(f"top must be at least 1, not {top}")
        rows = np.flatnonzero(mask)
        if rows.size > top:
            values = scores[rows]
            # argpartition finds the top set in linear time; only that set is sorted.
            keep = np.argpartition(-values, top - 1)[:top]
            rows = rows[keep]
        order = np.lexsort((rows, -scores[rows]))
        return [(self._ids[row], float(scores[row])) for row in rows[order]]
