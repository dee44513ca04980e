"""The detection run: series from the store → detectors → one ranked, explained list → store.

``run_detection`` is what ``loglens detect`` and the daily job call. It builds the frames of a
set of named specs (events per dataset, per protocol, per action, web status codes, bytes, distinct
destination ports and DNS names), runs the chosen detectors on every group, merges overlapping
findings into one anomaly per incident (``detect.ensemble``), explains the top ones with the field
values that carry the change (``detect.attribution``), and writes them back: the anomalies table
and the ``loglens.anomaly`` tag on the events inside each one.

Two ways to choose what is learned and what is scored:

- **since given** (the daily job): detectors learn from ``history_days`` before ``since`` and
  score ``[since, until)``; a group key absent from the history is a new category.
- **no since** (retrospective, e.g. a folder of old logs): detectors learn from the whole range
  and score it too — robust statistics (medians, MAD) keep short incidents from moving the
  baseline —, and a group key that first appears after the first ``warmup_days`` is new.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from loglens.detect.attribution import AttributionSettings, attribute, group_query
from loglens.detect.base import Anomaly, DetectError, NotEnoughHistoryError
from loglens.detect.baseline import NewCategories, SeasonalBaseline
from loglens.detect.ensemble import merge_anomalies
from loglens.detect.explain import anomaly_id, describe
from loglens.detect.residuals import threshold_for, to_datetime, to_micros
from loglens.detect.spectral import Spectral
from loglens.detect.templates import NewTemplate, RareTemplate, describe_new_template
from loglens.detect.wavelet import NotEnoughDaysError, WaveletDayClusters
from loglens.errors import ConfigError, LoglensError
from loglens.schema import TEMPLATE_ID
from loglens.series import Metric, Series, SeriesFrame, SeriesSpec, parse_interval
from loglens.store.base import Query, Store
from loglens.templates.stored import template_texts

METHODS = ("baseline", "spectral", "wavelet", "new_category", "templates")
ANOMALY_TAG = "loglens.anomaly"
# Rare templates are the smallest groups: keep far more of them than of other series.
TEMPLATE_GROUPS = 2000
TEMPLATE_ENTITY_FIELDS = ("source.ip", "host.name", "user.name", "destination.ip", "process.name")


@dataclass(frozen=True)
class NamedSpec:
    """A series spec with the name a person reads and the unit of its metric."""

    name: str
    spec: SeriesSpec
    unit: str = "events"
    day_shapes: bool = False  # also compare whole days (wavelets): for the main volume series
    # Silence is a property of a data source: reported from one spec (events per dataset), not
    # again from every spec whose groups belong to the silent source.
    silence: bool = False
    log_scale: bool = False  # heavy-tailed sums (bytes): judged by factors, not amounts
    # Counts per log template: judged only by the template detectors (new and rare templates).
    # Per-template volume changes show in the action and dataset series already, and hundreds
    # of template series would multiply the tests every series' threshold accounts for.
    templates: bool = False


def default_specs(interval: str | timedelta = "15m") -> list[NamedSpec]:
    """The series a network/security analyst watches every morning."""
    step = parse_interval(interval)

    def spec(group: tuple[str, ...], metric: Metric | None = None, query: str = "*") -> SeriesSpec:
        return SeriesSpec(group, step, metric or Metric(), query)

    return [
        NamedSpec("events per dataset", spec(("event.dataset",)), day_shapes=True, silence=True),
        NamedSpec(
            "events per protocol",
            spec(("network.protocol",), query="_exists_:network.protocol"),
        ),
        NamedSpec(
            "actions",
            spec(("event.dataset", "event.action"), query="_exists_:event.action"),
        ),
        NamedSpec(
            "web status codes",
            spec(("http.response.status_code",), query="_exists_:http.response.status_code"),
        ),
        NamedSpec(
            "bytes per protocol",
            spec(
                ("network.protocol",),
                Metric("sum", "network.bytes"),
                "_exists_:network.bytes",
            ),
            unit="bytes",
            log_scale=True,
        ),
        NamedSpec(
            "destination ports contacted",
            spec(
                ("event.dataset",),
                Metric("distinct", "destination.port"),
                "_exists_:destination.port",
            ),
            unit="distinct ports",
        ),
        NamedSpec(
            "DNS names asked",
            spec(
                ("event.dataset",),
                Metric("distinct", "dns.question.name"),
                "_exists_:dns.question.name",
            ),
            unit="distinct names",
        ),
        NamedSpec(
            "log templates",
            replace(
                spec((TEMPLATE_ID,), query=f"_exists_:{TEMPLATE_ID}"),
                max_groups=TEMPLATE_GROUPS,
            ),
            templates=True,
        ),
    ]


@dataclass(frozen=True)
class DetectSettings:
    """What a detection run learns from, scores, and keeps.

    Attributes:
        methods: detectors to run (see ``METHODS``).
        since: start of the scored period; None: retrospective over the whole range.
        until: end of the scored period (exclusive); None: the data's end.
        history_days: days before ``since`` that detectors learn from.
        warmup_days: retrospective mode: days at the start that define "seen" categories.
        attribute_top: how many of the ranked anomalies get attribution and samples.
        write_back: store the anomalies and tag their events.
        limit: keep at most this many anomalies (ranked); None keeps all.
        false_alarms: the number of chance findings a run may make on pure noise; the z
            threshold grows with the number of buckets judged (``threshold_for``).
        threshold: a fixed z threshold instead (None: from ``false_alarms``).
        needs_agreement: methods whose findings are kept only when another detector found
            something in the same series and window. Whole-day shapes compare each day with
            a few dozen others, and a busy but normal day stands out among so few.
    """

    methods: tuple[str, ...] = METHODS
    since: datetime | None = None
    until: datetime | None = None
    history_days: int = 30
    warmup_days: float = 1.0
    attribute_top: int = 100
    write_back: bool = True
    limit: int | None = None
    false_alarms: float = 0.01
    threshold: float | None = None
    needs_agreement: tuple[str, ...] = ("wavelet",)
    attribution: AttributionSettings = field(default_factory=AttributionSettings)

    def __post_init__(self) -> None:
        unknown = [m for m in (*self.methods, *self.needs_agreement) if m not in METHODS]
        if unknown:
            raise ConfigError(
                f"unknown detection method(s) {', '.join(unknown)}; known: {', '.join(METHODS)}",
                location="method",
            )
        if self.since and self.until and self.until <= self.since:
            raise ConfigError("until must be after since", location="until")
        if not 0 < self.false_alarms < 1:
            raise ConfigError("false_alarms must be between 0 and 1", location="false_alarms")
        if self.threshold is not None and not self.threshold > 0:
            raise ConfigError("threshold must be positive", location="threshold")


@dataclass
class DetectionReport:
    """A run's outcome: ranked anomalies, and what could not be analysed and why."""

    anomalies: list[Anomaly]
    series_analysed: int = 0
    threshold: float = 0.0  # the z threshold the run used
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (series, reason)
    related: list[Anomaly] = field(default_factory=list)  # folded into a lead anomaly
    tagged_events: int = 0
    first: datetime | None = None
    last: datetime | None = None


