"""Synthetic multi-source traffic with labelled incidents, written in native log formats.

``generate`` writes several days of a small organisation's logs — an Apache access log, a
central auth.log, Zeek conn/dns logs and Suricata EVE alerts — plus ``labels.json``, the ground
truth of the incidents injected into them. ``write_web_access`` writes a large web access log
for benchmarks. Output is deterministic: the same arguments give byte-identical files.

Layout of ``out_dir``::

    web/web01/access.log  Apache combined             (event.dataset apache.access; the
                          folder names the server: ingest with host_from_path=HOST_FROM_PATH)
    auth/auth.log         RFC 3164 syslog, year-less  (system.auth; mtime = end of period)
    zeek/conn.log         Zeek TSV with header block  (zeek.conn)
    zeek/dns.log          Zeek TSV with header block  (zeek.dns)
    suricata/eve.json     Suricata EVE NDJSON alerts  (suricata.eve)
    labels.json           generator options and incidents
"""

from __future__ import annotations

import json
import math
import os
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from loglens.errors import GenerateError
from loglens.sources.synthetic import alerts, auth, network, web
from loglens.sources.synthetic.clock import Period, iso_z, to_us
from loglens.sources.synthetic.formats import apache_lines, ecs_web_lines
from loglens.sources.synthetic.incidents import Context, Traffic, build, schedule
from loglens.sources.synthetic.model import (
    DATASETS,
    INCIDENT_KINDS,
    GeneratedFile,
    GenerateResult,
    Incident,
)
from loglens.sources.synthetic.output import FILE_LAYOUT, HOST_FROM_PATH, LogWriter
from loglens.sources.synthetic.population import Population, build_population

__all__ = [
    "DATASETS",
    "FILE_LAYOUT",
    "HOST_FROM_PATH",
    "INCIDENT_KINDS",
    "GenerateResult",
    "GeneratedFile",
    "Incident",
    "generate",
    "write_web_access",
]

LABELS_VERSION = 1
MAX_DAYS = 366
MAX_RATE = 20.0  # about 1.5 million events a day; memory holds one day
WEB_FORMATS = ("apache", "ecs-json")


def _rng(seed: int, stream: str) -> np.random.Generator:
    """An independent generator per stream, so that e.g. the population does not depend on
    how many days are generated."""
    return np.random.default_rng([seed, zlib.crc32(stream.encode())])


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise GenerateError(f"seed must be a non-negative integer, got {seed!r}")
    return seed


def _check_days(days: int) -> int:
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        raise GenerateError(f"days must be an integer from 1 to {MAX_DAYS}, got {days!r}")
    return days


def _check_rate(rate: float) -> float:
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not math.isfinite(rate):
        raise GenerateError(f"rate must be a number, got {rate!r}")
    if not 0 < rate <= MAX_RATE:
        raise GenerateError(f"rate must be > 0 and at most {MAX_RATE:g}, got {rate!r}")
    return float(rate)


def _check_start(start: datetime | None, days: int) -> datetime:
    if start is None:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return today - timedelta(days=days)
    if not isinstance(start, datetime):
        raise GenerateError(f"start must be a datetime, got {start!r}")
    if start.tzinfo is None or start.utcoffset() is None:
        raise GenerateError(f"start must be timezone-aware (UTC), got naive {start.isoformat()}")
    return start.astimezone(UTC)


def _check_kinds(kinds: Sequence[str] | None) -> list[str]:
    if kinds is None:
        return list(INCIDENT_KINDS)
    if isinstance(kinds, str):
        raise GenerateError(f"incidents must be a list of kinds, not the string {kinds!r}")
    unknown = [k for k in kinds if k not in INCIDENT_KINDS]
    if unknown:
        raise GenerateError(
            f"incidents: unknown kind(s) {', '.join(map(repr, unknown))}; "
            f"known kinds are {', '.join(INCIDENT_KINDS)}"
        )
    return list(kinds)


def _out_dir(out_dir: Path) -> Path:
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise GenerateError("out_dir exists and is not a directory", location=str(path))
    try:
        for relative in FILE_LAYOUT.values():
            (path / relative).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GenerateError(
            f"cannot create output directory: {exc.strerror}", location=str(path)
        ) from exc
    return path


