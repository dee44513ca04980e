"""Injected incidents: when they happen (scheduling) and what each one adds to the logs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from loglens.errors import GenerateError
from loglens.sources.synthetic import alerts, auth, catalog, network, web
from loglens.sources.synthetic.clock import DAY_US, HOUR_US, MINUTE_US, US, Period, from_us
from loglens.sources.synthetic.formats import Alert
from loglens.sources.synthetic.model import Incident
from loglens.sources.synthetic.population import SERVERS, SYSLOG_HOSTS, WEB_HOST, Population

# Window length in minutes (min, max) per kind
DURATIONS: dict[str, tuple[int, int]] = {
    "port_scan": (3, 10),
    "ssh_brute_force": (20, 60),
    "exfiltration": (45, 90),
    "dns_tunnelling": (30, 90),
    "web_scan": (10, 30),
    "outage": (60, 180),
    "new_event_type": (30, 60),
}
GAP_US = 30 * MINUTE_US  # quiet time between incidents, so each window stands alone
WORKDAY_HOURS = (9, 18)  # an outage is only noticed when people work


@dataclass(frozen=True)
class Slot:
    """A scheduled incident window ``[start_us, end_us)``."""

    kind: str
    start_us: int
    end_us: int


@dataclass
class Traffic:
    """Everything generated so far, per dataset; ``gaps`` are windows a source stays silent."""

    web: list[pa.Table] = field(default_factory=list)
    auth: list[pa.Table] = field(default_factory=list)
    conn: list[pa.Table] = field(default_factory=list)
    dns: list[pa.Table] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    gaps: list[tuple[str, int, int]] = field(default_factory=list)


def schedule(kinds: Sequence[str], period: Period, rng: np.random.Generator) -> list[Slot]:
    """Non-overlapping windows at seeded random times after the first day (the baseline).

    Raises:
        GenerateError: when the period is too short for the requested incidents.
    """
    baseline_end = period.start_us + (DAY_US if period.days >= 2 else DAY_US // 4)
    placed: list[Slot] = []
    # Place the most constrained kind first: an outage must fall within working hours
    for kind in sorted(kinds, key=lambda k: k != "outage"):
        low, high = DURATIONS[kind]
        for _ in range(5000):
            length = int(rng.integers(low, high + 1)) * MINUTE_US
            latest = period.end_us - length - 5 * MINUTE_US
            if latest <= baseline_end:
                continue
            start = int(rng.integers(baseline_end, latest))
            start -= start % US
            if kind == "outage" and not _within_workday(start, start + length):
                continue
            if all(
                start >= s.end_us + GAP_US or start + length + GAP_US <= s.start_us for s in placed
            ):
                placed.append(Slot(kind, start, start + length))
                break
        else:
            raise GenerateError(
                f"cannot place {len(kinds)} incident(s) ({', '.join(kinds)}) in {period.days} "
                "day(s) without overlap; raise days or request fewer incidents"
            )
    return sorted(placed, key=lambda s: s.start_us)


def _within_workday(start_us: int, end_us: int) -> bool:
    day_start = start_us - start_us % DAY_US
    first, last = WORKDAY_HOURS
    return day_start + first * HOUR_US <= start_us and end_us <= day_start + last * HOUR_US


@dataclass
class Context:
    """What incident builders share: the population, a seeded generator, hosts already used."""

    pop: Population
    rng: np.random.Generator
    used: set[str] = field(default_factory=set)

    def workstation(self) -> str:
        """An internal client not yet involved in another incident."""
        free = [c for c in self.pop.clients if c not in self.used]
        host = str(self.rng.choice(free))
        self.used.add(host)
        return host

    def outsider(self) -> str:
        ip = self.pop.fresh_public_ips(self.rng, 1)[0]
        while ip in self.used:
            ip = self.pop.fresh_public_ips(self.rng, 1)[0]
        self.used.add(ip)
        return ip


Built = tuple[dict[str, list[str]], list[str], str]  # entities, datasets, description


def build(slot: Slot, incident_id: str, ctx: Context, traffic: Traffic) -> Incident:
    """Add one incident's events to ``traffic`` and return its label."""
    entities, datasets, description = BUILDERS[slot.kind](slot, ctx, traffic)
    return Incident(
        id=incident_id,
        kind=slot.kind,
        start=from_us(slot.start_us),
        end=from_us(slot.end_us),
        entities=entities,
        datasets=datasets,
        description=description,
    )