ProgressCallback = Callable[[str], None]


def run_detection(
    store: Store,
    settings: DetectSettings | None = None,
    specs: Sequence[NamedSpec] | None = None,
    *,
    progress: ProgressCallback | None = None,
) -> DetectionReport:
    """Run the detectors on ``specs`` (default: ``default_specs()``) and rank what they find."""
    chosen = settings or DetectSettings()
    report = DetectionReport(anomalies=[])
    frames: list[tuple[NamedSpec, SeriesFrame]] = []
    chosen_specs = list(specs or default_specs())
    texts = _template_texts(store) if any(n.templates for n in chosen_specs) else {}
    for named in chosen_specs:
        if named.templates and (not texts or "templates" not in chosen.methods):
            continue  # no templates mined in this store (or not asked for)
        if progress is not None:
            progress(named.name)
        frame = store.series(_framed(named.spec, chosen))
        if frame.series:
            _note_range(report, frame)
            frames.append((named, frame))
    thresholds = _thresholds([f for f in frames if not f[0].templates], chosen, frames)
    report.threshold = thresholds.series
    found: list[tuple[Anomaly, NamedSpec]] = []
    for named, frame in frames:
        if named.templates:
            found.extend((a, named) for a in _templates(frame, named, chosen, thresholds, texts))
            continue
        found.extend((a, named) for a in _detect_frame(frame, named, chosen, report, thresholds))
    merged = [a for a in merge_anomalies([a for a, _ in found]) if _agreed(a, chosen)]
    silences = {a.id: a for a, _ in found if a.kind == "silence"}
    by_name = {named.name: named for _, named in found}
    for anomaly in merged:
        _lead_with_silence(anomaly, silences)
        # Ids must differ between specs that share a group key (zeek.dns counts and names).
        anomaly.id = anomaly_id(
            (str(anomaly.details.get("spec")), *anomaly.series_key),
            anomaly.start,
            anomaly.end,
            anomaly.kind,
        )
    ranked = merged
    for anomaly in ranked[: chosen.attribute_top]:
        owner = by_name.get(str(anomaly.details.get("spec")))
        if owner is not None:
            attribution = chosen.attribution
            if owner.templates:  # the template says what happened: name who and where
                attribution = replace(attribution, fields=TEMPLATE_ENTITY_FIELDS)
            attribute(store, owner.spec, anomaly, settings=attribution, earliest=report.first)
            anomaly.explanation = describe(anomaly)
    leads, folded = group_related(ranked)
    if chosen.limit:
        leads = leads[: chosen.limit]
        kept = {lead.id for lead in leads}
        folded = [a for a in folded if a.details.get("part_of") in kept]
        ranked = [a for a in ranked if a.id in kept or a.details.get("part_of") in kept]
    report.anomalies, report.related = leads, folded
    if chosen.write_back and ranked:
        store.write_anomalies(ranked)
        groups: list[tuple[Query, Sequence[str]]] = []
        for anomaly in ranked:
            owner = by_name.get(str(anomaly.details.get("spec")))
            if owner is None:
                continue
            query = Query(
                text=group_query(owner.spec, anomaly.series_key),
                start=anomaly.start,
                end=anomaly.end,
                size=None,
            )
            groups.append((query, [ANOMALY_TAG, f"{ANOMALY_TAG}.{anomaly.id}"]))
        report.tagged_events += store.tag_groups(groups)
    return report


