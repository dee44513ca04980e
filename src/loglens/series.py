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
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from loglens.errors import ConfigError

METRIC_KINDS = ("count", "sum", "distinct", "rate")
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


@dataclass
class SeriesFrame:
    """The result of a spec: one ``Series`` per group on a shared bucket grid."""

    spec: SeriesSpec
    buckets: NDArray[np.datetime64]
    series: list[Series]
    groups_left_out: int = 0  # groups beyond ``spec.max_groups``
