"""Ensemble merging, severities, ids, ranking, and the wording shared by every detector."""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from loglens.detect.base import Anomaly, Contributor, DetectError, NotEnoughHistoryError
from loglens.detect.baseline import NewCategories, SeasonalBaseline
from loglens.detect.ensemble import (
    Ensemble,
    detect_frames,
    ensemble_severity,
    merge_anomalies,
    rank,
)
from loglens.detect.explain import (
    anomaly_id,
    describe,
    format_number,
    format_ratio,
    format_window,
    refresh_explanation,
)
from loglens.detect.spectral import Spectral
from loglens.series import Series, SeriesFrame, SeriesSpec
from tests.series_factory import make_series, slice_series, standard_scenario, window_score

DAY = datetime(2024, 3, 5, tzinfo=UTC)


def _at(hour: float) -> datetime:
    return DAY + timedelta(hours=hour)


def _finding(
    start: float,
    end: float,
    score: float,
    detector: str = "baseline",
    key: tuple[str | None, ...] = ("dns",),
    kind: str = "spike",
    observed: float = 4210,
    expected: float = 310,
) -> Anomaly:
    anomaly = Anomaly(
        series_key=key,
        series_name=" / ".join(str(k) for k in key),
        start=_at(start),
        end=_at(end),
        detector=detector,
        score=score,
        severity="low",
        observed=observed,
        expected=expected,
        explanation="",
        kind=kind,
        reasons=[f"{detector}: z {score}"],
    )
    anomaly.explanation = describe(anomaly)
    anomaly.id = anomaly_id(key, anomaly.start, anomaly.end, kind)
    return anomaly


# -- wording --------------------------------------------------------------------------------


def test_the_sentence_of_the_issue():
    anomaly = _finding(2, 3.25, 14)
    assert (
        describe(anomaly) == "dns 2024-03-05 02:00–03:15 UTC: 4,210 events vs 310 expected (13.6×)"
    )
    anomaly.entities = [
        Contributor("dns.question.name", "*.example-tunnel.net", 3890, 2),
        Contributor("source.ip", "10.0.4.17", 3873, 12),
        Contributor("source.ip", "10.0.4.9", 60, 50),
    ]
    refresh_explanation(anomaly)
    assert anomaly.explanation == (
        "dns 2024-03-05 02:00–03:15 UTC: 4,210 events vs 310 expected (13.6×); "
        "92% from 10.0.4.17 to *.example-tunnel.net"
    )


def test_drop_entities_are_shares_of_the_missing_traffic():
    anomaly = _finding(10, 12, 9, kind="dip", observed=200, expected=1200)
    anomaly.entities = [Contributor("host.name", "web-3", 0, 750)]
    assert describe(anomaly).endswith("(83% below); 75% of the drop: host web-3")
    # Attribution's totals (same window and amount as its entities) take precedence.
    anomaly.details.update(window_total=100.0, baseline_total=600.0)
    assert describe(anomaly).endswith("(83% below); 100% of the drop: host web-3")


def test_other_kinds_keep_their_sentence_and_get_the_entity_once():
    anomaly = _finding(0, 24, 9, kind="day_shape")
    anomaly.explanation = "dns 2024-03-05: level 3 detail differs most at 02:00–04:00 UTC"
    anomaly.entities = [Contributor("user.name", "mallory", 80, 1)]
    refresh_explanation(anomaly)
    refresh_explanation(anomaly)
    assert anomaly.explanation == (
        "dns 2024-03-05: level 3 detail differs most at 02:00–04:00 UTC; 2% user mallory"
    )


def test_numbers_ratios_and_windows():
    assert format_number(4210) == "4,210"
    assert format_number(13.57) == "13.6"
    assert format_number(0.0412) == "0.0412"
    assert format_number(1234.56) == "1,235"
    assert format_number(float("nan")) == "?"
    assert format_ratio(4210, 310) == "13.6×"
    assert format_ratio(120, 800) == "85% below"
    assert format_ratio(5, 0) == "none expected"
    assert format_ratio(50_000, 10) == "5,000×"
    assert format_window(_at(22), _at(24)) == "2024-03-05 22:00–24:00 UTC"
    assert format_window(_at(22), _at(25)) == "2024-03-05 22:00 – 2024-03-06 01:00 UTC"
    assert format_window(_at(1), _at(1.5) + timedelta(seconds=7)) == (
        "2024-03-05 01:00–01:30:07 UTC"
    )


