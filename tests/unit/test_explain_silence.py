"""How a silence reads: which source, for how long, and who usually sends its events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loglens.detect.base import Anomaly, Contributor
from loglens.detect.explain import describe, format_span

START = datetime(2026, 4, 7, 9, 45, tzinfo=UTC)


def _silence(minutes: int, entities: list[Contributor], **details: object) -> Anomaly:
    return Anomaly(
        series_key=("apache.access",),
        series_name="events per dataset: apache.access",
        start=START,
        end=START + timedelta(minutes=minutes),
        detector="baseline",
        score=25.0,
        severity="high",
        observed=0.0,
        expected=3526.0,
        explanation="",
        kind="silence",
        entities=entities,
        details={"sources": ["apache.access"], **details},
    )


def test_spans_read_as_people_say_them() -> None:
    assert format_span(timedelta(minutes=130)) == "2 h 10 min"
    assert format_span(timedelta(minutes=45)) == "45 min"
    assert format_span(timedelta(hours=3)) == "3 h"
    assert format_span(timedelta(days=1, hours=3, minutes=20)) == "1 d 3 h"
    assert format_span(timedelta(days=2)) == "2 d"
    assert format_span(timedelta(0)) == "0 min"


def test_a_silence_names_its_length_and_the_host_that_usually_sends() -> None:
    web01 = Contributor("host.name", "web01", 0.0, 3526.0)
    anomaly = _silence(150, [web01], window_total=0, baseline_total=3526.0)
    assert describe(anomaly) == (
        "no events at all from apache.access for 2 h 30 min (2026-04-07 09:45–12:15 UTC); "
        "about 3,526 events expected; usually 100% from host web01"
    )


def test_several_usual_senders_largest_share_first() -> None:
    entities = [
        Contributor("host.name", "web02", 0.0, 100.0),
        Contributor("host.name", "web01", 0.0, 300.0),
    ]
    anomaly = _silence(60, entities, window_total=0, baseline_total=400.0)
    assert describe(anomaly).endswith("; usually 75% from host web01, 25% from host web02")


def test_a_silence_without_known_senders_says_nothing_about_them() -> None:
    text = describe(_silence(15, []))
    assert text == (
        "no events at all from apache.access for 15 min (2026-04-07 09:45–10:00 UTC); "
        "about 3,526 events expected"
    )


def test_a_host_name_from_the_logs_is_shown_not_obeyed() -> None:
    hostile = Contributor("host.name", "web\x1b[31m01", 0.0, 10.0)
    text = describe(_silence(30, [hostile], window_total=0, baseline_total=10.0))
    assert "\x1b" not in text and "usually 100% from host web" in text
