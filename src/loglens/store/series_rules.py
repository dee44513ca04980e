"""What every store's series share: the bucket grid, the frame size limit and the silence rules.

A store aggregates the cells its own way (SQL in DuckDB, aggregations in the cluster); which
buckets a frame has, how large it may grow, and which buckets are silent or outside a source's
life (the rules of :mod:`loglens.series`) are decided here, once, so that every store gives the
same frame for the same events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from loglens.errors import ConfigError
from loglens.series import SeriesSpec

__all__ = [
    "EPOCH",
    "MAX_CELLS",
    "MICROS",
    "BucketGrid",
    "bucket_grid",
    "check_frame_size",
    "epoch_us",
    "interval_us",
    "mark_silence",
    "rates",
]

MAX_CELLS = 50_000_000
"""Upper bound on ``groups × buckets`` (float64 each): beyond it, ask for a coarser grid."""

MICROS = 1_000_000
"""Microseconds per second."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class BucketGrid:
    """The frame's buckets: ``count`` buckets of ``step_us`` from ``start_us`` (epoch µs)."""

    start_us: int
    step_us: int
    count: int

    @property
    def end_us(self) -> int:
        return self.start_us + self.count * self.step_us

    @property
    def start(self) -> datetime:
        return EPOCH + timedelta(microseconds=self.start_us)

    @property
    def end(self) -> datetime:
        return EPOCH + timedelta(microseconds=self.end_us)

    def starts(self) -> NDArray[np.datetime64]:
        """Each bucket's start, ``datetime64[us]`` (UTC)."""
        offsets = np.arange(self.count, dtype=np.int64) * self.step_us + self.start_us
        return offsets.astype("datetime64[us]")

    def bucket_of(self, instant_us: int) -> int:
        """The bucket holding an instant (epoch µs); negative before the frame."""
        return (instant_us - self.start_us) // self.step_us


def interval_us(spec: SeriesSpec) -> int:
    """The spec's interval in microseconds, refused unless whole seconds dividing a day."""
    seconds = spec.interval.total_seconds()
    if seconds <= 0 or seconds != int(seconds) or 86400 % int(seconds):
        raise ConfigError(
            f"interval {spec.interval} must be whole seconds dividing a day evenly",
            location="interval",
        )
    return int(seconds) * MICROS


def epoch_us(value: datetime) -> int:
    """Microseconds since the epoch, exactly (a naive datetime is taken as UTC)."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    delta = aware - EPOCH
    return (delta.days * 86400 + delta.seconds) * MICROS + delta.microseconds


def check_frame_size(buckets: int, groups: int) -> None:
    """Refuse a frame of more than :data:`MAX_CELLS` cells, before it is allocated."""
    if buckets * groups > MAX_CELLS:
        raise ConfigError(
            f"{groups:,} group(s) × {buckets:,} bucket(s) is too large a frame; use a longer "
            "interval, a shorter time range or fewer groups",
            location="interval",
        )


def bucket_grid(
    spec: SeriesSpec,
    step_us: int,
    first_and_last: Callable[[], tuple[int, int] | None],
) -> BucketGrid | None:
    """The bucket grid: explicit bounds widened to whole buckets, open ones from the data.

    Args:
        spec: Its ``start`` and ``end`` (either may be open).
        step_us: The bucket width (see :func:`interval_us`).
        first_and_last: Asked only when a bound is open: the first and last matching events
            within the given bounds (epoch µs), or None when nothing matches.

    Returns:
        The grid, or None when both bounds are open and nothing matches.

    Raises:
        ConfigError: the series ends before it starts.
    """
    start_us = None if spec.start is None else epoch_us(spec.start) // step_us * step_us
    end_us = None if spec.end is None else -(-epoch_us(spec.end) // step_us) * step_us
    if start_us is None or end_us is None:
        found = first_and_last()
        if found is None:
            if start_us is None and end_us is None:
                return None
            # One bound given and nothing matches: the frame is empty at that bound.
            start_us = end_us = start_us if start_us is not None else end_us
        else:
            first, last = found
            if start_us is None:
                start_us = first // step_us * step_us
            if end_us is None:
                end_us = (last // step_us + 1) * step_us
    assert start_us is not None and end_us is not None
    if end_us < start_us:
        raise ConfigError("the series ends before it starts", location="end")
    return BucketGrid(start_us, step_us, (end_us - start_us) // step_us)


def rates(counts: NDArray[np.float64], matching: NDArray[np.float64]) -> NDArray[np.float64]:
    """A rate metric's values: the share of each cell's events that match; NaN in an empty one."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, matching / counts, np.nan)


def mark_silence(
    values: NDArray[np.float64],
    membership: NDArray[np.bool_],
    sending: NDArray[np.bool_],
    first_bucket: NDArray[np.int64],
) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
    """The silence rules of :mod:`loglens.series`, for ``groups × buckets`` of ``values``.

    A group's sources are the datasets of its events: it is active from the first event of any
    of them, and silent in an active bucket where none of them sent anything (whatever the
    query filter: silence is the source's, not the query's). Inactive and silent buckets of
    ``values`` become NaN, in place.

    Args:
        values: ``groups × buckets``, changed in place.
        membership: ``groups × datasets``: which datasets are each group's sources.
        sending: ``datasets × buckets``: which dataset sent anything in which bucket.
        first_bucket: per dataset, the bucket of its first event (negative before the frame).

    Returns:
        ``(silent, active)``, each ``groups × buckets``.
    """
    count = values.shape[1]
    group_sending = (membership.astype(np.int64) @ sending.astype(np.int64)) > 0
    active_from = np.where(membership, first_bucket[None, :], count).min(axis=1)
    active = np.arange(count)[None, :] >= active_from[:, None]
    silent = active & ~group_sending
    values[~active | silent] = np.nan
    return silent, active
