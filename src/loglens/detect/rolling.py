"""Rolling detector: how far is each bucket from the recent past?

``RollingRobust`` needs no daily or weekly cycle: every bucket is compared with the median of the
buckets in the ``window_hours`` before it, with the spread of that window (1.4826 × its median
absolute deviation) as the noise. It suits series whose normal level drifts or moves in steps
(a host's CPU, a gauge, traffic without a stable daily shape) and series with too little history
for a seasonal profile, and it adapts by itself after a lasting change: once the window holds
the new level, the new level is normal.

- Reference: the window's median and spread are recomputed every ``refresh`` buckets, on the
  buckets strictly before the block (so a bucket never explains itself, and a spike does not
  hide in its own window); the blocks are aligned to UTC multiples of their width, so the same
  bucket gets the same reference whatever the series starts with.
- Noise: the window's spread, with a floor so that flat windows (a gauge stuck at one value,
  a count that is mostly 0) do not turn the smallest change into an alarm: for counts the
  Poisson floor ``sqrt(max(median, 1))``, for other metrics a share of the spread typical of the
  training history.
- Calibration: ``fit`` scores the training history against its own rolling reference and widens
  the noise so that the training's ``tail_quantile`` of |z| lands where a normal distribution's
  does (see ``tail_factor`` in ``loglens.detect.residuals``). A jumpy series is thus judged
  against its usual jumps, a calm one against its calm.
- Windows: runs of large z, and ``sustain``-bucket stretches that are off together (a level
  shift, a rise in variance that leans one way) are found and explained by the shared residual
  windows, as the seasonal baseline's are; a long run reads as a level shift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from loglens.detect.base import Anomaly, DetectError, NotEnoughHistoryError
from loglens.detect.residuals import (
    MAD_TO_SIGMA,
    Prediction,
    WindowRules,
    check_grid,
    find_windows,
    infer_step,
    is_count_like,
    silence_windows,
    to_micros,
    usable,
    validate_common,
    window_anomaly,
)
from loglens.series import Series

_MEDIAN_SE = 1.2533  # standard error of a median, in units of sigma / sqrt(n)
_MEAN_ABS_TO_SIGMA = 1.2533  # a normal distribution's sigma per unit of mean absolute deviation
_FLOOR_SHARE = 0.25  # noise floor: this share of the training history's typical spread
_LEVEL_SHARE = 0.01  # ... and at least this share of its typical level


def normal_two_sided_quantile(q: float) -> float:
    """The ``z`` with ``P(|Z| ≤ z) = q`` for a standard normal ``Z`` (bisection on erfc)."""
    if not 0.0 < q < 1.0:
        raise DetectError(f"a quantile must lie strictly between 0 and 1, got {q!r}")
    low, high = 0.0, 40.0
    for _ in range(100):
        middle = (low + high) / 2
        if math.erfc(middle / math.sqrt(2.0)) > 1.0 - q:
            low = middle
        else:
            high = middle
    return (low + high) / 2


@dataclass
class _Reference:
    """Per bucket: the trailing window's median, robust spread, and how many values it held."""

    median: NDArray[np.float64]
    sigma: NDArray[np.float64]
    mean_abs: NDArray[np.float64]
    count: NDArray[np.int64]