def _lead_with_silence(anomaly: Anomaly, silences: dict[str, Anomaly]) -> None:
    """Let a silence merged with other findings of its series be what the anomaly says.

    A whole day's odd shape or a dip in a series that fell silent is that silence seen another
    way; what a person acts on is the silence: which source, for how long, and who usually
    sends it (attribution then asks about the silent stretch, not the whole merged window).
    """
    if anomaly.kind == "silence":
        return
    members = [silences[i] for i in anomaly.details.get("members") or () if i in silences]
    if not members:
        return
    silence = max(members, key=lambda a: (a.score, a.end - a.start))
    anomaly.kind = "silence"
    anomaly.observed, anomaly.expected = silence.observed, silence.expected
    anomaly.details["headline"] = {
        "start": silence.start.isoformat(),
        "end": silence.end.isoformat(),
    }
    for key in ("sources", "unit"):
        if key in silence.details:
            anomaly.details[key] = silence.details[key]
    anomaly.explanation = describe(anomaly)


def group_related(
    ranked: Sequence[Anomaly], gap: timedelta = timedelta(minutes=15)
) -> tuple[list[Anomaly], list[Anomaly]]:
    """Fold findings about the same happening into the highest-ranked one (the lead).

    One DNS tunnel shows in the DNS event count, the distinct names asked and the protocol
    counts: a person should read it once. A finding joins a lead when their windows overlap
    (within ``gap``) and they share an entity value (the same source address, domain, user)
    or their series share a group value (``zeek.dns``). The lead keeps its own sentence and
    lists the others in ``details["related"]``; each of them gets ``details["part_of"]``.

    Returns:
        The leads in rank order, and the findings folded into them.
    """
    leads: list[tuple[Anomaly, set[str], datetime, datetime]] = []
    folded: list[Anomaly] = []
    for anomaly in ranked:
        facets = _facets(anomaly)
        for index, (lead, lead_facets, start, end) in enumerate(leads):
            if anomaly.start <= end + gap and start <= anomaly.end + gap and facets & lead_facets:
                lead.details.setdefault("related", []).append(
                    {"id": anomaly.id, "series": anomaly.series_name, "kind": anomaly.kind,
                     "explanation": anomaly.explanation}
                )  # fmt: skip
                anomaly.details["part_of"] = lead.id
                leads[index] = (
                    lead,
                    lead_facets | facets,
                    min(start, anomaly.start),
                    max(end, anomaly.end),
                )
                folded.append(anomaly)
                break
        else:
            leads.append((anomaly, facets, anomaly.start, anomaly.end))
    return [lead for lead, *_ in leads], folded


def _facets(anomaly: Anomaly) -> set[str]:
    values = {f"{e.field}={e.value}" for e in anomaly.entities}
    values |= {f"key={v}" for v in anomaly.series_key if v is not None}
    return values


@dataclass(frozen=True)
class _Thresholds:
    series: float  # z for a bucket or window of a series
    new_category: float  # z for a whole new key (one test per series, not per bucket)


