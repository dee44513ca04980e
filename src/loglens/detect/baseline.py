"""Seasonal baseline: what a normal Tuesday 02:30 looks like, and how far today is from it.

``SeasonalBaseline`` learns from a trailing window of history (30 days by default) a robust
expected value per time-of-day bucket — or per day-of-week × time-of-day bucket when the history
has enough weeks and the weekly profile predicts better — and the spread around it:

- expected: the median of the bucket's values over the training days, pooled with the
  neighbouring ``smooth`` buckets on each side (this is the smoothing: a 02:30 bucket also learns
  from 02:15 and 02:45, so a dozen values make a steady median even with only four weeks);
- noise: 1.4826 × the median absolute residual, pooled over a wider neighbourhood, with a floor
  so that near-constant or low-count series do not explode: for counts the Poisson floor
  ``sqrt(max(expected, 1))``, for other metrics a small share of the typical level and spread;
- bias: the standard deviation of the median itself (≈ 1.2533 × noise / √n).

Scores are robust z values (see ``loglens.detect.residuals``); consecutive anomalous buckets merge
into one ``Anomaly`` with observed vs expected totals and the peak bucket; a run of at least
``level_shift_hours`` reads as a level shift; silence where traffic was expected is its own kind.

``NewCategories`` (and the function ``new_categories``) flags group keys — an ``event.action``, a
protocol, a template — with events in the scored frame but none in the training window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray

from loglens.detect.base import Anomaly, DetectError, NotEnoughHistoryError, severity_for
from loglens.detect.explain import anomaly_id, describe, format_number
from loglens.detect.residuals import (
    US_PER_DAY,
    USUAL_SILENCE,
    LogScale,
    Prediction,
    WindowRules,
    check_grid,
    day_jitter,
    find_windows,
    in_linear_units,
    infer_step,
    is_count_like,
    poisson_log_tail,
    silence_share,
    silence_windows,
    tail_factor,
    to_datetime,
    to_micros,
    usable,
    validate_common,
    window_anomaly,
    z_for_tail,
)
from loglens.series import Series, SeriesFrame

_MEDIAN_SE = 1.2533  # standard error of a median, in units of sigma / sqrt(n)
_MONDAY_OFFSET = 3  # 1970-01-01 was a Thursday: (days since epoch + 3) % 7 is 0 on Mondays
_LOG_NOISE_FLOOR = 0.35  # on the log scale: a bucket 1.4× (or 0.7×) its usual is one sigma


@dataclass
class _Profile:
    """Per-phase expected value, noise and bias of one cycle (a day or a week)."""

    expected: NDArray[np.float64]
    noise: NDArray[np.float64]
    bias: NDArray[np.float64]
    cycles: NDArray[np.int64]  # training cycles with a value, per phase (before pooling)
    # Predictive variance per phase before the noise floors: floors keep z sane but would hide
    # which profile fits better (two profiles under the same floor look alike).
    fit_variance: NDArray[np.float64] | None = None

    def variance(self, phases: NDArray[np.int64]) -> float:
        """Mean predictive variance over the given phases (how well the profile predicts)."""
        if self.fit_variance is not None:
            return float(np.nanmean(self.fit_variance[phases]))
        return float(np.nanmean(self.noise[phases] ** 2 + self.bias[phases] ** 2))


def _pooled(matrix: NDArray[np.float64], half_width: int) -> NDArray[np.float64]:
    """Rows of ``matrix`` stacked with copies shifted by -half_width..half_width phases.

    Phases are circular (the bucket before Monday 00:00 of a weekly cycle is Sunday 23:45), so
    the median of a column pools a bucket with its neighbours across all cycles.
    """
    shifts = range(-half_width, half_width + 1)
    return np.concatenate([np.roll(matrix, shift, axis=1) for shift in shifts], axis=0)


def _nan_median_columns(stack: NDArray[np.float64]) -> NDArray[np.float64]:
    """Column medians ignoring NaN; NaN for an all-NaN column (without numpy's warning)."""
    ordered = np.sort(stack, axis=0)  # NaN sort last
    count = np.isfinite(stack).sum(axis=0)
    safe = np.maximum(count, 1)
    columns = np.arange(stack.shape[1])
    low = ordered[(safe - 1) // 2, columns]
    high = ordered[safe // 2, columns]
    return np.where(count > 0, (low + high) / 2, np.nan)


def _profile(
    phase: NDArray[np.int64],
    cycle: NDArray[np.int64],
    values: NDArray[np.float64],
    period: int,
    smooth: int,
    count_like: bool,
    floor: float = 0.0,
) -> _Profile:
    cycles, row = np.unique(cycle, return_inverse=True)
    matrix = np.full((len(cycles), period), np.nan)
    matrix[row, phase] = values
    expected = _nan_median_columns(_pooled(matrix, smooth))
    residuals = matrix - expected[np.newaxis, :]
    pooled_residuals = _pooled(residuals, max(2, 2 * smooth))
    # Residuals are centred on the median already, so their MAD is the median of |r|.
    noise = 1.4826 * _nan_median_columns(np.abs(pooled_residuals))
    count = np.isfinite(_pooled(matrix, smooth)).sum(axis=0)
    if count_like:
        noise = np.fmax(noise, np.sqrt(np.maximum(np.nan_to_num(expected), 1.0)))
    with np.errstate(divide="ignore", invalid="ignore"):
        fit_variance = noise**2 * (1 + _MEDIAN_SE**2 / count)
    if not count_like:
        level = float(np.nanmedian(np.abs(values))) if len(values) else 0.0
        typical = float(np.nanmedian(noise)) if np.isfinite(noise).any() else 0.0
        noise = np.fmax(noise, max(0.25 * typical, 0.01 * level, floor, 1e-9))
    with np.errstate(divide="ignore", invalid="ignore"):
        bias = _MEDIAN_SE * noise / np.sqrt(count)
    # In-sample residuals sit a little closer to their own median than new values will.
    noise = noise * np.sqrt(np.where(count > 1, count / np.maximum(count - 1, 1), 1.0))
    return _Profile(expected, noise, bias, np.isfinite(matrix).sum(axis=0), fit_variance)


def _fill_from(profile: _Profile, fallback: _Profile, period: int, daily_period: int) -> None:
    """Fill phases the weekly profile never saw from the daily profile's same time of day."""
    missing = ~np.isfinite(profile.expected)
    if missing.any():
        tod = np.arange(period)[missing] % daily_period
        profile.expected[missing] = fallback.expected[tod]
        profile.noise[missing] = fallback.noise[tod]
        profile.bias[missing] = fallback.bias[tod]


class SeasonalBaseline:
    """Robust seasonal baseline per time-of-day (and day-of-week) bucket.

    Args:
        window_days: trailing days of history to learn from.
        min_days: fewest days with usable values in that window; fewer raises
            ``NotEnoughHistoryError``.
        smooth: neighbouring buckets pooled on each side of a time-of-day bucket (0 = none).
        threshold: robust z at which a bucket, or a ``sustain``-bucket stretch, is anomalous.
        min_count: for counts, the smallest total |observed − expected| (events) a window must
            have to be reported, and the smallest expected total for a silence; keeps stray
            events at night from becoming anomalies. Other metrics (shares, sums) have no such
            minimum.
        weekly: use a day-of-week × time-of-day profile (True), a time-of-day one (False), or
            decide from the history (None: weekly when every weekday was seen ``min_weeks``
            times and the weekly profile predicts the training data better).
        min_weeks: weeks of history needed before a weekly profile is considered.
        sustain: width (buckets) of the stretches that catch moderate but lasting changes.
        max_gap: quiet buckets allowed inside one window before it is split in two.
        level_shift_hours: a window at least this long is reported as a level shift.
        unit: the metric's word in explanations ("events", "bytes", ...).
        log_scale: judge the series on a log scale (``LogScale``): for heavy-tailed sums such
            as bytes, where a change is a factor and single large transfers are normal.
    """

    name = "baseline"

    def __init__(
        self,
        window_days: float = 30,
        min_days: int = 7,
        smooth: int = 1,
        threshold: float = 4.0,
        min_count: float = 5.0,
        weekly: bool | None = None,
        min_weeks: int = 3,
        sustain: int = 8,
        max_gap: int = 2,
        level_shift_hours: float = 6.0,
        unit: str = "events",
        log_scale: bool = False,
    ) -> None:
        self.window_days = window_days
        self.min_days = min_days
        self.smooth = smooth
        self.threshold = threshold
        self.min_count = min_count
        self.weekly = weekly
        self.min_weeks = min_weeks
        self.sustain = sustain
        self.max_gap = max_gap
        self.level_shift_hours = level_shift_hours
        self.unit = unit
        self.log_scale = log_scale

    def _validate(self) -> None:
        validate_common(self.threshold, self.sustain, self.min_count)
        if not self.window_days > 0:
            raise DetectError(f"window_days must be positive, got {self.window_days!r}")
        if self.min_days < 1 or self.min_weeks < 1 or self.smooth < 0 or self.max_gap < 0:
            raise DetectError("min_days and min_weeks must be ≥ 1, smooth and max_gap ≥ 0")

    def fit(self, history: Series) -> SeasonalBaseline:
        """Learn the profile from the last ``window_days`` of ``history``.

        Raises:
            NotEnoughHistoryError: fewer than ``min_days`` days with usable values.
            DetectError: bad parameters or an irregular bucket grid.
        """
        self._validate()
        step = infer_step(history.buckets)
        micros = to_micros(history.buckets)
        end = int(micros[-1]) + step
        window_start = end - round(self.window_days * US_PER_DAY)
        train = usable(history) & (micros >= window_start)
        days = np.unique(micros[train] // US_PER_DAY)
        if len(days) < self.min_days:
            raise NotEnoughHistoryError(
                f"{len(days)} days with values in the last "
                f"{self.window_days:g} days, {self.min_days} needed",
                location=history.name,
            )
        values = history.values[train]
        self.scale_ = LogScale.learn(values) if self.log_scale else None
        if self.scale_ is not None:
            values = self.scale_.forward(values)
        self.count_like_ = is_count_like(values)
        self.step_ = step
        self.buckets_per_day_ = US_PER_DAY // step
        self.training_days_ = len(days)
        self.training_start_ = to_datetime(max(window_start, int(micros[0])))
        self.training_end_ = to_datetime(end)

        day_number = micros[train] // US_PER_DAY
        tod = (micros[train] % US_PER_DAY) // step
        bpd = self.buckets_per_day_
        # On the log scale a bucket moving by a third of its typical size is ordinary.
        floor = _LOG_NOISE_FLOOR if self.scale_ is not None else 0.0
        daily = _profile(tod, day_number, values, bpd, self.smooth, self.count_like_, floor)
        self.weekly_ = False
        chosen = daily
        if self.weekly is not False:
            weekday = (day_number + _MONDAY_OFFSET) % 7
            week_phase = weekday * bpd + tod
            week_number = (day_number + _MONDAY_OFFSET) // 7
            weekly = _profile(
                week_phase, week_number, values, 7 * bpd, self.smooth, self.count_like_, floor
            )
            _fill_from(weekly, daily, 7 * bpd, bpd)
            seen = int(np.median(weekly.cycles))
            if self.weekly or (
                seen >= self.min_weeks and weekly.variance(week_phase) < daily.variance(tod)
            ):
                chosen, self.weekly_ = weekly, True
        self.expected_ = chosen.expected
        self.noise_ = chosen.noise
        self.bias_ = chosen.bias
        active = history.active & (micros >= window_start)
        self.silence_share_ = silence_share(
            micros[active], history.silent[active], usable(history)[active], step
        )
        self.tail_factor_ = 1.0
        self.day_jitter_ = 0.0
        # Counts and linear sums vary by a factor from day to day; on the log scale that is a shift.
        self.jitter_relative_ = self.scale_ is None
        fitted = self._prediction(micros[train])
        self.day_jitter_ = day_jitter(
            micros[train],
            values,
            fitted.expected,
            fitted.noise,
            relative=self.jitter_relative_,
        )
        self.tail_factor_ = tail_factor(self._prediction(micros[train]).z(values))
        self.noise_ = self.noise_ * self.tail_factor_
        self.bias_ = self.bias_ * self.tail_factor_
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "expected_"):
            raise DetectError("SeasonalBaseline is not fitted; call fit(history) first")

    def _phases(self, micros: NDArray[np.int64]) -> NDArray[np.int64]:
        tod = (micros % US_PER_DAY) // self.step_
        if not self.weekly_:
            return tod
        weekday = (micros // US_PER_DAY + _MONDAY_OFFSET) % 7
        return np.asarray(weekday * self.buckets_per_day_ + tod, dtype=np.int64)

    def _scaled(self, series: Series) -> Series:
        return series if self.scale_ is None else self.scale_.series(series)

    def predict(self, series: Series) -> Prediction:
        """Expected value, noise and bias for every bucket of ``series``.

        With ``log_scale`` all three are on the log scale (see ``LogScale``).
        """
        self._check_fitted()
        micros = to_micros(series.buckets)
        check_grid(micros, self.step_)
        prediction = self._prediction(micros)
        prediction.usable = usable(series)
        return prediction

    def _prediction(self, micros: NDArray[np.int64]) -> Prediction:
        phase = self._phases(micros)
        tod = (micros % US_PER_DAY) // self.step_
        expected = self.expected_[phase]
        if self.jitter_relative_:
            level = self.day_jitter_ * np.abs(np.nan_to_num(expected))
        else:
            level = np.full(len(micros), self.day_jitter_)
        # Neighbouring medians share pooled values, so their errors move together.
        return Prediction(
            expected,
            self.noise_[phase],
            self.bias_[phase],
            np.ones(len(micros), dtype=bool),
            bias_span=2 * self.smooth + 1,
            counts=self.count_like_,
            usual_silence=self.silence_share_[tod] >= USUAL_SILENCE,
            level=level,
        )

    def expected(self, series: Series) -> NDArray[np.float64]:
        """The baseline's expected value per bucket of ``series`` (for charts and reports).

        NaN at a time of day the training window never had a value for (a source that is
        silent every night has no expected value at night).
        """
        expected = self.predict(series).expected
        return expected if self.scale_ is None else self.scale_.inverse(expected)

    def zscores(self, series: Series) -> NDArray[np.float64]:
        """Signed robust z per bucket (negative below expected); NaN where there is no value."""
        return self.predict(series).z(self._scaled(series).values)

    def score(self, series: Series) -> NDArray[np.float64]:
        """|robust z| per bucket; higher is more anomalous, NaN where nothing can be said.

        For counts a silent bucket scores as if it held 0 (the source sent nothing), so silence
        where traffic was expected scores high; for other metrics silent buckets are NaN.
        """
        prediction = self.predict(series)
        values = self._scaled(series).values
        if self.count_like_:
            silent = series.silent & series.active
            values = np.where(silent, 0.0, values)
            prediction.usable = prediction.usable | silent
        return np.abs(prediction.z(values))

    def detect(self, series: Series) -> list[Anomaly]:
        """Spike, dip, level-shift and silence anomalies of ``series``, earliest first."""
        prediction = self.predict(series)
        rules = WindowRules(
            threshold=self.threshold,
            sustain=self.sustain,
            max_gap=self.max_gap,
            min_count=self.min_count,
            level_shift_buckets=max(1, round(self.level_shift_hours * 3600e6 / self.step_)),
            count_like=self.count_like_,
            heavy_tailed=self.scale_ is not None,
        )
        scaled = self._scaled(series)
        windows = find_windows(scaled.values, prediction, rules)
        windows += silence_windows(scaled, prediction, rules)
        if self.scale_ is not None:
            windows, prediction = in_linear_units(windows, series.values, prediction, self.scale_)
        profile = "day-of-week × time-of-day" if self.weekly_ else "time-of-day"
        reason = f"{profile} median of {self.training_days_} days"
        if self.scale_ is not None:
            reason += ", log scale"
        extra = {"profile": "weekly" if self.weekly_ else "daily"}
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

    def to_state(self) -> dict[str, Any]:
        """The fitted baseline as JSON-ready data (parameters and learned profile)."""
        self._check_fitted()
        return {
            "detector": self.name,
            "params": {
                "window_days": self.window_days,
                "min_days": self.min_days,
                "smooth": self.smooth,
                "threshold": self.threshold,
                "min_count": self.min_count,
                "weekly": self.weekly,
                "min_weeks": self.min_weeks,
                "sustain": self.sustain,
                "max_gap": self.max_gap,
                "level_shift_hours": self.level_shift_hours,
                "unit": self.unit,
                "log_scale": self.log_scale,
            },
            "step_us": self.step_,
            "log_offset": None if self.scale_ is None else self.scale_.offset,
            "weekly": self.weekly_,
            "count_like": self.count_like_,
            "training_days": self.training_days_,
            "training_start": self.training_start_.isoformat(),
            "training_end": self.training_end_.isoformat(),
            "silence_share": _floats(self.silence_share_),
            "tail_factor": self.tail_factor_,
            "day_jitter": self.day_jitter_,
            "jitter_relative": self.jitter_relative_,
            "expected": _floats(self.expected_),
            "noise": _floats(self.noise_),
            "bias": _floats(self.bias_),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> SeasonalBaseline:
        """A fitted baseline back from ``to_state()`` data.

        Raises:
            DetectError: the data is not a saved baseline.
        """
        try:
            baseline = cls(**state["params"])
            baseline.step_ = int(state["step_us"])
            offset = state.get("log_offset")
            baseline.scale_ = None if offset is None else LogScale(float(offset))
            baseline.buckets_per_day_ = US_PER_DAY // baseline.step_
            baseline.weekly_ = bool(state["weekly"])
            baseline.count_like_ = bool(state["count_like"])
            baseline.training_days_ = int(state["training_days"])
            baseline.training_start_ = datetime.fromisoformat(state["training_start"])
            baseline.training_end_ = datetime.fromisoformat(state["training_end"])
            baseline.silence_share_ = np.nan_to_num(_array(state["silence_share"]))
            baseline.tail_factor_ = float(state.get("tail_factor", 1.0))
            baseline.day_jitter_ = float(state.get("day_jitter", 0.0))
            baseline.jitter_relative_ = bool(state.get("jitter_relative", True))
            baseline.expected_ = _array(state["expected"])
            baseline.noise_ = _array(state["noise"])
            baseline.bias_ = _array(state["bias"])
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise DetectError(f"not a saved seasonal baseline: {exc}") from exc
        period = baseline.buckets_per_day_ * (7 if baseline.weekly_ else 1)
        if not len(baseline.expected_) == len(baseline.noise_) == len(baseline.bias_) == period:
            raise DetectError("not a saved seasonal baseline: profile length does not match")
        return baseline


def _floats(values: NDArray[np.float64]) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


def _array(values: Sequence[float | None]) -> NDArray[np.float64]:
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# New categories


def _series_of(frame: SeriesFrame | Sequence[Series]) -> tuple[list[Series], tuple[str, ...]]:
    if isinstance(frame, SeriesFrame):
        return list(frame.series), tuple(frame.spec.group_by)
    return list(frame), ()


def _step_of(frame: SeriesFrame | Sequence[Series], series: Sequence[Series]) -> int | None:
    if isinstance(frame, SeriesFrame):
        return int(frame.spec.interval / timedelta(microseconds=1))
    longest = max(series, key=lambda s: len(s.buckets), default=None)
    if longest is None or len(longest.buckets) < 2:
        return None
    return infer_step(longest.buckets)


MIN_RETURN_BUCKETS = 3
MIN_RETURN_HISTORY_US = 2 * US_PER_DAY


def new_categories(
    history_keys: Iterable[tuple[str | None, ...]],
    current: SeriesFrame | Sequence[Series],
    *,
    fields: Sequence[str] | None = None,
    training_days: float | None = None,
    min_count: float = 1.0,
    unit: str = "events",
    training_buckets: int = 0,
    min_score: float = 0.0,
    burst_gap: timedelta = timedelta(hours=6),
    returns_by_buckets: bool = False,
) -> list[Anomaly]:
    """Anomalies for the groups of ``current`` whose key is not in ``history_keys``.

    Each new key with at least ``min_count`` in total gives one "new_category" anomaly whose
    window runs from the first to the last bucket with a value, with the total as ``observed``
    and 0 as ``expected``. Its score says how surprising that volume is for a key that stayed
    absent for ``T`` buckets (the training buckets plus the scored buckets before it first
    appeared): at the highest rate such a long absence leaves plausible, about one event per
    ``T`` buckets, the window of ``w`` buckets should hold ``w / T`` events; the score is the z
    of the Poisson chance of at least the observed count (for metrics other than counts, of
    the number of buckets with a value). Two stray events of a new kind score low; a new
    protocol carrying hundreds of connections scores as critical as any spike.

    A new key's activity is cut into bursts where it pauses for more than ``burst_gap``; each
    burst is its own anomaly, and a later burst is judged the same way with the key's past
    in view: ``w · (n + 1) / T`` expected, ``n`` being what the earlier bursts held (a key
    first seen last week and back now is still rare, one seen every hour is not).

    Args:
        history_keys: the group keys seen in training.
        current: the scored frame (or its series).
        fields: the group-by field names, for the wording (taken from a frame's spec if omitted).
        training_days: length of the training window, for the wording.
        min_count: smallest total for a new key to be reported.
        unit: the metric's word in explanations.
        training_buckets: buckets of the training window (the key was absent from all).
        min_score: new keys scoring below this are not reported.
        burst_gap: a pause longer than this ends a burst.
        returns_by_buckets: judge a returning burst by its buckets with events against the
            buckets of earlier bursts, not by events: for keys whose events come in clumps
            (a log template's lines), where a clump of four is one happening, not four. Such a
            return needs ``MIN_RETURN_BUCKETS`` buckets, and the key known for
            ``MIN_RETURN_HISTORY_US``: noise seen a few times a week is not news.
    """
    known = {tuple(key) for key in history_keys}
    series_list, frame_fields = _series_of(current)
    names = tuple(fields) if fields is not None else frame_fields
    step = _step_of(current, series_list)
    anomalies: list[Anomaly] = []
    width = step if step is not None else 1
    gap = max(1, round(burst_gap / timedelta(microseconds=width))) if step is not None else 24
    for series in series_list:
        if tuple(series.key) in known:
            continue
        values = np.where(usable(series), series.values, 0.0)
        seen = np.flatnonzero(values > 0)
        if not len(seen):
            continue
        micros = to_micros(series.buckets)
        counted = is_count_like(values)
        position = (micros - micros[0]) // width  # bucket numbers, robust to missing buckets
        first_seen = to_datetime(micros[seen[0]])
        before = 0.0  # events (or buckets with a value) in earlier bursts
        buckets_before = 0
        for burst in _bursts(seen, position, gap):
            first, last = int(burst[0]), int(burst[-1])
            total = float(values[burst].sum())
            volume = total if counted else float(len(burst))
            span = int(position[last] - position[first]) + 1
            # The highest rate the key's past leaves plausible: one more event than it had.
            elapsed = max(int(training_buckets) + int(position[first]), 1)
            returning = before > 0
            if returning and returns_by_buckets:
                expected = span * (buckets_before + 1) / elapsed
                score = z_for_tail(poisson_log_tail(float(len(burst)), expected))
                known_for = int(position[first] - position[seen[0]]) * width
                if len(burst) < MIN_RETURN_BUCKETS or known_for < MIN_RETURN_HISTORY_US:
                    score = 0.0  # a couple of lines, or "rare" a day after birth: not evidence
            else:
                score = z_for_tail(poisson_log_tail(volume, span * (before + 1) / elapsed))
            before += volume
            buckets_before += len(burst)
            if total < min_count or score < min_score:
                continue
            start, end = to_datetime(micros[first]), to_datetime(micros[last] + width)
            details: dict[str, Any] = {
                "unit": unit,
                "fields": list(names),
                "first_seen": first_seen.isoformat(),
                "buckets_with_events": len(burst),
                "sources": list(series.sources),
            }
            if training_days is not None:
                details["training_days"] = training_days
            if returning:
                details["seen_before"] = before - volume
            reason = (
                f"new_category: rare key back, {format_number(before - volume)} {unit} before"
                if returning
                else "new_category: key not seen in training"
            )
            anomaly = Anomaly(
                series_key=series.key,
                series_name=series.name,
                start=start,
                end=end,
                detector="new_category",
                score=score,
                severity=severity_for(score),
                observed=total,
                expected=0.0,
                explanation="",
                kind="new_category",
                reasons=[f"{reason}; {_buckets(len(burst))} with events"],
                details=details,
            )
            anomaly.explanation = describe(anomaly)
            anomaly.id = anomaly_id(series.key, start, end, "new_category")
            anomalies.append(anomaly)
    return sorted(anomalies, key=lambda a: (a.start, -a.score))


def _bursts(
    seen: NDArray[np.intp], position: NDArray[np.int64], gap: int
) -> list[NDArray[np.intp]]:
    """``seen`` (bucket indices with a value) split where more than ``gap`` buckets are empty."""
    breaks = np.flatnonzero(np.diff(position[seen]) > gap + 1) + 1
    return list(np.split(seen, breaks))


class NewCategories:
    """Flags group keys never seen in the training window (a new event.action, protocol, ...).

    ``fit`` takes the history frame (one series per group) and keeps the keys with any value in
    the last ``window_days``; ``detect`` takes the scored frame. See ``new_categories``.

    Args:
        window_days: trailing days of history that count as "seen".
        min_count: smallest total for a new key to be reported.
        unit: the metric's word in explanations.
        min_score: new keys scoring below this are not reported (see ``new_categories``).
    """

    name = "new_category"

    def __init__(
        self,
        window_days: float = 30,
        min_count: float = 1.0,
        unit: str = "events",
        min_score: float = 0.0,
        returns_by_buckets: bool = False,
    ):
        self.window_days = window_days
        self.min_count = min_count
        self.unit = unit
        self.min_score = min_score
        self.returns_by_buckets = returns_by_buckets

    def fit(self, history: SeriesFrame | Sequence[Series]) -> NewCategories:
        """Remember the keys with a value in the last ``window_days`` of ``history``."""
        series_list, fields = _series_of(history)
        step = _step_of(history, series_list) or 0
        ends = [int(to_micros(s.buckets)[-1]) + step for s in series_list if len(s.buckets)]
        known: set[tuple[str | None, ...]] = set()
        self.training_buckets_ = 0
        if ends:
            window_start = max(ends) - round(self.window_days * US_PER_DAY)
            starts = [int(to_micros(s.buckets)[0]) for s in series_list if len(s.buckets)]
            if step:
                self.training_buckets_ = (max(ends) - max(min(starts), window_start)) // step
            for series in series_list:
                inside = usable(series) & (to_micros(series.buckets) >= window_start)
                if np.any(series.values[inside] > 0):
                    known.add(tuple(series.key))
        self.known_ = known
        self.fields_ = fields
        return self

    def detect(self, current: SeriesFrame | Sequence[Series]) -> list[Anomaly]:
        """One "new_category" anomaly per key of ``current`` not seen in training."""
        if not hasattr(self, "known_"):
            raise DetectError("NewCategories is not fitted; call fit(history) first")
        _, fields = _series_of(current)
        return new_categories(
            self.known_,
            current,
            fields=fields or self.fields_,
            training_days=self.window_days,
            min_count=self.min_count,
            unit=self.unit,
            training_buckets=self.training_buckets_,
            min_score=self.min_score,
            returns_by_buckets=self.returns_by_buckets,
        )


def _buckets(n: int) -> str:
    return f"{n} bucket{'s' if n != 1 else ''}"
