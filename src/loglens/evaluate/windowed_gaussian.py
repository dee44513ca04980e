"""NAB's windowed Gaussian baseline: how unusual is each value given the recent ones?

As NAB describes its ``windowedGaussian`` detector: a window of the most recent values (up to
``window`` of them, 6,400 in NAB) gives a mean and a standard deviation; a value's anomaly score is
``1 − Q(|z|)``, one minus the normal tail probability beyond its distance from that mean, so it
lies in [0.5, 1) and reaches 1 far in the tails. The window grows one point at a time until full,
then slides forward ``step`` points at a time (100 in NAB); the first point scores 0. A window
with no spread uses a standard deviation of 1e-6, so any change in a flat series stands out.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from loglens.evaluate.errors import EvaluationError

MIN_STD = 1e-6
_ERFC = np.frompyfunc(math.erfc, 1, 1)


def windowed_gaussian_scores(
    values: NDArray[np.float64], *, window: int = 6400, step: int = 100
) -> NDArray[np.float64]:
    """Score every point against the window of values seen before it.

    Args:
        values: the series, in time order (NaN is not allowed).
        window: the most values the window holds.
        step: once full, the window moves forward this many points at a time.

    Returns:
        One score per point in [0, 1].

    Raises:
        EvaluationError: a non-positive ``window`` or ``step``, or a non-finite value.
    """
    if window < 1 or step < 1:
        raise EvaluationError("window and step must be at least 1", location="windowed_gaussian")
    x = np.asarray(values, dtype=np.float64)
    if not np.isfinite(x).all():
        raise EvaluationError("values must be finite", location="windowed_gaussian")
    n = len(x)
    scores = np.zeros(n)
    if n < 2:
        return scores
    index = np.arange(1, n)
    # The window before point i is x[lo:hi]: growing while short of `window`, then moved
    # forward in whole steps.
    hi = np.where(index <= window, index, window + ((index - window) // step) * step)
    lo = np.maximum(hi - window, 0)
    # Sums over the window from cumulative sums of values shifted by the first value, which
    # keeps the variance from cancelling away when values are large and close together.
    shifted = x - x[0]
    s1 = np.r_[0.0, np.cumsum(shifted)]
    s2 = np.r_[0.0, np.cumsum(shifted * shifted)]
    count = (hi - lo).astype(np.float64)
    mean = (s1[hi] - s1[lo]) / count
    variance = np.maximum((s2[hi] - s2[lo]) / count - mean * mean, 0.0)
    # A variance at the rounding level of the sums is a flat window
    flat = variance <= 1e-12 * (s2[hi] - s2[lo]) / count
    std = np.where(flat, MIN_STD, np.sqrt(variance))
    z = np.abs(shifted[1:] - mean) / std
    tail = 0.5 * _ERFC(z / math.sqrt(2.0)).astype(np.float64)
    scores[1:] = 1.0 - tail
    return scores


class WindowedGaussian:
    """The windowed Gaussian as a NAB detector: ``(timestamps, values) -> scores``.

    Args:
        window: the most recent values the mean and deviation come from (NAB: 6,400).
        step: how many points the full window moves at a time (NAB: 100).
    """

    name = "windowed_gaussian"

    def __init__(self, window: int = 6400, step: int = 100) -> None:
        self.window = window
        self.step = step

    def __call__(
        self, timestamps: NDArray[np.datetime64], values: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        return windowed_gaussian_scores(values, window=self.window, step=self.step)
