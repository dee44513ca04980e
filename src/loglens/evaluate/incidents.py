"""Incident-level evaluation of anomalies against the generator's ``labels.json``.

An anomaly matches an incident when their windows overlap once the incident's window is widened
by ``tolerance`` on both sides (default 15 minutes, one default bucket: a detector reports whole
buckets, so an anomaly ending at the bucket boundary just before an incident, or starting in the
bucket right after it, still points at it). Windows are half-open, ``[start, end)``.

- recall: incidents matched by at least one anomaly / incidents;
- precision: anomalies matching at least one incident / anomalies;
- F1: their harmonic mean; all three are 0 when undefined (no anomalies, no incidents);
- time to detect: earliest matching anomaly's start − incident start, clipped at 0;
- entity named: the share of matched incidents where a matching anomaly names one of the
  incident's labelled entities (IPs, users, hosts, domains) in its series key, its contributors,
  its explanation or its reasons.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from loglens.detect.base import Anomaly
from loglens.errors import SourceError
from loglens.evaluate.errors import EvaluationError
from loglens.sources.synthetic.model import Incident

DEFAULT_TOLERANCE = timedelta(minutes=15)
# Fields whose values name who or what was involved; ports and URL paths are left out because
# numbers like "22" or paths like "/admin" turn up in explanations without naming the incident.
NAMED_ENTITY_FIELDS: tuple[str, ...] = (
    "source.ip",
    "destination.ip",
    "user.name",
    "host.name",
    "url.domain",
    "dns.question.name",
    "dns.question.registered_domain",
)


def load_incidents(path: str | Path) -> list[Incident]:
    """Read the incidents of a ``labels.json`` written by ``loglens generate``.

    Accepts the labels file or the folder holding it.

    Raises:
        SourceError: the file is missing, not JSON, or an incident lacks a field or has a bad
            time.
    """
    target = Path(path)
    if target.is_dir():
        target = target / "labels.json"
    where = str(target)
    try:
        document = json.loads(target.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceError("labels file not found", location=where) from None
    except OSError as exc:
        raise SourceError(f"cannot read labels: {exc.strerror}", location=where) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SourceError(f"labels file is not valid JSON: {exc}", location=where) from exc
    records = document.get("incidents") if isinstance(document, dict) else None
    if not isinstance(records, list):
        raise SourceError("labels file has no 'incidents' list", location=where)
    return [_incident(record, f"{where}: incidents[{i}]") for i, record in enumerate(records)]


def _incident(record: object, where: str) -> Incident:
    if not isinstance(record, dict):
        raise SourceError("an incident must be an object", location=where)
    missing = [k for k in ("id", "kind", "start", "end") if k not in record]
    if missing:
        raise SourceError(f"incident lacks {', '.join(missing)}", location=where)
    entities = record.get("entities") or {}
    if not isinstance(entities, dict) or not all(isinstance(v, list) for v in entities.values()):
        raise SourceError("entities must map field names to lists", location=where)
    start, end = _time(record["start"], where), _time(record["end"], where)
    if end < start:
        raise SourceError("incident ends before it starts", location=where)
    return Incident(
        id=str(record["id"]),
        kind=str(record["kind"]),
        start=start,
        end=end,
        entities={str(k): [str(v) for v in values] for k, values in entities.items()},
        datasets=[str(d) for d in record.get("datasets") or []],
        description=str(record.get("description", "")),
    )


def _time(value: object, where: str) -> datetime:
    if not isinstance(value, str):
        raise SourceError(f"time {value!r} is not a string", location=where)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise SourceError(f"time {value!r} is not ISO 8601", location=where) from None
    return _utc(parsed)


def _utc(moment: datetime) -> datetime:
    """Naive times are taken as UTC, as everywhere in loglens."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass
class IncidentMatch:
    """One incident with the anomalies that match it."""

    incident: Incident
    anomalies: list[Anomaly]
    time_to_detect: timedelta | None
    entity_named: bool

    @property
    def detected(self) -> bool:
        return bool(self.anomalies)


@dataclass
class KindSummary:
    """Recall, time to detect and entity naming for one incident kind."""

    kind: str
    incidents: int
    matched: int
    entity_named: int
    time_to_detect: list[timedelta]

    @property
    def recall(self) -> float:
        return self.matched / self.incidents if self.incidents else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "incidents": self.incidents,
            "matched": self.matched,
            "recall": round(self.recall, 4),
            "entity_named_rate": round(self.entity_named / self.matched, 4)
            if self.matched
            else None,
            **_ttd_json(self.time_to_detect),
        }


