"""How anomalies are worded: numbers, windows, ratios, entities, the one sentence, the stable id.

Every detector builds its ``Anomaly.explanation`` here so that all findings read alike:
``"dns 2024-03-05 02:00–03:15 UTC: 4,210 events vs 310 expected (13.6×); 92% from 10.0.4.17"``.
``describe`` rebuilds the sentence from the record's fields, so when attribution fills
``Anomaly.entities`` later, calling ``refresh_explanation`` adds the top entity to it.

Log content (category names, group values) is kept as text: control characters are shown as
escapes and long values are shortened; HTML escaping is the report's job.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from loglens.detect.base import Anomaly, Contributor
from loglens.output import safe_terminal_text

_MAX_VALUE_CHARS = 80
# Fields whose value is where traffic comes from / goes to, for "92% from X to Y".
_FROM_PREFIXES = ("source.", "client.")
_TO_PREFIXES = ("destination.", "server.", "url.", "dns.question.")
_FIELD_WORDS = {"user.name": "user", "host.name": "host", "process.name": "process"}


def format_number(value: float) -> str:
    """``4210`` → ``"4,210"``; ``13.57`` → ``"13.6"``; ``0.0412`` → ``"0.0412"``; NaN → ``"?"``."""
    if not math.isfinite(value):
        return "?"
    magnitude = abs(value)
    if value == round(value) or magnitude >= 100:
        return f"{round(value):,}"
    if magnitude >= 10:
        return f"{value:,.1f}"
    return f"{value:.3g}"


def format_ratio(observed: float, expected: float) -> str:
    """How observed compares to expected: ``"13.6×"``, ``"85% below"``, ``"none expected"``."""
    if not (math.isfinite(observed) and math.isfinite(expected)):
        return "no comparison"
    if expected <= 0:
        return "none expected" if observed > 0 else "as expected"
    ratio = observed / expected
    if ratio >= 1:
        return f"{ratio:.1f}×" if ratio < 100 else f"{ratio:,.0f}×"
    return f"{(1 - ratio) * 100:.0f}% below"


def format_time(moment: datetime) -> str:
    """``"2024-03-05 02:00"`` (seconds only when they are not zero), in UTC."""
    moment = as_utc(moment)
    text = moment.strftime("%Y-%m-%d %H:%M")
    if moment.second or moment.microsecond:
        text += moment.strftime(":%S")
    return text


def format_window(start: datetime, end: datetime) -> str:
    """``"2024-03-05 02:00–03:15 UTC"``; across midnight the end gets its date too."""
    start, end = as_utc(start), as_utc(end)
    first = format_time(start)
    if end <= start:
        return f"{first} UTC"
    if end - start <= timedelta(days=1) and end.date() == start.date():
        return f"{first}–{format_time(end)[11:]} UTC"
    if end == datetime.combine(start.date(), datetime.min.time(), UTC) + timedelta(days=1):
        return f"{first}–24:00 UTC"
    return f"{first} – {format_time(end)} UTC"


def format_span(span: timedelta) -> str:
    """A length of time as a person says it: ``"2 h 10 min"``, ``"45 min"``, ``"1 d 3 h"``."""
    minutes = max(round(span.total_seconds() / 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def format_field_value(value: float, field: str | None) -> str:
    """A value of a numeric ECS field with its unit: ``event.duration`` (ns) → ``"1.24 s"``."""
    if not math.isfinite(value):
        return "?"
    if field == "event.duration":
        return _format_duration(value / 1e9)
    if field is not None and field.endswith("bytes"):
        return _format_bytes(value)
    return format_number(value)


def _format_duration(seconds: float) -> str:
    magnitude = abs(seconds)
    if magnitude >= 3600:
        return f"{seconds / 3600:.3g} h"
    if magnitude >= 60:
        return f"{seconds / 60:.3g} min"
    if magnitude >= 1:
        return f"{seconds:.3g} s"
    if magnitude >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    return f"{seconds * 1e6:.3g} µs"


def _format_bytes(count: float) -> str:
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(count) >= size:
            return f"{count / size:.3g} {unit}"
    return f"{format_number(count)} B"


def clean_text(value: object) -> str:
    """A log-derived value fit for a sentence: control characters escaped, long text cut."""
    text = safe_terminal_text(str(value))
    if len(text) > _MAX_VALUE_CHARS:
        text = text[: _MAX_VALUE_CHARS - 1] + "…"
    return text


def as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime (naive values are taken to be UTC already)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def entity_phrase(anomaly: Anomaly) -> str:
    """``"92% from 10.0.4.17 to *.example-tunnel.net"`` from ``anomaly.entities`` ("" if none).

    For a rise the share is of the window's observed total; for a drop it is of the missing part.
    When the top entity has a counterpart on the other side of the traffic (a source and a
    destination) that explains nearly as much, both are named, source first, with the smaller
    of the two shares (a pair cannot account for more than either of its members). A silence
    names who usually sends the events, each with its share: ``"usually 100% from host web01"``.
    """
    if not anomaly.entities:
        return ""
    if anomaly.kind == "silence":
        return _usual_senders_phrase(anomaly)
    rising = anomaly.observed >= anomaly.expected
    ranked = sorted(
        anomaly.entities, key=lambda c: -(c.observed if rising else c.expected - c.observed)
    )
    top = ranked[0]
    share = _share(top, anomaly, rising)
    partner = _partner(top, ranked[1:], anomaly, rising, share)
    if partner is None:
        text = _relation(top)
    else:
        source, target = (top, partner) if _side(top) == "from" else (partner, top)
        text = f"{_relation(source)} {_relation(target)}"
        shares = [x for x in (share, _share(partner, anomaly, rising)) if x is not None]
        share = min(shares) if shares else None
    if share is not None:
        prefix = f"{share:.0%}" if rising else f"{share:.0%} of the drop:"
        text = f"{prefix} {text}"
    return text


def _usual_senders_phrase(anomaly: Anomaly) -> str:
    parts = []
    for entity in sorted(anomaly.entities, key=lambda c: -c.expected):
        share = _share(entity, anomaly, rising=False)
        relation = _relation(entity) if _side(entity) else f"from {_relation(entity)}"
        parts.append(relation if share is None else f"{share:.0%} {relation}")
    return "usually " + ", ".join(parts)


def _share(entity: Contributor, anomaly: Anomaly, rising: bool) -> float | None:
    # Attribution's totals cover the same window and amount as its entities; the anomaly's own
    # observed/expected may be over its headline window only.
    observed = anomaly.details.get("window_total", anomaly.observed)
    expected = anomaly.details.get("baseline_total", anomaly.expected)
    if not isinstance(observed, int | float) or not isinstance(expected, int | float):
        observed, expected = anomaly.observed, anomaly.expected
    if rising:
        total, part = float(observed), entity.observed
    else:
        total, part = float(expected) - float(observed), entity.expected - entity.observed
    if not (math.isfinite(total) and total > 0 and math.isfinite(part)):
        return None
    return min(max(part / total, 0.0), 1.0)


def _side(entity: Contributor) -> str:
    if entity.field.startswith(_FROM_PREFIXES):
        return "from"
    if entity.field.startswith(_TO_PREFIXES):
        return "to"
    return ""


def _partner(
    top: Contributor,
    others: Sequence[Contributor],
    anomaly: Anomaly,
    rising: bool,
    top_share: float | None,
) -> Contributor | None:
    """The strongest entity on the other side of the traffic, if it explains nearly as much."""
    side = _side(top)
    if not side:
        return None
    other_side = "to" if side == "from" else "from"
    for other in others:
        if _side(other) == other_side:
            share = _share(other, anomaly, rising)
            if top_share is None or (share is not None and share >= 0.8 * top_share):
                return other
            return None
    return None


def _relation(entity: Contributor) -> str:
    value = clean_text(entity.value)
    side = _side(entity)
    if side:
        return f"{side} {value}"
    word = _FIELD_WORDS.get(entity.field)
    return f"{word} {value}" if word else f"{entity.field}={value}"


def describe(anomaly: Anomaly) -> str:
    """The one sentence a person reads, built from the anomaly's fields and ``details``.

    Known kinds (spike, dip, level_shift, silence, new_category, outlier) get their standard
    wording; other kinds keep their detector's explanation. The top entity is appended when
    ``entities`` is filled.
    """
    kind = anomaly.kind
    details = anomaly.details
    name = clean_text(anomaly.series_name)
    start, end = headline_window(anomaly)
    window = format_window(start, end)
    unit = str(details.get("unit", "events"))
    observed, expected = format_number(anomaly.observed), format_number(anomaly.expected)
    if kind in ("spike", "dip", "level_shift"):
        text = (
            f"{name} {window}: {observed} {unit} vs {expected} expected "
            f"({format_ratio(anomaly.observed, anomaly.expected)})"
        )
        if kind == "level_shift":
            direction = "rise" if anomaly.observed >= anomaly.expected else "drop"
            text += f", a sustained {direction}"
    elif kind == "silence":
        sources = details.get("sources") or [anomaly.series_name]
        names = ", ".join(clean_text(s) for s in sources)
        text = (
            f"no events at all from {names} for {format_span(end - start)} ({window}); "
            f"about {expected} {unit} expected"
        )
    elif kind == "new_category":
        text = _describe_new_category(anomaly, unit, start, end)
    elif kind == "outlier":
        text = _describe_outlier(anomaly, start)
    else:
        text = anomaly.explanation or f"{name} {window}: {kind}"
    phrase = entity_phrase(anomaly)
    # Other kinds keep their own sentence, which may already carry the phrase from last time.
    if not phrase or text.endswith(f"; {phrase}"):
        return text
    return f"{text}; {phrase}"


def headline_window(anomaly: Anomaly) -> tuple[datetime, datetime]:
    """The window the sentence's numbers belong to.

    Usually the anomaly's own; for a merged anomaly, the window of its strongest finding
    (``details["headline"]``), since observed and expected are that finding's totals.
    """
    headline = anomaly.details.get("headline")
    if isinstance(headline, dict):
        try:
            return (
                datetime.fromisoformat(str(headline["start"])),
                datetime.fromisoformat(str(headline["end"])),
            )
        except (KeyError, ValueError):
            pass
    return anomaly.start, anomaly.end


def _describe_new_category(anomaly: Anomaly, unit: str, start: datetime, end: datetime) -> str:
    fields = list(details_fields(anomaly))
    values = [clean_text("(none)" if v is None else v) for v in anomaly.series_key]
    if fields and len(fields) == len(values):
        what = ", ".join(f'{f} "{v}"' for f, v in zip(fields, values, strict=True))
    else:
        what = f'category "{clean_text(anomaly.series_name)}"'
    seen_before = anomaly.details.get("seen_before")
    if isinstance(seen_before, int | float) and seen_before > 0:
        first = anomaly.details.get("first_seen")
        since = f" since {format_time(datetime.fromisoformat(str(first)))} UTC" if first else ""
        return (
            f"rare {what} back: {format_number(anomaly.observed)} {unit} from "
            f"{format_time(start)} to {format_time(end)} UTC; "
            f"only {format_number(float(seen_before))} {unit}{since} before"
        )
    never = never_seen(anomaly.details.get("training_days"))
    return (
        f"new {what}: first seen {format_time(start)} UTC, "
        f"{format_number(anomaly.observed)} {unit} by {format_time(end)} UTC; {never}"
    )


def details_fields(anomaly: Anomaly) -> tuple[str, ...]:
    """The group-by field names stored in ``details["fields"]`` (empty when unknown)."""
    fields = anomaly.details.get("fields") or ()
    return tuple(str(f) for f in fields)


def _describe_outlier(anomaly: Anomaly, moment: datetime) -> str:
    details = anomaly.details
    field = details.get("field")
    field_name = str(field) if field else "value"
    value = format_field_value(anomaly.observed, field_name)
    typical = format_field_value(anomaly.expected, field_name)
    if anomaly.expected > 0 and anomaly.observed >= 0:
        ratio = anomaly.observed / anomaly.expected
        how = f"{ratio:.1f}× the group's typical {typical}" if ratio >= 1 else ""
        if not how:
            how = f"{(1 - ratio) * 100:.0f}% below the group's typical {typical}"
    else:
        how = f"the group's typical value is {typical}"
    if details.get("group_field"):
        group = clean_text(f"{details['group_field']}={details.get('group')}")
    else:
        group = clean_text(anomaly.series_name)
    return (
        f"{group}: {field_name} {value} at {format_time(moment)} UTC, {how} "
        f"(robust z {anomaly.score:.1f})"
    )


def refresh_explanation(anomaly: Anomaly) -> Anomaly:
    """Rewrite ``anomaly.explanation`` from its current fields (e.g. after attribution)."""
    anomaly.explanation = describe(anomaly)
    return anomaly


def anomaly_id(series_key: Sequence[str | None], start: datetime, end: datetime, kind: str) -> str:
    """A stable id: the same series, window and kind give the same id on every run."""
    parts = ["\x1f".join("\x00" if v is None else str(v) for v in series_key)]
    parts += [as_utc(start).isoformat(), as_utc(end).isoformat(), kind]
    return hashlib.sha256("\x1e".join(parts).encode("utf-8")).hexdigest()[:16]


def never_seen(training_days: object) -> str:
    """The words for a first sighting: 'never seen before', or in how many days before."""
    days = float(training_days) if isinstance(training_days, int | float) else 0.0
    if not days:
        return "never seen before"
    if days == 1:
        return "never seen in the day before"
    return f"never seen in the {format_number(days)} days before"
