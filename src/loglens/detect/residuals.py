"""Residual scoring shared by the series detectors (seasonal baseline, spectral).

A fitted series detector predicts, for every scored bucket, an ``expected`` value, the ``noise``
around it (the standard deviation of a normal bucket) and ``bias``, the standard deviation of the
prediction's own error (a median of a dozen values is not exact). From these this module derives
the one score scale every detector shares, a robust z::

    z = (observed - expected) / sqrt(noise² + bias²)

and turns runs of large z into anomaly windows. Runs are found at two time scales: one bucket
far off (``|z| ≥ threshold``), or a stretch of ``sustain`` buckets that is off together even if
no single bucket is (a moderate level shift, a long dip). For a stretch the prediction errors do
not average out like noise does (neighbouring buckets share them: a baseline pools neighbours, a
spectral model is smooth), so a stretch's z counts each bias ``span`` times, where ``span`` is how
many neighbouring buckets share a prediction error::

    z = sum(r) / sqrt(sum(noise²) + min(span, n) · sum(bias²))

The edges of a stretch are trimmed back to buckets that themselves lean the same way by at least
``EDGE_Z``, so a short spike does not drag its quiet neighbours into the window.

Silence (the data source sent nothing at all) is not a low value: those buckets are left out of
the z runs and become their own "silence" windows where the model expected traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from loglens.detect.base import Anomaly, DetectError, NotEnoughHistoryError, severity_for
from loglens.detect.explain import anomaly_id, describe, format_number, format_time
from loglens.series import Series

US_PER_DAY = 86_400_000_000
MAD_TO_SIGMA = 1.4826  # a normal distribution's sigma per unit of median absolute deviation
STRETCH_CAP = 0.75  # residuals enter a stretch capped at this share of the threshold
EDGE_Z = 1.0  # a window's first and last buckets must be at least this far off on their own
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(buckets: NDArray[np.datetime64]) -> NDArray[np.int64]:
    """Bucket starts as integer microseconds since the epoch (UTC)."""
    return np.asarray(buckets, dtype="datetime64[us]").astype(np.int64)


def to_datetime(micros: int | np.integer[Any]) -> datetime:
    """Microseconds since the epoch as an aware UTC datetime."""
    return _EPOCH + timedelta(microseconds=int(micros))


def infer_step(buckets: NDArray[np.datetime64]) -> int:
    """The bucket width in microseconds, from a training series' bucket starts.

    Raises:
        NotEnoughHistoryError: fewer than two buckets.
        DetectError: buckets not increasing, not on one grid, or a width that does not divide a
            day (time-of-day profiles need every day to have the same buckets).
    """
    micros = to_micros(buckets)
    if len(micros) < 2:
        raise NotEnoughHistoryError("a training series needs at least two buckets")
    steps = np.diff(micros)
    step = int(steps.min())
    if step <= 0:
        raise DetectError("bucket starts must be strictly increasing")
    if np.any(steps % step):
        raise DetectError("bucket starts are not on one regular grid")
    if US_PER_DAY % step:
        raise DetectError(f"a bucket width of {step / 1e6:g} s does not divide a day evenly")
    return step


def check_grid(micros: NDArray[np.int64], step: int) -> None:
    """Raise ``DetectError`` unless the scored buckets lie on the training grid."""
    if len(micros) and np.any(micros % step):
        raise DetectError(
            f"scored buckets are not on the training grid of {step / 1e6:g}-second buckets"
        )


def usable(series: Series) -> NDArray[np.bool_]:
    """Buckets with a real value: active, not silent, finite."""
    return np.asarray(series.active & ~series.silent & np.isfinite(series.values), dtype=bool)


def is_count_like(values: NDArray[np.float64]) -> bool:
    """True when every finite value is a non-negative whole number (counts, distinct counts)."""
    finite = values[np.isfinite(values)]
    return bool(len(finite)) and bool(np.all(finite >= 0) and np.all(finite == np.floor(finite)))


def mad_sigma(values: NDArray[np.float64]) -> float:
    """Robust standard deviation (1.4826 × median absolute deviation) of the finite values."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return float("nan")
    return float(MAD_TO_SIGMA * np.median(np.abs(finite - np.median(finite))))


