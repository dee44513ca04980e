"""Time: the generated period, seasonal intensity per minute, and native timestamp formats.

All instants are integer microseconds since the Unix epoch (UTC) in ``int64`` arrays, so that
every format is exact and nothing depends on the local time zone or locale.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

US = 1_000_000
MINUTE_US = 60 * US
HOUR_US = 60 * MINUTE_US
DAY_US = 24 * HOUR_US

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_TWO_DIGITS = pa.array([f"{i:02d}" for i in range(60)])

IntArray = NDArray[np.int64]


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of a tz-aware datetime."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def from_us(micros: int) -> datetime:
    """The UTC datetime of an epoch-microsecond instant."""
    return _EPOCH + timedelta(microseconds=int(micros))


@dataclass(frozen=True)
class Period:
    """The generated interval: ``days`` whole days from ``start`` (tz-aware UTC)."""

    start: datetime
    days: int

    @property
    def end(self) -> datetime:
        return self.start + timedelta(days=self.days)

    @property
    def start_us(self) -> int:
        return to_us(self.start)

    @property
    def end_us(self) -> int:
        return to_us(self.end)

    @property
    def n_minutes(self) -> int:
        return self.days * 24 * 60


@dataclass(frozen=True)
class Profile:
    """Relative activity at each hour of the day (UTC, interpolated) and on weekend days."""

    hourly: tuple[float, ...]
    weekend: float
    day_jitter: float = 0.07


# Office traffic: quiet nights, morning ramp, lunch dip, evening tail, weekends far lower
OFFICE = Profile(
    (0.04, 0.03, 0.03, 0.03, 0.04, 0.08, 0.2, 0.5, 0.85, 1.0, 1.0, 0.95,
     0.72, 0.9, 1.0, 1.0, 0.92, 0.7, 0.4, 0.22, 0.15, 0.1, 0.07, 0.05),
    weekend=0.22,
)  # fmt: skip
# A public web shop: busy working hours and a second peak in the evening; weekends mildly lower
WEB = Profile(
    (0.25, 0.18, 0.13, 0.1, 0.1, 0.13, 0.22, 0.38, 0.55, 0.7, 0.8, 0.85,
     0.88, 0.86, 0.85, 0.84, 0.82, 0.8, 0.85, 0.95, 1.0, 0.9, 0.65, 0.42),
    weekend=0.72,
)  # fmt: skip
# Servers and their admins: some activity all the time, more during the day
SERVER = Profile(
    (0.35, 0.3, 0.3, 0.3, 0.3, 0.35, 0.45, 0.65, 0.85, 1.0, 1.0, 1.0,
     0.9, 1.0, 1.0, 1.0, 0.95, 0.8, 0.6, 0.5, 0.45, 0.4, 0.38, 0.36),
    weekend=0.6,
)  # fmt: skip
# Machine chatter (NTP, internet background noise): no seasonality at all
FLAT = Profile((1.0,) * 24, weekend=1.0, day_jitter=0.0)


def minute_times(period: Period) -> IntArray:
    """Start instant of every minute of the period."""
    return period.start_us + np.arange(period.n_minutes, dtype=np.int64) * MINUTE_US


def intensity(period: Period, profile: Profile, rng: np.random.Generator) -> NDArray[np.float64]:
    """Relative activity of every minute of the period (peak weekday hour ≈ 1)."""
    minutes = minute_times(period)
    hour = (minutes % DAY_US) / HOUR_US
    anchors = np.asarray((*profile.hourly, profile.hourly[0]), dtype=np.float64)
    level = np.interp(hour, np.arange(25, dtype=np.float64), anchors)
    # 1970-01-01 was a Thursday; with Monday = 0, Saturday and Sunday are 5 and 6
    weekday = (minutes // DAY_US + 3) % 7
    level = np.where(weekday >= 5, level * profile.weekend, level)
    day = (minutes - period.start_us) // DAY_US
    jitter = rng.lognormal(0.0, profile.day_jitter, period.days + 1) if profile.day_jitter else None
    return level * jitter[day] if jitter is not None else level


def minute_counts(
    period: Period, profile: Profile, peak_per_minute: float, rng: np.random.Generator
) -> IntArray:
    """Poisson event counts per minute following ``profile``."""
    lam = intensity(period, profile, rng) * peak_per_minute
    return rng.poisson(lam).astype(np.int64)


def spread(start_us: int, counts: IntArray, rng: np.random.Generator) -> IntArray:
    """Sorted instants: ``counts[i]`` uniform random instants inside minute ``i`` after start."""
    minute = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    ts = start_us + minute * MINUTE_US + rng.integers(0, MINUTE_US, len(minute), dtype=np.int64)
    ts.sort()
    return ts


def _per_minute(ts_us: IntArray, minute_text: str) -> tuple[pa.Array, pa.Array]:
    """Minute prefixes and two-digit seconds; formats each distinct minute once, not each row."""
    minutes = ts_us // MINUTE_US
    unique, inverse = np.unique(minutes, return_inverse=True)
    texts = []
    for minute in unique.tolist():
        moment = from_us(minute * MINUTE_US)
        texts.append(
            minute_text.format(
                d=moment, day=moment.day, mon=_MONTHS[moment.month - 1], year=moment.year
            )
        )
    prefix = pa.array(texts, type=pa.string()).take(pa.array(inverse.ravel()))
    seconds = _TWO_DIGITS.take(pa.array((ts_us // US) % 60))
    return prefix, seconds


def digits(values: IntArray, width: int) -> pa.Array:
    """Non-negative integers as zero-padded decimal strings."""
    return pc.utf8_lpad(pa.array(values).cast(pa.string()), width, "0")


def apache_time(ts_us: IntArray) -> pa.Array:
    """``05/Mar/2015:06:25:01 +0000`` (Apache ``%t`` without brackets)."""
    prefix, seconds = _per_minute(ts_us, "{d:%d}/{mon}/{year}:{d:%H:%M}:")
    return pc.binary_join_element_wise(prefix, seconds, " +0000", "")


def syslog_time(ts_us: IntArray) -> pa.Array:
    """``Mar  5 06:25:01`` (RFC 3164: space-padded day, no year)."""
    prefix, seconds = _per_minute(ts_us, "{mon} {day:>2} {d:%H:%M}:")
    return pc.binary_join_element_wise(prefix, seconds, "")


def iso_time(ts_us: IntArray) -> pa.Array:
    """``2015-03-05T06:25:01.000Z`` (ECS ``@timestamp``, millisecond precision)."""
    prefix, seconds = _per_minute(ts_us, "{d:%Y-%m-%dT%H:%M}:")
    millis = digits((ts_us // 1000) % 1000, 3)
    return pc.binary_join_element_wise(prefix, seconds, ".", millis, "Z", "")


def epoch_seconds(micros: IntArray) -> pa.Array:
    """``1425536701.123456``: Zeek's ``time`` and ``interval`` with six decimals."""
    return pc.binary_join_element_wise(
        pa.array(micros // US).cast(pa.string()), ".", digits(micros % US, 6), ""
    )


def eve_time(micros: int) -> str:
    """``2018-03-24T14:37:19.037299+0000`` (Suricata EVE)."""
    return from_us(micros).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")


def zeek_stamp(moment: datetime) -> str:
    """``2023-08-16-01-28-55``: the ``#open``/``#close`` header stamp."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d-%H-%M-%S")


def iso_z(moment: datetime) -> str:
    """ISO 8601 UTC with a ``Z`` suffix, for labels."""
    text = moment.astimezone(UTC).isoformat()
    return text.removesuffix("+00:00") + "Z"