def _sorted_rows_median(rows: NDArray[np.float64], count: NDArray[np.int64]) -> NDArray[np.float64]:
    """Median of each row of an already sorted matrix whose NaNs sort last."""
    safe = np.maximum(count, 1)
    index = np.arange(len(rows))
    low = rows[index, (safe - 1) // 2]
    high = rows[index, safe // 2]
    return np.where(count > 0, (low + high) / 2, np.nan)


def rolling_reference(
    values: NDArray[np.float64], micros: NDArray[np.int64], step: int, window: int, refresh: int
) -> _Reference:
    """Median and robust spread of the ``window`` buckets before each bucket's block.

    Blocks are ``refresh`` buckets wide and aligned to UTC multiples of ``refresh · step``; every
    bucket of a block shares the reference of the window that ends where the block starts. NaN
    values (no usable value) are left out of the windows.

    Args:
        values: the series (NaN where there is no usable value).
        micros: bucket starts in microseconds, on a regular grid of ``step``.
        step: the bucket width in microseconds.
        window: trailing buckets per reference.
        refresh: buckets per block.
    """
    n = len(values)
    if n == 0:
        empty = np.empty(0)
        return _Reference(empty, empty, empty, np.empty(0, dtype=np.int64))
    block = (micros // (refresh * step)).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, block[1:] != block[:-1]])
    padded = np.concatenate([np.full(window, np.nan), values])
    rows = sliding_window_view(padded, window)[starts]  # the window before each block start
    rows = np.sort(rows, axis=1)
    count = np.isfinite(rows).sum(axis=1).astype(np.int64)
    median = _sorted_rows_median(rows, count)
    deviation = np.sort(np.abs(rows - median[:, np.newaxis]), axis=1)
    mad = _sorted_rows_median(deviation, count)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_abs = np.nansum(deviation, axis=1) / np.maximum(count, 1)
    which = np.cumsum(np.r_[False, block[1:] != block[:-1]])
    return _Reference(
        median=median[which],
        sigma=MAD_TO_SIGMA * mad[which],
        mean_abs=np.where(count > 0, mean_abs, np.nan)[which],
        count=count[which],
    )


class RollingRobust:
    """Robust z of each bucket against the median and spread of the hours before it.

    Args:
        window_hours: length of the trailing window the reference comes from.
        refresh: the reference is recomputed every ``refresh`` buckets (None: an eighth of the
            window, so a long window stays cheap on long series).
        min_buckets: fewest usable buckets a window needs to give a reference (and the training
            history needs twice as many); buckets without a reference score NaN.
        threshold: robust z at which a bucket, or a ``sustain``-bucket stretch, is anomalous.
        tail_quantile: the quantile of the training history's |z| that is calibrated to a
            normal distribution's (see the module docstring).
        min_count: for counts, the smallest total |observed − expected| (events) a window must
            have to be reported.
        sustain: width (buckets) of the stretches that catch moderate but lasting changes and
            bursts of variance.
        max_gap: quiet buckets allowed inside one window before it is split in two.
        level_shift_buckets: a window at least this long is reported as a level shift.
        unit: the metric's word in explanations.
    """

    name = "rolling"

    def __init__(
        self,
        window_hours: float = 72.0,
        refresh: int | None = None,
        min_buckets: int = 12,
        threshold: float = 4.0,
        tail_quantile: float = 0.99,
        min_count: float = 5.0,
        sustain: int = 6,
        max_gap: int = 2,
        level_shift_buckets: int = 12,
        unit: str = "events",
    ) -> None:
        self.window_hours = window_hours
        self.refresh = refresh
        self.min_buckets = min_buckets
        self.threshold = threshold
        self.tail_quantile = tail_quantile
        self.min_count = min_count
        self.sustain = sustain
        self.max_gap = max_gap
        self.level_shift_buckets = level_shift_buckets
        self.unit = unit

    def _validate(self) -> None:
        validate_common(self.threshold, self.sustain, self.min_count)
        if not (np.isfinite(self.window_hours) and self.window_hours > 0):
            raise DetectError(f"window_hours must be positive, got {self.window_hours!r}")
        if self.refresh is not None and self.refresh < 1:
            raise DetectError(f"refresh must be at least 1 bucket, got {self.refresh!r}")
        if self.min_buckets < 2 or self.max_gap < 0 or self.level_shift_buckets < 1:
            raise DetectError("min_buckets must be ≥ 2, max_gap ≥ 0, level_shift_buckets ≥ 1")
        if not 0.5 <= self.tail_quantile < 1.0:
            raise DetectError(f"tail_quantile must lie in [0.5, 1), got {self.tail_quantile!r}")

    def fit(self, history: Series) -> RollingRobust:
        """Learn the noise floor and the tail calibration from ``history``.

        Raises:
            NotEnoughHistoryError: fewer than twice ``min_buckets`` usable buckets, or none with
                a full enough window before it.
            DetectError: bad parameters or an irregular bucket grid.
        """
        self._validate()
        step = infer_step(history.buckets)
        ok = usable(history)
        if int(ok.sum()) < 2 * self.min_buckets:
            raise NotEnoughHistoryError(
                f"{int(ok.sum())} buckets with values, {2 * self.min_buckets} needed",
                location=history.name,
            )
        self.step_ = step
        self.window_ = max(self.min_buckets, round(self.window_hours * 3600e6 / step))
        self.refresh_ = self.refresh or max(1, self.window_ // 8)
        values = np.where(ok, history.values, np.nan)
        self.count_like_ = is_count_like(values)
        micros = to_micros(history.buckets)
        reference = rolling_reference(values, micros, step, self.window_, self.refresh_)
        seen = ok & (reference.count >= self.min_buckets)
        if not seen.any():
            raise NotEnoughHistoryError(
                f"no bucket has {self.min_buckets} values in the {self.window_hours:g} h before it",
                location=history.name,
            )
        sigma = reference.sigma[seen]
        typical = float(np.median(sigma))
        if typical <= 0:
            # Mostly flat windows (a count that is mostly 0 with bursts): the mean absolute
            # deviation still sees the bursts where the median absolute deviation cannot.
            positive = reference.mean_abs[seen]
            typical = (
                _MEAN_ABS_TO_SIGMA * float(np.median(positive[positive > 0]))
                if (positive > 0).any()
                else 0.0
            )
        level = float(np.median(np.abs(values[ok])))
        self.floor_ = max(_FLOOR_SHARE * typical, _LEVEL_SHARE * level, 1e-9)
        self.tail_factor_ = 1.0
        z = self._prediction(values, ok, reference).z(values)
        finite = np.abs(z[np.isfinite(z)])
        if finite.size >= self.min_buckets:
            wanted = normal_two_sided_quantile(self.tail_quantile)
            self.tail_factor_ = max(1.0, float(np.quantile(finite, self.tail_quantile)) / wanted)
        self.training_buckets_ = int(seen.sum())
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "tail_factor_"):
            raise DetectError("RollingRobust is not fitted; call fit(history) first")

    def _prediction(
        self, values: NDArray[np.float64], ok: NDArray[np.bool_], reference: _Reference
    ) -> Prediction:
        if self.count_like_:
            floor = np.sqrt(np.maximum(np.nan_to_num(reference.median), 1.0))
        else:
            floor = np.full(len(values), self.floor_)
        noise = np.fmax(reference.sigma, floor) * self.tail_factor_
        count = np.maximum(reference.count, 1)
        bias = _MEDIAN_SE * noise / np.sqrt(count)
        return Prediction(
            expected=reference.median,
            noise=noise,
            bias=bias,
            usable=ok & (reference.count >= self.min_buckets),
            bias_span=self.window_,
            counts=self.count_like_,
        )

    def predict(self, series: Series) -> Prediction:
        """The rolling reference (expected value, noise, bias) for every bucket of ``series``."""
        self._check_fitted()
        micros = to_micros(series.buckets)
        check_grid(micros, self.step_)
        if len(micros) > 1 and np.any(np.diff(micros) != self.step_):
            raise DetectError("scored buckets must be consecutive buckets of the training grid")
        ok = usable(series)
        values = np.where(ok, series.values, np.nan)
        reference = rolling_reference(values, micros, self.step_, self.window_, self.refresh_)
        return self._prediction(values, ok, reference)

    def expected(self, series: Series) -> NDArray[np.float64]:
        """The rolling median per bucket of ``series`` (for charts and reports)."""
        return self.predict(series).expected

    def zscores(self, series: Series) -> NDArray[np.float64]:
        """Signed robust z per bucket (negative below the reference); NaN without a value."""
        return self.predict(series).z(series.values)

    def score(self, series: Series) -> NDArray[np.float64]:
        """|robust z| per bucket; higher is more anomalous, NaN where nothing can be said."""
        return np.abs(self.zscores(series))

    def _rules(self) -> WindowRules:
        return WindowRules(
            threshold=self.threshold,
            sustain=self.sustain,
            max_gap=self.max_gap,
            min_count=self.min_count,
            level_shift_buckets=self.level_shift_buckets,
            count_like=self.count_like_,
        )

    def detect(self, series: Series) -> list[Anomaly]:
        """Spike, dip, level-shift and silence anomalies of ``series``, earliest first."""
        prediction = self.predict(series)
        rules = self._rules()
        windows = find_windows(series.values, prediction, rules)
        windows += silence_windows(series, prediction, rules)
        hours = f"{self.window_hours:g}"
        reason = f"median of the previous {hours} h"
        extra = {"window_hours": self.window_hours, "tail_factor": round(self.tail_factor_, 3)}
        anomalies = [
            window_anomaly(
                series,
                window,
                prediction,
                detector=self.name,
                step=self.step_,
                reason=reason,
                unit=self.unit,
                extra=extra,
            )
            for window in windows
        ]
        return sorted(anomalies, key=lambda a: (a.start, a.kind))