USUAL_SILENCE = 0.5  # silent on at least this share of training days at a time of day


def silence_share(
    micros: NDArray[np.int64], silent: NDArray[np.bool_], valued: NDArray[np.bool_], step: int
) -> NDArray[np.float64]:
    """Per time-of-day bucket, the share of training days on which the source was silent.

    ``silent`` and ``valued`` mark the training buckets that were silent or had a value (buckets
    outside the source's life count as neither). A time of day never seen gets 0.
    """
    per_day = US_PER_DAY // step
    tod = (micros % US_PER_DAY) // step
    quiet = np.bincount(tod[silent], minlength=per_day)
    seen = quiet + np.bincount(tod[valued & ~silent], minlength=per_day)
    return np.asarray(quiet / np.maximum(seen, 1), dtype=np.float64)


def day_jitter(
    micros: NDArray[np.int64],
    values: NDArray[np.float64],
    expected: NDArray[np.float64],
    noise: NDArray[np.float64],
    *,
    relative: bool,
) -> float:
    """How much whole training days sit above or below the model, beyond bucket noise.

    Traffic has busy and quiet days: every bucket of a busy day is a little high, and a
    window of a few hours adds those small excesses up into what looks like a level shift.
    The day's total against the model's (as a log ratio when ``relative``, else the mean
    difference per bucket) varies from day to day; its robust spread, less what bucket noise
    alone gives, is the day-level standard deviation. 0 with fewer than five whole days.
    """
    ok = np.isfinite(values) & np.isfinite(expected) & np.isfinite(noise)
    if not ok.any():
        return 0.0
    _, day = np.unique(micros[ok] // US_PER_DAY, return_inverse=True)
    count = np.bincount(day)
    observed = np.bincount(day, values[ok])
    model = np.bincount(day, expected[ok])
    variance = np.bincount(day, noise[ok] ** 2)
    whole = count >= max(2, int(count.max()) // 2)
    if relative:
        keep = whole & (model > 0) & (observed > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            deviation = np.log(observed / model)
            chance = variance / model**2
    else:
        keep = whole
        deviation = (observed - model) / np.maximum(count, 1)
        chance = variance / np.maximum(count, 1) ** 2
    if keep.sum() < 5:
        return 0.0
    spread = mad_sigma(deviation[keep])
    excess = spread**2 - float(np.median(chance[keep]))
    return float(np.sqrt(excess)) if np.isfinite(excess) and excess > 0 else 0.0


_NORMAL_Q99 = 2.5758  # |z| exceeded by 1% of a normal distribution


def tail_factor(z: NDArray[np.float64]) -> float:
    """How much wider than normal the tails of training z-scores are (≥ 1).

    A MAD describes the middle of the residuals; bursty traffic or a jumpy gauge has tails far
    heavier than a normal distribution with that spread, and would cross any threshold every
    day. The noise is widened so that the training data's 99th percentile of |z| is where a
    normal distribution's is. Past incidents rarely fill 1% of a training window, so they do not
    set the scale.
    """
    finite = np.abs(z[np.isfinite(z)])
    if len(finite) < 100:
        return 1.0
    return max(1.0, float(np.quantile(finite, 0.99)) / _NORMAL_Q99)


_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def log_normal_tail(z: float) -> float:
    """``log P(Z > z)`` of a standard normal, accurate far into the tail."""
    if z < 30:
        return math.log(0.5 * math.erfc(z / math.sqrt(2)))
    return -0.5 * z * z - math.log(z) - _LOG_SQRT_2PI + math.log1p(-1 / (z * z))


def z_for_tail(log_p: float) -> float:
    """The z whose upper normal tail probability is ``exp(log_p)`` (0 for p ≥ ½).

    Every detector speaks in z; a probability from another model (Poisson silence, a new
    category) is put on the same scale this way.
    """
    if not log_p < math.log(0.5):
        return 0.0
    if log_p == -math.inf:
        return math.inf
    t = -log_p
    z = math.sqrt(max(2 * t - math.log(4 * math.pi * t), 1e-6))  # asymptotic start
    for _ in range(6):
        tail = log_normal_tail(z)
        density = -0.5 * z * z - _LOG_SQRT_2PI
        # d/dz log Q(z) = -φ(z) / Q(z)
        step = (tail - log_p) / -math.exp(density - tail)
        z -= step
        if abs(step) < 1e-9:
            break
    return max(z, 0.0)


def threshold_for(tests: int, alpha: float = 0.01) -> float:
    """The one-sided z at which ``tests`` independent normal buckets give ``alpha`` false alarms.

    A z of 4 happens by chance once in 30,000 buckets; a run over dozens of series and
    thousands of buckets makes that many tests, so the threshold grows with them (Bonferroni).
    """
    return z_for_tail(math.log(alpha / max(int(tests), 1)))


def poisson_log_tail(count: float, mean: float) -> float:
    """``log P(X ≥ count)`` for ``X ~ Poisson(mean)`` (log-space, no underflow)."""
    if count <= 0:
        return 0.0
    if mean <= 0:
        return -math.inf
    k = math.ceil(count)
    if mean > k:
        return 0.0  # at or below the mean: nothing unusual
    log_term = k * math.log(mean) - mean - math.lgamma(k + 1)
    total, term = log_term, log_term
    for j in range(k + 1, k + 200):
        term += math.log(mean / j)
        total = float(np.logaddexp(total, term))
        if term < total - 40:
            break
    return min(total, 0.0)


@dataclass(frozen=True)
class LogScale:
    """Heavy-tailed sums (bytes) judged on a log scale: ``y = log1p(x / offset)``.

    A sum over a few events of heavy-tailed sizes is off by a factor, not by an amount: one
    large file copied at night is hundreds of times the night's median, and a linear noise
    model calls that critical every night. On the log scale a factor is a distance. The offset
    is the series' typical non-zero bucket, so that an empty bucket and one with a typical
    transfer are about ``log 2`` apart rather than infinitely far.
    """

    offset: float

    @classmethod
    def learn(cls, values: NDArray[np.float64]) -> LogScale:
        """The scale of a training series: its median positive value as the offset."""
        positive = values[np.isfinite(values) & (values > 0)]
        return cls(float(np.median(positive)) if len(positive) else 1.0)

    def forward(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """Linear values to the log scale (NaN stays NaN)."""
        with np.errstate(invalid="ignore"):
            return np.log1p(np.maximum(values, 0.0) / self.offset)

    def inverse(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """Log-scale values back to linear units."""
        return self.offset * np.expm1(values)

    def series(self, series: Series) -> Series:
        """``series`` with its values on the log scale."""
        return replace(series, values=self.forward(series.values))


def in_linear_units(
    windows: list[Window], values: NDArray[np.float64], prediction: Prediction, scale: LogScale
) -> tuple[list[Window], Prediction]:
    """Windows found on the log scale with their totals (and a prediction) in linear units."""
    linear = replace(prediction, expected=scale.inverse(prediction.expected))
    for window in windows:
        part = slice(window.first, window.stop)
        ok = np.isfinite(values[part]) & prediction.usable[part]
        window.observed = float(values[part][ok].sum()) if window.kind != "silence" else 0.0
        window.expected = float(
            np.abs(linear.expected[part][np.isfinite(linear.expected[part])]).sum()
        )
    return windows, linear


def validate_common(threshold: float, sustain: int, min_count: float) -> None:
    """Clear errors for the parameters every series detector shares."""
    if not (np.isfinite(threshold) and threshold > 0):
        raise DetectError(f"threshold must be a positive number, got {threshold!r}")
    if sustain < 1:
        raise DetectError(f"sustain must be at least 1 bucket, got {sustain!r}")
    if not (np.isfinite(min_count) and min_count >= 0):
        raise DetectError(f"min_count must be zero or more, got {min_count!r}")


@dataclass
class Prediction:
    """A fitted model's view of a scored series, bucket by bucket.

    ``bias_span`` is how many neighbouring buckets share one prediction error (see the module
    docstring); the default treats every bucket's error as shared by all.
    """

    expected: NDArray[np.float64]
    noise: NDArray[np.float64]
    bias: NDArray[np.float64]
    usable: NDArray[np.bool_]
    bias_span: int = 1 << 30
    counts: bool = False
    usual_silence: NDArray[np.bool_] | None = None  # silence is normal here (see below)
    # Standard deviation of the whole day's level per bucket (a busy day is busy in every
    # bucket): shared by all buckets of a window, so it adds to a sum's spread in full.
    level: NDArray[np.float64] | None = None

    def spread(self, noise2: Any, bias2: Any, count: Any, level_sum: Any = 0.0) -> Any:
        """Standard deviation of a sum of residuals over ``count`` buckets."""
        return np.sqrt(noise2 + np.minimum(self.bias_span, count) * bias2 + level_sum**2)

    def level_of(self, part: slice | NDArray[np.bool_]) -> NDArray[np.float64]:
        """The day-level standard deviation of the chosen buckets (zeros when not modelled)."""
        if self.level is None:
            return np.zeros(len(self.expected))[part]
        return np.asarray(self.level[part], dtype=np.float64)

    def z(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        """Signed robust z per bucket; NaN where the bucket has no usable value.

        For counts above expectation the z is taken on the square-root scale, where Poisson
        noise is nearly symmetric: ``(x - e) / spread`` times ``2·√m / (√x + √m)`` with
        ``m = max(e, 1)``. Without it, 6 events where 1 was expected would read as z = 5 although
        Poisson traffic does that about once a week in 15-minute buckets. Below expectation the
        plain z already matches Poisson's lighter lower tail, so it is kept.
        """
        level = self.level if self.level is not None else 0.0
        spread = np.sqrt(self.noise**2 + self.bias**2 + level**2)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = (values - self.expected) / spread
            if self.counts:
                root = np.sqrt(np.maximum(self.expected, 1.0))
                shrink = 2 * root / (np.sqrt(np.maximum(values, 0.0)) + root)
                z = np.where(z > 0, z * shrink, z)
        return np.where(self.usable & np.isfinite(z), z, np.nan)


@dataclass
class Window:
    """A run of anomalous buckets ``[first, stop)`` and its totals."""

    first: int
    stop: int
    kind: str
    score: float
    observed: float
    expected: float
    peak: int
    peak_z: float
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WindowRules:
    """How z runs become windows (shared by the series detectors)."""

    threshold: float
    sustain: int
    max_gap: int
    min_count: float
    level_shift_buckets: int
    count_like: bool
    # Heavy-tailed sums (bytes): one bucket can hold one huge transfer, normal for a file
    # server, so a window's largest bucket counts only as much as its runner-up (and a single
    # bucket never makes a window).
    heavy_tailed: bool = False


def _stretch_z(
    residual: NDArray[np.float64], prediction: Prediction, width: int, cap: float
) -> NDArray[Any]:
    """z of the centred ``width``-bucket sums of residuals (0 where too few usable buckets).

    Each residual is capped at ``cap`` standard deviations first: a stretch is for changes that
    are moderate but lasting, and without the cap one big spike would make every stretch that
    touches it look anomalous too.
    """
    n = len(residual)
    ok = prediction.usable & np.isfinite(residual)
    limit = cap * np.sqrt(prediction.noise**2 + prediction.bias**2)
    r = np.where(ok, np.clip(residual, -limit, limit), 0.0)
    noise2 = np.where(ok, prediction.noise**2, 0.0)
    bias2 = np.where(ok, prediction.bias**2, 0.0)
    level = np.where(ok, prediction.level_of(slice(None)), 0.0)
    arrays = (r, noise2, bias2, ok.astype(float), level)
    sums = [np.concatenate(([0.0], np.cumsum(a))) for a in arrays]
    lo = np.clip(np.arange(n) - width // 2, 0, n)
    hi = np.clip(lo + width, 0, n)
    total, noise_sum, bias_sum, count, level_sum = (s[hi] - s[lo] for s in sums)
    spread = prediction.spread(noise_sum, bias_sum, count, level_sum)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = total / spread
    enough = count >= max(2, (width + 1) // 2)
    return np.where(enough & np.isfinite(z), z, 0.0)


def _runs(mask: NDArray[np.bool_], max_gap: int) -> list[tuple[int, int]]:
    """``[first, stop)`` runs of True, joining runs separated by at most ``max_gap`` False."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    runs: list[tuple[int, int]] = []
    for first, stop in zip(starts.tolist(), stops.tolist(), strict=True):
        if runs and first - runs[-1][1] <= max_gap:
            runs[-1] = (runs[-1][0], stop)
        else:
            runs.append((first, stop))
    return runs


def _grown(hot: NDArray[np.bool_], leaning: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """``hot`` extended over the unbroken runs of ``leaning`` buckets that touch it."""
    grown = hot.copy()
    for first, stop in _runs(leaning | hot, 0):
        if hot[first:stop].any():
            grown[first:stop] = True
    return grown


def _join_leaning(
    runs: list[tuple[int, int]], residual: NDArray[np.float64], sign: float, reach: int
) -> list[tuple[int, int]]:
    """Join runs at most ``reach`` buckets apart when the buckets between lean the same way.

    A long shift crosses quiet hours where single buckets are too small to stand out; its
    pieces are one change, not several.
    """
    joined: list[tuple[int, int]] = []
    for first, stop in runs:
        if joined and first - joined[-1][1] <= reach:
            between = residual[joined[-1][1] : first]
            if sign * float(np.nansum(between)) > 0:
                joined[-1] = (joined[-1][0], stop)
                continue
        joined.append((first, stop))
    return joined


def find_windows(
    values: NDArray[np.float64], prediction: Prediction, rules: WindowRules
) -> list[Window]:
    """Spike, dip and level-shift windows of a scored series (silent buckets left out)."""
    z = prediction.z(values)
    residual = np.where(np.isfinite(z), values - prediction.expected, np.nan)
    stretch = None
    if rules.sustain > 1:
        cap = STRETCH_CAP * rules.threshold
        stretch = _stretch_z(residual, prediction, rules.sustain, cap)
        if rules.sustain >= 4:
            # A change lasting half a stretch is diluted by the quiet other half; a stretch of
            # half the width catches it (an hour-long upload in 15-minute buckets).
            half = _stretch_z(residual, prediction, rules.sustain // 2, cap)
            stretch = np.where(np.abs(half) > np.abs(stretch), half, stretch)
    valid = np.isfinite(z)
    z0 = np.where(valid, z, 0.0)
    windows: list[Window] = []
    for sign in (1.0, -1.0):
        hot = valid & (sign * z0 >= rules.threshold)
        if stretch is not None:
            # A bucket joins a stretch only if it leans the same way: this trims the edges the
            # centred sum smears over.
            hot |= valid & (sign * stretch >= rules.threshold) & (sign * z0 > 0)
        if rules.heavy_tailed:
            # Its score leans on the neighbours (the largest bucket alone counts for little),
            # so a window takes in the buckets around it that are off the same way too.
            hot = _grown(hot, valid & (sign * z0 >= EDGE_Z))
        runs = []
        for first, stop in _runs(hot, rules.max_gap):
            lean = sign * z0[first:stop] >= min(EDGE_Z, rules.threshold)
            if lean.any():
                runs.append((first + int(np.argmax(lean)), stop - int(np.argmax(lean[::-1]))))
        for first, stop in _join_leaning(runs, residual, sign, rules.sustain):
            window = _summarise(values, prediction, z, first, stop, sign, rules)
            if window is not None:
                windows.append(window)
    windows.sort(key=lambda w: w.first)
    return windows


def _summarise(
    values: NDArray[np.float64],
    prediction: Prediction,
    z: NDArray[np.float64],
    first: int,
    stop: int,
    sign: float,
    rules: WindowRules,
) -> Window | None:
    part = slice(first, stop)
    ok = np.isfinite(z[part])
    if not ok.any():
        return None
    observed = float(values[part][ok].sum())
    expected = float(prediction.expected[part][ok].sum())
    change = observed - expected
    # A minimum in events means nothing for shares or byte sums, so it applies to counts only.
    least = rules.min_count if rules.count_like else 0.0
    if sign * change < least or sign * change <= 0:
        return None
    spread = prediction.spread(
        float((prediction.noise[part][ok] ** 2).sum()),
        float((prediction.bias[part][ok] ** 2).sum()),
        int(ok.sum()),
        float(prediction.level_of(part)[ok].sum()),
    )
    window_z = abs(change) / spread if spread > 0 else float("inf")
    signed = np.where(ok, sign * z[part], -np.inf)
    peak = first + int(np.argmax(signed))
    peak_z = float(abs(z[peak]))
    score = max(peak_z, window_z)
    if rules.heavy_tailed:
        score = _winsorised_z(values, prediction, part, ok, sign)
    if score < rules.threshold:
        return None
    if stop - first >= rules.level_shift_buckets:
        kind = "level_shift"
    else:
        kind = "spike" if sign > 0 else "dip"
    return Window(
        first,
        stop,
        kind,
        score,
        observed,
        expected,
        peak,
        peak_z,
        {"window_z": round(float(window_z), 3), "direction": "up" if sign > 0 else "down"},
    )


def _winsorised_z(
    values: NDArray[np.float64],
    prediction: Prediction,
    part: slice,
    ok: NDArray[np.bool_],
    sign: float,
) -> float:
    """The window's z with its largest bucket counted only as much as the runner-up.

    A single bucket scores 0: in a heavy-tailed sum it can be one large transfer.
    """
    residual = sign * (values[part][ok] - prediction.expected[part][ok])
    if len(residual) < 2:
        return 0.0
    top = int(np.argmax(residual))
    residual[top] = np.partition(residual, -2)[-2]
    spread = prediction.spread(
        float((prediction.noise[part][ok] ** 2).sum()),
        float((prediction.bias[part][ok] ** 2).sum()),
        int(ok.sum()),
        float(prediction.level_of(part)[ok].sum()),
    )
    return max(float(residual.sum()), 0.0) / spread if spread > 0 else float("inf")


def silence_windows(series: Series, prediction: Prediction, rules: WindowRules) -> list[Window]:
    """Runs of silent buckets where the model expected traffic, scored by how unlikely they are.

    For counts the score is the z of the chance of seeing nothing at all: ``P(0) = exp(-E)``
    for Poisson traffic with ``E`` events expected over the run, and ``φ^(-E / (φ - 1))`` for
    traffic ``φ`` times burstier than Poisson (a negative binomial with variance ``φ·E``): a
    sparse source that sends a few alerts an hour is silent for an hour now and then. For other
    metrics it is the expected total over its spread. Runs scoring below the threshold, and
    for counts runs with fewer than ``min_count`` events expected, are not reported. Buckets at
    a time of day when the source was silent on most training days (a source that only sends
    in office hours) are not unusual and are left out.
    """
    silent = np.asarray(series.silent & series.active, dtype=bool)
    if prediction.usual_silence is not None:
        silent &= ~prediction.usual_silence
    windows: list[Window] = []
    for first, stop in _runs(silent, 0):
        part = slice(first, stop)
        expected_values = prediction.expected[part]
        finite = np.isfinite(expected_values)
        if not finite.any():
            continue
        expected = float(np.abs(expected_values[finite]).sum())
        if (rules.count_like and expected < max(rules.min_count, 1.0)) or expected == 0:
            continue
        noise2 = float((prediction.noise[part][finite] ** 2).sum())
        bias2 = float((prediction.bias[part][finite] ** 2).sum())
        level_sum = float(prediction.level_of(part)[finite].sum())
        if rules.count_like:
            positive = float(np.maximum(expected_values[finite], 1.0).sum())
            dispersion = max(1.0, (noise2 + bias2 + level_sum**2) / positive)
            if dispersion > 1.0 + 1e-9:
                log_p0 = -expected * math.log(dispersion) / (dispersion - 1.0)
            else:
                log_p0 = -expected
            score = z_for_tail(log_p0)
        else:
            spread = prediction.spread(noise2, bias2, int(finite.sum()), level_sum)
            score = expected / spread if spread > 0 else float("inf")
        if score < rules.threshold:
            continue
        peak = first + int(np.argmax(np.where(finite, np.abs(expected_values), -np.inf)))
        windows.append(
            Window(
                first,
                stop,
                "silence",
                score,
                0.0,
                expected,
                peak,
                float("nan"),
                {"window_z": round(float(score), 3)},
            )
        )
    return windows


def window_anomaly(
    series: Series,
    window: Window,
    prediction: Prediction,
    *,
    detector: str,
    step: int,
    reason: str,
    unit: str,
    extra: dict[str, Any] | None = None,
) -> Anomaly:
    """The ``Anomaly`` record of one window, explained and with its stable id."""
    micros = to_micros(series.buckets)
    start = to_datetime(micros[window.first])
    end = to_datetime(micros[window.stop - 1] + step)
    peak_time = to_datetime(micros[window.peak])
    peak_observed = float(series.values[window.peak])
    peak_expected = float(prediction.expected[window.peak])
    details: dict[str, Any] = {
        "unit": unit,
        "buckets": window.stop - window.first,
        "interval_seconds": step / 1e6,
        "peak": {
            "time": peak_time.isoformat(),
            "observed": peak_observed,
            "expected": peak_expected,
            "z": None if not np.isfinite(window.peak_z) else round(window.peak_z, 3),
        },
        "sources": list(series.sources),
        **window.details,
        **(extra or {}),
    }
    if window.kind == "silence":
        line = (
            f"{detector}: silent for {window.stop - window.first} buckets, "
            f"{format_number(window.expected)} {unit} expected ({reason})"
        )
    else:
        line = (
            f"{detector}: z {window.score:.1f} over {_buckets(window.stop - window.first)}; "
            f"peak {format_time(peak_time)} UTC {format_number(peak_observed)} vs "
            f"{format_number(peak_expected)} expected ({reason})"
        )
    anomaly = Anomaly(
        series_key=series.key,
        series_name=series.name,
        start=start,
        end=end,
        detector=detector,
        score=float(window.score),
        severity=severity_for(window.score),
        observed=window.observed,
        expected=window.expected,
        explanation="",
        kind=window.kind,
        reasons=[line],
        details=details,
    )
    anomaly.explanation = describe(anomaly)
    anomaly.id = anomaly_id(series.key, start, end, window.kind)
    return anomaly


def _buckets(count: int) -> str:
    return "1 bucket" if count == 1 else f"{count} buckets"
