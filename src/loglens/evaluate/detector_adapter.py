"""Run a loglens series ``Detector`` as a NAB detector.

NAB detectors map ``(timestamps, values)`` to a score in [0, 1] per point; loglens detectors fit
on a history ``Series`` and give robust z-like scores (higher = more anomalous, NaN where they
cannot say). The adapter fits a fresh detector on the file's probationary period — the part NAB
leaves unscored, so nothing scored is learnt from — scores the whole file and squashes the
scores with ``1 − exp(−z/τ)``. The squashing is monotone, so NAB's threshold sweep finds the same
cut as on the raw scores; τ only sets how many distinct levels survive near 1 (with τ = 8,
scores up to z ≈ 280 stay distinguishable in float64).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from loglens.detect.base import Detector
from loglens.evaluate.errors import EvaluationError
from loglens.evaluate.nab_scoring import PROBATION_PERCENT, probation_length
from loglens.series import Series


def squash(z: NDArray[np.float64], tau: float = 8.0) -> NDArray[np.float64]:
    """Robust z-scores → [0, 1): ``1 − exp(−z/τ)`` for z > 0; 0 for z ≤ 0 and NaN."""
    values = np.asarray(z, dtype=np.float64)
    positive = np.where(np.isnan(values), 0.0, np.maximum(values, 0.0))
    return -np.expm1(-positive / tau)


def as_series(
    timestamps: NDArray[np.datetime64],
    values: NDArray[np.float64],
    key: tuple[str | None, ...] = ("nab",),
) -> Series:
    """A plain series from points: every bucket active, none silent.

    NAB files are not always on a regular grid; the points are passed as they are.
    """
    n = len(values)
    return Series(
        key=key,
        buckets=np.asarray(timestamps, dtype="datetime64[us]"),
        values=np.asarray(values, dtype=np.float64),
        silent=np.zeros(n, dtype=bool),
        active=np.ones(n, dtype=bool),
    )


class DetectorScorer:
    """A NAB detector made from a loglens ``Detector`` factory.

    Args:
        factory: builds a fresh, unfitted detector (called once per file).
        tau: the squashing scale (see :func:`squash`).
        probation_percent: share of each file to fit on, as NAB's probationary period.
        min_history: fewest points to fit on, for short files.
    """

    def __init__(
        self,
        factory: Callable[[], Detector],
        *,
        tau: float = 8.0,
        probation_percent: float = PROBATION_PERCENT,
        min_history: int = 2,
    ) -> None:
        self.factory = factory
        self.tau = tau
        self.probation_percent = probation_percent
        self.min_history = min_history

    def __call__(
        self, timestamps: NDArray[np.datetime64], values: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        series = as_series(timestamps, values)
        n = len(series.values)
        cut = min(n, max(probation_length(n, self.probation_percent), self.min_history))
        history = Series(
            key=series.key,
            buckets=series.buckets[:cut],
            values=series.values[:cut],
            silent=series.silent[:cut],
            active=series.active[:cut],
        )
        detector = self.factory().fit(history)
        z = np.asarray(detector.score(series), dtype=np.float64)
        if z.shape != (n,):
            name = getattr(detector, "name", type(detector).__name__)
            raise EvaluationError(f"detector {name} gave {z.size} scores for {n} points")
        return squash(z, self.tau)