_MIN_THRESHOLD = 4.0


def _thresholds(
    frames: Sequence[tuple[NamedSpec, SeriesFrame]],
    settings: DetectSettings,
    keyed: Sequence[tuple[NamedSpec, SeriesFrame]] | None = None,
) -> _Thresholds:
    """Thresholds that keep the run's chance findings near ``settings.false_alarms``.

    Every scored bucket of every series is a test: a month of 15-minute buckets over sixty
    series is 160,000 tests, where z = 4 turns up a few times by chance. New categories are
    judged once per key, so they face only the number of series (of ``keyed``: all frames,
    template series too, when given).
    """
    if settings.threshold is not None:
        return _Thresholds(settings.threshold, settings.threshold)
    tests = 0
    for _, frame in frames:
        scored = len(frame.buckets)
        if settings.since is not None and scored:
            since = round(settings.since.timestamp() * 1e6)
            scored = int((to_micros(frame.buckets) >= since).sum())
        tests += scored * len(frame.series)
    keys = sum(len(frame.series) for _, frame in (frames if keyed is None else keyed))
    return _Thresholds(
        max(_MIN_THRESHOLD, threshold_for(tests, settings.false_alarms)),
        max(_MIN_THRESHOLD, threshold_for(keys, settings.false_alarms)),
    )


_DETECTOR_NAMES = {
    "baseline": SeasonalBaseline.name,
    "spectral": Spectral.name,
    "wavelet": WaveletDayClusters.name,
    "new_category": NewCategories.name,
}


def _agreed(anomaly: Anomaly, settings: DetectSettings) -> bool:
    """False when only detectors that need agreement found the anomaly."""
    detectors = anomaly.details.get("detectors") or [anomaly.detector]
    weak = {_DETECTOR_NAMES[m] for m in settings.needs_agreement if m in _DETECTOR_NAMES}
    return not weak or not set(map(str, detectors)) <= weak


def _framed(spec: SeriesSpec, settings: DetectSettings) -> SeriesSpec:
    start = None
    if settings.since is not None:
        start = settings.since - timedelta(days=settings.history_days)
    return replace(spec, start=start, end=settings.until)


def _note_range(report: DetectionReport, frame: SeriesFrame) -> None:
    if not len(frame.buckets):
        return
    micros = to_micros(frame.buckets)
    first = to_datetime(micros[0])
    last = to_datetime(micros[-1]) + frame.spec.interval
    report.first = first if report.first is None else min(report.first, first)
    report.last = last if report.last is None else max(report.last, last)


def _detect_frame(
    frame: SeriesFrame,
    named: NamedSpec,
    settings: DetectSettings,
    report: DetectionReport,
    thresholds: _Thresholds,
) -> list[Anomaly]:
    anomalies: list[Anomaly] = []
    since = settings.since
    for series in frame.series:
        history = series.between(None, since) if since is not None else series
        current = series.between(since, None) if since is not None else series
        if not len(current.buckets):
            continue
        report.series_analysed += 1
        for method in settings.methods:
            if method in ("new_category", "templates") or (
                method == "wavelet" and not named.day_shapes
            ):
                continue
            detector = _detector(method, named, settings, history, thresholds.series)
            try:
                found = detector.fit(history).detect(current)
                if not named.silence:
                    found = [a for a in found if a.kind != "silence"]
            except (NotEnoughHistoryError, NotEnoughDaysError) as exc:
                report.skipped.append((f"{named.name}: {series.name} ({method})", str(exc)))
                continue
            except DetectError as exc:
                report.skipped.append((f"{named.name}: {series.name} ({method})", str(exc)))
                continue
            anomalies.extend(_labelled(found, named))
    if "new_category" in settings.methods and len(frame.spec.group_by) >= 1:
        new = _new_categories(frame, named, settings, thresholds.new_category)
        anomalies.extend(_labelled(new, named))
    return anomalies


def _detector(
    method: str, named: NamedSpec, settings: DetectSettings, history: Series, threshold: float
) -> SeasonalBaseline | Spectral | WaveletDayClusters:
    days = _days_of(history)
    window = float(settings.history_days)
    # Short histories (a few days of old logs) still get a time-of-day profile.
    min_days = max(2, min(7, days - 1)) if settings.since is None else 7
    if method == "baseline":
        return SeasonalBaseline(
            window_days=window,
            min_days=min_days,
            unit=named.unit,
            threshold=threshold,
            log_scale=named.log_scale,
        )
    if method == "spectral":
        return Spectral(
            window_days=window,
            min_days=min_days,
            unit=named.unit,
            threshold=threshold,
            log_scale=named.log_scale,
        )
    return WaveletDayClusters()


