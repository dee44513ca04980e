"""RollingRobust on seeded series without seasonality: drifting levels, steps, bursty counts."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from numpy.typing import NDArray

from loglens.detect.base import DetectError, NotEnoughHistoryError
from loglens.detect.rolling import RollingRobust, normal_two_sided_quantile, rolling_reference
from loglens.series import Series

STEP_S = 900  # 15-minute buckets
T0 = np.datetime64("2024-03-01T00:00:00", "us")


def series_of(values: NDArray[np.float64], start: int = 0) -> Series:
    n = len(values)
    buckets = T0 + (start + np.arange(n)) * np.timedelta64(STEP_S, "s")
    return Series(
        key=("host-a",),
        buckets=buckets.astype("datetime64[us]"),
        values=np.asarray(values, dtype=np.float64),
        silent=np.zeros(n, dtype=bool),
        active=np.ones(n, dtype=bool),
    )


def bucket_time(index: int) -> datetime:
    moment = (T0 + index * np.timedelta64(STEP_S, "s")).astype(datetime)
    return moment.replace(tzinfo=UTC)


def planted_gauge(seed: int) -> tuple[NDArray[np.float64], list[tuple[int, int]], int]:
    """A slowly drifting gauge (no daily cycle) with a spike, a dip and a level shift planted
    after the first ten days; returns values, planted [first, stop) runs and the cut."""
    rng = np.random.default_rng(seed)
    n, cut = 96 * 24, 96 * 10
    drift = np.cumsum(rng.normal(0.0, 0.02, n))
    values = 50.0 + drift + rng.normal(0.0, 1.0, n)
    spike = int(rng.integers(cut + 100, cut + 500))
    dip = int(rng.integers(cut + 600, cut + 900))
    shift = int(rng.integers(cut + 1000, n - 200))
    values[spike : spike + 2] += 12.0
    values[dip : dip + 3] -= 10.0
    values[shift:] += 8.0
    return values, [(spike, spike + 2), (dip, dip + 3), (shift, shift + 8)], cut


def test_normal_quantile_matches_known_values() -> None:
    assert normal_two_sided_quantile(0.95) == pytest.approx(1.95996, abs=1e-4)
    assert normal_two_sided_quantile(0.99) == pytest.approx(2.57583, abs=1e-4)
    with pytest.raises(DetectError):
        normal_two_sided_quantile(1.0)


def test_reference_is_the_median_of_the_window_before_each_block() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(0.0, 1.0, 300)
    values[rng.integers(0, 300, 40)] = np.nan
    step = STEP_S * 1_000_000
    micros = series_of(values).buckets.astype(np.int64)
    window, refresh = 20, 4
    ref = rolling_reference(values, micros, step, window, refresh)
    for i in range(len(values)):
        block_start = i - int((micros[i] // step) % refresh)  # T0 is aligned to the blocks
        past = values[max(0, block_start - window) : block_start]
        past = past[np.isfinite(past)]
        assert ref.count[i] == len(past)
        if len(past):
            center = np.median(past)
            assert ref.median[i] == pytest.approx(center)
            assert ref.sigma[i] == pytest.approx(1.4826 * np.median(np.abs(past - center)))
        else:
            assert np.isnan(ref.median[i])


def test_finds_spikes_dips_and_a_level_shift_once() -> None:
    found = planted = true_findings = total_findings = 0
    for seed in range(8):
        values, runs, cut = planted_gauge(seed)
        whole = series_of(values)
        detector = RollingRobust().fit(series_of(values[:cut]))
        anomalies = [a for a in detector.detect(whole) if a.start >= bucket_time(cut)]
        for first, stop in runs:
            planted += 1
            hits = [
                a for a in anomalies if a.start < bucket_time(stop) and a.end > bucket_time(first)
            ]
            found += bool(hits)
        # The level shift starts one anomaly, not one per bucket while the window catches up
        shift = runs[2][0]
        after_shift = [a for a in anomalies if a.start >= bucket_time(shift)]
        assert len(after_shift) <= 2, [(a.start, a.kind) for a in after_shift]
        total_findings += len(anomalies)
        true_findings += sum(
            any(a.start < bucket_time(stop) and a.end > bucket_time(first) for first, stop in runs)
            for a in anomalies
        )
    assert found / planted >= 0.9
    assert true_findings / max(total_findings, 1) >= 0.8


def test_a_level_shift_is_reported_as_one() -> None:
    values, runs, cut = planted_gauge(11)
    detector = RollingRobust().fit(series_of(values[:cut]))
    shift = runs[2][0]
    hits = [a for a in detector.detect(series_of(values)) if a.start >= bucket_time(shift - 1)]
    assert hits and hits[0].kind == "level_shift" and hits[0].observed > hits[0].expected
    assert hits[0].start <= bucket_time(shift + 1)
    assert "median of the previous 72 h" in hits[0].reasons[0]


def test_scores_never_depend_on_later_buckets() -> None:
    values, _, cut = planted_gauge(5)
    detector = RollingRobust().fit(series_of(values[:cut]))
    whole = detector.score(series_of(values))
    prefix = detector.score(series_of(values[: cut + 300]))
    np.testing.assert_array_equal(prefix, whole[: cut + 300])


def test_bursty_counts_are_judged_against_their_usual_bursts() -> None:
    # Mostly zero counts with frequent bursts: the bursts in training set the scale, so the
    # same kind of bursts later are not anomalies, while a burst ten times larger is.
    rng = np.random.default_rng(9)
    n, cut = 96 * 20, 96 * 8
    values = rng.poisson(0.3, n).astype(float)
    bursts = rng.random(n) < 0.03
    values[bursts] += rng.poisson(25, int(bursts.sum()))
    big = cut + 700
    values[big] = 400.0
    detector = RollingRobust().fit(series_of(values[:cut]))
    anomalies = [a for a in detector.detect(series_of(values)) if a.start >= bucket_time(cut)]
    assert any(a.start == bucket_time(big) for a in anomalies)
    later_bursts = int(bursts[cut:].sum())
    assert len(anomalies) <= 1 + later_bursts // 10


def test_a_flat_gauge_does_not_alarm_on_rounding_noise() -> None:
    rng = np.random.default_rng(2)
    values = 0.134 + rng.choice([-0.002, 0.0, 0.002], 96 * 12, p=[0.05, 0.9, 0.05])
    values[96 * 9] = 2.3  # a real CPU burst on an idle host
    detector = RollingRobust().fit(series_of(values[: 96 * 4]))
    anomalies = [a for a in detector.detect(series_of(values)) if a.start >= bucket_time(96 * 4)]
    assert [a.start for a in anomalies] == [bucket_time(96 * 9)]


def test_history_and_parameter_errors_are_clear() -> None:
    with pytest.raises(NotEnoughHistoryError):
        RollingRobust().fit(series_of(np.ones(10)))
    with pytest.raises(DetectError, match="not fitted"):
        RollingRobust().score(series_of(np.ones(50)))
    with pytest.raises(DetectError, match="window_hours"):
        RollingRobust(window_hours=0).fit(series_of(np.ones(50)))
    with pytest.raises(DetectError, match="tail_quantile"):
        RollingRobust(tail_quantile=1.0).fit(series_of(np.ones(50)))
    detector = RollingRobust().fit(series_of(np.arange(100, dtype=float)))
    gappy = series_of(np.ones(50))
    gappy.buckets = gappy.buckets.copy()
    gappy.buckets[25:] += np.timedelta64(STEP_S, "s")
    with pytest.raises(DetectError, match="consecutive"):
        detector.score(gappy)