@dataclass
class IncidentReport:
    """Incident-level precision, recall, F1, time to detect and entity naming."""

    tolerance: timedelta
    matches: list[IncidentMatch]
    false_alarms: list[Anomaly]
    anomalies: int
    by_kind: dict[str, KindSummary] = field(default_factory=dict)

    @property
    def incidents(self) -> int:
        return len(self.matches)

    @property
    def matched_incidents(self) -> int:
        return sum(m.detected for m in self.matches)

    @property
    def matching_anomalies(self) -> int:
        return self.anomalies - len(self.false_alarms)

    @property
    def recall(self) -> float:
        return self.matched_incidents / self.incidents if self.incidents else 0.0

    @property
    def precision(self) -> float:
        return self.matching_anomalies / self.anomalies if self.anomalies else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def times_to_detect(self) -> list[timedelta]:
        return [m.time_to_detect for m in self.matches if m.time_to_detect is not None]

    @property
    def median_time_to_detect(self) -> timedelta | None:
        times = self.times_to_detect
        return _median(times) if times else None

    @property
    def max_time_to_detect(self) -> timedelta | None:
        times = self.times_to_detect
        return max(times) if times else None

    @property
    def entity_named_rate(self) -> float | None:
        """Share of matched incidents whose anomalies name a labelled entity (None if none)."""
        matched = self.matched_incidents
        return sum(m.entity_named for m in self.matches) / matched if matched else None

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``json.dumps``; durations in seconds."""
        rate = self.entity_named_rate
        return {
            "tolerance_s": self.tolerance.total_seconds(),
            "incidents": self.incidents,
            "anomalies": self.anomalies,
            "matched_incidents": self.matched_incidents,
            "matching_anomalies": self.matching_anomalies,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "entity_named_rate": None if rate is None else round(rate, 4),
            **_ttd_json(self.times_to_detect),
            "by_kind": {kind: s.to_json() for kind, s in self.by_kind.items()},
            "missed": [m.incident.id for m in self.matches if not m.detected],
        }


def _median(times: Sequence[timedelta]) -> timedelta:
    return timedelta(seconds=statistics.median(t.total_seconds() for t in times))


def _ttd_json(times: Sequence[timedelta]) -> dict[str, float | None]:
    if not times:
        return {"time_to_detect_median_s": None, "time_to_detect_max_s": None}
    return {
        "time_to_detect_median_s": _median(times).total_seconds(),
        "time_to_detect_max_s": max(times).total_seconds(),
    }


def overlaps(
    anomaly: Anomaly, incident: Incident, tolerance: timedelta = DEFAULT_TOLERANCE
) -> bool:
    """Whether the anomaly's window meets the incident's, widened by ``tolerance`` each side."""
    start, end = _utc(anomaly.start), _utc(anomaly.end)
    return start < _utc(incident.end) + tolerance and end > _utc(incident.start) - tolerance


def names_entity(
    anomaly: Anomaly, incident: Incident, fields: Sequence[str] = NAMED_ENTITY_FIELDS
) -> bool:
    """Whether the anomaly names one of the incident's labelled entities.

    Looks in the series key and the contributors (the value itself or a subdomain of it), and in
    the explanation and reasons (as a whole token, so ``10.0.0.1`` does not match inside
    ``10.0.0.12``, while ``evil.example`` matches in ``x.evil.example``). Case is ignored.
    """
    wanted = {v.lower() for f in fields for v in incident.entities.get(f, []) if v}
    if not wanted:
        return False
    values = {str(v).lower() for v in anomaly.series_key if v is not None}
    values |= {c.value.lower() for c in anomaly.entities}
    if any(v == w or v.endswith("." + w) for v in values for w in wanted):
        return True
    text = " ".join([anomaly.explanation, *anomaly.reasons]).lower()
    return any(_token(value).search(text) for value in wanted)


def _token(value: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![\w:-]){re.escape(value)}(?![\w:-]|\.\w)")


def evaluate_incidents(
    anomalies: Iterable[Anomaly],
    incidents: Sequence[Incident] | str | Path,
    *,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    entity_fields: Sequence[str] = NAMED_ENTITY_FIELDS,
) -> IncidentReport:
    """Match anomalies to labelled incidents and measure detection quality.

    Args:
        anomalies: what the detectors reported.
        incidents: the ground truth, or the path of ``labels.json`` (or its folder).
        tolerance: how far outside an incident's window an anomaly may lie and still match.
        entity_fields: incident entity fields that count as naming the incident.

    Returns:
        The report: overall and per-kind scores, each incident's matches, the false alarms.

    Raises:
        SourceError: the labels file cannot be read.
        EvaluationError: a negative tolerance.
    """
    if tolerance < timedelta(0):
        raise EvaluationError("tolerance must not be negative", location="tolerance")
    truth = list(incidents) if not isinstance(incidents, str | Path) else load_incidents(incidents)
    found = list(anomalies)
    matched_any = [False] * len(found)
    matches: list[IncidentMatch] = []
    for incident in truth:
        hits = []
        for i, anomaly in enumerate(found):
            if overlaps(anomaly, incident, tolerance):
                hits.append(anomaly)
                matched_any[i] = True
        ttd = None
        if hits:
            first = min(_utc(a.start) for a in hits)
            ttd = max(first - _utc(incident.start), timedelta(0))
        named = any(names_entity(a, incident, entity_fields) for a in hits)
        matches.append(IncidentMatch(incident, hits, ttd, named))

    by_kind: dict[str, KindSummary] = {}
    for match in matches:
        summary = by_kind.setdefault(
            match.incident.kind, KindSummary(match.incident.kind, 0, 0, 0, [])
        )
        summary.incidents += 1
        if match.detected:
            summary.matched += 1
            summary.entity_named += match.entity_named
        if match.time_to_detect is not None:
            summary.time_to_detect.append(match.time_to_detect)
    return IncidentReport(
        tolerance=tolerance,
        matches=matches,
        false_alarms=[a for a, hit in zip(found, matched_any, strict=True) if not hit],
        anomalies=len(found),
        by_kind=dict(sorted(by_kind.items())),
    )
