"""Spectral: dominant frequencies of the training series, extended by phase, residuals scored."""

from __future__ import annotations

import json
from datetime import timedelta

import numpy as np
import pytest

from loglens.detect.base import DetectError, NotEnoughHistoryError
from loglens.detect.spectral import Spectral
from tests.series_factory import (
    grid,
    make_constant,
    make_series,
    slice_series,
    standard_scenario,
    window_score,
)

SEEDS = range(6)


def _quality(make_detector, seeds=SEEDS, **strength):
    total = None
    for seed in seeds:
        synth, cut = standard_scenario(seed, **strength)
        history, current = synth.split(cut)
        found = make_detector().fit(history).detect(current)
        score = window_score(synth.planted_after(cut), [(a.start, a.end) for a in found])
        total = score if total is None else total + score
    assert total is not None
    return total


def test_finds_planted_spikes_dips_silence_and_shifts():
    score = _quality(Spectral)
    assert score.planted == 4 * len(SEEDS)
    assert score.recall >= 0.9, score
    assert score.precision >= 0.8, score


def test_finds_moderate_anomalies():
    score = _quality(Spectral, seeds=range(10), spike_extra=0.75, dip_factor=0.5, shift_factor=1.4)
    assert score.recall >= 0.9, score
    assert score.precision >= 0.8, score


def test_a_model_with_only_the_strongest_cycle_fails_the_bar():
    # One sinusoid cannot follow the weekend: the weekend reads as a long dip.
    score = _quality(lambda: Spectral(n_frequencies=1), seeds=range(3))
    assert score.recall < 0.9 or score.precision < 0.8


def test_clean_series_give_few_findings():
    findings = 0
    for seed in range(12):
        synth = make_series(35, seed=700 + seed, base=[3.0, 40.0, 400.0][seed % 3])
        history, current = synth.split(synth.at(28))
        findings += len(Spectral().fit(history).detect(current))
    assert findings / 12 <= 0.25


def test_expected_series_continues_each_cycle_by_phase():
    # A noise-free sum of a daily, a 6-hour and a weekly cycle: the model must continue it,
    # also from a scored period that starts mid-day and a week and a half after training.
    interval = timedelta(minutes=15)
    buckets = grid(make_series(1).start, 40, interval)
    hours = np.arange(len(buckets)) * 0.25
    truth = (
        100
        + 30 * np.cos(2 * np.pi * hours / 24 - 1.0)
        + 8 * np.sin(2 * np.pi * hours / 6)
        + 12 * np.cos(2 * np.pi * hours / 168 + 0.5)
    )
    series = make_constant(0.0, days=40)
    series.values[:] = truth
    history = slice_series(series, 0, 28 * 96)
    later = slice_series(series, 38 * 96 + 37, None)
    model = Spectral(n_frequencies=3).fit(history)
    assert model.count_like_ is False
    assert np.allclose(model.expected(later), truth[38 * 96 + 37 :], atol=1e-6)
    assert set(model.periods_) == {"1 d", "6 h", "7 d"}
    # Not a copy of the last training day: day 38 differs from day 27 through the weekly cycle.
    assert not np.allclose(truth[27 * 96 : 28 * 96], truth[38 * 96 : 39 * 96], atol=1)


def test_dominant_periods_of_seasonal_traffic_are_daily_and_weekly():
    synth = make_series(35, seed=1)
    model = Spectral(window_days=35).fit(synth.series)
    assert model.periods_[:2] == ["1 d", "7 d"]
    assert model.training_days_ == 35  # five whole weeks
    assert 3 <= len(model.periods_) <= 32  # only significant cycles are kept


def test_history_trimmed_to_whole_weeks_or_days():
    synth = make_series(24.5, seed=2)
    assert Spectral().fit(synth.series).training_days_ == 21
    synth = make_series(10.5, seed=2)
    assert Spectral().fit(synth.series).training_days_ == 10


def test_model_follows_the_true_mean():
    synth = make_series(35, seed=3)
    history, current = synth.split(synth.at(28))
    expected = Spectral().fit(history).expected(current)
    truth = synth.rate[synth.index(synth.at(28)) :]
    # Mean squared error in Poisson units well below the noise itself.
    assert np.mean((expected - truth) ** 2 / truth) < 0.3


