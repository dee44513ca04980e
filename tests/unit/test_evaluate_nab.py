"""NAB scoring, threshold choice, the windowed Gaussian baseline and the Detector adapter.

Expected scores are worked out here by hand from NAB's definitions (Lavin & Ahmad 2015): the
scaled sigmoid ``2/(1 + e^(5y)) − 1``, a window's first point at ``y = −1``, a false positive's
``y`` measured after the previous window in window lengths.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

from loglens.detect.base import Anomaly, NotEnoughHistoryError
from loglens.errors import SourceError
from loglens.evaluate import (
    DetectorScorer,
    EvaluationError,
    WindowedGaussian,
    as_series,
    get_profile,
    load_corpus,
    optimise_threshold,
    probation_length,
    run_nab,
    scaled_sigmoid,
    score_detections,
    score_file,
    squash,
    window_layout,
    windowed_gaussian_scores,
)
from loglens.evaluate.detector_adapter import drop_repeats
from loglens.evaluate.nab_detectors import nab_detector
from loglens.series import Series

T0 = np.datetime64("2024-01-01T00:00:00", "us")
N = 200  # probation: floor(0.15 · 200) = 30 points
W_LO, W_HI = 100, 109  # one ten-point window


def stamps(n: int = N) -> NDArray[np.datetime64]:
    return T0 + np.arange(n) * np.timedelta64(60, "s")


def nab_sigmoid(y: float) -> float:
    """The scaled sigmoid, written out again for the expected values."""
    return -1.0 if y > 3 else 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def layout(n: int = N, windows: list[tuple[int, int]] | None = None, name: str = "a/x.csv") -> Any:
    ts = stamps(n)
    pairs = [(ts[lo], ts[hi]) for lo, hi in (windows if windows is not None else [(W_LO, W_HI)])]
    return window_layout(ts, pairs, name=name)


def fire(*points: int, n: int = N) -> NDArray[np.bool_]:
    detections = np.zeros(n, dtype=bool)
    detections[list(points)] = True
    return detections


# --- the scaled sigmoid and the probationary period -----------------------------------------------


def test_scaled_sigmoid_has_the_values_the_paper_gives() -> None:
    assert float(scaled_sigmoid(-1.0)) == pytest.approx(0.98661, abs=1e-5)
    assert float(scaled_sigmoid(-0.5)) == pytest.approx(0.84828, abs=1e-5)
    assert float(scaled_sigmoid(0.0)) == pytest.approx(0.0, abs=1e-12)
    assert float(scaled_sigmoid(1.0)) == pytest.approx(-0.98661, abs=1e-5)
    assert float(scaled_sigmoid(3.5)) == -1.0


def test_probation_is_fifteen_percent_capped_at_750_points() -> None:
    assert probation_length(200) == 30
    assert probation_length(4032) == 604
    assert probation_length(15_902) == 750


# --- hand-computed file scores --------------------------------------------------------------------


def test_detection_at_the_window_start_earns_the_full_true_positive_weight() -> None:
    score = score_detections(layout(), fire(W_LO), "standard")
    assert score.raw == pytest.approx(1.0, abs=1e-12)
    assert (score.detected, score.missed, score.false_positives) == (1, 0, 0)
    assert score.normalized == pytest.approx(100.0)


def test_late_detection_in_the_window_earns_less() -> None:
    # point 105 of [100, 109]: y = −(109 − 105 + 1)/10 = −0.5
    expected = nab_sigmoid(-0.5) / nab_sigmoid(-1.0)
    score = score_detections(layout(), fire(105), "standard")
    assert score.raw == pytest.approx(expected, rel=1e-9)
    assert 0.8 < score.raw < 1.0
    # the window's last point: y = −1/10, barely positive
    last = score_detections(layout(), fire(W_HI), "standard")
    assert last.raw == pytest.approx(nab_sigmoid(-0.1) / nab_sigmoid(-1.0), rel=1e-9)
    assert 0 < last.raw < score.raw


def test_only_the_first_detection_in_a_window_counts() -> None:
    first_only = score_detections(layout(), fire(103), "standard").raw
    assert score_detections(layout(), fire(103, 104, 108), "standard").raw == pytest.approx(
        first_only
    )


def test_detections_outside_windows_are_penalised_by_distance() -> None:
    # far after the window: y = (150 − 109)/(10 − 1) ≈ 4.6 > 3 → −A_FP, plus the missed window
    far = score_detections(layout(), fire(150), "standard")
    assert far.raw == pytest.approx(-0.11 - 1.0)
    assert (far.false_positives, far.missed) == (1, 1)
    # right after the window: y = 2/9, a small penalty
    near = score_detections(layout(), fire(W_LO, 111), "standard")
    assert near.raw == pytest.approx(1.0 + 0.11 * nab_sigmoid(2 / 9))
    assert -0.11 < 0.11 * nab_sigmoid(2 / 9) < 0
    # before any window: the full −A_FP
    before = score_detections(layout(), fire(40, W_LO), "standard")
    assert before.raw == pytest.approx(1.0 - 0.11)
    # reward_low_FP_rate doubles the cost
    assert score_detections(layout(), fire(40, W_LO), "reward_low_FP_rate").raw == pytest.approx(
        1.0 - 0.22
    )


def test_a_missed_window_costs_the_false_negative_weight() -> None:
    assert score_detections(layout(), fire(), "standard").raw == pytest.approx(-1.0)
    assert score_detections(layout(), fire(), "reward_low_FN_rate").raw == pytest.approx(-2.0)


def test_the_probationary_period_is_not_scored() -> None:
    score = score_detections(layout(), fire(5, 29), "standard")
    assert score.raw == pytest.approx(-1.0)  # only the missed window
    assert score.detections == 0 and score.false_positives == 0
    # a window that ends inside the probationary period is dropped altogether
    early = layout(windows=[(10, 20), (W_LO, W_HI)])
    assert early.windows == 1 and early.unscored_windows == 1


def test_null_detector_normalises_to_0_and_perfect_to_100() -> None:
    layouts = [layout(name="a/x.csv"), layout(windows=[(60, 69), (150, 179)], name="a/y.csv")]
    null = [score_detections(lay, fire(), "standard") for lay in layouts]
    perfect = [score_detections(lay, fire(*lay.bounds[:, 0]), "standard") for lay in layouts]
    for scores, expected in ((null, 0.0), (perfect, 100.0)):
        raw = sum(s.raw for s in scores)
        lo, hi = sum(s.null for s in scores), sum(s.perfect for s in scores)
        assert 100 * (raw - lo) / (hi - lo) == pytest.approx(expected, abs=1e-9)
    assert sum(s.null for s in null) == -3.0 and sum(s.perfect for s in perfect) == 3.0


def test_a_file_without_windows_has_no_normalised_score() -> None:
    score = score_detections(layout(windows=[]), fire(50), "standard")
    assert score.raw == pytest.approx(-0.11)
    assert score.normalized is None


# --- threshold optimisation -----------------------------------------------------------------------


def test_threshold_optimisation_picks_the_obvious_threshold() -> None:
    scores = np.full(N, 0.1)
    scores[W_LO] = 0.9  # the window's start
    scores[[50, 150, 170]] = 0.5  # three points outside the window
    choice = optimise_threshold([(layout(), scores)], "standard")
    assert choice.threshold == pytest.approx(0.9)
    assert choice.raw == pytest.approx(1.0)
    assert choice.normalized == pytest.approx(100.0)


def test_threshold_optimisation_prefers_silence_when_every_alarm_is_false() -> None:
    scores = np.full(N, 0.2)
    scores[[40, 60, 160]] = 0.95
    scores[W_LO : W_HI + 1] = 0.0
    choice = optimise_threshold([(layout(), scores)], "standard")
    assert choice.threshold > 0.95
    assert choice.raw == pytest.approx(-1.0)


def test_threshold_sweep_agrees_with_scoring_each_threshold() -> None:
    rng = np.random.default_rng(11)
    layouts = [
        layout(windows=[(60, 75), (140, 150)], name="a/one.csv"),
        layout(windows=[(W_LO, W_HI)], name="a/two.csv"),
        layout(windows=[], name="b/three.csv"),
    ]
    scores = [np.round(rng.random(N), 2) for _ in layouts]
    for lay, values in zip(layouts, scores, strict=True):
        values[lay.bounds[:, 0] + 3] = 0.97  # something worth finding
    for profile in ("standard", "reward_low_FP_rate", "reward_low_FN_rate"):
        choice = optimise_threshold(list(zip(layouts, scores, strict=True)), profile)
        candidates = np.unique(np.concatenate(scores))
        brute = [
            sum(score_file(lay, v, t, profile).raw for lay, v in zip(layouts, scores, strict=True))
            for t in candidates
        ]
        assert choice.raw == pytest.approx(max(max(brute), choice.null), abs=1e-9)
        at_choice = sum(
            score_file(lay, v, choice.threshold, profile).raw
            for lay, v in zip(layouts, scores, strict=True)
        )
        assert at_choice == pytest.approx(choice.raw, abs=1e-9)


def test_profiles_by_name_and_alias() -> None:
    assert get_profile("standard").fp == 0.11
    assert get_profile("reward_low_FP").fp == 0.22
    assert get_profile("REWARD_LOW_FN_RATE").fn == 2.0
    with pytest.raises(EvaluationError, match="unknown NAB profile"):
        get_profile("lenient")


# --- the windowed Gaussian ------------------------------------------------------------------------


def test_windowed_gaussian_flags_an_injected_spike() -> None:
    rng = np.random.default_rng(3)
    values = rng.normal(50.0, 2.0, 1000)
    values[700] += 20.0  # ten standard deviations
    scores = windowed_gaussian_scores(values)
    assert scores[0] == 0.0 and ((scores >= 0) & (scores <= 1)).all()
    assert int(np.argmax(scores[50:])) + 50 == 700
    assert scores[700] > 0.99999
    assert np.median(scores[50:]) < 0.8


def test_windowed_gaussian_matches_a_point_by_point_reading_of_nab() -> None:
    rng = np.random.default_rng(5)
    values = np.cumsum(rng.normal(0, 1, 400)) + 1e4
    window, step = 50, 7
    expected, kept, pending = [], [], []
    for value in values:
        score = 0.0
        if kept:
            std = float(np.std(kept)) or 1e-6
            z = abs(value - float(np.mean(kept))) / std
            score = 1 - 0.5 * math.erfc(z / math.sqrt(2))
        expected.append(score)
        if len(kept) < window:
            kept.append(value)
        else:
            pending.append(value)
            if len(pending) == step:
                kept, pending = kept[step:] + pending, []
    got = windowed_gaussian_scores(values, window=window, step=step)
    np.testing.assert_allclose(got, expected, atol=1e-9)


def test_windowed_gaussian_on_a_flat_series_flags_any_change() -> None:
    values = np.r_[np.full(100, 0.3), 0.3, 0.31]
    scores = windowed_gaussian_scores(values)
    assert scores[-2] == pytest.approx(0.5) and scores[-1] == pytest.approx(1.0)


# --- corpus files ---------------------------------------------------------------------------------


def write_corpus(
    root: Path, files: dict[str, NDArray[np.float64]], windows: dict[str, list[tuple[int, int]]]
) -> Path:
    labels: dict[str, list[list[str]]] = {}
    for name, values in files.items():
        path = root / "data" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        ts = stamps(len(values))
        rows = [f"{str(t).replace('T', ' ')},{float(v)!r}" for t, v in zip(ts, values, strict=True)]
        path.write_text("timestamp,value\n" + "\n".join(rows) + "\n", encoding="utf-8")
        labels[name] = [
            [str(ts[lo]).replace("T", " "), str(ts[hi]).replace("T", " ")]
            for lo, hi in windows.get(name, [])
        ]
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / "labels" / "combined_windows.json").write_text(json.dumps(labels), encoding="utf-8")
    return root


def spiky_corpus(root: Path) -> Path:
    rng = np.random.default_rng(8)
    files, windows = {}, {}
    for k, (spike, lo, hi) in enumerate([(120, 120, 139), (300, 295, 320)]):
        values = rng.normal(10.0, 1.0, 400)
        values[spike] += 12.0
        files[f"cat{k}/series{k}.csv"] = values
        windows[f"cat{k}/series{k}.csv"] = [(lo, hi)]
    files["quiet/flat.csv"] = rng.normal(10.0, 1.0, 400)
    return write_corpus(root, files, windows)


def test_load_corpus_reads_files_and_windows(tmp_path: Path) -> None:
    corpus = load_corpus(spiky_corpus(tmp_path))
    assert [f.name for f in corpus.files] == [
        "cat0/series0.csv",
        "cat1/series1.csv",
        "quiet/flat.csv",
    ]
    first = corpus.files[0]
    assert len(first.values) == 400 and first.category == "cat0"
    assert first.windows == [(stamps()[120], stamps()[139])]
    assert corpus.windows == 2
    assert [f.name for f in load_corpus(tmp_path, categories=["quiet"]).files] == ["quiet/flat.csv"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda root: (root / "labels" / "combined_windows.json").unlink(),
            "labels file not found",
        ),
        (
            lambda root: (root / "labels" / "combined_windows.json").write_text("{oops"),
            "not valid JSON",
        ),
        (
            lambda root: (root / "labels" / "combined_windows.json").write_text(
                json.dumps({"a/s.csv": [["2024-01-01 00:00:00"]]})
            ),
            "not a \\[start, end\\] pair",
        ),
        (
            lambda root: (root / "labels" / "combined_windows.json").write_text(
                json.dumps({"a/s.csv": [["2024-01-01 00:10:00", "2024-01-01 00:00:00"]]})
            ),
            "ends before it starts",
        ),
        (
            lambda root: (root / "labels" / "combined_windows.json").write_text(json.dumps({})),
            "no entry in labels/combined_windows.json",
        ),
        (lambda root: (root / "data" / "a" / "s.csv").write_text("time,v\n"), "header must be"),
        (
            lambda root: (root / "data" / "a" / "s.csv").write_text(
                "timestamp,value\n2024-01-01 00:00:00,1\n2024-01-01 00:01:00,abc\n"
            ),
            r"s\.csv:3: value 'abc' is not a number",
        ),
        (
            lambda root: (root / "data" / "a" / "s.csv").write_text(
                "timestamp,value\n2024-01-01 00:00:00,1\nyesterday,2\n"
            ),
            r"s\.csv:3: timestamp: 'yesterday' is not a timestamp",
        ),
        (
            lambda root: (root / "data" / "a" / "s.csv").write_text(
                "timestamp,value\n2024-01-01 00:05:00,1\n2024-01-01 00:01:00,2\n"
            ),
            r"s\.csv:3: timestamps go back in time",
        ),
        (lambda root: (root / "data" / "a" / "s.csv").write_text("timestamp,value\n"), "no data"),
    ],
)
def test_broken_corpus_files_give_clear_errors(tmp_path: Path, damage: Any, message: str) -> None:
    write_corpus(tmp_path, {"a/s.csv": np.arange(10.0)}, {"a/s.csv": [(2, 4)]})
    damage(tmp_path)
    with pytest.raises(SourceError, match=message):
        load_corpus(tmp_path)


def test_a_folder_without_data_is_not_a_corpus(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no data/ folder"):
        load_corpus(tmp_path)


# --- the runner -----------------------------------------------------------------------------------


def test_run_nab_scores_the_windowed_gaussian_on_spikes_inside_windows(tmp_path: Path) -> None:
    report = run_nab(spiky_corpus(tmp_path), WindowedGaussian)
    assert report.detector == "windowed_gaussian"
    assert set(report.profiles) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    standard = report.profiles["standard"]
    assert standard.detected == 2 and standard.missed == 0
    score = report.score("standard")
    assert score is not None and score > 90
    assert standard.by_category["quiet"] is None
    assert json.loads(json.dumps(report.to_json()))["profiles"]["standard"]["threshold"] > 0.5


def test_run_nab_with_a_fixed_threshold_and_one_profile(tmp_path: Path) -> None:
    report = run_nab(spiky_corpus(tmp_path), WindowedGaussian, "standard", threshold=0.0)
    result = report.profiles["standard"]
    assert list(report.profiles) == ["standard"] and not result.threshold_optimised
    # firing on every point: both windows found at their first scored point, every other
    # scored point a false positive
    assert result.detected == 2
    assert result.false_positives == 3 * (400 - 60) - (20 + 26)


def test_run_nab_rejects_unusable_scores(tmp_path: Path) -> None:
    corpus = spiky_corpus(tmp_path)
    with pytest.raises(EvaluationError, match="gave 3 scores for 400 points"):
        run_nab(corpus, lambda: lambda ts, v: np.zeros(3))
    with pytest.raises(EvaluationError, match=r"must lie in \[0, 1\]"):
        run_nab(corpus, lambda: lambda ts, v: v)


# --- the Detector adapter -------------------------------------------------------------------------


class MedianDetector:
    """A tiny robust-z detector following the Detector protocol."""

    name = "median"

    def __init__(self) -> None:
        self.fitted_on: int | None = None

    def fit(self, history: Series) -> MedianDetector:
        self.center_ = float(np.median(history.values))
        self.scale_ = float(np.median(np.abs(history.values - self.center_))) * 1.4826 or 1.0
        self.fitted_on = len(history.values)
        return self

    def score(self, series: Series) -> NDArray[np.float64]:
        return np.asarray((series.values - self.center_) / self.scale_, dtype=np.float64)

    def detect(self, series: Series) -> list[Any]:
        return []


def test_the_adapter_fits_on_the_probationary_period_and_squashes_scores() -> None:
    built: list[MedianDetector] = []

    def factory() -> MedianDetector:
        built.append(MedianDetector())
        return built[-1]

    rng = np.random.default_rng(2)
    values = rng.normal(0.0, 1.0, 400)
    values[:60] += 100.0  # only the probationary part is learnt from
    values[250] = 108.0
    scores = DetectorScorer(factory)(stamps(400), values)
    assert built[0].fitted_on == probation_length(400) == 60
    assert ((scores >= 0) & (scores < 1)).all()
    # negative z (below the learnt level) squashes to 0; the spike is the top score
    assert scores[100] == 0.0 and int(np.argmax(scores[60:])) + 60 == 250


def test_squash_is_monotone_and_ignores_nan() -> None:
    z = np.array([np.nan, -3.0, 0.0, 1.0, 5.0, 50.0, 250.0, 480.0, 1e6])
    out = squash(z)
    assert out[0] == 0.0 and out[1] == 0.0 and out[2] == 0.0
    # large robust z-scores stay distinguishable, so the threshold sweep can separate them
    assert (np.diff(out[2:]) > 0).all() and out[-1] < 1.0
    assert squash(np.array([np.inf]))[0] == 1.0


def test_run_nab_through_the_adapter_finds_the_spikes(tmp_path: Path) -> None:
    report = run_nab(spiky_corpus(tmp_path), lambda: DetectorScorer(MedianDetector), "standard")
    result = report.profiles["standard"]
    assert result.detected == 2 and result.score is not None and result.score > 90


def test_irregular_points_are_put_on_an_aligned_grid() -> None:
    # 5-minute data at odd seconds, with a repeated stamp and a 20-minute gap
    t = np.datetime64("2015-02-26T21:42:53", "us")
    minutes = np.array([0, 5, 10, 10, 15, 35, 40])
    ts = t + minutes * np.timedelta64(60, "s")
    values = np.array([1.0, 2.0, 3.0, 5.0, 6.0, 7.0, 8.0])
    series, index = as_series(ts, values)
    step_us = 300 * 1_000_000
    micros = series.buckets.astype(np.int64)
    assert (micros % step_us == 0).all() and (np.diff(micros) == step_us).all()
    assert series.buckets[0] == np.datetime64("2015-02-26T21:40:00", "us")
    # the repeated stamp is averaged; the three missing buckets are inactive, not silent
    assert series.values[2] == pytest.approx(4.0)
    assert list(series.active) == [True, True, True, True, False, False, False, True, True]
    assert not series.silent.any() and np.isnan(series.values[4:7]).all()
    np.testing.assert_array_equal(series.values[index][[0, 1, 4, 5, 6]], values[[0, 1, 4, 5, 6]])


class NeedsMoreHistory(MedianDetector):
    def fit(self, history: Series) -> MedianDetector:
        raise NotEnoughHistoryError("needs a week")


def test_a_detector_without_enough_history_abstains(tmp_path: Path) -> None:
    report = run_nab(spiky_corpus(tmp_path), lambda: DetectorScorer(NeedsMoreHistory), "standard")
    result = report.profiles["standard"]
    assert len(report.abstained) == 3
    assert result.detected == 0 and result.false_positives == 0
    assert result.score == pytest.approx(0.0)


def test_walk_forward_refits_on_the_past_and_never_sees_ahead() -> None:
    fitted: list[int] = []
    scored: list[int] = []

    class Recording(MedianDetector):
        def fit(self, history: Series) -> MedianDetector:
            fitted.append(len(history.values))
            return super().fit(history)

        def score(self, series: Series) -> NDArray[np.float64]:
            scored.append(len(series.values))
            return super().score(series)

    values = np.random.default_rng(4).normal(0.0, 1.0, 400)
    scorer = DetectorScorer(Recording, refit_every=timedelta(minutes=100))
    scores = scorer(stamps(400), values)
    # first fit on the 60 probationary points, then every 100 minutes on all that came before
    assert fitted == [60, 160, 260, 360]
    assert scored == [160, 260, 360, 400]
    assert scores.shape == (400,) and np.isfinite(scores).all()


class SpikeAlerts(MedianDetector):
    """Reports each run of buckets above z = 4 as one anomaly (times as aware UTC datetimes)."""

    def detect(self, series: Series) -> list[Any]:
        z = self.score(series)
        high = np.flatnonzero(z > 4)
        starts = [i for i in high if i - 1 not in set(high)]
        return [
            Anomaly(
                series_key=series.key,
                series_name=series.name,
                start=series.buckets[i].astype(datetime).replace(tzinfo=UTC),
                end=(series.buckets[i] + np.timedelta64(60, "s")).astype(datetime),
                detector=self.name,
                score=float(z[i]),
                severity="high",
                observed=float(series.values[i]),
                expected=self.center_,
                explanation="above the median",
            )
            for i in starts
        ]


def test_alerts_mode_scores_only_the_start_of_each_anomaly() -> None:
    values = np.random.default_rng(6).normal(0.0, 1.0, 400)
    values[200:260] += 50.0  # a lasting shift: one alert, not sixty
    scores = DetectorScorer(SpikeAlerts, alerts=True)(stamps(400), values)
    alerted = np.flatnonzero(scores > 0)
    assert 200 in alerted and not set(range(201, 260)) & set(alerted)
    # a shift of about fifty robust standard deviations squashes to about 50/55
    assert 0.85 < scores[200] < 1.0


# --- repeat alerts and the named detectors --------------------------------------------------------


def test_a_weaker_alert_soon_after_a_stronger_one_is_a_repeat() -> None:
    buckets = stamps(100)  # one-minute buckets
    alerts = np.zeros(100)
    alerts[[10, 15, 18, 40, 70]] = [5.0, 3.0, 7.0, 2.0, 1.0]
    kept = drop_repeats(buckets, alerts, timedelta(minutes=10))
    # 15 follows the stronger 10; 18 is stronger than all before it; 40 and 70 are far enough
    assert list(np.flatnonzero(kept)) == [10, 18, 40, 70]
    assert kept[18] == 7.0 and kept[40] == 2.0


def test_dropping_repeats_is_consistent_with_every_threshold() -> None:
    # At any threshold, every alert that was dropped but would fire follows, within the quiet
    # time, an alert that fires too: the rule never hides an incident the threshold would show.
    rng = np.random.default_rng(12)
    buckets = stamps(2000)
    alerts = np.where(rng.random(2000) < 0.05, rng.exponential(3.0, 2000), 0.0)
    quiet = timedelta(minutes=30)
    kept = drop_repeats(buckets, alerts, quiet)
    assert set(np.flatnonzero(kept)) <= set(np.flatnonzero(alerts))
    dropped = np.flatnonzero((alerts > 0) & (kept == 0))
    assert dropped.size > 0
    for i in dropped:
        earlier = alerts[max(0, i - 30) : i]
        assert earlier.size and earlier.max() >= alerts[i]


def test_the_scorer_drops_repeats_only_in_alerts_mode() -> None:
    values = np.random.default_rng(6).normal(0.0, 1.0, 400)
    values[[200, 205, 320]] = [60.0, 40.0, 30.0]
    noisy = DetectorScorer(SpikeAlerts, alerts=True)(stamps(400), values)
    quiet = DetectorScorer(SpikeAlerts, alerts=True, quiet=timedelta(minutes=30))(
        stamps(400), values
    )
    assert noisy[205] > 0 and quiet[205] == 0.0
    assert quiet[200] == noisy[200] and quiet[320] == noisy[320] > 0


@pytest.mark.parametrize("name", ["rolling", "ensemble"])
def test_named_loglens_detectors_find_planted_changes(tmp_path: Path, name: str) -> None:
    # Ten days of five-minute gauges: a spike in one file, a lasting step in another, and
    # a file without anomalies; the detectors must beat the null detector clearly.
    rng = np.random.default_rng(21)
    n = 288 * 10
    files, windows = {}, {}
    spiky = rng.normal(40.0, 2.0, n)
    spiky[2000] += 40.0
    files["gauge/spike.csv"], windows["gauge/spike.csv"] = spiky, [(1950, 2100)]
    step = rng.normal(40.0, 2.0, n)
    step[1500:] += 15.0
    files["gauge/step.csv"], windows["gauge/step.csv"] = step, [(1450, 1600)]
    files["gauge/calm.csv"] = rng.normal(40.0, 2.0, n)
    root = tmp_path / "corpus"
    ts = T0 + np.arange(n) * np.timedelta64(300, "s")
    labels = {}
    for file_name, values in files.items():
        path = root / "data" / file_name
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [f"{str(t).replace('T', ' ')},{float(v)!r}" for t, v in zip(ts, values, strict=True)]
        path.write_text("timestamp,value\n" + "\n".join(rows) + "\n", encoding="utf-8")
        labels[file_name] = [
            [str(ts[lo]).replace("T", " "), str(ts[hi]).replace("T", " ")]
            for lo, hi in windows.get(file_name, [])
        ]
    (root / "labels").mkdir(parents=True)
    (root / "labels" / "combined_windows.json").write_text(json.dumps(labels), encoding="utf-8")
    report = run_nab(root, nab_detector(name), "standard", name=name)
    result = report.profiles["standard"]
    assert result.detected == 2
    assert result.false_positives <= 2
    assert result.score is not None and result.score > 70


def test_unknown_named_detector_is_a_clear_error() -> None:
    with pytest.raises(EvaluationError, match="unknown detector"):
        nab_detector("nope")