def _minutes(slot: Slot) -> int:
    return (slot.end_us - slot.start_us) // MINUTE_US


def _port_scan(slot: Slot, ctx: Context, traffic: Traffic) -> Built:
    rng = ctx.rng
    inbound = rng.random() < 0.7
    if inbound:
        scanner = ctx.outsider()
        pool = [SERVERS[h] for h in ("web01", "bastion01", "mail01")]
    else:
        scanner = ctx.workstation()
        pool = [ip for name, ip in SERVERS.items() if name != "gw01"]
    targets = sorted(str(t) for t in rng.choice(pool, int(rng.integers(1, 4)), replace=False))
    conns, ports = network.port_scan(scanner, targets, slot.start_us, slot.end_us, rng)
    traffic.conn.append(conns)
    traffic.alerts += alerts.port_scan(conns, inbound, rng)
    where = "from the internet" if inbound else "from inside the network"
    description = (
        f"{scanner} ({where}) SYN-scanned {len(ports)} TCP ports on {', '.join(targets)} "
        f"within {_minutes(slot)} minutes."
    )
    entities = {"source.ip": [scanner], "destination.ip": targets}
    return entities, ["zeek.conn", "suricata.eve"], description


def _ssh_brute_force(slot: Slot, ctx: Context, traffic: Traffic) -> Built:
    attacker = ctx.outsider()
    log, failures, victim = auth.brute_force(ctx.pop, attacker, slot.start_us, slot.end_us, ctx.rng)
    conns = log.connections()
    traffic.auth.append(log.table())
    traffic.conn.append(conns)
    traffic.alerts += alerts.ssh_scan(conns, ctx.rng)
    host = auth.BRUTE_FORCE_TARGET
    outcome = f"and finally logged in as {victim}" if victim else "without success"
    description = (
        f"{attacker} guessed {failures} SSH passwords against {host} over "
        f"{conns.num_rows} connections in {_minutes(slot)} minutes, {outcome}."
    )
    entities = {
        "source.ip": [attacker],
        "destination.ip": [SERVERS[host]],
        "destination.port": ["22"],
        "host.name": [host],
    }
    if victim:
        entities["user.name"] = [victim]
    return entities, ["system.auth", "zeek.conn", "suricata.eve"], description


def _exfiltration(slot: Slot, ctx: Context, traffic: Traffic) -> Built:
    host, sink = ctx.workstation(), ctx.outsider()
    domain = str(ctx.rng.choice(catalog.EXFIL_DOMAINS))
    dns, dns_conn = network.lookups(
        ctx.rng, np.asarray([slot.start_us + US]), host, domain, 1, answers=sink, ttls="60.000000"
    )
    conns = network.exfiltration(host, sink, slot.start_us + 5 * US, slot.end_us, ctx.rng)
    traffic.dns.append(dns)
    traffic.conn += [dns_conn, conns]
    total = sum(conns.column("orig_bytes").to_pylist())
    description = (
        f"{host} uploaded {total / 1e9:.2f} GB over TLS to {sink} ({domain}) in "
        f"{conns.num_rows} connections within {_minutes(slot)} minutes, far above its usual volume."
    )
    entities = {"source.ip": [host], "destination.ip": [sink], "destination.port": ["443"]}
    return entities, ["zeek.conn"], description