def test_an_old_incident_in_training_does_not_bend_the_model():
    clean = make_series(35, seed=4)
    spoilt = make_series(35, seed=4)
    spoilt.spike(spoilt.at(20, 3), hours=3, extra=2000)
    for synth in (clean, spoilt):
        history, current = synth.split(synth.at(28))
        synth.found = Spectral().fit(history).detect(current)
        synth.expected = Spectral().fit(history).expected(current)
    assert spoilt.found == clean.found == []
    assert np.max(np.abs(spoilt.expected - clean.expected)) < 3.0


def test_gaps_in_training_are_filled():
    synth = make_series(35, seed=5)
    synth.silence(synth.at(9, 6), hours=30)
    synth.series.active[:50] = False
    synth.series.values[:50] = np.nan
    history, current = synth.split(synth.at(28))
    model = Spectral().fit(history)
    assert model.training_days_ == 21
    assert model.detect(current) == []


def test_silence_and_scores():
    synth = make_series(35, seed=6, base=80)
    planted = synth.silence(synth.at(30, 11), hours=1.5)
    history, current = synth.split(synth.at(28))
    model = Spectral().fit(history)
    found = model.detect(current)
    assert [(a.kind, a.start, a.end) for a in found] == [("silence", planted.start, planted.end)]
    scores = model.score(current)
    inside = slice(synth.index(planted.start) - 28 * 96, synth.index(planted.end) - 28 * 96)
    assert np.all(scores[inside] > 3)
    assert np.isnan(model.zscores(current)[inside]).all()
    assert np.median(np.delete(scores, np.arange(inside.start, inside.stop))) < 1.0


def test_constant_and_all_zero_series():
    constant = make_constant(50.0, days=35)
    history, current = slice_series(constant, 0, 28 * 96), slice_series(constant, 28 * 96, None)
    model = Spectral().fit(history)
    assert model.detect(current) == []
    current.values[10:14] = 0.0
    found = model.detect(current)
    assert len(found) == 1 and found[0].kind == "dip" and np.isfinite(found[0].score)

    zeros = make_constant(0.0, days=35)
    history, current = slice_series(zeros, 0, 28 * 96), slice_series(zeros, 28 * 96, None)
    model = Spectral().fit(history)
    assert model.detect(current) == []
    assert np.all(model.score(current) == 0)


def test_too_little_history_and_bad_input():
    with pytest.raises(NotEnoughHistoryError):
        Spectral().fit(make_series(5, seed=0).series)
    empty = make_series(20, seed=0).series
    empty.values[:] = np.nan
    empty.silent[:] = True
    with pytest.raises(NotEnoughHistoryError):
        Spectral().fit(empty)
    with pytest.raises(DetectError, match="n_frequencies"):
        Spectral(n_frequencies=0).fit(make_series(20, seed=0).series)
    with pytest.raises(DetectError, match="not fitted"):
        Spectral().score(make_series(1, seed=0).series)


def test_ids_and_explanations():
    synth = make_series(35, seed=8)
    synth.spike(synth.at(29, 3), hours=1, extra=150)
    history, current = synth.split(synth.at(28))
    first = Spectral().fit(history).detect(current)
    second = Spectral().fit(history).detect(current)
    assert [a.id for a in first] == [a.id for a in second] and len(first) == 1
    spike = first[0]
    assert spike.detector == "spectral" and spike.kind == "spike"
    assert spike.explanation.startswith("dns 2024-01-30 03:00–04:00 UTC: ")
    assert "expected" in spike.explanation and spike.reasons[0].startswith("spectral:")


def test_saved_state_gives_the_same_findings():
    synth, cut = standard_scenario(3)
    history, current = synth.split(cut)
    model = Spectral().fit(history)
    restored = Spectral.from_state(json.loads(json.dumps(model.to_state())))
    assert np.allclose(restored.expected(current), model.expected(current))
    assert [a.id for a in restored.detect(current)] == [a.id for a in model.detect(current)]
    with pytest.raises(DetectError):
        Spectral.from_state({"params": {}})
