"""Folding findings about the same happening into one lead anomaly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from loglens.analyze import group_related
from loglens.detect.base import Anomaly, Contributor

T0 = datetime(2026, 5, 4, 2, tzinfo=UTC)


def _anomaly(name: str, key: str, start_min: int, end_min: int, *entities: Contributor) -> Anomaly:
    return Anomaly(
        series_key=(key,),
        series_name=name,
        start=T0 + timedelta(minutes=start_min),
        end=T0 + timedelta(minutes=end_min),
        detector="baseline",
        score=10.0,
        severity="high",
        observed=10.0,
        expected=1.0,
        explanation=name,
        entities=list(entities),
        id=name,
    )


def test_findings_sharing_an_entity_or_a_group_value_in_time_fold_into_the_lead() -> None:
    tunnel = Contributor("source.ip", "10.0.4.179", 900, 0)
    lead = _anomaly("DNS names asked: zeek.dns", "zeek.dns", 0, 90, tunnel)
    same_ip = _anomaly("events per protocol: dns", "dns", 15, 60, tunnel)
    same_key = _anomaly("events per dataset: zeek.dns", "zeek.dns", 80, 120)
    later = _anomaly("events per dataset: zeek.dns (next day)", "zeek.dns", 24 * 60, 24 * 60 + 30)
    unrelated = _anomaly(
        "web status codes: 404", "404", 30, 45, Contributor("source.ip", "198.51.100.7", 50, 0)
    )
    leads, folded = group_related([lead, same_ip, same_key, later, unrelated])
    assert [a.id for a in leads] == [lead.id, later.id, unrelated.id]
    assert [a.id for a in folded] == [same_ip.id, same_key.id]
    assert [r["id"] for r in lead.details["related"]] == [same_ip.id, same_key.id]
    assert same_key.details["part_of"] == lead.id
    assert "related" not in unrelated.details


def test_a_finding_joins_through_the_growing_group() -> None:
    a = _anomaly("a", "x", 0, 30, Contributor("user.name", "deploy", 40, 0))
    # b shares nothing with a directly but overlaps it and shares the group value x.
    b = _anomaly("b", "x", 20, 60, Contributor("source.ip", "203.0.113.9", 40, 0))
    # c shares only b's address: it joins the group a now stands for.
    c = _anomaly("c", "y", 70, 80, Contributor("source.ip", "203.0.113.9", 5, 0))
    leads, folded = group_related([a, b, c])
    assert [x.id for x in leads] == ["a"] and [x.id for x in folded] == ["b", "c"]
