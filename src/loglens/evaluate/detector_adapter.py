"""Run a loglens series ``Detector`` as a NAB detector.

NAB detectors map ``(timestamps, values)`` to a score in [0, 1] per point; loglens detectors fit
on a history ``Series`` and give robust z-like scores (higher = more anomalous, NaN where they
cannot say). The adapter fits a fresh detector on the file's probationary period — the part NAB
leaves unscored, so nothing scored is learnt from — scores the whole file and squashes the
scores with ``z/(z + τ)``. The squashing is monotone, so NAB's threshold sweep finds the same cut
as on the raw scores. It is rational rather than ``1 − exp(−z/τ)`` because robust z-scores of
real series reach the hundreds, where an exponential rounds them all to exactly 1 in float64 and
the sweep could no longer tell them apart.

loglens detectors expect buckets on a regular grid aligned to UTC multiples of the interval, and
NAB files are not always regular (gaps, repeated stamps, odd seconds), so the points are put on
such a grid first: the step is the typical spacing rounded down to a divisor of a day, points in
one bucket are averaged, and buckets without a point are marked inactive (no value, not silence:
a missing NAB point is not an outage). Each point then takes its bucket's score.

A detector that finds its history too short (``NotEnoughHistoryError``) abstains where it would
have scored: NaN scores, which never fire, so windows there count as missed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, timedelta

import numpy as np
from numpy.typing import NDArray

from loglens.detect.base import Detector, NotEnoughHistoryError
from loglens.evaluate.errors import EvaluationError
from loglens.evaluate.nab_scoring import PROBATION_PERCENT, probation_length
from loglens.series import Series


def squash(z: NDArray[np.float64], tau: float = 5.0) -> NDArray[np.float64]:
    """Robust z-scores → [0, 1): ``z/(z + τ)`` for z > 0; 0 for z ≤ 0 and NaN."""
    values = np.asarray(z, dtype=np.float64)
    positive = np.where(np.isnan(values), 0.0, np.maximum(values, 0.0))
    with np.errstate(invalid="ignore"):
        squashed = positive / (positive + tau)
    return np.where(np.isinf(positive), 1.0, squashed)


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


def drop_repeats(
    buckets: NDArray[np.datetime64], alerts: NDArray[np.float64], quiet: timedelta
) -> NDArray[np.float64]:
    """Zero the alerts that come within ``quiet`` after an earlier alert at least as strong.

    A lasting change is one incident, not one per refit or per wobble while the detector adapts.
    Comparing with earlier alerts of at least the same score keeps the rule consistent with any
    threshold: a repeat that would fire at some threshold follows an alert that fires there too.
    """
    kept = np.array(alerts, dtype=np.float64)
    at = np.flatnonzero(np.nan_to_num(kept) > 0)
    times = np.asarray(buckets, dtype="datetime64[us]").astype(np.int64)[at]
    scores = kept[at]
    span = int(quiet.total_seconds() * 1e6)
    for k in range(len(at)):
        lo = int(np.searchsorted(times, times[k] - span, side="left"))
        if lo < k and float(scores[lo:k].max()) >= scores[k]:
            kept[at[k]] = 0.0
    return kept


def _head(series: Series, stop: int) -> Series:
    """The first ``stop`` buckets of a series."""
    return Series(
        key=series.key,
        buckets=series.buckets[:stop],
        values=series.values[:stop],
        silent=series.silent[:stop],
        active=series.active[:stop],
        sources=series.sources,
    )


class DetectorScorer:
    """A NAB detector made from a loglens ``Detector`` factory.

    By default the detector is fitted once, on the probationary period, and scores the whole
    file. With ``refit_every`` it runs walk-forward, as a deployed detector would: every
    ``refit_every`` after the probationary period a fresh detector is fitted on everything
    before that moment and scores the next stretch, seeing nothing beyond it. That gives
    detectors that learn daily or weekly shapes the history they need on longer files.

    NAB counts every point at or above the threshold as a detection, so a bucket score that stays
    high through a lasting change costs a false positive per point after the window. With
    ``alerts=True`` the adapter scores what a loglens user is alerted on instead: each
    ``Anomaly`` from ``detect`` puts its score on its first bucket, every other bucket scores 0.

    Args:
        factory: builds a fresh, unfitted detector (called once per fit).
        tau: the squashing scale (see :func:`squash`).
        probation_percent: share of each file to fit on first, as NAB's probationary period.
        min_history: fewest points to fit on, for short files.
        refit_every: walk-forward refit period (None: fit once).
        alerts: score the starts of ``detect``'s anomalies rather than every bucket.
        quiet: in alerts mode, an alert within this time after an earlier alert at least as
            strong is a repeat of it and scores 0 (None: keep every alert).
    """

    def __init__(
        self,
        factory: Callable[[], Detector],
        *,
        tau: float = 5.0,
        probation_percent: float = PROBATION_PERCENT,
        min_history: int = 2,
        refit_every: timedelta | None = None,
        alerts: bool = False,
        quiet: timedelta | None = None,
    ) -> None:
        self.factory = factory
        self.tau = tau
        self.probation_percent = probation_percent
        self.min_history = min_history
        self.refit_every = refit_every
        self.alerts = alerts
        self.quiet = quiet

    def __call__(
        self, timestamps: NDArray[np.datetime64], values: NDArray[np.float64]
    ) -> NDArray[np.float64]:
        series, index = as_series(timestamps, values)
        n = len(index)
        if n == 0:
            return np.empty(0)
        cut = min(n, max(probation_length(n, self.probation_percent), self.min_history))
        # The first history ends with the bucket of the last probationary point
        stops = [int(index[cut - 1]) + 1]
        if self.refit_every is not None:
            if self.refit_every <= timedelta(0):
                raise EvaluationError("refit_every must be positive", location="refit_every")
            period = np.timedelta64(int(self.refit_every.total_seconds() * 1e6), "us")
            moment = series.buckets[stops[0] - 1] + period
            while moment <= series.buckets[-1]:
                stops.append(int(np.searchsorted(series.buckets, moment, side="right")))
                moment += period
        stops = sorted({*stops, len(series.values)})
        # A file no longer than its first history is scored by that one fit
        pairs = list(itertools.pairwise(stops)) or [(stops[0], stops[0])]
        z = np.full(len(series.values), np.nan)
        for k, (fit_stop, score_stop) in enumerate(pairs):
            try:
                detector = self.factory().fit(_head(series, fit_stop))
            except NotEnoughHistoryError:
                continue
            scored = self._scores(detector, _head(series, score_stop))
            begin = 0 if k == 0 else fit_stop
            z[begin:score_stop] = scored[begin:score_stop]
        if self.alerts and self.quiet is not None:
            z = drop_repeats(series.buckets, z, self.quiet)
        return np.where(np.isnan(z[index]), np.nan, squash(z, self.tau)[index])

    def _scores(self, detector: Detector, series: Series) -> NDArray[np.float64]:
        size = len(series.values)
        if not self.alerts:
            scored = np.asarray(detector.score(series), dtype=np.float64)
            if scored.shape != (size,):
                name = getattr(detector, "name", type(detector).__name__)
                raise EvaluationError(
                    f"detector {name} gave {scored.size} scores for {size} buckets"
                )
            return scored
        scored = np.zeros(size)
        for anomaly in detector.detect(series):
            start = anomaly.start
            if start.tzinfo is not None:
                start = start.astimezone(UTC).replace(tzinfo=None)
            at = int(np.searchsorted(series.buckets, np.datetime64(start, "us"), side="right")) - 1
            if 0 <= at < size:
                scored[at] = max(scored[at], anomaly.score)
        return scored
