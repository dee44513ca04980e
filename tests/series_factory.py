"""Seeded synthetic series for detector tests.

A ``Synthetic`` is one count series on a regular grid (15-minute buckets by default) whose Poisson
mean follows a daily cycle (quiet nights, busy afternoons) and a weekly one (quieter weekends),
plus the anomalies planted in it, each with its true window so tests can measure window-level
recall and precision. Everything is driven by one seeded ``numpy`` generator: the same seed gives
the same series.

Typical use::

    synth = make_series(days=35, seed=3)
    synth.spike(synth.at(day=30, hour=2), hours=1.25, extra=300)
    synth.silence(synth.at(day=32, hour=10), hours=2)
    history, current = synth.split(synth.at(day=28))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from loglens.series import Series

START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday, so day 5 and 6 are the weekend


@dataclass(frozen=True)
class Planted:
    """A planted anomaly: its kind and true window ``[start, end)``."""

    kind: str
    start: datetime
    end: datetime

    def overlaps(self, start: datetime, end: datetime, slack: timedelta = timedelta(0)) -> bool:
        """True when ``[start, end)`` overlaps this window widened by ``slack`` on both sides."""
        return start < self.end + slack and end > self.start - slack


def seasonal_rate(
    buckets: NDArray[np.datetime64],
    *,
    base: float = 40.0,
    daily: float = 0.7,
    weekend: float = 0.55,
    peak_hour: float = 14.0,
) -> NDArray[np.float64]:
    """Poisson mean per bucket: ``base`` modulated by a daily and a weekly cycle.

    Args:
        buckets: bucket starts (``datetime64``, UTC).
        base: mean count of a weekday bucket averaged over the day.
        daily: relative amplitude of the daily cycle (0 = flat, 1 = zero at night).
        weekend: Saturday and Sunday traffic as a share of a weekday's.
        peak_hour: hour of day (UTC) of the daily maximum.
    """
    micros = buckets.astype("datetime64[us]").astype(np.int64)
    hours = (micros % 86_400_000_000) / 3_600_000_000
    weekday = (micros // 86_400_000_000 + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    # A sharpened cosine gives a flatter night and a narrower afternoon peak than a pure sine.
    cycle = 0.5 * (1 + np.cos(2 * np.pi * (hours - peak_hour) / 24))
    shape = 1 - daily + 2 * daily * cycle**1.5
    week = np.where(weekday >= 5, weekend, 1.0)
    return np.asarray(base * shape * week, dtype=np.float64)


@dataclass
class Synthetic:
    """A synthetic count series, its true mean and the anomalies planted in it."""

    series: Series
    rate: NDArray[np.float64]
    planted: list[Planted] = field(default_factory=list)
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))

    @property
    def interval(self) -> timedelta:
        """The bucket width."""
        step = (self.series.buckets[1] - self.series.buckets[0]).astype("timedelta64[us]")
        return timedelta(microseconds=int(step.astype(np.int64)))

    @property
    def start(self) -> datetime:
        """Start of the first bucket."""
        return to_datetime(self.series.buckets[0])

    def at(self, day: int, hour: float = 0.0) -> datetime:
        """The time ``day`` days and ``hour`` hours after the series' start."""
        return self.start + timedelta(days=day, hours=hour)

    def index(self, when: datetime) -> int:
        """Index of the bucket starting at ``when`` (which must be on the grid)."""
        offset = when - self.start
        steps, rest = divmod(offset, self.interval)
        if rest or not 0 <= steps < len(self.series.values):
            raise ValueError(f"{when} is not a bucket start of this series")
        return int(steps)

    def _span(self, start: datetime, hours: float) -> slice:
        first = self.index(start)
        count = max(1, round(timedelta(hours=hours) / self.interval))
        return slice(first, min(first + count, len(self.series.values)))

    def _redraw(self, window: slice, mean: NDArray[np.float64]) -> None:
        self.series.values[window] = self.rng.poisson(np.maximum(mean, 0.0)).astype(np.float64)

    def _record(self, kind: str, window: slice) -> Planted:
        planted = Planted(
            kind,
            to_datetime(self.series.buckets[window.start]),
            to_datetime(self.series.buckets[window.stop - 1]) + self.interval,
        )
        self.planted.append(planted)
        return planted

    def spike(
        self, start: datetime, hours: float, *, factor: float = 1.0, extra: float = 0.0
    ) -> Planted:
        """More traffic for ``hours`` from ``start``: mean × ``factor`` + ``extra`` per bucket."""
        window = self._span(start, hours)
        self._redraw(window, self.rate[window] * factor + extra)
        return self._record("spike", window)

    def dip(self, start: datetime, hours: float, *, factor: float = 0.2) -> Planted:
        """Less traffic (mean × ``factor``) for ``hours`` from ``start``; the source still sends."""
        window = self._span(start, hours)
        self._redraw(window, self.rate[window] * factor)
        return self._record("dip", window)

    def level_shift(self, start: datetime, *, factor: float = 1.8) -> Planted:
        """Mean × ``factor`` from ``start`` to the end of the series."""
        first = self.index(start)
        window = slice(first, len(self.series.values))
        self._redraw(window, self.rate[window] * factor)
        return self._record("level_shift", window)

    def silence(self, start: datetime, hours: float) -> Planted:
        """The data source sends nothing for ``hours`` from ``start`` (silent, values NaN)."""
        window = self._span(start, hours)
        self.series.values[window] = np.nan
        self.series.silent[window] = True
        return self._record("silence", window)

    def split(self, at: datetime) -> tuple[Series, Series]:
        """(history before ``at``, the rest) as two series on the same grid."""
        cut = self.index(at)
        return slice_series(self.series, 0, cut), slice_series(self.series, cut, None)

    def planted_after(self, at: datetime) -> list[Planted]:
        """The planted anomalies that end after ``at`` (those a scored period can contain)."""
        return [p for p in self.planted if p.end > at]


