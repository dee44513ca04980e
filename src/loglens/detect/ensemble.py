"""Ensemble: several detectors' findings about one series merged into the anomalies people read.

``merge_anomalies`` takes any findings (from the baseline, the spectral model, the wavelet day
clusters, outliers, ...) and merges those about the same series whose windows overlap or are at
most ``gap`` apart into one ``Anomaly``:

- window: the union of the members' windows;
- score: the highest member score; kind, observed, expected and the sentence: the strongest
  member's (its window is kept as ``details["headline"]``, since the totals are over it);
- severity: from the score (``severity_for``), one step higher when two or more different
  detectors agree;
- reasons: one line per detector (its strongest finding, with a count of the others);
- id: a hash of series key, window and kind, so re-running on the same data gives the same ids.

The result is ranked by severity, then score, then time.

``Ensemble`` runs several series detectors on one series and merges their findings;
``detect_frames`` does it for every series of a frame, plus new categories, and reports the
series it had to skip (too little history) instead of failing the whole run.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from numpy.typing import NDArray

from loglens.detect.base import (
    SEVERITIES,
    Anomaly,
    Contributor,
    DetectError,
    Detector,
    NotEnoughHistoryError,
    severity_for,
)
from loglens.detect.baseline import NewCategories, SeasonalBaseline
from loglens.detect.explain import anomaly_id, as_utc, describe
from loglens.detect.residuals import infer_step, to_micros
from loglens.detect.spectral import Spectral
from loglens.series import Series, SeriesFrame

# When findings of one series overlap, the kind of the strongest one names the merged anomaly;
# at equal strength the more specific kind wins.
_KIND_ORDER = ("silence", "new_category", "level_shift", "spike", "dip", "day_shape", "outlier")


def ensemble_severity(score: float, detectors: int) -> str:
    """Severity from the score, one step higher when at least two detectors agree."""
    base = SEVERITIES.index(severity_for(score))
    return SEVERITIES[min(base + (1 if detectors >= 2 else 0), len(SEVERITIES) - 1)]


def rank(anomalies: Iterable[Anomaly]) -> list[Anomaly]:
    """Most severe first, then highest score, then earliest."""
    return sorted(
        anomalies,
        key=lambda a: (-SEVERITIES.index(a.severity), -_finite(a.score), as_utc(a.start)),
    )


def _finite(score: float) -> float:
    return score if np.isfinite(score) else float("inf")


def _strength(anomaly: Anomaly) -> tuple[int, float, int, float]:
    kind = _KIND_ORDER.index(anomaly.kind) if anomaly.kind in _KIND_ORDER else len(_KIND_ORDER)
    duration = (anomaly.end - anomaly.start).total_seconds()
    return (SEVERITIES.index(anomaly.severity), _finite(anomaly.score), -kind, -duration)


def _detectors_of(anomaly: Anomaly) -> list[str]:
    merged = anomaly.details.get("detectors")
    if isinstance(merged, list) and merged:
        return [str(d) for d in merged]
    return [anomaly.detector]


def _reasons(members: Sequence[Anomaly]) -> list[str]:
    by_detector: dict[str, list[Anomaly]] = defaultdict(list)
    for member in members:
        by_detector["+".join(_detectors_of(member))].append(member)
    lines = []
    for name in sorted(by_detector):
        found = sorted(by_detector[name], key=_strength, reverse=True)
        best = found[0]
        line = best.reasons[0] if best.reasons else f"{name}: {best.explanation}"
        if len(found) > 1:
            line += f" (and {len(found) - 1} more finding{'s' if len(found) > 2 else ''})"
        lines.append(line)
        # A member that was itself merged keeps its other detectors' lines.
        lines.extend(best.reasons[1:])
    return lines


def _entities(members: Sequence[Anomaly]) -> list[Contributor]:
    best: dict[tuple[str, str], Contributor] = {}
    for member in members:
        for entity in member.entities:
            key = (entity.field, entity.value)
            if key not in best or entity.observed > best[key].observed:
                best[key] = entity
    return sorted(best.values(), key=lambda c: -c.observed)


def _merge(members: Sequence[Anomaly]) -> Anomaly:
    primary = max(members, key=_strength)
    if len(members) == 1 and "detectors" in primary.details:
        return primary
    start = min(as_utc(m.start) for m in members)
    end = max(as_utc(m.end) for m in members)
    detectors = sorted({d for m in members for d in _detectors_of(m)})
    score = max(_finite(m.score) for m in members)
    merged = copy.copy(primary)
    merged.details = dict(primary.details)
    merged.details.update(
        {
            "detectors": detectors,
            "members": sorted(m.id for m in members if m.id),
            "kinds": sorted({m.kind for m in members}),
            "headline": {
                "start": as_utc(primary.start).isoformat(),
                "end": as_utc(primary.end).isoformat(),
            },
        }
    )
    merged.start, merged.end = start, end
    merged.score = score
    merged.detector = "+".join(detectors)
    merged.severity = ensemble_severity(score, len(detectors))
    merged.reasons = _reasons(members)
    merged.entities = _entities(members)
    event_ids = sorted({e for m in members for e in m.details.get("event_ids", ())})
    if event_ids:
        merged.details["event_ids"] = event_ids
    merged.explanation = describe(merged)
    merged.id = anomaly_id(merged.series_key, start, end, merged.kind)
    return merged


def merge_anomalies(
    anomalies: Iterable[Anomaly], *, gap: timedelta = timedelta(minutes=15)
) -> list[Anomaly]:
    """Merge findings about the same series whose windows overlap or are ≤ ``gap`` apart.

    Findings belong to the same series when their ``series_key`` and ``series_name`` are equal
    (the name tells apart, e.g., a count series from outliers of a field with the same key).
    Returns the merged anomalies ranked (see ``rank``); inputs are not modified.
    """
    groups: dict[tuple[tuple[str | None, ...], str], list[Anomaly]] = defaultdict(list)
    for anomaly in anomalies:
        groups[(tuple(anomaly.series_key), anomaly.series_name)].append(anomaly)
    merged: list[Anomaly] = []
    for members in groups.values():
        members.sort(key=lambda a: (as_utc(a.start), as_utc(a.end)))
        cluster: list[Anomaly] = []
        cluster_end = None
        for anomaly in members:
            if cluster and cluster_end is not None and as_utc(anomaly.start) <= cluster_end + gap:
                cluster.append(anomaly)
                cluster_end = max(cluster_end, as_utc(anomaly.end))
                continue
            if cluster:
                merged.append(_merge(cluster))
            cluster, cluster_end = [anomaly], as_utc(anomaly.end)
        if cluster:
            merged.append(_merge(cluster))
    return rank(merged)


def default_detectors() -> list[Detector]:
    """The series detectors an ``Ensemble`` uses when given none."""
    return [SeasonalBaseline(), Spectral()]


class Ensemble:
    """Several series detectors on one series, their findings merged.

    Args:
        detectors: the detectors to run (fitted in place); None uses ``default_detectors()``.
        gap_buckets: findings at most this many buckets apart are merged.
    """

    name = "ensemble"

    def __init__(self, detectors: Sequence[Detector] | None = None, gap_buckets: int = 1) -> None:
        self.detectors = detectors
        self.gap_buckets = gap_buckets

    def fit(self, history: Series) -> Ensemble:
        """Fit every detector; those without enough history are skipped (see ``skipped_``).

        Raises:
            NotEnoughHistoryError: no detector could be fitted.
        """
        if self.gap_buckets < 0:
            raise DetectError(f"gap_buckets must be zero or more, got {self.gap_buckets!r}")
        detectors = list(self.detectors) if self.detectors is not None else default_detectors()
        if not detectors:
            raise DetectError("an ensemble needs at least one detector")
        self.step_ = infer_step(history.buckets)
        self.fitted_: list[Detector] = []
        self.skipped_: dict[str, str] = {}
        for detector in detectors:
            try:
                self.fitted_.append(detector.fit(history))
            except NotEnoughHistoryError as exc:
                self.skipped_[detector.name] = exc.message
        if not self.fitted_:
            reasons = "; ".join(f"{name}: {why}" for name, why in self.skipped_.items())
            raise NotEnoughHistoryError(
                f"no detector could learn from this history ({reasons})", location=history.name
            )
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "fitted_"):
            raise DetectError("Ensemble is not fitted; call fit(history) first")

    def score(self, series: Series) -> NDArray[np.float64]:
        """The highest detector score per bucket (NaN only where every detector says NaN)."""
        self._check_fitted()
        scores = np.full(len(series.values), np.nan)
        for detector in self.fitted_:
            scores = np.fmax(scores, detector.score(series))
        return scores

    def detect(self, series: Series) -> list[Anomaly]:
        """Every fitted detector's findings on ``series``, merged and ranked."""
        self._check_fitted()
        findings = [a for detector in self.fitted_ for a in detector.detect(series)]
        gap = timedelta(microseconds=self.step_ * self.gap_buckets)
        return merge_anomalies(findings, gap=gap)


