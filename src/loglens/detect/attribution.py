"""Attribution: which field values explain an anomaly, and a few events that show it.

In the spirit of Kibana's log rate analysis: for each candidate field (``source.ip``,
``user.name``, ``destination.port``, ...) the store compares every value's amount inside the
anomaly's window with its average over the same clock window on earlier days (the baseline).
A value whose change carries a large share of the series' whole change is a *contributor*:
"92% of the window's events came from 10.0.4.17, which sent none the days before".

A silence has no events to compare: it is explained by where the usual events come from
(``silence_fields``, the sending host), each value's share of the baseline windows' events over
the silent stretch: "usually 100% from host web01".

Everything is asked of the store (``Store.terms_change``), so it runs as aggregations in DuckDB
or in the cluster; Python handles only the few top values per field.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from loglens.detect.base import Anomaly, Contributor
from loglens.detect.explain import headline_window
from loglens.series import SeriesSpec
from loglens.store.base import Query, Store, TermChange

ENTITY_FIELDS: tuple[str, ...] = (
    "source.ip",
    "user.name",
    "destination.ip",
    "destination.port",
    "dns.question.registered_domain",
    "url.path",
    "http.response.status_code",
    "event.action",
    "rule.name",
    "host.name",
)
"""Fields compared by default, most telling first (ties in share go to the earlier field)."""

SILENCE_FIELDS: tuple[str, ...] = ("host.name",)
"""Where a silent source's events usually come from (the machine that sends them)."""

SAMPLE_FIELDS: tuple[str, ...] = (
    "@timestamp",
    "event.id",
    "event.dataset",
    "event.action",
    "source.ip",
    "destination.ip",
    "destination.port",
    "user.name",
    "url.path",
    "http.response.status_code",
    "dns.question.name",
    "message",
    "log.file.path",
    "log.file.line",
)


@dataclass(frozen=True)
class AttributionSettings:
    """How attribution looks for contributors.

    Attributes:
        fields: fields to compare (group-by fields of the series are skipped).
        baseline_days: earlier days whose same clock window forms the baseline.
        min_share: a value must carry at least this share of the series' change.
        min_shift: and its share of the events must move by at least this much (a value that
            is always all of the traffic, like port 53 in DNS, explains nothing).
        top: at most this many contributors.
        samples: sample events kept per anomaly.
        silence_fields: for a silence, the fields whose usual values are named.
        silence_min_share: a usual value is named when it sent at least this share of the
            baseline's events (up to ``top`` of them, largest first).
    """

    fields: tuple[str, ...] = ENTITY_FIELDS
    baseline_days: int = 7
    min_share: float = 0.3
    min_shift: float = 0.2
    top: int = 3
    samples: int = 5
    silence_fields: tuple[str, ...] = SILENCE_FIELDS
    silence_min_share: float = 0.1


def lucene_phrase(value: object) -> str:
    """A Lucene phrase for a value (quotes and backslashes escaped)."""
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def group_query(spec: SeriesSpec, key: Sequence[str | None]) -> str:
    """The Lucene query of one group of ``spec``: its filter AND each group field's value."""
    parts = [] if spec.query.strip() in ("", "*") else [f"({spec.query})"]
    for name, value in zip(spec.group_by, key, strict=False):
        field = name.replace("@", "\\@") if name.startswith("@") else name
        if value is None:
            parts.append(f"NOT _exists_:{field}")
        else:
            parts.append(f"{field}:{lucene_phrase(value)}")
    if spec.metric.kind == "rate" and spec.metric.query:
        parts.append(f"({spec.metric.query})")
    return " AND ".join(parts) or "*"


def baseline_windows(
    start: datetime, end: datetime, days: int, earliest: datetime | None = None
) -> list[tuple[datetime, datetime]]:
    """The same clock window on each of the ``days`` previous days, not before ``earliest``."""
    windows = []
    for back in range(1, days + 1):
        shift = timedelta(days=back)
        if earliest is not None and start - shift < earliest:
            break
        windows.append((start - shift, end - shift))
    if not windows:
        # No earlier day: the window just before, as long as the anomaly's own.
        length = end - start
        if earliest is None or start - length >= earliest:
            windows.append((start - length, start))
    return windows


