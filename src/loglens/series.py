"""Time series of events: a ``SeriesSpec`` says what to count, a store turns it into frames.

A frame holds one ``Series`` per group (e.g. one per ``network.protocol``), all on the same
bucket grid. Each bucket is in one of three states, and detectors must keep them apart:

- a **value** (possibly 0): the group's data source was sending, this group had that many events;
- **silent**: the data source itself (its ``event.dataset``) sent nothing at all in the bucket —
  an outage or a stopped shipper, not a quiet hour (``Series.silent``);
- **outside** the source's life: before its first event (``Series.active`` is False), so the
  bucket is neither zero nor silence.

Buckets are aligned to UTC multiples of the interval (so 15-minute buckets start at :00, :15, ...).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from loglens.errors import ConfigError

METRIC_KINDS = ("count", "sum", "distinct", "rate")
STATE_VALUE, STATE_SILENT, STATE_INACTIVE = "value", "silent", "inactive"
_INTERVAL = re.compile(r"^\s*(\d+)\s*(s|m|min|h|d)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400}


def parse_interval(text: str | timedelta) -> timedelta:
    """``"15m"``, ``"1h"``, ``"1d"`` (or a timedelta) → timedelta; a clear error otherwise.

    The interval must divide a day evenly, so that time-of-day buckets line up day after day.
    """
    if isinstance(text, timedelta):
        seconds = int(text.total_seconds())
    else:
        match = _INTERVAL.match(str(text))
        if not match:
            raise ConfigError(f"interval {text!r} is not like 15m, 1h or 1d", location="interval")
        seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if seconds <= 0 or 86400 % seconds:
        raise ConfigError(
            f"interval {text!r} must be positive and divide a day evenly", location="interval"
        )
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Metric:
    """What one bucket measures.

    - ``count``: number of events;
    - ``sum``: sum of numeric ``field`` (e.g. ``network.bytes``);
    - ``distinct``: number of distinct values of ``field`` (e.g. ``source.ip``);
    - ``rate``: share (0..1) of the bucket's events that match the Lucene ``query``
      (e.g. ``http.response.status_code:[400 TO 599]``); NaN in an empty bucket.
    """

    kind: str = "count"
    field: str | None = None
    query: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in METRIC_KINDS:
            raise ConfigError(
                f"metric {self.kind!r} is not one of {', '.join(METRIC_KINDS)}", location="metric"
            )
        if self.kind in ("sum", "distinct") and not self.field:
            raise ConfigError(f"metric {self.kind} needs a field", location="metric")
        if self.kind == "rate" and not self.query:
            raise ConfigError("metric rate needs a query", location="metric")

    @staticmethod
    def parse(text: str) -> Metric:
        """``count``, ``sum:FIELD``, ``distinct:FIELD`` or ``rate:LUCENE`` → Metric.

        Raises:
            ConfigError: an unknown kind, a missing field or query, or an argument to count.
        """
        kind, _, argument = text.strip().partition(":")
        kind, argument = kind.strip().lower(), argument.strip()
        if kind == "count":
            if argument:
                raise ConfigError("metric count takes no argument", location="metric")
            return Metric()
        if kind == "rate":
            return Metric("rate", query=argument or None)
        if kind in ("sum", "distinct"):
            return Metric(kind, field=argument or None)
        return Metric(kind)  # refused with the list of kinds

    @property
    def label(self) -> str:
        if self.kind == "count":
            return "count"
        if self.kind == "rate":
            return f"rate({self.query})"
        return f"{self.kind}({self.field})"


@dataclass(frozen=True)
class SeriesSpec:
    """Which events, grouped how, bucketed how, measured how."""

    group_by: tuple[str, ...] = ("event.dataset",)
    interval: timedelta = timedelta(minutes=15)
    metric: Metric = field(default_factory=Metric)
    query: str = "*"
    start: datetime | None = None  # inclusive; None: from the first matching event
    end: datetime | None = None  # exclusive; None: to the end of the last matching event's bucket
    max_groups: int = 500  # largest groups by event count; the rest are left out (and counted)

    @staticmethod
    def of(
        group_by: str | Sequence[str] = ("event.dataset",),
        interval: str | timedelta = "15m",
        metric: Metric | str = "count",
        **kwargs: object,
    ) -> SeriesSpec:
        """Convenience constructor: ``SeriesSpec.of("network.protocol", "1h")``."""
        groups = (group_by,) if isinstance(group_by, str) else tuple(group_by)
        chosen = Metric(metric) if isinstance(metric, str) else metric
        return SeriesSpec(groups, parse_interval(interval), chosen, **kwargs)  # type: ignore[arg-type]


@dataclass
class Series:
    """One group's values on the frame's bucket grid.

    Attributes:
        key: the group's values, in ``SeriesSpec.group_by`` order (None for a missing value).
        buckets: bucket starts, ``datetime64[us]``, UTC.
        values: the metric per bucket (float64; 0 for an empty active bucket, NaN where silent
            or outside the source's life).
        silent: True where the group's data source sent nothing at all.
        active: True from the source's first event on (False before it).
        sources: the ``event.dataset`` values whose activity decides silence for this group.
    """

    key: tuple[str | None, ...]
    buckets: NDArray[np.datetime64]
    values: NDArray[np.float64]
    silent: NDArray[np.bool_]
    active: NDArray[np.bool_]
    sources: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """A readable name: the group values joined by `` / `` (``(none)`` for missing)."""
        return " / ".join("(none)" if v is None else str(v) for v in self.key) or "all"

    @property
    def states(self) -> NDArray[np.str_]:
        """Each bucket's state: ``value``, ``silent`` or ``inactive`` (see the module doc)."""
        return np.where(
            ~self.active, STATE_INACTIVE, np.where(self.silent, STATE_SILENT, STATE_VALUE)
        )

    def between(self, start: datetime | date | None, end: datetime | date | None) -> Series:
        """The buckets starting in ``[start, end)`` (None: open), as a new ``Series``.

        A date means its midnight UTC; a naive datetime is taken as UTC.
        """
        keep = np.ones(len(self.buckets), dtype=bool)
        if start is not None:
            keep &= self.buckets >= _as_datetime64(start)
        if end is not None:
            keep &= self.buckets < _as_datetime64(end)
        return Series(
            self.key,
            self.buckets[keep],
            self.values[keep],
            self.silent[keep],
            self.active[keep],
            self.sources,
        )

    def for_day(self, day: date) -> Series:
        """The buckets of one UTC day."""
        first = day.date() if isinstance(day, datetime) else day
        return self.between(first, first + timedelta(days=1))


@dataclass
class SeriesFrame:
    """The result of a spec: one ``Series`` per group on a shared bucket grid."""

    spec: SeriesSpec
    buckets: NDArray[np.datetime64]
    series: list[Series]
    groups_left_out: int = 0  # groups beyond ``spec.max_groups``

    def get(self, key: tuple[str | None, ...] | str | None) -> Series:
        """The series of one group; a bare value stands for a one-field key.

        Raises:
            KeyError: no group has this key (it had no matching event, or was left out).
        """
        wanted = key if isinstance(key, tuple) else (key,)
        for series in self.series:
            if series.key == wanted:
                return series
        raise KeyError(f"no series for group {wanted!r} in this frame")

    def per_day(self, key: tuple[str | None, ...] | str | None) -> DayTable:
        """The classic per-day view of one group: time-of-day rows × day columns.

        With 15-minute buckets there are 96 rows; one column per UTC day the frame touches.
        Silent cells, cells before the source's first event and cells outside the frame are NaN
        (``DayTable.silent`` and ``DayTable.active`` tell them apart).
        """
        return _day_table(self.get(key), self.spec.interval)

    def to_arrow(self) -> pa.Table:
        """Long format: one row per group and bucket.

        Columns: the ``group_by`` fields (text), ``bucket`` (timestamp, UTC), ``value`` (float64,
        null unless there is a number) and ``state`` (``value``, ``silent`` or ``inactive``).
        The metric and interval are in the schema metadata.
        """
        n = len(self.buckets)
        columns: dict[str, pa.Array] = {}
        for i, name in enumerate(self.spec.group_by):
            keys = [s.key[i] for s in self.series]
            columns[name] = pa.array(np.repeat(np.array(keys, dtype=object), n), pa.string())
        stamps = np.tile(self.buckets.astype("datetime64[us]").astype(np.int64), len(self.series))
        columns["bucket"] = pa.array(stamps, pa.timestamp("us", tz="UTC"))
        values = np.concatenate([s.values for s in self.series]) if self.series else np.empty(0)
        columns["value"] = pa.array(values, pa.float64(), mask=np.isnan(values))
        states = [state for s in self.series for state in s.states.tolist()]
        columns["state"] = pa.array(states, pa.string())
        metadata = {
            "metric": self.spec.metric.label,
            "interval_seconds": str(int(self.spec.interval.total_seconds())),
            "groups_left_out": str(self.groups_left_out),
        }
        return pa.table(columns).replace_schema_metadata(metadata)


@dataclass
class DayTable:
    """One group's series folded by day: ``values[row, column]`` is time ``times[row]`` of day
    ``days[column]`` (UTC).

    Attributes:
        key: the group's key.
        days: the UTC days, ``datetime64[D]``.
        times: bucket starts as offsets from midnight, ``timedelta64[us]``.
        values: the metric (NaN where silent, inactive or outside the frame).
        silent: the source sent nothing in that bucket.
        active: the bucket is in the frame and the source had started sending.
    """

    key: tuple[str | None, ...]
    days: NDArray[np.datetime64]
    times: NDArray[np.timedelta64]
    values: NDArray[np.float64]
    silent: NDArray[np.bool_]
    active: NDArray[np.bool_]

    def day_labels(self) -> list[str]:
        """``YYYY-MM-DD`` per column."""
        return [str(d) for d in self.days.astype("datetime64[D]")]

    def time_labels(self) -> list[str]:
        """``HH:MM`` (``HH:MM:SS`` for sub-minute buckets) per row."""
        seconds = (self.times.astype("timedelta64[s]").astype(np.int64)).tolist()
        with_seconds = any(x % 60 for x in seconds)
        labels = []
        for x in seconds:
            hours, rest = divmod(int(x), 3600)
            minutes, secs = divmod(rest, 60)
            labels.append(f"{hours:02d}:{minutes:02d}" + (f":{secs:02d}" if with_seconds else ""))
        return labels


def _day_table(series: Series, interval: timedelta) -> DayTable:
    step = np.timedelta64(int(interval.total_seconds() * 1_000_000), "us")
    per_day = int(np.timedelta64(1, "D") // step)
    times = np.arange(per_day, dtype=np.int64) * step
    buckets = series.buckets.astype("datetime64[us]")
    if len(buckets) == 0:
        days = np.empty(0, dtype="datetime64[D]")
    else:
        days = np.arange(
            buckets[0].astype("datetime64[D]"), buckets[-1].astype("datetime64[D]") + 1
        )
    shape = (per_day, len(days))
    values = np.full(shape, np.nan)
    silent = np.zeros(shape, dtype=bool)
    active = np.zeros(shape, dtype=bool)
    if len(buckets):
        day_of = buckets.astype("datetime64[D]")
        column = (day_of - days[0]).astype(np.int64)
        row = ((buckets - day_of.astype("datetime64[us]")) // step).astype(np.int64)
        values[row, column] = series.values
        silent[row, column] = series.silent
        active[row, column] = series.active
    return DayTable(series.key, days, times, values, silent, active)


def _as_datetime64(value: datetime | date) -> np.datetime64:
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    elif value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return np.datetime64(value, "us")