def generate(
    out_dir: Path,
    *,
    days: int = 7,
    seed: int = 0,
    rate: float = 1.0,
    start: datetime | None = None,
    incidents: Sequence[str] | None = None,
) -> GenerateResult:
    """Write ``days`` days of multi-source traffic with labelled incidents into ``out_dir``.

    Args:
        out_dir: Directory to write into (created if missing; existing files are replaced).
        days: Length of the period, 1 to 366 days.
        seed: Seed of all randomness; same arguments give byte-identical files.
        rate: Multiplier on all baseline volumes (incident volumes stay fixed), > 0.
        start: Start of the period, tz-aware; default midnight UTC ``days`` days ago, so the
            data ends today.
        incidents: Kinds to inject, each once per mention (see ``INCIDENT_KINDS``); None means
            every kind once, an empty list none.

    Returns:
        The files written, the period and the incidents (also in ``labels.json``).

    Raises:
        GenerateError: on an invalid option, too many incidents for the period, or a
            directory that cannot be written.
    """
    days = _check_days(days)
    seed, rate = _check_seed(seed), _check_rate(rate)
    period = Period(_check_start(start, days), days)
    kinds = _check_kinds(incidents)
    root = _out_dir(out_dir)

    pop = build_population(_rng(seed, "population"))
    slots = schedule(kinds, period, _rng(seed, "schedule"))
    ctx = Context(pop, _rng(seed, "incidents"))
    labels: list[Incident] = []
    try:
        # One day at a time keeps memory flat however long the period is
        with LogWriter(root, period) as writer:
            for day in range(days):
                today = Period(period.start + timedelta(days=day), 1)
                traffic = _baseline(pop, today, rate, seed, day)
                for slot in slots:
                    if today.start_us <= slot.start_us < today.end_us:
                        incident_id = f"inc-{len(labels) + 1:02d}"
                        labels.append(build(slot, incident_id, ctx, traffic))
                writer.write(traffic, until_us=today.end_us)
    except OSError as exc:
        raise GenerateError(f"cannot write logs: {exc.strerror}", location=exc.filename) from exc
    _write_labels(root / "labels.json", period, days, seed, rate, labels)
    files = [GeneratedFile(writer.paths[d], d, writer.counts[d]) for d in DATASETS]
    end = to_us(period.end) / 1e6
    for file in files:
        os.utime(file.path, (end, end))  # year-less syslog readers take the year from here
    return GenerateResult(root, period.start, period.end, files, labels)


def _baseline(pop: Population, period: Period, rate: float, seed: int, day: int) -> Traffic:
    """Normal traffic of every source on one day, each from its own random stream."""

    def rng(stream: str) -> np.random.Generator:
        return _rng(seed, f"{stream}/{day}")

    traffic = Traffic()
    traffic.web.append(web.baseline(pop, period, rate, rng("web")))
    auth_lines, ssh_conns = auth.baseline(pop, period, rate, rng("auth"))
    traffic.auth.append(auth_lines)
    dns, dns_conns, resolved = network.dns_baseline(pop, period, rate, rng("dns"))
    traffic.dns.append(dns)
    noise = network.internet_noise(pop, period, rate, rng("noise"))
    alert_rng = rng("alerts")
    apt_alerts, apt_conns = alerts.package_updates(pop, period, alert_rng)
    traffic.conn += [
        dns_conns,
        ssh_conns,
        network.outbound_web(pop, resolved, rng("outbound")),
        *network.service_baseline(pop, period, rate, rng("services")),
        noise,
        apt_conns,
    ]
    traffic.alerts += [*alerts.background(noise, alert_rng), *apt_alerts]
    return traffic


def _write_labels(
    path: Path, period: Period, days: int, seed: int, rate: float, labels: list[Incident]
) -> None:
    document = {
        "generator": {
            "version": LABELS_VERSION,
            "days": days,
            "seed": seed,
            "rate": rate,
            "start": iso_z(period.start),
            "end": iso_z(period.end),
        },
        "incidents": [incident.to_json() for incident in labels],
    }
    try:
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise GenerateError(f"cannot write labels: {exc.strerror}", location=str(path)) from exc


def write_web_access(
    path: Path,
    n_events: int,
    *,
    seed: int = 0,
    fmt: str = "apache",
    start: datetime | None = None,
) -> int:
    """Write exactly ``n_events`` web access events to ``path`` (for ingest benchmarks).

    Events follow the shop's daily and weekly profile over about a week from ``start``, and are
    written in day-sized chunks, so memory stays small for millions of events.

    Args:
        path: File to write (replaced if it exists).
        n_events: Number of events (lines), >= 0.
        seed: Seed of all randomness.
        fmt: ``"apache"`` (Apache combined lines) or ``"ecs-json"`` (one nested ECS document
            per line, ``event.dataset`` ``apache.access``).
        start: First day, tz-aware; default midnight UTC seven days ago.

    Returns:
        The number of events written.

    Raises:
        GenerateError: on an invalid option or an unwritable path.
    """
    if isinstance(n_events, bool) or not isinstance(n_events, int) or n_events < 0:
        raise GenerateError(f"n_events must be a non-negative integer, got {n_events!r}")
    if fmt not in WEB_FORMATS:
        raise GenerateError(f"fmt must be one of {', '.join(WEB_FORMATS)}, got {fmt!r}")
    seed = _check_seed(seed)
    first_day = _check_start(start, 7)
    lines = apache_lines if fmt == "apache" else ecs_web_lines
    pop = build_population(_rng(seed, "population"))
    target = Path(path)
    try:
        with target.open("wb") as handle:
            return web.write_access(
                handle,
                n_events,
                start=first_day,
                lines=lines,
                pop=pop,
                rng=_rng(seed, "web-access"),
            )
    except OSError as exc:
        raise GenerateError(
            f"cannot write web access log: {exc.strerror}", location=str(target)
        ) from exc