def to_datetime(value: np.datetime64) -> datetime:
    """A ``datetime64`` bucket start as an aware UTC ``datetime``."""
    micros = int(value.astype("datetime64[us]").astype(np.int64))
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


def grid(start: datetime, days: float, interval: timedelta) -> NDArray[np.datetime64]:
    """Bucket starts from ``start`` for ``days`` days."""
    count = round(timedelta(days=days) / interval)
    first = np.datetime64(start.replace(tzinfo=None), "us")
    step = np.timedelta64(int(interval / timedelta(microseconds=1)), "us")
    return first + step * np.arange(count)


def make_series(
    days: float = 35,
    *,
    seed: int = 0,
    interval: timedelta = timedelta(minutes=15),
    start: datetime = START,
    base: float = 40.0,
    daily: float = 0.7,
    weekend: float = 0.55,
    key: tuple[str | None, ...] = ("dns",),
    sources: Sequence[str] = ("zeek.dns",),
) -> Synthetic:
    """A seeded seasonal Poisson count series (see ``seasonal_rate`` for the shape)."""
    buckets = grid(start, days, interval)
    rate = seasonal_rate(buckets, base=base, daily=daily, weekend=weekend)
    rate = rate * (interval / timedelta(minutes=15))
    rng = np.random.default_rng(seed)
    values = rng.poisson(rate).astype(np.float64)
    series = Series(
        key=key,
        buckets=buckets,
        values=values,
        silent=np.zeros(len(buckets), dtype=bool),
        active=np.ones(len(buckets), dtype=bool),
        sources=tuple(sources),
    )
    return Synthetic(series=series, rate=rate, rng=rng)


def make_constant(
    value: float, days: float = 30, *, interval: timedelta = timedelta(minutes=15)
) -> Series:
    """A series with the same value in every bucket (0 gives an all-zero series)."""
    buckets = grid(START, days, interval)
    return Series(
        key=("constant",),
        buckets=buckets,
        values=np.full(len(buckets), float(value)),
        silent=np.zeros(len(buckets), dtype=bool),
        active=np.ones(len(buckets), dtype=bool),
        sources=("constant",),
    )


