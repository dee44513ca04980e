"""New and rare log templates: detectors on the event counts per ``loglens.template.id``.

- ``NewTemplate``: a template never seen in the training window (a new kind of message: a
  local account created, an IRC join alert). Judged as ``NewCategories`` judges a new group —
  the volume a long absence leaves plausible — so two stray lines score low and a burst high;
  a new template that comes back later is reported as a rare one back.
- ``RareTemplate``: a template seen before, but rarely (at most ``max_active_per_day`` buckets
  with events per day before), that comes back in a burst: its buckets with events against
  the rate its past leaves plausible. Counting buckets, not lines, keeps one noisy burst (a
  scanner's ten tries within a minute) from looking like ten surprises.

Both say the template's TEXT, not only its id: ``new log template "new user: <*> UID=<*>, …":
6 events from 2026-10-22 00:40 to 00:45 UTC; never seen in the day before``. The texts come
from the store's template state (``loglens.templates.stored.template_texts``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import numpy as np

from loglens.detect.base import Anomaly, DetectError, severity_for
from loglens.detect.baseline import NewCategories
from loglens.detect.explain import anomaly_id, format_number, format_time, never_seen
from loglens.detect.residuals import (
    is_count_like,
    poisson_log_tail,
    to_datetime,
    to_micros,
    usable,
    z_for_tail,
)
from loglens.output import safe_terminal_text
from loglens.series import Series, SeriesFrame

NEW_TEMPLATE = "new_template"
RARE_TEMPLATE = "rare_template"
_MAX_TEXT_CHARS = 160
_LABEL_CHARS = 60
_GROUP_TEXTS = 6  # template texts quoted in a group finding's sentence
_BUCKETS_PER_DAY_US = 86_400_000_000


def quoted_template(text: str | None) -> str:
    """A template's text for a sentence: quoted, control characters escaped, long text cut."""
    shown = safe_terminal_text(text if text is not None else "(unknown template)")
    if len(shown) > _MAX_TEXT_CHARS:
        shown = shown[: _MAX_TEXT_CHARS - 1] + "…"
    return f'"{shown}"'


def _series_list(frame: SeriesFrame | Sequence[Series]) -> list[Series]:
    return list(frame.series) if isinstance(frame, SeriesFrame) else list(frame)


def _step(series_list: Sequence[Series], frame: SeriesFrame | Sequence[Series]) -> int:
    if isinstance(frame, SeriesFrame):
        return int(frame.spec.interval / timedelta(microseconds=1))
    for series in series_list:
        micros = to_micros(series.buckets)
        if len(micros) > 1:
            return int(np.min(np.diff(micros)))
    return 900_000_000


def _template_details(anomaly: Anomaly, texts: Mapping[str, str]) -> str | None:
    """Record the template's id and text in ``details``; name the series by the text."""
    template = anomaly.series_key[0] if anomaly.series_key else None
    text = texts.get(template) if template is not None else None
    anomaly.details["template_id"] = template
    anomaly.details["template"] = text
    anomaly.series_name = series_label(template, texts)
    return text


def series_label(template: str | None, texts: Mapping[str, str]) -> str:
    """A template series' name a person reads: its text, short (the id when it has none)."""
    text = texts.get(template) if template is not None else None
    if text is None:
        return str(template)
    shown = safe_terminal_text(text)
    return f'"{shown[: _LABEL_CHARS - 1]}…"' if len(shown) > _LABEL_CHARS else f'"{shown}"'