def _days_of(series: Series) -> int:
    if not len(series.buckets):
        return 0
    micros = to_micros(series.buckets)
    return int((micros[-1] - micros[0]) // 86_400_000_000) + 1


def _new_categories(
    frame: SeriesFrame, named: NamedSpec, settings: DetectSettings, threshold: float
) -> list[Anomaly]:
    split = _history_and_current(frame, settings)
    if split is None:
        return []
    history, current, window = split
    detector = NewCategories(window_days=window, unit=named.unit, min_score=threshold)
    found = detector.fit(history).detect(current)
    if settings.since is None:
        # Retrospective: a first burst was not seen anywhere earlier in the data.
        for anomaly in found:
            anomaly.details["training_days"] = None
            anomaly.explanation = describe(anomaly)
    return found


def _history_and_current(
    frame: SeriesFrame, settings: DetectSettings
) -> tuple[list[Series], list[Series], float] | None:
    """The series before and after the cut (``since``, else the warm-up's end), and the days of
    history a "never seen before" may claim; None when nothing lies after the cut."""
    if not len(frame.buckets):
        return None
    micros = to_micros(frame.buckets)
    first = to_datetime(micros[0])
    cut = settings.since or first + timedelta(days=settings.warmup_days)
    if cut >= to_datetime(micros[-1]):
        return None
    history = [s.between(None, cut) for s in frame.series]
    current = [s.between(cut, None) for s in frame.series]
    # "Never seen in the N days before" must not claim more history than the store holds.
    known_days = max((cut - first) / timedelta(days=1), 0.0)
    return history, current, min(float(settings.history_days), round(known_days, 2)) or 1.0


def _template_texts(store: Store) -> dict[str, str]:
    """The store's template texts; none for a store that has not mined any (an older one)."""
    try:
        return template_texts(store)
    except LoglensError:
        return {}


def _templates(
    frame: SeriesFrame,
    named: NamedSpec,
    settings: DetectSettings,
    thresholds: _Thresholds,
    texts: dict[str, str],
) -> list[Anomaly]:
    """New and rare log templates, judged like new categories (one test per template)."""
    split = _history_and_current(frame, settings)
    if split is None:
        return []
    history, current, window = split
    threshold = thresholds.new_category
    new = NewTemplate(texts, window_days=window, min_score=threshold).fit(history)
    found = new.detect(current)
    if settings.since is None:
        for anomaly in found:  # retrospective: not seen anywhere earlier in the data
            if "template_ids" in anomaly.details:
                continue  # a group of new templates: its sentence says so already
            anomaly.details["training_days"] = None
            anomaly.explanation = describe_new_template(anomaly, anomaly.details.get("template"))
    found += RareTemplate(texts, min_score=threshold).fit(history).detect(current)
    return _labelled(found, named)


def _labelled(anomalies: list[Anomaly], named: NamedSpec) -> list[Anomaly]:
    for anomaly in anomalies:
        anomaly.details["spec"] = named.name
        anomaly.series_name = f"{named.name}: {anomaly.series_name}"
    return anomalies


def anomaly_rows(anomalies: Sequence[Anomaly]) -> list[dict[str, object]]:
    """One plain row per anomaly, ranked, for tables, JSON lines and CSV."""
    from loglens.detect.explain import format_window

    rows: list[dict[str, object]] = []
    for rank, a in enumerate(anomalies, start=1):
        rows.append(
            {
                "rank": rank,
                "start": a.start.isoformat(),
                "end": a.end.isoformat(),
                "window": format_window(a.start, a.end),
                "series": a.series_name,
                "series_key": list(a.series_key),
                "detector": a.detector,
                "kind": a.kind,
                "score": round(a.score, 2) if a.score == a.score else None,
                "severity": a.severity,
                "observed": a.observed,
                "expected": round(a.expected, 2) if a.expected == a.expected else None,
                "entities": [
                    {
                        "field": e.field,
                        "value": e.value,
                        "observed": e.observed,
                        "expected": round(e.expected, 2),
                    }
                    for e in a.entities
                ],
                "explanation": a.explanation,
                "reasons": list(a.reasons),
                "related": [
                    {"id": r["id"], "series": r["series"], "kind": r["kind"]}
                    for r in a.details.get("related", [])
                ],
                "id": a.id,
            }
        )
    return rows
