"""Matching anomalies to labelled incidents: overlap, tolerance, scores, delays, entities."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from loglens.detect.base import Anomaly, Contributor
from loglens.errors import SourceError
from loglens.evaluate import EvaluationError, evaluate_incidents, load_incidents
from loglens.sources.generate import Incident, generate

DAY = datetime(2024, 3, 7, tzinfo=UTC)


def at(hour: int, minute: int = 0) -> datetime:
    return DAY + timedelta(hours=hour, minutes=minute)


LABELS: dict[str, Any] = {
    "generator": {"version": 1, "days": 1, "seed": 1, "rate": 1.0},
    "incidents": [
        {
            "id": "inc-01",
            "kind": "port_scan",
            "start": "2024-03-07T10:00:00Z",
            "end": "2024-03-07T10:10:00Z",
            "entities": {"source.ip": ["203.0.113.7"], "destination.ip": ["10.0.2.22"]},
            "datasets": ["zeek.conn"],
            "description": "scan",
        },
        {
            "id": "inc-02",
            "kind": "dns_tunnelling",
            "start": "2024-03-07T14:00:00Z",
            "end": "2024-03-07T15:00:00Z",
            "entities": {
                "source.ip": ["10.0.1.9"],
                "dns.question.registered_domain": ["tunnel.example"],
            },
            "datasets": ["zeek.dns"],
            "description": "tunnel",
        },
        {
            "id": "inc-03",
            "kind": "port_scan",
            "start": "2024-03-07T20:00:00Z",
            "end": "2024-03-07T20:05:00Z",
            "entities": {"source.ip": ["198.51.100.4"]},
            "datasets": ["zeek.conn"],
            "description": "another scan",
        },
    ],
}


def anomaly(
    start: datetime,
    end: datetime,
    *,
    explanation: str = "more connections than usual",
    entities: list[Contributor] | None = None,
    key: tuple[str | None, ...] = ("zeek.conn",),
) -> Anomaly:
    return Anomaly(
        series_key=key,
        series_name=" / ".join(str(k) for k in key),
        start=start,
        end=end,
        detector="test",
        score=9.0,
        severity="high",
        observed=100.0,
        expected=10.0,
        explanation=explanation,
        entities=entities or [],
    )


@pytest.fixture
def labels(tmp_path: Path) -> Path:
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(LABELS), encoding="utf-8")
    return path


def test_load_incidents_reads_the_labels_file_or_its_folder(labels: Path) -> None:
    incidents = load_incidents(labels)
    assert [i.id for i in incidents] == ["inc-01", "inc-02", "inc-03"]
    assert incidents[0].start == at(10) and incidents[0].start.tzinfo is not None
    assert incidents[1].entities["dns.question.registered_domain"] == ["tunnel.example"]
    assert load_incidents(labels.parent) == incidents


def test_load_incidents_reads_what_the_generator_writes(tmp_path: Path) -> None:
    result = generate(
        tmp_path / "gen", days=2, seed=4, rate=0.05, incidents=["port_scan", "outage"]
    )
    assert load_incidents(tmp_path / "gen") == result.incidents


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"generator": {}}), "no 'incidents' list"),
        (json.dumps({"incidents": [{"id": "x", "kind": "outage"}]}), "lacks start, end"),
        (
            json.dumps(
                {"incidents": [{"id": "x", "kind": "k", "start": "noon", "end": "2024-01-01"}]}
            ),
            "'noon' is not ISO 8601",
        ),
        (
            json.dumps(
                {
                    "incidents": [
                        {"id": "x", "kind": "k", "start": "2024-01-02", "end": "2024-01-01"}
                    ]
                }
            ),
            "ends before it starts",
        ),
    ],
)
def test_bad_labels_give_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "labels.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SourceError, match=message):
        load_incidents(path)
    with pytest.raises(SourceError, match="not found"):
        load_incidents(tmp_path / "missing.json")


def test_overlap_matches_and_disjoint_windows_do_not(labels: Path) -> None:
    inside = anomaly(at(10, 0), at(10, 15))
    far = anomaly(at(12), at(12, 15))
    report = evaluate_incidents([inside, far], labels, tolerance=timedelta(0))
    first = report.matches[0]
    assert first.anomalies == [inside] and first.detected
    assert report.false_alarms == [far]
    assert not report.matches[1].detected and not report.matches[2].detected


def test_scores_on_a_hand_made_case(labels: Path) -> None:
    found = [
        anomaly(at(10, 0), at(10, 15)),  # inc-01
        anomaly(at(14, 15), at(14, 30)),  # inc-02
        anomaly(at(14, 45), at(15, 0)),  # inc-02 again
        anomaly(at(3), at(3, 15)),  # false alarm
    ]
    report = evaluate_incidents(found, labels, tolerance=timedelta(0))
    # 2 of 3 incidents found; 3 of 4 anomalies point at an incident
    precision, recall = 3 / 4, 2 / 3
    assert report.precision == pytest.approx(precision)
    assert report.recall == pytest.approx(recall)
    assert report.f1 == pytest.approx(2 * precision * recall / (precision + recall))
    assert report.by_kind["port_scan"].incidents == 2
    assert report.by_kind["port_scan"].recall == pytest.approx(0.5)
    assert report.by_kind["dns_tunnelling"].recall == pytest.approx(1.0)
    assert report.to_json()["missed"] == ["inc-03"]


def test_two_anomalies_one_incident_time_to_detect_from_the_earliest(labels: Path) -> None:
    later = anomaly(at(14, 30), at(14, 45))
    earlier = anomaly(at(14, 15), at(14, 30))
    report = evaluate_incidents([later, earlier], labels, tolerance=timedelta(0))
    match = report.matches[1]
    assert len(match.anomalies) == 2
    assert match.time_to_detect == timedelta(minutes=15)
    assert report.precision == 1.0 and report.matched_incidents == 1


def test_time_to_detect_is_clipped_at_zero_and_summarised(labels: Path) -> None:
    early = anomaly(at(9, 45), at(10, 15))  # starts before inc-01
    late = anomaly(at(14, 40), at(14, 55))  # 40 minutes into inc-02
    report = evaluate_incidents([early, late], labels)
    assert report.matches[0].time_to_detect == timedelta(0)
    assert report.median_time_to_detect == timedelta(minutes=20)
    assert report.max_time_to_detect == timedelta(minutes=40)
    data = report.to_json()
    assert data["time_to_detect_max_s"] == 2400.0 and data["by_kind"]["port_scan"]["matched"] == 1


def test_tolerance_widens_the_incident_window(labels: Path) -> None:
    # ends 10 minutes before inc-01 starts (end exclusive)
    before = anomaly(at(9, 35), at(9, 50))
    assert evaluate_incidents([before], labels, tolerance=timedelta(minutes=15)).recall > 0
    assert evaluate_incidents([before], labels, tolerance=timedelta(minutes=5)).recall == 0
    # windows are half-open: ending exactly at the incident's start does not touch it
    touching = anomaly(at(9, 45), at(10, 0))
    assert evaluate_incidents([touching], labels, tolerance=timedelta(0)).recall == 0
    with pytest.raises(EvaluationError, match="tolerance"):
        evaluate_incidents([before], labels, tolerance=timedelta(minutes=-1))


def test_naive_anomaly_times_are_taken_as_utc(labels: Path) -> None:
    naive = anomaly(datetime(2024, 3, 7, 10, 5), datetime(2024, 3, 7, 10, 20))
    assert evaluate_incidents([naive], labels, tolerance=timedelta(0)).recall > 0


def test_entity_named_rate(labels: Path) -> None:
    by_contributor = anomaly(
        at(10), at(10, 15), entities=[Contributor("source.ip", "203.0.113.7", 900.0, 3.0)]
    )
    by_subdomain_key = anomaly(at(14), at(14, 15), key=("zeek.dns", "x7f.tunnel.example"))
    unnamed = anomaly(at(20), at(20, 15), explanation="198.51.100.44 sent more than usual.")
    report = evaluate_incidents([by_contributor, by_subdomain_key, unnamed], labels)
    assert [m.entity_named for m in report.matches] == [True, True, False]
    assert report.entity_named_rate == pytest.approx(2 / 3)
    in_text = anomaly(at(20), at(20, 15), explanation="Most of it came from 198.51.100.4.")
    assert evaluate_incidents([in_text], labels).matches[2].entity_named


def test_entity_names_match_whole_tokens_only() -> None:
    incident = incident_with({"source.ip": ["98.51.100.4"], "user.name": ["root"]})
    window = (incident.start, incident.end)
    for text, named in [
        ("Most of it came from 98.51.100.4.", True),
        ("Most of it came from 198.51.100.4.", False),
        ("Most of it came from 98.51.100.41.", False),
        ("user root logged in", True),
        ("chroot jail rebuilt", False),
    ]:
        report = evaluate_incidents([anomaly(*window, explanation=text)], [incident])
        assert report.matches[0].entity_named is named, text


def incident_with(entities: dict[str, list[str]]) -> Incident:
    return Incident("inc-x", "port_scan", at(10), at(11), entities, ["zeek.conn"], "")


def test_no_anomalies_gives_zero_scores(labels: Path) -> None:
    report = evaluate_incidents([], labels)
    assert (report.precision, report.recall, report.f1) == (0.0, 0.0, 0.0)
    assert report.entity_named_rate is None and report.median_time_to_detect is None