@dataclass
class FrameFindings:
    """What ``detect_frames`` found, and which series it could not judge and why."""

    anomalies: list[Anomaly] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # series name → reason


def detect_frames(
    history: SeriesFrame,
    current: SeriesFrame,
    *,
    make_detectors: Callable[[], Sequence[Detector]] = default_detectors,
    new_categories: bool = True,
    gap_buckets: int = 1,
) -> FrameFindings:
    """Run an ``Ensemble`` on every series of ``current`` fitted on the same key's history.

    Series with too little history are listed in ``skipped``; keys without events in the
    history window become one "new_category" anomaly each when ``new_categories`` is on (and
    are not also judged against their all-zero past).

    Args:
        history: the training frame.
        current: the frame to judge (same spec, later time range).
        make_detectors: builds fresh detectors for each series.
        new_categories: also flag keys never seen in the history.
        gap_buckets: findings at most this many buckets apart are merged.
    """
    by_key = {tuple(s.key): s for s in history.series}
    found = FrameFindings()
    finder: NewCategories | None = None
    if new_categories:
        step = int(current.spec.interval / timedelta(microseconds=1))
        days = _span_days(history, step)
        finder = NewCategories(window_days=min(days, 30) if days else 30).fit(history)
        found.anomalies.extend(finder.detect(current))
    for series in current.series:
        past = by_key.get(tuple(series.key))
        if past is None or not len(past.buckets):
            continue
        if finder is not None and tuple(series.key) not in finder.known_:
            continue  # reported once as a new category, not as a level shift from zero
        try:
            ensemble = Ensemble(make_detectors(), gap_buckets=gap_buckets).fit(past)
        except NotEnoughHistoryError as exc:
            found.skipped[series.name] = exc.message
            continue
        found.anomalies.extend(ensemble.detect(series))
    found.anomalies = rank(found.anomalies)
    return found


def _span_days(frame: SeriesFrame, step: int) -> float:
    if not len(frame.buckets):
        return 0.0
    micros = to_micros(frame.buckets)
    return float((int(micros[-1]) + step - int(micros[0])) / 86_400_000_000)
