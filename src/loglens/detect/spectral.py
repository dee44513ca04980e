"""Spectral model: the training series as a sum of its dominant cycles, extended by phase.

``Spectral`` takes the last ``window_days`` of history, trimmed to whole weeks (or whole days
when there are fewer than two weeks) so that the daily and weekly cycles and their harmonics
fall exactly on FFT bins, and keeps the ``n_frequencies`` strongest bins. The expected value
at any time — inside the training window or after it — is the mean plus those sinusoids
evaluated at that time, so the scored period continues each cycle's phase instead of copying
the last day.

Gaps in the training data (silence, missing values) are filled with the median of the same
time of day before the transform, and two robust passes clip training values far from the
model (a past incident) to the model's edge, so one old spike does not leak into every bin.

At a time of day when the source was silent on most training days the model only saw
filled-in values, so it scores nothing there (NaN) and leaves such hours to the baseline.

Residuals are scored like the baseline's (``loglens.detect.residuals``): for counts the noise is
``c · sqrt(max(expected, 1))`` where ``c ≥ 1`` is the robust spread of the Pearson residuals
(1 for Poisson traffic, more for burstier traffic); for other metrics it is the residuals'
robust standard deviation.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from loglens.detect.base import Anomaly, DetectError, NotEnoughHistoryError
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
    mad_sigma,
    silence_share,
    silence_windows,
    tail_factor,
    to_datetime,
    to_micros,
    usable,
    validate_common,
    window_anomaly,
)
from loglens.series import Series

_ROBUST_PASSES = 2
_FALSE_BIN_RATE = 0.01  # expected number of pure-noise bins kept per spectrum
_CLIP_Z = 4.0  # training values further than this from the model are clipped in robust passes
_LOG_NOISE_FLOOR = 0.35  # on the log scale: a bucket 1.4× (or 0.7×) its usual is one sigma
_OUTLIER_Z = 6.0  # training values this far from their phase's median are replaced before FFT


def _describe_period(hours: float) -> str:
    if hours >= 24 and abs(hours / 24 - round(hours / 24)) < 1e-6:
        return f"{round(hours / 24)} d"
    if hours >= 1:
        return f"{hours:.3g} h"
    return f"{hours * 60:.3g} min"


class Spectral:
    """Expected series from the training series' dominant frequencies; residuals scored.

    Args:
        n_frequencies: how many of the strongest frequency bins to keep.
        threshold: robust z at which a bucket, or a ``sustain``-bucket stretch, is anomalous.
        window_days: trailing days of history to learn from (trimmed to whole weeks or days).
        min_days: fewest days of history needed; fewer raises ``NotEnoughHistoryError``.
        min_count: for counts, the smallest total |observed − expected| (events) a window must
            have to be reported, and the smallest expected total for a silence. Other metrics
            (shares, sums) have no such minimum.
        sustain: width (buckets) of the stretches that catch moderate but lasting changes.
        max_gap: quiet buckets allowed inside one window before it is split in two.
        level_shift_hours: a window at least this long is reported as a level shift.
        unit: the metric's word in explanations ("events", "bytes", ...).
        log_scale: model the series on a log scale (``LogScale``): for heavy-tailed sums such
            as bytes, where a change is a factor and single large transfers are normal.
    """

    name = "spectral"

    def __init__(
        self,
        n_frequencies: int = 32,
        threshold: float = 4.0,
        window_days: float = 28,
        min_days: int = 7,
        min_count: float = 5.0,
        sustain: int = 8,
        max_gap: int = 2,
        level_shift_hours: float = 6.0,
        unit: str = "events",
        log_scale: bool = False,
    ) -> None:
        self.n_frequencies = n_frequencies
        self.threshold = threshold
        self.window_days = window_days
        self.min_days = min_days
        self.min_count = min_count
        self.sustain = sustain
        self.max_gap = max_gap
        self.level_shift_hours = level_shift_hours
        self.unit = unit
        self.log_scale = log_scale

    def _validate(self) -> None:
        validate_common(self.threshold, self.sustain, self.min_count)
        if self.n_frequencies < 1:
            raise DetectError(f"n_frequencies must be at least 1, got {self.n_frequencies!r}")
        if not self.window_days > 0 or self.min_days < 1 or self.max_gap < 0:
            raise DetectError("window_days must be positive, min_days ≥ 1 and max_gap ≥ 0")

    def fit(self, history: Series) -> Spectral:
        """Learn the dominant frequencies of the last ``window_days`` of ``history``.

        Raises:
            NotEnoughHistoryError: fewer than ``min_days`` whole days with usable values.
            DetectError: bad parameters or an irregular bucket grid.
        """
        self._validate()
        step = infer_step(history.buckets)
        per_day = US_PER_DAY // step
        micros = to_micros(history.buckets)
        ok = usable(history)
        if not ok.any():
            raise NotEnoughHistoryError("no usable values", location=history.name)
        end = int(micros[-1]) + step
        self.scale_ = None
        if self.log_scale:
            recent = ok & (micros >= end - round(self.window_days * US_PER_DAY))
            self.scale_ = LogScale.learn(history.values[recent])
            history = self.scale_.series(history)
        first = max(int(micros[ok][0]), end - round(self.window_days * US_PER_DAY))
        days = (end - first) // US_PER_DAY
        if days < self.min_days:
            raise NotEnoughHistoryError(
                f"{days} whole days of history, {self.min_days} needed",
                location=history.name,
            )
        # Whole weeks put every daily and weekly harmonic on an exact FFT bin.
        days = days - days % 7 if days >= 14 else days
        length = days * per_day
        start = end - length * step
        grid_values = np.full(length, np.nan)
        inside = ok & (micros >= start)
        grid_values[(micros[inside] - start) // step] = history.values[inside]
        known = np.isfinite(grid_values)
        if known.sum() < self.min_days * per_day // 2:
            raise NotEnoughHistoryError(
                f"too few usable buckets in the last {days} days",
                location=history.name,
            )
        self.step_ = step
        self.start_ = start
        self.length_ = length
        self.count_like_ = is_count_like(grid_values)
        self.training_days_ = days
        self.training_start_ = to_datetime(start)
        self.training_end_ = to_datetime(end)

        filled = _fill_by_time_of_day(grid_values, per_day)
        cycle = 7 * per_day if days % 7 == 0 and days >= 14 else per_day
        working = _without_outliers(filled, cycle, self.count_like_)
        # Only harmonics of the cycle continue by phase into the scored period; a bin between
        # them (a 4.7-day "cycle") is day-to-day jitter or a past incident, and extending it
        # puts a hole in some later night.
        self.cycle_bin_ = length // cycle
        for _ in range(_ROBUST_PASSES):
            self._fit_frequencies(working)
            model = self._training_model()
            noise = self._fit_noise(filled[known] - model[known], model[known])
            limit = _CLIP_Z * noise(model)
            working = np.clip(filled, model - limit, model + limit)
        self._fit_frequencies(working)
        model = self._training_model()
        noise = self._fit_noise(filled[known] - model[known], model[known])
        self.misfit_ = _misfit(grid_values - model, noise(model), cycle)
        self.noise_model_ = noise
        self.tail_factor_ = 1.0
        active = history.active & (micros >= start)
        self.silence_share_ = silence_share(
            micros[active], history.silent[active], ok[active], step
        )
        training = history.values[inside]
        self.day_jitter_ = 0.0
        self.jitter_relative_ = self.scale_ is None
        fitted = self._prediction(micros[inside])
        self.day_jitter_ = day_jitter(
            micros[inside],
            training,
            fitted.expected,
            fitted.noise,
            relative=self.jitter_relative_,
        )
        self.tail_factor_ = tail_factor(self._prediction(micros[inside]).z(training))
        noise.factor *= self.tail_factor_
        self.misfit_ = self.misfit_ * self.tail_factor_
        return self

    def _fit_frequencies(self, values: NDArray[np.float64]) -> None:
        spectrum = np.fft.rfft(values)
        magnitude = np.abs(spectrum)
        candidates = magnitude.copy()
        candidates[0] = 0.0  # the mean is kept apart
        candidates[np.arange(len(candidates)) % self.cycle_bin_ != 0] = 0.0
        keep = min(self.n_frequencies, int(np.count_nonzero(candidates)) or 1)
        bins = np.argsort(candidates, kind="stable")[::-1][:keep]
        # Under white noise a bin's power is exponential; its median is ln 2 times its mean.
        # Keeping only bins far above that (a 1% false-bin rate over the whole spectrum) stops
        # noise from being modelled as cycles.
        power = magnitude[1:] ** 2
        noise_power = float(np.median(power)) / np.log(2) if len(power) else 0.0
        cutoff = noise_power * np.log(max(len(power), 1) / _FALSE_BIN_RATE)
        significant = bins[magnitude[bins] ** 2 > cutoff]
        bins = np.sort(significant if len(significant) else bins[:1])
        n = len(values)
        # A bin's amplitude is 2|X|/n, except the Nyquist bin of an even length (|X|/n).
        scale = np.where((n % 2 == 0) & (bins == n // 2), 1.0, 2.0) / n
        self.mean_ = float(spectrum[0].real / n)
        self.bins_ = bins
        self.amplitudes_ = scale * magnitude[bins]
        self.phases_ = np.angle(spectrum[bins])
        kept = np.zeros_like(spectrum)
        kept[0], kept[bins] = spectrum[0], spectrum[bins]
        self._on_grid = np.fft.irfft(kept, n)

    def _training_model(self) -> NDArray[np.float64]:
        """The model on the training grid (the inverse transform of the kept bins: fast)."""
        model = np.asarray(self._on_grid, dtype=np.float64)
        return np.maximum(model, 0.0) if self.count_like_ else model

    def _model(self, t: NDArray[np.float64]) -> NDArray[np.float64]:
        angles = 2 * np.pi * np.outer(t, self.bins_) / self.length_ + self.phases_
        model = self.mean_ + np.cos(angles) @ self.amplitudes_
        return np.maximum(model, 0.0) if self.count_like_ else model

    def _fit_noise(self, residuals: NDArray[np.float64], model: NDArray[np.float64]) -> _Noise:
        if self.count_like_:
            pearson = residuals / np.sqrt(np.maximum(model, 1.0))
            return _Noise(max(1.0, mad_sigma(pearson)), poisson=True)
        sigma = mad_sigma(residuals)
        level = float(np.median(np.abs(model))) if len(model) else 0.0
        floor = max(0.01 * level, _LOG_NOISE_FLOOR if self.scale_ is not None else 0.0, 1e-9)
        return _Noise(max(sigma, floor) if np.isfinite(sigma) else floor, poisson=False)

    def _check_fitted(self) -> None:
        if not hasattr(self, "noise_model_"):
            raise DetectError("Spectral is not fitted; call fit(history) first")

    @property
    def periods_(self) -> list[str]:
        """The kept cycles' periods, strongest first (``"1 d"``, ``"12 h"``, ``"7 d"``...)."""
        self._check_fitted()
        order = np.argsort(self.amplitudes_)[::-1]
        hours = self.length_ * self.step_ / 3.6e9
        return [_describe_period(hours / int(self.bins_[i])) for i in order]

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
        # Where the source is usually silent the model was fitted to filled-in values, so it
        # has nothing to say about values there (the baseline, which counts its evidence, does).
        prediction.usable = usable(series) & ~np.asarray(prediction.usual_silence, dtype=bool)
        return prediction

    def _prediction(self, micros: NDArray[np.int64]) -> Prediction:
        t = ((micros - self.start_) // self.step_).astype(np.float64)
        expected = self._model(t)
        noise = self.noise_model_(expected)
        # The error of a least-squares fit of 2k+1 terms to n values, per bucket, and where the
        # sum of a few sinusoids cannot follow the data (a sharp weekend edge), its known misfit.
        fit_error = noise * np.sqrt((2 * len(self.bins_) + 1) / self.length_)
        phase = (micros - self.start_) // self.step_ % len(self.misfit_)
        bias = np.sqrt(fit_error**2 + self.misfit_[phase] ** 2)
        every = np.ones(len(micros), dtype=bool)
        usual = self.silence_share_[(micros % US_PER_DAY) // self.step_] >= USUAL_SILENCE
        if self.jitter_relative_:
            level = self.day_jitter_ * np.abs(expected)
        else:
            level = np.full(len(micros), self.day_jitter_)
        return Prediction(
            expected,
            noise,
            bias,
            every,
            counts=self.count_like_,
            usual_silence=usual,
            level=level,
        )

    def expected(self, series: Series) -> NDArray[np.float64]:
        """The model's expected value per bucket of ``series`` (for charts and reports)."""
        expected = self.predict(series).expected
        return expected if self.scale_ is None else self.scale_.inverse(expected)

    def zscores(self, series: Series) -> NDArray[np.float64]:
        """Signed robust z per bucket (negative below expected); NaN where there is no value."""
        return self.predict(series).z(self._scaled(series).values)

    def score(self, series: Series) -> NDArray[np.float64]:
        """|robust z| of the residual per bucket; NaN where nothing can be said.

        As for the baseline, a silent bucket of a count series scores as if it held 0.
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
        periods = self.periods_
        shown = ", ".join(dict.fromkeys(periods[:4]))
        reason = f"{len(periods)} dominant cycles of {self.training_days_} days ({shown}, ...)"
        extra: dict[str, Any] = {"periods": periods}
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
        """The fitted model as JSON-ready data (parameters, kept frequencies, noise)."""
        self._check_fitted()
        return {
            "detector": self.name,
            "params": {
                "n_frequencies": self.n_frequencies,
                "threshold": self.threshold,
                "window_days": self.window_days,
                "min_days": self.min_days,
                "min_count": self.min_count,
                "sustain": self.sustain,
                "max_gap": self.max_gap,
                "level_shift_hours": self.level_shift_hours,
                "unit": self.unit,
                "log_scale": self.log_scale,
            },
            "log_offset": None if self.scale_ is None else self.scale_.offset,
            "step_us": self.step_,
            "start_us": self.start_,
            "length": self.length_,
            "count_like": self.count_like_,
            "training_days": self.training_days_,
            "training_start": self.training_start_.isoformat(),
            "training_end": self.training_end_.isoformat(),
            "mean": self.mean_,
            "bins": [int(b) for b in self.bins_],
            "amplitudes": [float(a) for a in self.amplitudes_],
            "phases": [float(p) for p in self.phases_],
            "noise_factor": self.noise_model_.factor,
            "noise_poisson": self.noise_model_.poisson,
            "tail_factor": self.tail_factor_,
            "day_jitter": self.day_jitter_,
            "jitter_relative": self.jitter_relative_,
            "misfit": [float(m) for m in self.misfit_],
            "silence_share": [float(x) for x in self.silence_share_],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Spectral:
        """A fitted model back from ``to_state()`` data.

        Raises:
            DetectError: the data is not a saved spectral model.
        """
        try:
            model = cls(**state["params"])
            model.step_ = int(state["step_us"])
            offset = state.get("log_offset")
            model.scale_ = None if offset is None else LogScale(float(offset))
            model.start_ = int(state["start_us"])
            model.length_ = int(state["length"])
            model.count_like_ = bool(state["count_like"])
            model.training_days_ = int(state["training_days"])
            model.training_start_ = datetime.fromisoformat(state["training_start"])
            model.training_end_ = datetime.fromisoformat(state["training_end"])
            model.mean_ = float(state["mean"])
            model.bins_ = np.array(state["bins"], dtype=np.int64)
            model.amplitudes_ = np.array(state["amplitudes"], dtype=np.float64)
            model.phases_ = np.array(state["phases"], dtype=np.float64)
            model.tail_factor_ = float(state["tail_factor"])
            model.day_jitter_ = float(state.get("day_jitter", 0.0))
            model.jitter_relative_ = bool(state.get("jitter_relative", True))
            model.misfit_ = np.array(state["misfit"], dtype=np.float64)
            model.silence_share_ = np.array(state["silence_share"], dtype=np.float64)
            model.noise_model_ = _Noise(
                float(state["noise_factor"]), poisson=bool(state["noise_poisson"])
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DetectError(f"not a saved spectral model: {exc}") from exc
        sizes = {len(model.bins_), len(model.amplitudes_), len(model.phases_)}
        if len(sizes) != 1 or not len(model.misfit_) or model.length_ <= 0 or model.step_ <= 0:
            raise DetectError("not a saved spectral model: inconsistent arrays")
        return model


class _Noise:
    """Noise standard deviation as a function of the expected value."""

    def __init__(self, factor: float, *, poisson: bool) -> None:
        self.factor = factor
        self.poisson = poisson

    def __call__(self, expected: NDArray[np.float64]) -> NDArray[np.float64]:
        if self.poisson:
            return np.asarray(self.factor * np.sqrt(np.maximum(expected, 1.0)), dtype=np.float64)
        return np.full(len(expected), self.factor)


def _misfit(
    residuals: NDArray[np.float64], noise: NDArray[np.float64], cycle: int
) -> NDArray[np.float64]:
    """How far the model is off, systematically, at each phase of the longest cycle.

    The median residual of a phase over the training cycles, minus what noise alone would leave
    in a median of that many values (so a well-fitting model gets about zero).
    """
    rows = residuals.reshape(-1, cycle)
    count = np.isfinite(rows).sum(axis=0)
    if rows.shape[0] < 2:
        return np.zeros(cycle)
    ordered = np.sort(rows, axis=0)
    columns = np.arange(cycle)
    safe = np.maximum(count, 1)
    median = (ordered[(safe - 1) // 2, columns] + ordered[safe // 2, columns]) / 2
    typical_noise = np.median(noise.reshape(-1, cycle), axis=0)
    chance = (1.2533 * typical_noise) ** 2 / safe
    excess = np.where(count >= 2, np.nan_to_num(median) ** 2 - chance, 0.0)
    return np.asarray(np.sqrt(np.maximum(excess, 0.0)), dtype=np.float64)


def _without_outliers(
    values: NDArray[np.float64], cycle: int, count_like: bool
) -> NDArray[np.float64]:
    """``values`` with gross outliers (a past incident) replaced by their phase's median.

    The reference is the median of the same phase of the cycle (pooled with its two
    neighbours) over the training cycles; a value more than ``_OUTLIER_Z`` robust standard
    deviations from it is replaced. Done before the transform because a big spike spreads over
    every frequency bin and would otherwise take many robust passes to wash out.
    """
    rows = values.reshape(-1, cycle)
    pooled = np.concatenate([np.roll(rows, shift, axis=1) for shift in (-1, 0, 1)], axis=0)
    reference = np.tile(np.median(pooled, axis=0), rows.shape[0])
    residuals = values - reference
    if count_like:
        root = np.sqrt(np.maximum(reference, 1.0))
        spread = max(1.0, mad_sigma(residuals / root)) * root
    else:
        sigma = mad_sigma(residuals)
        spread = np.full(len(values), sigma if sigma > 0 else np.inf)
    far = np.abs(residuals) > _OUTLIER_Z * spread
    return np.where(far, reference, values)


def _fill_by_time_of_day(values: NDArray[np.float64], per_day: int) -> NDArray[np.float64]:
    """NaN buckets replaced by the median of the same time of day (the overall median if none)."""
    missing = ~np.isfinite(values)
    if not missing.any():
        return values.copy()
    days = values.reshape(-1, per_day)
    counts = np.isfinite(days).sum(axis=0)
    ordered = np.sort(days, axis=0)
    columns = np.arange(per_day)
    safe = np.maximum(counts, 1)
    medians = (ordered[(safe - 1) // 2, columns] + ordered[safe // 2, columns]) / 2
    overall = float(np.nanmedian(values))
    medians = np.where(counts > 0, medians, overall)
    filled = values.copy()
    filled[missing] = np.tile(medians, len(days))[missing]
    return filled
