"""Per-event outliers of a numeric field within a group (response time per endpoint, bytes per
host): one ``Anomaly`` of kind "outlier" per event far from its group's typical value.

Two robust rules, both computed per group without a Python loop over events (one sort of the
events by group and value, then positions):

- ``method="mad"``: robust z = (x − median) / (1.4826 × MAD); an event is an outlier when
  ``|z| ≥ threshold`` (default 3.5, Iglewicz and Hoaglin's cut-off for the modified z-score);
- ``method="iqr"``: Tukey's fences; an event is an outlier when it lies more than ``threshold``
  interquartile ranges (default 3.0, the "far out" fence) beyond the first or third quartile.

Either way the anomaly's score is the robust z (with IQR / 1.349 as the spread for "iqr"), so
it is on the same scale as every other detector's. When the MAD (or IQR) is 0 — more than half
of a group's events share one value — the mean absolute deviation × 1.2533 stands in for the
spread, and failing that a thousandth of the median, so a near-constant group cannot turn a
tiny difference into an astronomic score.

Groups with fewer than ``min_events`` events (default 20) are skipped: a median and MAD of a
handful of events say little, and a "typical" value needs enough events to be typical. Skipped
groups are listed in ``skipped_groups_``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from loglens.detect.base import Anomaly, DetectError, severity_for
from loglens.detect.explain import anomaly_id, as_utc, describe

METHODS = ("mad", "iqr")
SIDES = ("both", "high", "low")
DEFAULT_THRESHOLDS = {"mad": 3.5, "iqr": 3.0}
_IQR_TO_SIGMA = 1.349  # a normal distribution's interquartile range in sigmas
_MEAN_AD_TO_SIGMA = 1.2533


@dataclass
class _GroupStats:
    keys: list[Any]
    count: NDArray[np.int64]
    median: NDArray[np.float64]
    q1: NDArray[np.float64]
    q3: NDArray[np.float64]
    spread: NDArray[np.float64]  # robust sigma of the method


def _sorted_quantile(
    ordered: NDArray[np.float64],
    starts: NDArray[np.int64],
    counts: NDArray[np.int64],
    q: float,
) -> NDArray[np.float64]:
    """Linear-interpolation quantile ``q`` of each group in values sorted within groups."""
    position = starts + q * np.maximum(counts - 1, 0)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, starts + np.maximum(counts - 1, 0))
    fraction = position - low
    return np.asarray(ordered[low] * (1 - fraction) + ordered[high] * fraction, dtype=np.float64)


def _group_stats(
    codes: NDArray[np.int64], values: NDArray[np.float64], keys: list[Any], method: str
) -> _GroupStats:
    groups = len(keys)
    counts = np.bincount(codes, minlength=groups).astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1])).astype(np.int64)
    present = counts > 0
    safe_starts = np.where(present, starts, 0)
    order = np.lexsort((values, codes))
    ordered = values[order]
    median = _sorted_quantile(ordered, safe_starts, counts, 0.5)
    q1 = _sorted_quantile(ordered, safe_starts, counts, 0.25)
    q3 = _sorted_quantile(ordered, safe_starts, counts, 0.75)
    deviation = np.abs(values - median[codes])
    mean_deviation = np.bincount(codes, weights=deviation, minlength=groups) / np.maximum(counts, 1)
    if method == "mad":
        by_deviation = deviation[np.lexsort((deviation, codes))]
        spread = 1.4826 * _sorted_quantile(by_deviation, safe_starts, counts, 0.5)
    else:
        spread = (q3 - q1) / _IQR_TO_SIGMA
    spread = np.where(spread > 0, spread, _MEAN_AD_TO_SIGMA * mean_deviation)
    spread = np.where(spread > 0, spread, np.maximum(1e-3 * np.abs(median), 1e-12))
    return _GroupStats(keys, counts, median, q1, q3, spread)


def _column(table: pa.Table, name: str) -> pa.Array:
    column = table.column(name)
    return column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column


class EventOutliers:
    """Events whose numeric ``value`` field is far from the typical value of their group.

    Args:
        group: the column that defines groups (e.g. ``url.path``).
        value: the numeric column to judge (e.g. ``event.duration``).
        method: "mad" (robust z) or "iqr" (Tukey's fences).
        threshold: robust z for "mad", fence multiplier for "iqr"; None picks 3.5 / 3.0.
        min_events: groups with fewer events in the fitted table are skipped.
        side: "both", "high" (only unusually large values) or "low".
        log_scale: judge ``sign(x)·log(1 + |x|)`` instead of x, for skewed fields such as
            durations and byte counts where a typical spread covers orders of magnitude.
    """

    name = "outliers"

    def __init__(
        self,
        group: str = "url.path",
        value: str = "event.duration",
        method: str = "mad",
        threshold: float | None = None,
        min_events: int = 20,
        side: str = "both",
        log_scale: bool = False,
    ) -> None:
        self.group = group
        self.value = value
        self.method = method
        self.threshold = threshold
        self.min_events = min_events
        self.side = side
        self.log_scale = log_scale

    def _validate(self) -> float:
        if self.method not in METHODS:
            raise DetectError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.side not in SIDES:
            raise DetectError(f"side must be one of {', '.join(SIDES)}, got {self.side!r}")
        if self.min_events < 2:
            raise DetectError(f"min_events must be at least 2, got {self.min_events!r}")
        threshold = DEFAULT_THRESHOLDS[self.method] if self.threshold is None else self.threshold
        if not (np.isfinite(threshold) and threshold > 0):
            raise DetectError(f"threshold must be a positive number, got {threshold!r}")
        return float(threshold)

    def _read(
        self, table: pa.Table, needed: tuple[str, ...]
    ) -> tuple[pa.Array, NDArray[np.float64]]:
        if not isinstance(table, pa.Table):
            raise DetectError("EventOutliers needs a pyarrow Table of events")
        missing = [name for name in needed if name not in table.column_names]
        if missing:
            raise DetectError(f"the events table has no column {', '.join(map(repr, missing))}")
        raw = _column(table, self.value)
        numeric = (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal)
        if not any(check(raw.type) for check in (*numeric, pa.types.is_duration)):
            raise DetectError(f"column {self.value!r} is not numeric ({raw.type})")
        if pa.types.is_duration(raw.type):
            raw = raw.cast(pa.int64())
        values = raw.cast(pa.float64()).to_numpy(zero_copy_only=False).astype(np.float64)
        values = np.where(np.isfinite(values), values, np.nan)
        return _column(table, self.group), values

    def _transform(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        if not self.log_scale:
            return values
        return np.asarray(np.sign(values) * np.log1p(np.abs(values)), dtype=np.float64)

    def _untransform(self, values: NDArray[np.float64]) -> NDArray[np.float64]:
        if not self.log_scale:
            return values
        return np.asarray(np.sign(values) * np.expm1(np.abs(values)), dtype=np.float64)

    def fit(self, events: pa.Table) -> EventOutliers:
        """Learn each group's median and spread from ``events`` (columns ``group``, ``value``).

        Raises:
            DetectError: a missing or non-numeric column, or bad parameters.
        """
        self.threshold_ = self._validate()
        groups, raw = self._read(events, (self.group, self.value))
        encoded = groups.dictionary_encode(null_encoding="encode")
        keys = encoded.dictionary.to_pylist()
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        values = self._transform(raw)
        ok = np.isfinite(values)
        stats = _group_stats(codes[ok], values[ok], keys, self.method)
        kept = stats.count >= self.min_events
        self.skipped_groups_ = {
            key: int(n) for key, n, keep in zip(keys, stats.count, kept, strict=True) if not keep
        }
        index = np.flatnonzero(kept)
        self.keys_ = [keys[i] for i in index]
        self.counts_ = stats.count[index]
        self.median_ = stats.median[index]
        self.q1_ = stats.q1[index]
        self.q3_ = stats.q3[index]
        self.spread_ = stats.spread[index]
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "keys_"):
            raise DetectError("EventOutliers is not fitted; call fit(events) first")

    def _lookup(self, groups: pa.Array) -> NDArray[np.int64]:
        """Index of each event's group among the fitted groups (-1 where not fitted)."""
        known = pa.array(self.keys_, type=groups.type) if self.keys_ else pa.array([])
        if not len(known):
            return np.full(len(groups), -1, dtype=np.int64)
        found = pc.index_in(groups, value_set=known, skip_nulls=False)
        return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)

    def _judge(
        self, events: pa.Table, needed: tuple[str, ...]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64]]:
        """(raw values, signed robust z, fitted group index or -1) per event."""
        self._check_fitted()
        groups, raw = self._read(events, needed)
        index = self._lookup(groups)
        has = index >= 0
        safe = np.where(has, index, 0)
        with np.errstate(invalid="ignore"):
            z = (self._transform(raw) - self.median_[safe]) / self.spread_[safe]
        return raw, np.where(has & np.isfinite(z), z, np.nan), index

    def score(self, events: pa.Table) -> NDArray[np.float64]:
        """|robust z| of every event (NaN for skipped groups and missing values)."""
        return np.abs(self._judge(events, (self.group, self.value))[1])

    def _flagged(
        self, raw: NDArray[np.float64], z: NDArray[np.float64], index: NDArray[np.int64]
    ) -> NDArray[np.bool_]:
        values = self._transform(raw)
        safe = np.where(index >= 0, index, 0)
        with np.errstate(invalid="ignore"):
            if self.method == "mad":
                high, low = z >= self.threshold_, z <= -self.threshold_
            else:
                width = self.q3_[safe] - self.q1_[safe]
                width = np.where(width > 0, width, _IQR_TO_SIGMA * self.spread_[safe])
                high = values > self.q3_[safe] + self.threshold_ * width
                low = values < self.q1_[safe] - self.threshold_ * width
        chosen = {"both": high | low, "high": high, "low": low}[self.side]
        return np.asarray(chosen & (index >= 0) & np.isfinite(z), dtype=bool)

    def detect(self, events: pa.Table) -> list[Anomaly]:
        """One "outlier" anomaly per outlying event, strongest first.

        ``events`` needs the ``group`` and ``value`` columns, ``@timestamp`` and ``event.id``.
        Events without a timestamp cannot be placed in time and are left out.
        """
        raw, z, index = self._judge(events, (self.group, self.value, "@timestamp", "event.id"))
        rows = np.flatnonzero(self._flagged(raw, z, index))
        if not len(rows):
            return []
        taken = pa.array(rows)
        times = _column(events, "@timestamp").take(taken).to_pylist()
        ids = _column(events, "event.id").take(taken).to_pylist()
        anomalies = []
        for row, moment, event_id in zip(rows.tolist(), times, ids, strict=True):
            if isinstance(moment, datetime):
                anomalies.append(self._anomaly(row, z, index, raw, as_utc(moment), event_id))
        return sorted(anomalies, key=lambda a: (-a.score, a.start))

    def fit_detect(self, events: pa.Table) -> list[Anomaly]:
        """Fit on ``events`` and return their outliers (one table judged against itself)."""
        return self.fit(events).detect(events)

    def _anomaly(
        self,
        row: int,
        z: NDArray[np.float64],
        index: NDArray[np.int64],
        raw: NDArray[np.float64],
        moment: datetime,
        event_id: object,
    ) -> Anomaly:
        group_index = int(index[row])
        key = self.keys_[group_index]
        typical = float(self._untransform(self.median_[group_index : group_index + 1])[0])
        score = float(abs(z[row]))
        label = "(none)" if key is None else str(key)
        series_key = (None if key is None else str(key),)
        details: dict[str, Any] = {
            "field": self.value,
            "group_field": self.group,
            "group": label,
            "event_ids": [] if event_id is None else [str(event_id)],
            "method": self.method,
            "group_events": int(self.counts_[group_index]),
            "direction": "up" if z[row] > 0 else "down",
            "log_scale": self.log_scale,
        }
        end = moment + timedelta(seconds=1)
        anomaly = Anomaly(
            series_key=series_key,
            series_name=f"{self.value} by {self.group}={label}",
            start=moment,
            end=end,
            detector=self.name,
            score=score,
            severity=severity_for(score),
            observed=float(raw[row]),
            expected=typical,
            explanation="",
            kind="outlier",
            reasons=[
                f"{self.name}: robust z {score:.1f} ({self.method}) among "
                f"{int(self.counts_[group_index])} events of {self.group}={label}"
            ],
            details=details,
        )
        anomaly.explanation = describe(anomaly)
        anomaly.id = anomaly_id((*series_key, str(event_id)), moment, end, "outlier")
        return anomaly
