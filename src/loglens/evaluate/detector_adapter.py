"""Run a loglens series ``Detector`` as a NAB detector.

NAB detectors map ``(timestamps, values)`` to a score in [0, 1] per point; loglens detectors fit
on a history ``Series`` and give robust z-like scores (higher = more anomalous, NaN where they
cannot say). The adapter fits a fresh detector on the file's probationary period — the part NAB
leaves unscored, so nothing scored is learnt from — scores the whole file and squashes the
scores with ``1 − exp(−z/τ)``. The squashing is monotone, so NAB's threshold sweep finds the same
cut as on the raw scores; τ only sets how many distinct levels survive near 1 (with τ = 8,
scores up to z ≈ 280 stay distinguishable in float64).

loglens detectors expect buckets on a regular grid aligned to UTC multiples of the interval, and
NAB files are not always regular (gaps, repeated stamps, odd seconds), so the points are put on
such a grid first: the step is the typical spacing rounded down to a divisor of a day, points in
one bucket are averaged, and buckets without a point are marked inactive (no value, not silence:
a missing NAB point is not an outage). Each point then takes its bucket's score.

A detector that finds the probationary period too short (``NotEnoughHistoryError``) abstains on
that file: NaN scores, which never fire, so the file's windows count as missed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from loglens.detect.base import Detector, NotEnoughHistoryError
from loglens.evaluate.errors import EvaluationError
from loglens.evaluate.nab_scoring import PROBATION_PERCENT, probation_length
from loglens.series import Series


def squash(z: NDArray[np.float64], tau: float = 8.0) -> NDArray[np.float64]:
    """Robust z-scores → [0, 1): ``1 − exp(−z/τ)`` for z > 0; 0 for z ≤ 0 and NaN."""
    values = np.asarray(z, dtype=np.float64)
    positive = np.where(np.isnan(values), 0.0, np.maximum(values, 0.0))
    return -np.expm1(-positive / tau)


_DAY_SECONDS = 86400
_DAY_DIVISORS = [d for d in range(1, _DAY_SECONDS + 1) if _DAY_SECONDS % d == 0]


def grid_step(timestamps: NDArray[np.datetime64]) -> int:
    """The bucket width in seconds: the median spacing, rounded down to a divisor of a day."""
    micros = np.asarray(timestamps, dtype="datetime64[us]").astype(np.int64)
    gaps = np.diff(micros)
    gaps = gaps[gaps > 0]
    typical = float(np.median(gaps)) / 1e6 if gaps.size else 60.0
    return max([d for d in _DAY_DIVISORS if d <= max(typical, 1.0)])


def as_series(
    timestamps: NDArray[np.datetime64],
    values: NDArray[np.float64],
    key: tuple[str | None, ...] = ("nab",),
    step_seconds: int | None = None,
) -> tuple[Series, NDArray[np.int64]]:
    """Points on a regular, UTC-aligned bucket grid, and each point's bucket index.

    Args:
        timestamps: point times, non-decreasing.
        values: one value per point.
        key: the series key.
        step_seconds: the bucket width (default: :func:`grid_step`); must divide a day.

    Returns:
        The series (buckets without a point are inactive and NaN) and, per point, the index of
        its bucket.
    """
    step = step_seconds or grid_step(timestamps)
    if step <= 0 or _DAY_SECONDS % step:
        raise EvaluationError(f"a step of {step} s does not divide a day", location="step")
    micros = np.asarray(timestamps, dtype="datetime64[us]").astype(np.int64)
    slot = micros // (step * 1_000_000)
    first = int(slot[0]) if slot.size else 0
    index = (slot - first).astype(np.int64)
    size = int(index[-1]) + 1 if index.size else 0
    counts = np.bincount(index, minlength=size)
    sums = np.bincount(index, weights=np.asarray(values, dtype=np.float64), minlength=size)
    present = counts > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(present, sums / np.maximum(counts, 1), np.nan)
    buckets = ((first + np.arange(size)) * step * 1_000_000).astype("datetime64[us]")
    series = Series(
        key=key,
        buckets=buckets,
        values=means,
        silent=np.zeros(size, dtype=bool),
        active=present,
    )
    return series, index


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
        series, index = as_series(timestamps, values)
        n = len(index)
        if n == 0:
            return np.empty(0)
        cut = min(n, max(probation_length(n, self.probation_percent), self.min_history))
        # The history ends with the bucket of the last probationary point
        end = int(index[cut - 1]) + 1
        history = Series(
            key=series.key,
            buckets=series.buckets[:end],
            values=series.values[:end],
            silent=series.silent[:end],
            active=series.active[:end],
        )
        try:
            detector = self.factory().fit(history)
        except NotEnoughHistoryError:
            return np.full(n, np.nan)
        z = np.asarray(detector.score(series), dtype=np.float64)
        if z.shape != series.values.shape:
            name = getattr(detector, "name", type(detector).__name__)
            raise EvaluationError(
                f"detector {name} gave {z.size} scores for {series.values.size} buckets"
            )
        return squash(z, self.tau)[index]
