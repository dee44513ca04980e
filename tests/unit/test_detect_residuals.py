"""Shared residual scoring: probabilities on the z scale, thresholds, heavy tails, day jitter."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest

from loglens.detect.residuals import (
    LogScale,
    day_jitter,
    log_normal_tail,
    poisson_log_tail,
    threshold_for,
    to_micros,
    z_for_tail,
)
from tests.series_factory import START, grid


@pytest.mark.parametrize(
    ("p", "z"),
    # Standard normal table values.
    [(0.5, 0.0), (0.1, 1.2816), (1e-3, 3.0902), (1e-7, 5.1993), (1e-12, 7.0345)],
)
def test_z_for_tail_matches_the_normal_table(p, z):
    assert z_for_tail(math.log(p)) == pytest.approx(z, abs=2e-3)


def test_z_for_tail_far_in_the_tail_round_trips():
    for log_p in (-50.0, -400.0, -5000.0):
        z = z_for_tail(log_p)
        assert log_normal_tail(z) == pytest.approx(log_p, rel=1e-6)
    assert z_for_tail(-math.inf) == math.inf
    assert z_for_tail(0.0) == 0.0


def test_threshold_grows_with_the_number_of_tests():
    # One false alarm in 100 runs of n tests: a one-sided tail of 0.01 / n.
    assert threshold_for(1) == pytest.approx(2.3263, abs=2e-3)
    assert threshold_for(100_000) == pytest.approx(5.1993, abs=2e-3)
    assert threshold_for(10) < threshold_for(1000) < threshold_for(10**6)


def test_poisson_tail_against_a_direct_sum():
    for count, mean in ((1, 0.5), (3, 0.2), (7, 2.0), (20, 0.01)):
        direct = 1 - sum(math.exp(-mean) * mean**k / math.factorial(k) for k in range(count))
        if direct > 1e-12:
            assert poisson_log_tail(count, mean) == pytest.approx(math.log(direct), rel=1e-6)
        else:
            # Below float precision of the direct sum: the first term dominates.
            first = count * math.log(mean) - mean - math.lgamma(count + 1)
            assert poisson_log_tail(count, mean) == pytest.approx(first, abs=0.1)
    assert poisson_log_tail(0, 3.0) == 0.0
    assert poisson_log_tail(2, 5.0) == 0.0  # below the mean: nothing unusual


def test_log_scale_round_trip_and_offset():
    values = np.array([0.0, 10.0, 20.0, 30.0, np.nan])
    scale = LogScale.learn(values)
    assert scale.offset == 20.0  # median of the positive values
    back = scale.inverse(scale.forward(values))
    assert np.allclose(back[:4], values[:4]) and np.isnan(back[4])
    assert LogScale.learn(np.zeros(4)).offset == 1.0


def _days_with_jitter(sigma, seed, days=40):
    buckets = grid(START, days, timedelta(minutes=15))
    micros = to_micros(buckets)
    rng = np.random.default_rng(seed)
    level = np.repeat(rng.lognormal(0.0, sigma, days), 96) if sigma else np.ones(len(buckets))
    expected = np.full(len(buckets), 200.0)
    values = rng.poisson(expected * level).astype(float)
    return micros, values, expected, np.sqrt(expected)


def test_day_jitter_is_found_when_days_vary_and_zero_when_they_do_not():
    for seed in range(3):
        micros, values, expected, noise = _days_with_jitter(0.1, seed)
        assert 0.06 <= day_jitter(micros, values, expected, noise, relative=True) <= 0.15
        micros, values, expected, noise = _days_with_jitter(0.0, seed)
        assert day_jitter(micros, values, expected, noise, relative=True) < 0.02
    # Too few days to say.
    micros, values, expected, noise = _days_with_jitter(0.1, 0, days=3)
    assert day_jitter(micros, values, expected, noise, relative=True) == 0.0
