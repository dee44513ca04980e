"""Tests of ``WaveletDayClusters`` and the day matrix: seeded synthetic days with planted shapes."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from loglens.detect.wavelet import (
    VARIANTS,
    NotEnoughDaysError,
    WaveletDayClusters,
    day_matrix,
)
from loglens.errors import ConfigError, LoglensError
from loglens.series import Series

PER_DAY = 96  # 15-minute buckets
HOURS = np.arange(PER_DAY) / 4.0
MONDAY = np.datetime64("2024-01-01")
KINDS = ("night_burst", "flat", "shifted_peak")


def normal_rate(weekend: bool, peak_shift: float = 0.0) -> np.ndarray:
    """Expected events per bucket: a business-hours peak on weekdays, a low late one at weekends."""
    if weekend:
        return 6.0 + 20.0 * np.exp(-(((HOURS - 15.0 - peak_shift) / 4.0) ** 2))
    return 8.0 + 60.0 * np.exp(-(((HOURS - 13.0 - peak_shift) / 3.0) ** 2))


def planted_rate(kind: str, weekend: bool, burst: float = 30.0) -> np.ndarray:
    rate = normal_rate(weekend)
    if kind == "night_burst":  # 02:00-03:00, a few times the night's level
        rate = rate.copy()
        rate[8:12] += burst
    elif kind == "flat":  # same volume, no daily rhythm
        rate = np.full(PER_DAY, rate.mean())
    elif kind == "shifted_peak":  # the day's peak four hours late
        rate = normal_rate(weekend, peak_shift=4.0)
    return rate


def make_series(
    rates: list[np.ndarray], seed: int, start: np.datetime64 = MONDAY
) -> tuple[Series, np.ndarray]:
    """Poisson counts from per-day expected rates; returns the series and its counts."""
    rng = np.random.default_rng(seed)
    values = rng.poisson(np.concatenate(rates)).astype(np.float64)
    n = len(values)
    buckets = start.astype("datetime64[us]") + np.arange(n) * np.timedelta64(15, "m")
    series = Series(("web",), buckets, values, np.zeros(n, bool), np.ones(n, bool), ("web",))
    return series, values


def history_with_planted_days(
    seed: int, n_days: int = 35, kinds: tuple[str, ...] = KINDS, burst: float = 30.0
) -> tuple[Series, set[np.datetime64]]:
    """``n_days`` from a Monday with each kind planted once on a random day."""
    rng = np.random.default_rng(1000 + seed)
    picks = rng.choice(np.arange(1, n_days - 1), size=len(kinds), replace=False)
    planted = dict(zip(picks.tolist(), kinds, strict=True))
    rates = []
    for d in range(n_days):
        weekend = d % 7 >= 5
        rates.append(
            planted_rate(planted[d], weekend, burst) if d in planted else normal_rate(weekend)
        )
    series, _ = make_series(rates, seed)
    return series, {MONDAY + d for d in planted}


def found_days(detector: WaveletDayClusters, series: Series) -> set[np.datetime64]:
    return {np.datetime64(a.start.date()) for a in detector.detect(series)}


def recall_precision(found: int, true_hits: int, planted: int) -> tuple[float, float]:
    return true_hits / planted, (true_hits / found if found else 1.0)


# --------------------------------------------------------------------------- day matrix


def test_day_matrix_reshapes_whole_days_and_keeps_silence_and_activity_apart() -> None:
    # Starts at 12:00 on a Wednesday: the first day is partial.
    start = np.datetime64("2024-03-06T12:00")
    n = 48 + 2 * PER_DAY
    buckets = start.astype("datetime64[us]") + np.arange(n) * np.timedelta64(15, "m")
    values = np.arange(n, dtype=np.float64)
    silent = np.zeros(n, bool)
    silent[60:64] = True
    values[60:64] = np.nan
    active = np.ones(n, bool)
    series = Series(("x",), buckets, values, silent, active)

    matrix = day_matrix(series)

    assert matrix.interval == timedelta(minutes=15)
    assert matrix.buckets_per_day == PER_DAY
    assert [str(d) for d in matrix.days] == ["2024-03-06", "2024-03-07", "2024-03-08"]
    assert matrix.whole.tolist() == [False, True, True]
    assert [date.fromisoformat(str(d)).weekday() for d in matrix.days] == matrix.weekdays.tolist()
    # Bucket 48 of the series is 00:00 on 2024-03-07, i.e. row 1, slot 0.
    assert matrix.values[1, 0] == 48.0
    assert matrix.values[2, PER_DAY - 1] == n - 1
    assert np.isnan(matrix.values[0, :48]).all()
    assert matrix.silent[1, 12:16].all() and matrix.silent.sum() == 4
    filled = matrix.filled()
    assert (filled[1, 12:16] == 0).all()
    assert np.isnan(filled[0, :48]).all()
    assert matrix.bucket_start(1, 4) == datetime(2024, 3, 7, 1, 0, tzinfo=UTC)


def test_day_matrix_refuses_misaligned_or_irregular_buckets() -> None:
    buckets = np.datetime64("2024-01-01T00:05").astype("datetime64[us]") + np.arange(
        8
    ) * np.timedelta64(15, "m")
    series = Series(("x",), buckets, np.ones(8), np.zeros(8, bool), np.ones(8, bool))
    with pytest.raises(ConfigError):
        day_matrix(series)
    with pytest.raises(ConfigError):  # 7 minutes do not divide a day
        day_matrix(series, interval=timedelta(minutes=7))
    single = Series(("x",), buckets[:1], np.ones(1), np.zeros(1, bool), np.ones(1, bool))
    with pytest.raises(ConfigError):
        day_matrix(single)


# --------------------------------------------------------------------------- quality


SEEDS = range(8)


def test_default_variant_finds_the_planted_days() -> None:
    planted_total = hits = flagged = 0
    for seed in SEEDS:
        series, planted = history_with_planted_days(seed)
        detector = WaveletDayClusters().fit(series)
        found = found_days(detector, series)
        planted_total += len(planted)
        hits += len(found & planted)
        flagged += len(found)
        # Every seed on its own still finds most of what was planted.
        assert len(found & planted) >= 2, (seed, sorted(found), sorted(planted))
    recall, precision = recall_precision(flagged, hits, planted_total)
    assert recall >= 0.8, recall
    assert precision >= 0.8, precision


COMPARED = {
    "cA+cD": {"variant": "cA+cD"},
    "raw": {"variant": "raw"},
    "cA": {"variant": "cA"},
    "cD": {"variant": "cD"},
    "cA level 3": {"variant": "cA", "level": 3},  # 2-hour averages instead of 16-hour ones
}


@pytest.mark.parametrize("burst", [30.0, 15.0])
def test_the_four_variants_run_and_are_compared(
    burst: float, record_property: pytest.RecordProperty
) -> None:
    rng = np.random.default_rng(99)
    counts = {name: [0, 0] for name in COMPARED}  # hits, flagged
    random_hits = random_flagged = planted_total = 0
    for seed in SEEDS:
        series, planted = history_with_planted_days(seed, burst=burst)
        matrix = day_matrix(series)
        planted_total += len(planted)
        for name, params in COMPARED.items():
            found = found_days(WaveletDayClusters(**params).fit(series), series)
            counts[name][0] += len(found & planted)
            counts[name][1] += len(found)
        # A broken detector: as many days as were planted, drawn at random.
        guess = set(rng.choice(matrix.days, size=len(planted), replace=False))
        random_hits += len(guess & planted)
        random_flagged += len(guess)
    table = {name: recall_precision(f, h, planted_total) for name, (h, f) in counts.items()}
    table["random"] = recall_precision(random_flagged, random_hits, planted_total)
    for name, (recall, precision) in table.items():
        record_property(f"burst {burst:g}: {name} recall", round(recall, 3))
        record_property(f"burst {burst:g}: {name} precision", round(precision, 3))
        print(f"burst {burst:g} {name:>10}: recall {recall:.2f} precision {precision:.2f}")

    def f1(pair: tuple[float, float]) -> float:
        return 2 * pair[0] * pair[1] / (pair[0] + pair[1]) if sum(pair) else 0.0

    assert set(VARIANTS) <= set(table)
    for recall, precision in table.values():
        assert 0.0 <= recall <= 1.0 and 0.0 <= precision <= 1.0
    best_transform = max(f1(table[v]) for v in ("cA+cD", "cA", "cD", "cA level 3"))
    assert best_transform >= f1(table["random"]) + 0.5


def test_fitted_on_clean_weeks_it_flags_only_the_odd_day_of_the_next_week() -> None:
    for seed in range(3):
        clean = [normal_rate(d % 7 >= 5) for d in range(28)]
        history, _ = make_series(clean, seed)
        week = [normal_rate(d % 7 >= 5) for d in range(7)]
        week[2] = planted_rate("night_burst", weekend=False)  # a Wednesday
        new, _ = make_series(week, seed + 100, start=MONDAY + 28)
        detector = WaveletDayClusters().fit(history)
        anomalies = detector.detect(new)
        assert [a.start for a in anomalies] == [datetime(2024, 1, 31, tzinfo=UTC)]
        a = anomalies[0]
        assert a.kind == "day_shape" and a.detector == "wavelet_day_clusters"
        assert a.end - a.start == timedelta(days=1)
        assert "Wednesday" in a.explanation
        assert a.details["reference_day"] in {
            "2024-01-03",
            "2024-01-10",
            "2024-01-17",
            "2024-01-24",
        }


# --------------------------------------------------------------------------- explanation


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_explanation_names_the_level_and_window_where_a_difference_was_planted(seed: int) -> None:
    # Flat 60 events per bucket; on the odd day 40 events move from 05:00-06:00 to 04:00-05:00.
    # That is exactly one level-3 Haar detail (two hours starting at bucket 16 = 04:00).
    rates = [np.full(PER_DAY, 60.0) for _ in range(21)]
    odd = rates[10].copy()
    odd[16:20] += 40.0
    odd[20:24] -= 40.0
    rates[10] = odd
    series, counts = make_series(rates, seed)
    anomalies = WaveletDayClusters().fit(series).detect(series)
    assert [a.start.date() for a in anomalies] == [date(2024, 1, 11)]
    a = anomalies[0]
    assert a.details["level"] == 3 and a.details["component"] == "detail"
    assert a.details["window_start"] == datetime(2024, 1, 11, 4, tzinfo=UTC)
    assert a.details["window_end"] == datetime(2024, 1, 11, 6, tzinfo=UTC)
    assert "level 3 detail, i.e. 2-hour structure" in a.explanation
    assert "04:00–06:00 UTC" in a.explanation
    observed = counts[10 * PER_DAY + 16 : 10 * PER_DAY + 24].sum()
    assert a.details["window_observed"] == observed
    assert f"{int(observed)} observed" in a.explanation
    ref = (np.datetime64(a.details["reference_day"]) - MONDAY).astype(int)
    assert a.details["window_expected"] == counts[ref * PER_DAY + 16 : ref * PER_DAY + 24].sum()
    assert a.details["weekday"] == "Thursday"
    assert date.fromisoformat(a.details["reference_day"]).weekday() == 3


def test_night_burst_is_placed_in_a_window_that_contains_it() -> None:
    for seed in range(4):
        rates = [normal_rate(d % 7 >= 5) for d in range(28)]
        rates[9] = planted_rate("night_burst", weekend=False)  # 02:00-03:00 on a Wednesday
        series, _ = make_series(rates, seed)
        anomalies = WaveletDayClusters().fit(series).detect(series)
        burst = [a for a in anomalies if a.start.date() == date(2024, 1, 10)]
        assert len(burst) == 1
        details = burst[0].details
        assert details["window_start"] <= datetime(2024, 1, 10, 2, tzinfo=UTC)
        assert details["window_end"] >= datetime(2024, 1, 10, 3, tzinfo=UTC)
        assert details["window_end"] - details["window_start"] <= timedelta(hours=4)
        assert details["window_observed"] > details["window_expected"]


def test_reference_falls_back_to_any_normal_day_when_the_weekday_has_none() -> None:
    rates = [normal_rate(d % 7 >= 5) for d in range(28)]
    series, _ = make_series(rates, 0)
    sundays = (np.arange(len(series.buckets)) // PER_DAY) % 7 == 6
    series.active[sundays] = False  # the source did not exist on Sundays
    series.values[sundays] = np.nan
    detector = WaveletDayClusters().fit(series)
    assert [str(d) for d in detector.skipped_days_] == [
        "2024-01-07",
        "2024-01-14",
        "2024-01-21",
        "2024-01-28",
    ]
    sunday, _ = make_series([planted_rate("flat", weekend=True)], 5, start=MONDAY + 34)
    anomalies = detector.detect(sunday)
    assert len(anomalies) == 1
    assert date.fromisoformat(anomalies[0].details["reference_day"]).weekday() != 6
    assert "the nearest normal day (" in anomalies[0].explanation


# --------------------------------------------------------------------------- scores and gaps


def test_score_gives_each_bucket_its_days_score_and_nan_outside_whole_days() -> None:
    rates = [normal_rate(d % 7 >= 5) for d in range(21)]
    series, _ = make_series(rates, 3)
    detector = WaveletDayClusters().fit(series)
    # Score a series that ends half-way through a day.
    cut = Series(
        series.key,
        series.buckets[: 20 * PER_DAY + 48],
        series.values[: 20 * PER_DAY + 48],
        series.silent[: 20 * PER_DAY + 48],
        series.active[: 20 * PER_DAY + 48],
    )
    scores = detector.score(cut)
    per_day = detector.day_scores(cut)
    assert len(per_day.days) == 20
    assert np.isnan(scores[20 * PER_DAY :]).all()
    by_day = scores[: 20 * PER_DAY].reshape(20, PER_DAY)
    assert np.array_equal(by_day, np.repeat(per_day.score[:, None], PER_DAY, axis=1))
    # Training days scored again give the training scores.
    assert np.allclose(per_day.score, detector.scores_[:20])


def test_a_series_without_a_whole_day_scores_nan_and_finds_nothing() -> None:
    series, _ = history_with_planted_days(0, n_days=21)
    detector = WaveletDayClusters().fit(series)
    half = Series(
        series.key, series.buckets[:48], series.values[:48], series.silent[:48], series.active[:48]
    )
    assert np.isnan(detector.score(half)).all()
    assert detector.detect(half) == []


def test_silent_buckets_count_as_zero_and_are_reported() -> None:
    rates = [normal_rate(d % 7 >= 5) for d in range(28)]
    series, _ = make_series(rates, 4)
    outage = slice(15 * PER_DAY + 40, 15 * PER_DAY + 64)  # 10:00-16:00 on a Tuesday
    series.values[outage] = np.nan
    series.silent[outage] = True
    detector = WaveletDayClusters().fit(series)
    anomalies = detector.detect(series)
    assert [a.start.date() for a in anomalies] == [date(2024, 1, 16)]
    a = anomalies[0]
    assert a.details["silent_buckets"] == 24
    assert "24 silent bucket(s)" in a.explanation
    assert a.observed < a.expected


def test_days_in_a_tiny_cluster_are_abnormal() -> None:
    rates = [normal_rate(d % 7 >= 5) for d in range(42)]
    odd = np.full(PER_DAY, 5.0)
    odd[80:88] = 300.0  # a huge evening job, twice
    rates[11] = odd
    rates[25] = odd
    series, _ = make_series(rates, 6)
    detector = WaveletDayClusters(tiny_cluster=2).fit(series)
    anomalies = detector.detect(series)
    assert {a.start.date() for a in anomalies} == {date(2024, 1, 12), date(2024, 1, 26)}
    assert all(a.details["tiny_cluster"] for a in anomalies)
    assert all("tiny cluster of 2 day(s)" in a.explanation for a in anomalies)
    # Without the tiny-cluster rule the two days explain each other: a cluster of their own.
    lenient = WaveletDayClusters(tiny_cluster=0).fit(series)
    lenient_days = {a.start.date() for a in lenient.detect(series)}
    assert not lenient_days & {date(2024, 1, 12), date(2024, 1, 26)}


# --------------------------------------------------------------------------- fitted state


def test_elbow_and_silhouette_curves_are_exposed() -> None:
    series, _ = history_with_planted_days(0)
    detector = WaveletDayClusters(k_max=6).fit(series)
    assert sorted(detector.elbow_) == [1, 2, 3, 4, 5, 6]
    assert sorted(detector.silhouette_) == [2, 3, 4, 5, 6]
    assert detector.k_ == max(detector.silhouette_, key=detector.silhouette_.__getitem__)
    inertias = [detector.elbow_[k] for k in sorted(detector.elbow_)]
    assert inertias == sorted(inertias, reverse=True)
    # The chosen clustering plus any tiny clusters set aside before it.
    assert detector.centroids_.shape[0] >= detector.k_
    assert detector.cluster_sizes_.sum() == 35
    assert len(detector.days_) == len(detector.distances_) == 35


def test_a_given_k_is_used() -> None:
    series, _ = history_with_planted_days(1)
    assert WaveletDayClusters(k=4).fit(series).k_ == 4


@pytest.mark.parametrize(
    ("wavelet", "level"), [("db1", 1), ("db2", 2), ("db4", 3), ("sym5", 1), ("coif1", 4)]
)
def test_other_wavelets_and_levels_run(wavelet: str, level: int) -> None:
    series, planted = history_with_planted_days(2)
    detector = WaveletDayClusters(wavelet=wavelet, level=level).fit(series)
    assert detector.level_ == level
    found = found_days(detector, series)
    assert len(found & planted) >= 2


@pytest.mark.parametrize("features", ["coefficients", "energy", "both"])
@pytest.mark.parametrize("normalise", ["sqrt", "none", "total"])
@pytest.mark.parametrize("denoise", ["none", "hard", "soft"])
def test_feature_options_run(features: str, normalise: str, denoise: str) -> None:
    series, _ = history_with_planted_days(3, n_days=21)
    detector = WaveletDayClusters(features=features, normalise=normalise, denoise=denoise)
    scores = detector.fit(series).score(series)
    assert scores.shape == series.values.shape
    assert np.isfinite(scores).all()


def test_default_level_is_the_maximum_for_the_day_length() -> None:
    series, _ = history_with_planted_days(0, n_days=21)
    assert WaveletDayClusters().fit(series).level_ == 6  # 96 = 2^6 · 1.5
    assert WaveletDayClusters(wavelet="db4").fit(series).level_ == 3  # floor(log2(96 / 7))


def test_constant_days() -> None:
    n = 20 * PER_DAY
    buckets = MONDAY.astype("datetime64[us]") + np.arange(n) * np.timedelta64(15, "m")
    same = Series(("x",), buckets, np.full(n, 7.0), np.zeros(n, bool), np.ones(n, bool))
    detector = WaveletDayClusters().fit(same)
    assert detector.k_ == 1
    assert detector.detect(same) == []
    # Each day flat but at its own level: runs, and the odd flat levels are no shape change
    # once volume is set aside.
    levels = np.repeat(np.arange(20, dtype=np.float64) + 5, PER_DAY)
    flats = Series(("x",), buckets, levels, np.zeros(n, bool), np.ones(n, bool))
    assert WaveletDayClusters(normalise="total").fit(flats).detect(flats) == []
    # A day with a shape after all-identical days is far from everything.
    other = np.full(PER_DAY, 7.0)
    other[40:44] = 30.0
    new = Series(
        ("x",), buckets[:PER_DAY] + np.timedelta64(20, "D"), other, np.zeros(PER_DAY, bool),
        np.ones(PER_DAY, bool),
    )  # fmt: skip
    found = detector.detect(new)
    assert len(found) == 1 and found[0].severity == "critical"


# --------------------------------------------------------------------------- errors


def test_bad_parameters_are_config_errors() -> None:
    series, _ = history_with_planted_days(0, n_days=21)
    for bad in (
        WaveletDayClusters(wavelet="no-such-wavelet"),
        WaveletDayClusters(wavelet="morl"),  # continuous: no DWT
        WaveletDayClusters(level=7),
        WaveletDayClusters(level=0),
        WaveletDayClusters(variant="cB"),
        WaveletDayClusters(features="power"),
        WaveletDayClusters(normalise="log"),
        WaveletDayClusters(denoise="medium"),
        WaveletDayClusters(tiny_cluster=1.5),
        WaveletDayClusters(k_max=1),
        WaveletDayClusters(distance_threshold=0),
    ):
        with pytest.raises(ConfigError):
            bad.fit(series)


def test_too_few_days_and_too_large_k_are_clear_errors() -> None:
    series, _ = history_with_planted_days(0, n_days=10)
    with pytest.raises(NotEnoughDaysError, match="10 whole days"):
        WaveletDayClusters().fit(series)
    assert len(WaveletDayClusters(min_days=7).fit(series).days_) == 10
    with pytest.raises(NotEnoughDaysError, match="k=10"):
        WaveletDayClusters(k=10, min_days=3).fit(series)


def test_scoring_needs_a_fit_and_the_same_interval() -> None:
    series, _ = history_with_planted_days(0, n_days=21)
    with pytest.raises(LoglensError, match="not fitted"):
        WaveletDayClusters().score(series)
    detector = WaveletDayClusters().fit(series)
    hourly = Series(
        series.key,
        series.buckets[::4],
        series.values.reshape(-1, 4).sum(axis=1),
        series.silent[::4],
        series.active[::4],
    )
    with pytest.raises(ConfigError, match="interval"):
        detector.score(hourly)


# --------------------------------------------------------------------------- performance


def test_a_year_of_15_minute_buckets_fits_and_scores_quickly() -> None:
    rng = np.random.default_rng(8)
    rates = [normal_rate(d % 7 >= 5) for d in range(365)]
    for d in rng.choice(365, size=6, replace=False):
        rates[d] = planted_rate(KINDS[d % 3], weekend=d % 7 >= 5)
    series, _ = make_series(rates, 8)
    began = time.perf_counter()
    detector = WaveletDayClusters().fit(series)
    detector.score(series)
    detector.detect(series)
    assert time.perf_counter() - began < 2.0