def _dns_tunnelling(slot: Slot, ctx: Context, traffic: Traffic) -> Built:
    host = ctx.workstation()
    zone, registered = catalog.TUNNEL_ZONES[int(ctx.rng.integers(0, len(catalog.TUNNEL_ZONES)))]
    dns, conns = network.tunnel_queries(host, zone, slot.start_us, slot.end_us, ctx.rng)
    traffic.dns.append(dns)
    traffic.conn.append(conns)
    description = (
        f"{host} sent {dns.num_rows} DNS queries with long random labels (mostly TXT) under "
        f"{zone} within {_minutes(slot)} minutes: data tunnelled through DNS."
    )
    entities = {
        "source.ip": [host],
        "destination.ip": [network.RESOLVER],
        "dns.question.registered_domain": [registered],
    }
    return entities, ["zeek.dns", "zeek.conn"], description


def _web_scan(slot: Slot, ctx: Context, traffic: Traffic) -> Built:
    scanner = ctx.outsider()
    requests, paths = web.web_scan(scanner, slot.start_us, slot.end_us, ctx.rng)
    server = SERVERS[WEB_HOST]
    conns = network.http_sessions(scanner, server, 80, requests.column("ts").to_numpy(), ctx.rng)
    traffic.web.append(requests)
    traffic.conn.append(conns)
    traffic.alerts += alerts.web_scan(requests, conns, ctx.rng)
    description = (
        f"{scanner} ran the Nikto web scanner against {WEB_HOST}: {requests.num_rows} requests for "
        f"{len(paths)} distinct probe paths such as {paths[0]} within {_minutes(slot)} minutes, "
        "nearly all answered 404."
    )
    entities = {
        "source.ip": [scanner],
        "destination.ip": [server],
        "host.name": [WEB_HOST],
        "url.path": paths[:10],
    }
    return entities, ["apache.access", "zeek.conn", "suricata.eve"], description


def _outage(slot: Slot, ctx: Context, traffic: Traffic) -> Built:
    traffic.gaps.append(("apache.access", slot.start_us, slot.end_us))
    hours, minutes = divmod(_minutes(slot), 60)
    description = (
        f"{WEB_HOST} wrote no access log lines for {hours} h {minutes:02d} min during working "
        "hours (web server or log shipping down) while its traffic continued."
    )
    return {"host.name": [WEB_HOST]}, ["apache.access"], description


def _new_event_type(slot: Slot, ctx: Context, traffic: Traffic) -> Built:
    rng = ctx.rng
    host = str(rng.choice([h for h in SYSLOG_HOSTS if h != auth.BRUTE_FORCE_TARGET]))
    name = str(rng.choice(catalog.BACKDOOR_NAMES))
    server = ctx.outsider()
    traffic.auth.append(auth.backdoor_account(ctx.pop, host, name, slot.start_us, rng).table())
    first = slot.start_us + 12 * MINUTE_US
    dns, dns_conn = network.lookups(
        rng,
        np.asarray([first - 20 * US]),
        SERVERS[host],
        catalog.IRC_DOMAIN,
        1,
        answers=server,
        ttls="300.000000",
    )
    conns = network.irc_sessions(SERVERS[host], server, first, slot.end_us, rng)
    traffic.dns.append(dns)
    traffic.conn += [dns_conn, conns]
    traffic.alerts += alerts.irc(conns, rng)
    description = (
        f"Never seen before: a local account '{name}' was created on {host} (useradd, added to "
        f"group sudo, used for root commands), then {host} connected to IRC at {server}:6667 "
        "(service irc) — neither event type occurs in the baseline."
    )
    entities = {
        "host.name": [host],
        "user.name": [name],
        "source.ip": [SERVERS[host]],
        "destination.ip": [server],
        "destination.port": ["6667"],
    }
    return entities, ["system.auth", "zeek.conn", "suricata.eve"], description


BUILDERS: dict[str, Callable[[Slot, Context, Traffic], Built]] = {
    "port_scan": _port_scan,
    "ssh_brute_force": _ssh_brute_force,
    "exfiltration": _exfiltration,
    "dns_tunnelling": _dns_tunnelling,
    "web_scan": _web_scan,
    "outage": _outage,
    "new_event_type": _new_event_type,
}