def attribute(
    store: Store,
    spec: SeriesSpec,
    anomaly: Anomaly,
    *,
    settings: AttributionSettings | None = None,
    earliest: datetime | None = None,
) -> Anomaly:
    """Fill ``anomaly.entities`` with its contributors and ``details['samples']``; return it.

    Args:
        store: where the events are.
        spec: the series spec the anomaly was found in (its filter and group fields).
        anomaly: found on one group of ``spec``.
        settings: what to compare; defaults otherwise.
        earliest: the first instant with data (baseline windows do not reach before it).
    """
    chosen = settings or AttributionSettings()
    text = group_query(spec, anomaly.series_key)
    silence = anomaly.kind == "silence"
    # A silence merged with findings over a longer window (a whole day's shape) is judged on
    # its silent stretch: outside it the source sent events as usual.
    window = headline_window(anomaly) if silence else (anomaly.start, anomaly.end)
    baseline = baseline_windows(window[0], window[1], chosen.baseline_days, earliest)
    query = Query(text=text, size=None)
    sum_field = spec.metric.field if spec.metric.kind == "sum" else None
    fields = chosen.silence_fields if silence else chosen.fields
    compared = [f for f in fields if f not in spec.group_by]
    size = chosen.top if silence else 3
    changes = store.terms_change(compared, query, window, baseline, size=size, sum_field=sum_field)
    observed_total = changes.total.observed
    expected_total = changes.total.expected
    anomaly.details["window_total"] = observed_total
    anomaly.details["baseline_total"] = expected_total
    anomaly.details["baseline_windows"] = len(baseline)
    anomaly.details["query"] = text
    if silence:
        anomaly.entities = _usual_senders(changes.by_field, compared, expected_total, chosen)
        # Nothing was sent in the window: show what the source said last before it fell silent.
        anomaly.details["samples"] = _last_before(store, text, window[0], chosen.samples)
        anomaly.details["samples_before"] = True
        return anomaly
    change_total = observed_total - expected_total
    candidates: list[tuple[float, int, Contributor]] = []
    for rank, field in enumerate(compared):
        for term in changes.by_field.get(field, []):
            share = _share(term.change, change_total)
            shift = _fraction(term.observed, observed_total) - _fraction(
                term.expected, expected_total
            )
            if change_total < 0:
                shift = -shift
            if share >= chosen.min_share and shift >= chosen.min_shift:
                contributor = Contributor(field, str(term.value), term.observed, term.expected)
                candidates.append((share, -rank, contributor))
    candidates.sort(key=lambda c: (c[0], c[1]), reverse=True)
    picked: list[Contributor] = []
    for _, _, contributor in candidates:
        if not any(c.field == contributor.field for c in picked):
            picked.append(contributor)
        if len(picked) >= chosen.top:
            break
    anomaly.entities = picked
    anomaly.details["samples"] = _samples(store, text, anomaly, picked, chosen.samples)
    return anomaly


def _usual_senders(
    by_field: dict[str, list[TermChange]],
    fields: Sequence[str],
    expected_total: float,
    settings: AttributionSettings,
) -> list[Contributor]:
    """The values that usually send a silent source's events, largest share first."""
    senders = [
        Contributor(field, str(term.value), term.observed, term.expected)
        for field in fields
        for term in by_field.get(field, [])
        if _fraction(term.expected, expected_total) >= settings.silence_min_share
    ]
    senders.sort(key=lambda c: -c.expected)
    return senders[: settings.top]


def _share(change: float, total: float) -> float:
    """The part of the series' change a value carries (0 when it moved the other way)."""
    if total == 0 or change == 0 or (change > 0) != (total > 0):
        return 0.0
    return min(change / total, 1.0)


def _fraction(part: float, whole: float) -> float:
    return part / whole if whole > 0 else 0.0


def _samples(
    store: Store, text: str, anomaly: Anomaly, picked: Sequence[Contributor], size: int
) -> list[dict[str, Any]]:
    if size <= 0:
        return []
    narrowed = text
    if picked and picked[0].change > 0:
        top = picked[0]
        narrowed = f"({text}) AND {top.field}:{lucene_phrase(top.value)}"
    table = store.search(
        Query(
            text=narrowed,
            size=size,
            fields=list(SAMPLE_FIELDS),
            start=anomaly.start,
            end=anomaly.end,
        )
    )
    return _rows(table)


def _last_before(store: Store, text: str, moment: datetime, size: int) -> list[dict[str, Any]]:
    """The last ``size`` events matching ``text`` before ``moment``, in time order."""
    if size <= 0:
        return []
    query = Query(text=text, size=size, fields=list(SAMPLE_FIELDS), end=moment, descending=True)
    return _rows(store.search(query))[::-1]


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    rows = []
    for row in table.to_pylist():
        kept = {k: v for k, v in row.items() if v is not None}
        if isinstance(kept.get("@timestamp"), datetime):
            kept["@timestamp"] = kept["@timestamp"].isoformat()
        rows.append(kept)
    return rows