def slice_series(series: Series, first: int, stop: int | None) -> Series:
    """Buckets ``first:stop`` of ``series`` as a new series (copies, so edits do not leak)."""
    part = slice(first, stop)
    return replace(
        series,
        buckets=series.buckets[part].copy(),
        values=series.values[part].copy(),
        silent=series.silent[part].copy(),
        active=series.active[part].copy(),
    )


@dataclass(frozen=True)
class WindowScore:
    """Window-level quality of a detector on one or more series."""

    found: int  # planted windows overlapped by at least one finding
    planted: int
    true_findings: int  # findings that overlap some planted window
    findings: int

    @property
    def recall(self) -> float:
        return self.found / self.planted if self.planted else 1.0

    @property
    def precision(self) -> float:
        return self.true_findings / self.findings if self.findings else 1.0

    def __add__(self, other: WindowScore) -> WindowScore:
        return WindowScore(
            self.found + other.found,
            self.planted + other.planted,
            self.true_findings + other.true_findings,
            self.findings + other.findings,
        )


def window_score(
    planted: Sequence[Planted],
    windows: Sequence[tuple[datetime, datetime]],
    slack: timedelta = timedelta(0),
) -> WindowScore:
    """Match findings' ``(start, end)`` windows to planted ones by overlap (± ``slack``)."""
    found = sum(any(p.overlaps(s, e, slack) for s, e in windows) for p in planted)
    true = sum(any(p.overlaps(s, e, slack) for p in planted) for s, e in windows)
    return WindowScore(found, len(planted), true, len(windows))


def standard_scenario(
    seed: int,
    *,
    base: float = 40.0,
    history_days: int = 28,
    scored_days: int = 7,
    spike_extra: float = 1.5,
    dip_factor: float = 0.3,
    shift_factor: float = 1.7,
) -> tuple[Synthetic, datetime]:
    """A seasonal series with one spike, dip, silence and level shift in the scored days.

    History is the first ``history_days`` (clean); the spike (``spike_extra`` × ``base`` more
    per bucket for 1–2.5 h), the dip (traffic × ``dip_factor`` for 2–4 h) and the silence
    (1–3 h) fall on three different scored days at seeded random times (dip and silence in
    daytime, when traffic is expected), and the level shift (× ``shift_factor``) runs from a
    random hour of the second-to-last scored day to the end. Returns the series and the time
    where scoring starts.
    """
    if scored_days < 5:
        raise ValueError("the standard scenario needs at least 5 scored days")
    synth = make_series(history_days + scored_days, seed=seed, base=base)
    rng = np.random.default_rng(10_000 + seed)
    first = history_days
    spike_day, dip_day, silence_day = rng.permutation(scored_days - 2)[:3] + first

    def quarter(low: float, high: float) -> float:
        return float(rng.integers(int(low * 4), int(high * 4) + 1)) / 4

    spike_start = synth.at(int(spike_day), quarter(0, 21))
    synth.spike(spike_start, hours=quarter(1, 2.5), extra=spike_extra * base)
    synth.dip(synth.at(int(dip_day), quarter(9, 14)), hours=quarter(2, 4), factor=dip_factor)
    synth.silence(synth.at(int(silence_day), quarter(8, 15)), hours=quarter(1, 3))
    synth.level_shift(synth.at(first + scored_days - 2, quarter(0, 12)), factor=shift_factor)
    return synth, synth.at(first)


def random_windows(
    synth: Synthetic, after: datetime, count: int, hours: float, seed: int
) -> list[tuple[datetime, datetime]]:
    """``count`` windows of ``hours`` at seeded random times after ``after``: a detector that
    knows nothing, to show that a quality bar can fail."""
    rng = np.random.default_rng(seed)
    first = synth.index(after)
    stop = len(synth.series.values) - round(timedelta(hours=hours) / synth.interval)
    starts = rng.integers(first, max(first + 1, stop), size=count)
    return [
        (
            to_datetime(synth.series.buckets[i]),
            to_datetime(synth.series.buckets[i]) + timedelta(hours=hours),
        )
        for i in starts
    ]