def test_log_content_is_shown_not_obeyed():
    anomaly = _finding(2, 3, 9, key=("evil\x1b[2J\nname" + "x" * 200,))
    text = describe(anomaly)
    assert "\x1b" not in text and "\n" not in text
    assert "\\x1b" in text and "…" in text


# -- merging ---------------------------------------------------------------------------------


def test_overlapping_findings_of_two_detectors_become_one():
    a = _finding(2, 3.25, 6.0, "baseline", observed=4210, expected=310)
    b = _finding(2.25, 3.5, 5.5, "spectral", observed=3900, expected=300)
    before = copy.deepcopy([a, b])
    merged = merge_anomalies([a, b])
    assert [a, b] == before  # inputs untouched
    assert len(merged) == 1
    one = merged[0]
    assert (one.start, one.end) == (_at(2), _at(3.5))
    assert one.score == 6.0
    assert one.severity == "high"  # medium by score, one step up as two detectors agree
    assert one.detector == "baseline+spectral"
    assert one.reasons == ["baseline: z 6.0", "spectral: z 5.5"]
    assert (one.observed, one.expected) == (4210, 310)  # the strongest finding's totals
    assert one.explanation.startswith("dns 2024-03-05 02:00–03:15 UTC: 4,210 events")
    assert one.id == anomaly_id(("dns",), _at(2), _at(3.5), "spike")


def test_gap_and_series_decide_what_merges():
    a = _finding(2, 3, 6)
    touching = _finding(3.25, 4, 5, "spectral")
    far = _finding(6, 7, 5, "spectral")
    other = _finding(2, 3, 5, "spectral", key=("http",))
    merged = merge_anomalies([a, touching, far, other], gap=timedelta(minutes=15))
    assert len(merged) == 3
    windows = sorted((m.series_key, m.start, m.end) for m in merged)
    assert windows == [
        (("dns",), _at(2), _at(4)),
        (("dns",), _at(6), _at(7)),
        (("http",), _at(2), _at(3)),
    ]
    assert len(merge_anomalies([a, touching], gap=timedelta(0))) == 2


def test_one_detector_repeating_itself_is_not_agreement():
    a = _finding(2, 3, 6)
    b = _finding(2.5, 4, 5.2)
    (one,) = merge_anomalies([a, b])
    assert one.severity == "medium"
    assert one.detector == "baseline"
    assert one.reasons == ["baseline: z 6 (and 1 more finding)"]
    assert ensemble_severity(5.0, 1) == "medium"
    assert ensemble_severity(5.0, 3) == "high"
    assert ensemble_severity(20.0, 2) == "critical"


def test_ranking_by_severity_then_score_then_time():
    findings = [
        _finding(1, 2, 4.5, key=("a",)),
        _finding(3, 4, 13, key=("b",)),
        _finding(5, 6, 9, key=("c",)),
        _finding(0, 1, 9.5, key=("d",)),
        _finding(7, 8, 9.5, key=("e",)),
    ]
    for f in findings:
        f.severity = "low" if f.score < 5 else "high" if f.score < 12 else "critical"
    order = [a.series_key[0] for a in rank(findings)]
    assert order == ["b", "d", "e", "c", "a"]
    assert [a.series_key[0] for a in merge_anomalies(findings)] == order


def test_ids_depend_on_series_window_and_kind_only():
    base = anomaly_id(("dns",), _at(2), _at(3), "spike")
    assert base == anomaly_id(("dns",), _at(2), _at(3), "spike")
    assert (
        len(
            {
                base,
                anomaly_id(("http",), _at(2), _at(3), "spike"),
                anomaly_id(("dns",), _at(2), _at(3.25), "spike"),
                anomaly_id(("dns",), _at(2), _at(3), "dip"),
                anomaly_id(("dns", None), _at(2), _at(3), "spike"),
            }
        )
        == 5
    )
    naive = datetime(2024, 3, 5, 2)
    assert anomaly_id(("dns",), naive, _at(3), "spike") == base


def test_merged_outliers_keep_all_event_ids():
    def outlier(minute: float, event: str, score: float) -> Anomaly:
        found = _finding(minute / 60, minute / 60 + 1 / 3600, score, "outliers", kind="outlier")
        found.details = {"event_ids": [event], "field": "event.duration"}
        return found

    merged = merge_anomalies([outlier(0, "e1", 9), outlier(5, "e2", 12), outlier(90, "e3", 7)])
    assert len(merged) == 2
    first = next(m for m in merged if m.start == _at(0))
    assert first.details["event_ids"] == ["e1", "e2"]
    assert first.score == 12