class NewTemplate:
    """Templates never seen in the training window, named by their text.

    Each new template is judged on its own volume (as ``NewCategories`` judges a new group).
    New templates that first appear together (within ``together``) are also judged as one
    finding, on how many there are: a process that suddenly writes six kinds of message never
    seen before (``useradd``, ``passwd``, ``usermod``) is news even when each wrote one line.
    Their expected number comes from how often templates were born before: in the training
    window after its first day, and earlier in the scored window.

    Args:
        texts: template id → text.
        window_days: trailing days of history that count as "seen".
        min_count: smallest number of events for a new template to be reported.
        min_score: findings scoring below this are not reported.
        together: new templates first seen within this of each other form one group.
        min_group: smallest group judged together. One event often writes two lines of new
            kinds (a failed login's PAM line and its disconnect), so two is not yet news.
    """

    name = NEW_TEMPLATE

    def __init__(
        self,
        texts: Mapping[str, str],
        window_days: float = 30,
        min_count: float = 1.0,
        min_score: float = 0.0,
        together: timedelta = timedelta(hours=1),
        min_group: int = 3,
    ) -> None:
        self.texts = texts
        self.window_days = window_days
        self.min_count = min_count
        self.min_score = min_score
        self.together = together
        self.min_group = min_group

    def fit(self, history: SeriesFrame | Sequence[Series]) -> NewTemplate:
        # A template's lines come in clumps: a return is judged by its buckets, not lines.
        self.categories_ = NewCategories(
            window_days=self.window_days,
            min_count=self.min_count,
            min_score=self.min_score,
            returns_by_buckets=True,
        ).fit(history)
        series_list = _series_list(history)
        self.step_ = _step(series_list, history)
        starts = [int(to_micros(s.buckets)[0]) for s in series_list if len(s.buckets)]
        settled = min(starts) + _BUCKETS_PER_DAY_US if starts else 0
        births = 0
        for series in series_list:
            active = np.flatnonzero(np.where(usable(series), series.values, 0.0) > 0)
            if len(active) and int(to_micros(series.buckets)[active[0]]) >= settled:
                births += 1  # first seen after the history's first day: a template born then
        self.births_ = births
        return self

    def detect(self, current: SeriesFrame | Sequence[Series]) -> list[Anomaly]:
        if not hasattr(self, "categories_"):
            raise DetectError("NewTemplate is not fitted; call fit(history) first")
        found = self.categories_.detect(current)
        for anomaly in found:
            text = _template_details(anomaly, self.texts)
            anomaly.detector = anomaly.kind = NEW_TEMPLATE
            anomaly.reasons = [
                r.replace("new_category:", f"{NEW_TEMPLATE}:") for r in anomaly.reasons
            ]
            anomaly.explanation = describe_new_template(anomaly, text)
            anomaly.id = anomaly_id(anomaly.series_key, anomaly.start, anomaly.end, NEW_TEMPLATE)
        return sorted([*found, *self._together(current)], key=lambda a: (a.start, -a.score))

    def _together(self, current: SeriesFrame | Sequence[Series]) -> list[Anomaly]:
        """One finding per group of new templates first seen close together."""
        known = self.categories_.known_
        born: list[tuple[int, int, Series]] = []  # (first bucket, last bucket of first burst)
        for series in _series_list(current):
            if tuple(series.key) in known:
                continue
            active = np.flatnonzero(np.where(usable(series), series.values, 0.0) > 0)
            if len(active):
                micros = to_micros(series.buckets)
                born.append((int(micros[active[0]]), int(micros[active[-1]]), series))
        if not born:
            return []
        born.sort(key=lambda b: (b[0], self.texts.get(str(b[2].key[0])) or "", str(b[2].key[0])))
        origin = min(b[0] for b in born)
        window = round(self.together / timedelta(microseconds=1))
        groups: list[list[tuple[int, int, Series]]] = [[born[0]]]
        for entry in born[1:]:
            if entry[0] - groups[-1][-1][0] <= window:
                groups[-1].append(entry)
            else:
                groups.append([entry])
        anomalies = []
        before = self.births_
        for group in groups:
            count = len(group)
            first = group[0][0]
            span = (group[-1][0] - first) // self.step_ + 1
            elapsed = max(self.categories_.training_buckets_ + (first - origin) // self.step_, 1)
            score = z_for_tail(poisson_log_tail(float(count), span * (before + 1) / elapsed))
            before += count
            if count < self.min_group or score < self.min_score:
                continue
            anomalies.append(self._group_anomaly(group, score, span))
        return anomalies

    def _group_anomaly(
        self, group: list[tuple[int, int, Series]], score: float, span: int
    ) -> Anomaly:
        first_series = group[0][2]
        start = to_datetime(group[0][0])
        end = to_datetime(group[-1][0] + self.step_)
        texts = [self.texts.get(str(series.key[0])) for _, _, series in group]
        shown = ", ".join(quoted_template(t) for t in texts[:_GROUP_TEXTS])
        more = f" (+{len(texts) - _GROUP_TEXTS} more)" if len(texts) > _GROUP_TEXTS else ""
        events = sum(float(np.nansum(np.where(usable(s), s.values, 0.0))) for _, _, s in group)
        anomaly = Anomaly(
            # Attribution reads the first template's events: all arrived together.
            series_key=first_series.key,
            series_name=(
                f"{series_label(str(first_series.key[0]), self.texts)} "
                f"and {len(group) - 1} more new"
            ),
            start=start,
            end=end,
            detector=NEW_TEMPLATE,
            score=score,
            severity=severity_for(score),
            observed=float(len(group)),
            expected=0.0,
            explanation=(
                f"{len(group)} new log templates first seen together "
                f"{format_time(start)}–{format_time(end)[11:]} UTC, never seen before: "
                f"{shown}{more}"
            ),
            kind=NEW_TEMPLATE,
            reasons=[f"{NEW_TEMPLATE}: {len(group)} templates born within {span} buckets"],
            details={
                "unit": "templates",
                "fields": ["loglens.template.id"],
                "template_ids": [str(series.key[0]) for _, _, series in group],
                "templates": texts,
                "events": events,
                "sources": sorted({src for _, _, s in group for src in s.sources}),
            },
        )
        anomaly.id = anomaly_id(first_series.key, start, end, "new_templates")
        return anomaly


def describe_new_template(anomaly: Anomaly, text: str | None) -> str:
    """``new log template "…": 6 events from … to … UTC; never seen in the day before``."""
    details = anomaly.details
    events = f"{format_number(anomaly.observed)} events"
    span = f"from {format_time(anomaly.start)} to {format_time(anomaly.end)} UTC"
    seen_before = details.get("seen_before")
    if isinstance(seen_before, int | float) and seen_before > 0:
        first = details.get("first_seen")
        since = f" since {first[:16].replace('T', ' ')} UTC" if isinstance(first, str) else ""
        return (
            f"rare log template back {quoted_template(text)}: {events} {span}; "
            f"only {format_number(float(seen_before))} events{since} before"
        )
    never = never_seen(details.get("training_days"))
    return f"new log template {quoted_template(text)}: {events} {span}; {never}"


class RareTemplate:
    """Known but rare templates coming back in a burst, named by their text.

    Args:
        texts: template id → text.
        max_active_per_day: a template is rare when, before a burst, it had at most this many
            buckets with events per day on average.
        min_score: bursts scoring below this are not reported.
        burst_gap: a pause longer than this ends a burst.
    """

    name = RARE_TEMPLATE

    def __init__(
        self,
        texts: Mapping[str, str],
        max_active_per_day: float = 1.0,
        min_score: float = 0.0,
        burst_gap: timedelta = timedelta(hours=6),
    ) -> None:
        self.texts = texts
        self.max_active_per_day = max_active_per_day
        self.min_score = min_score
        self.burst_gap = burst_gap

    def fit(self, history: SeriesFrame | Sequence[Series]) -> RareTemplate:
        """Per template: the buckets with events and the buckets of the training window."""
        series_list = _series_list(history)
        self.step_ = _step(series_list, history)
        starts = [int(to_micros(s.buckets)[0]) for s in series_list if len(s.buckets)]
        ends = [int(to_micros(s.buckets)[-1]) + self.step_ for s in series_list if len(s.buckets)]
        self.training_buckets_ = (max(ends) - min(starts)) // self.step_ if starts else 0
        self.active_: dict[tuple[str | None, ...], int] = {}
        for series in series_list:
            values = np.where(usable(series), series.values, 0.0)
            active = int(np.count_nonzero(values > 0))
            if active:
                self.active_[tuple(series.key)] = active
        return self

    def detect(self, current: SeriesFrame | Sequence[Series]) -> list[Anomaly]:
        if not hasattr(self, "active_"):
            raise DetectError("RareTemplate is not fitted; call fit(history) first")
        anomalies: list[Anomaly] = []
        gap = max(1, round(self.burst_gap / timedelta(microseconds=self.step_)))
        per_day = _BUCKETS_PER_DAY_US / self.step_
        for series in _series_list(current):
            past = self.active_.get(tuple(series.key), 0)
            if not past or not len(series.buckets):
                continue  # never seen: NewTemplate's
            values = np.where(usable(series), series.values, 0.0)
            seen = np.flatnonzero(values > 0)
            micros = to_micros(series.buckets)
            position = (micros - micros[0]) // self.step_
            for burst in _bursts(seen, position, gap):
                first, last = int(burst[0]), int(burst[-1])
                elapsed = max(self.training_buckets_ + int(position[first]), 1)
                rare = past * per_day / elapsed <= self.max_active_per_day
                span = int(position[last] - position[first]) + 1
                score = z_for_tail(poisson_log_tail(float(len(burst)), span * (past + 1) / elapsed))
                before = past
                past += len(burst)
                if not rare or score < self.min_score:
                    continue
                anomalies.append(
                    self._anomaly(series, values, micros, burst, score, before, elapsed)
                )
        return sorted(anomalies, key=lambda a: (a.start, -a.score))

    def _anomaly(
        self,
        series: Series,
        values: np.ndarray[Any, Any],
        micros: np.ndarray[Any, Any],
        burst: np.ndarray[Any, Any],
        score: float,
        before: int,
        elapsed: int,
    ) -> Anomaly:
        first, last = int(burst[0]), int(burst[-1])
        total = float(values[burst].sum())
        start, end = to_datetime(micros[first]), to_datetime(micros[last] + self.step_)
        days = elapsed * self.step_ / _BUCKETS_PER_DAY_US
        details: dict[str, Any] = {
            "unit": "events" if is_count_like(values) else "",
            "fields": ["loglens.template.id"],
            "buckets_with_events": len(burst),
            "active_buckets_before": before,
            "days_before": round(days, 2),
            "sources": list(series.sources),
        }
        anomaly = Anomaly(
            series_key=series.key,
            series_name=series_label(series.key[0], self.texts),
            start=start,
            end=end,
            detector=RARE_TEMPLATE,
            score=score,
            severity=severity_for(score),
            observed=total,
            expected=0.0,
            explanation="",
            kind=RARE_TEMPLATE,
            reasons=[
                f"{RARE_TEMPLATE}: {len(burst)} buckets with events, "
                f"{before} in the {format_number(days)} days before"
            ],
            details=details,
        )
        text = _template_details(anomaly, self.texts)
        minutes = self.step_ // 60_000_000
        anomaly.explanation = (
            f"rare log template {quoted_template(text)}: {format_number(total)} events "
            f"from {format_time(start)} to {format_time(end)} UTC; before, events in only "
            f"{before} {minutes}-minute bucket{'s' if before != 1 else ''} "
            f"in {format_number(days)} days"
        )
        anomaly.id = anomaly_id(series.key, start, end, RARE_TEMPLATE)
        return anomaly


def _bursts(seen: np.ndarray[Any, Any], position: np.ndarray[Any, Any], gap: int) -> list[Any]:
    """``seen`` (bucket indices with a value) split where more than ``gap`` buckets are empty."""
    if not len(seen):
        return []
    breaks = np.flatnonzero(np.diff(position[seen]) > gap + 1) + 1
    return list(np.split(seen, breaks))