# -- the Ensemble on series ------------------------------------------------------------------


def test_ensemble_finds_planted_anomalies_with_fewer_findings():
    total = None
    merged_count = separate_count = agreed = 0
    for seed in range(6):
        synth, cut = standard_scenario(seed, spike_extra=0.75, dip_factor=0.5, shift_factor=1.4)
        history, current = synth.split(cut)
        found = Ensemble().fit(history).detect(current)
        separate = SeasonalBaseline().fit(history).detect(current)
        separate += Spectral().fit(history).detect(current)
        merged_count += len(found)
        separate_count += len(separate)
        agreed += sum(a.detector == "baseline+spectral" for a in found)
        score = window_score(synth.planted_after(cut), [(a.start, a.end) for a in found])
        total = score if total is None else total + score
    assert total is not None
    assert total.recall >= 0.9, total
    assert total.precision >= 0.8, total
    assert merged_count < separate_count
    assert agreed >= 0.8 * merged_count


def test_ensemble_score_is_the_highest_detector_score():
    synth, cut = standard_scenario(1)
    history, current = synth.split(cut)
    ensemble = Ensemble().fit(history)
    baseline, spectral = ensemble.fitted_
    expected = np.fmax(baseline.score(current), spectral.score(current))
    assert np.array_equal(ensemble.score(current), expected, equal_nan=True)


def test_detectors_without_enough_history_are_skipped():
    synth = make_series(10, seed=0)
    ensemble = Ensemble([SeasonalBaseline(min_days=14), Spectral()]).fit(synth.series)
    assert [d.name for d in ensemble.fitted_] == ["spectral"]
    assert "baseline" in ensemble.skipped_
    with pytest.raises(NotEnoughHistoryError, match="no detector"):
        Ensemble([SeasonalBaseline(min_days=14), Spectral(min_days=14)]).fit(synth.series)
    with pytest.raises(DetectError, match="not fitted"):
        Ensemble().detect(synth.series)
    with pytest.raises(DetectError, match="at least one"):
        Ensemble([]).fit(synth.series)


def _frame(series: list[Series]) -> SeriesFrame:
    spec = SeriesSpec.of("network.protocol", "15m")
    return SeriesFrame(spec=spec, buckets=series[0].buckets, series=series)


def test_detect_frames_runs_every_series_and_reports_what_it_skipped():
    dns = make_series(35, seed=1, key=("dns",))
    dns.spike(dns.at(30, 3), hours=1, extra=120)
    http = make_series(35, seed=2, key=("http",), sources=("apache.access",))
    http.series.values[: 25 * 96] = np.nan  # http began sending three days before the cut
    http.series.active[: 25 * 96] = False
    smb = make_series(35, seed=3, key=("smb",), base=2)
    smb.series.values[: 28 * 96] = 0  # known key, but never an event before the cut
    cut = 28 * 96
    history = _frame([slice_series(s.series, 0, cut) for s in (dns, http, smb)])
    current = _frame([slice_series(s.series, cut, None) for s in (dns, http, smb)])
    found = detect_frames(history, current)
    assert set(found.skipped) == {"http"}
    kinds = sorted((a.series_key, a.kind) for a in found.anomalies)
    assert kinds == [(("dns",), "spike"), (("smb",), "new_category")]
    spike = next(a for a in found.anomalies if a.kind == "spike")
    assert spike.detector == "baseline+spectral"
    assert found.anomalies == rank(found.anomalies)


def test_fifty_series_through_all_detectors_is_fast():
    # 50 series × 30 days of 15-minute buckets: fit baseline and spectral, score and detect
    # the next day, merge, and look for new categories. CPU time, so that other work on a
    # shared machine does not count.
    pairs = []
    for seed in range(50):
        synth = make_series(31, seed=seed, key=(f"s{seed}",))
        synth.spike(synth.at(30, 2), hours=1, extra=60)
        pairs.append(synth.split(synth.at(30)))
    history = _frame([h for h, _ in pairs])
    current = _frame([c for _, c in pairs])
    began = time.process_time()
    found = []
    for past, now in pairs:
        ensemble = Ensemble().fit(past)
        ensemble.score(now)
        found += ensemble.detect(now)
    found += NewCategories().fit(history).detect(current)
    elapsed = time.process_time() - began
    assert len(found) >= 50
    assert elapsed < 1.0, f"{elapsed:.2f} s"
