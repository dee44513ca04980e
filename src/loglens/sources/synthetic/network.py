"""Zeek's view of the network: conn.log and dns.log rows for baseline traffic and incidents.

The sensor sits at the internet uplink and on the core switch, so it sees the workstations'
DNS, web and internal traffic, and inbound connections to the DMZ (10.0.2.0/24).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from loglens.sources.synthetic import catalog, clock
from loglens.sources.synthetic.clock import MINUTE_US, US, IntArray, Period
from loglens.sources.synthetic.formats import CONN_SCHEMA, DNS_SCHEMA, make_table, optional
from loglens.sources.synthetic.population import OPEN_PORTS, SERVERS, Population

_BASE62 = np.frombuffer(
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8
)
_HEADER = {"tcp": 52, "udp": 28}  # IP + transport header bytes per packet
RESOLVER = SERVERS["ns01"]
REQUESTS_PER_CONNECTION = 40  # HTTP keep-alive of a scanner
ObjArray = NDArray[np.object_]


def uids(rng: np.random.Generator, n: int) -> pa.Array:
    """Zeek connection uids: ``C`` and 17 base62 characters."""
    chars = np.empty((n, 18), dtype=np.uint8)
    chars[:, 0] = ord("C")
    chars[:, 1:] = _BASE62[rng.integers(0, 62, (n, 17))]
    return pa.array(chars.view("S18").ravel()).cast(pa.string())


def ephemeral_ports(rng: np.random.Generator, n: int) -> IntArray:
    return rng.integers(32768, 65536, n, dtype=np.int64)


def _broadcast(value: Any, n: int) -> NDArray[Any]:
    return np.broadcast_to(np.asarray(value), (n,))


def flows(
    rng: np.random.Generator,
    ts: IntArray,
    orig_h: Any,
    resp_h: Any,
    resp_p: Any,
    *,
    proto: str,
    service: str | None,
    duration: Any,
    orig_bytes: Any,
    resp_bytes: Any,
    state: Any = "SF",
    history: Any = None,
    orig_p: Any = None,
    uid: pa.Array | None = None,
) -> pa.Table:
    """Established connections that carried data; packets and IP bytes follow from the sizes."""
    n = len(ts)
    ob = _broadcast(orig_bytes, n).astype(np.int64)
    rb = _broadcast(resp_bytes, n).astype(np.int64)
    mtu = 1380 if proto == "tcp" else 1472
    extra = 3 if proto == "tcp" else 0  # handshake and teardown
    orig_pkts = np.maximum(1, -(-ob // mtu)) + extra
    resp_pkts = np.maximum(1, -(-rb // mtu)) + extra
    head = _HEADER[proto]
    if history is None:
        history = "ShADadFf" if proto == "tcp" else "Dd"
    return make_table(
        CONN_SCHEMA,
        ts=ts,
        uid=uid if uid is not None else uids(rng, n),
        orig_h=orig_h,
        orig_p=ephemeral_ports(rng, n) if orig_p is None else orig_p,
        resp_h=resp_h,
        resp_p=resp_p,
        proto=proto,
        service=service,
        duration=np.maximum(1, _broadcast(duration, n)).astype(np.int64),
        orig_bytes=ob,
        resp_bytes=rb,
        conn_state=state,
        history=history,
        orig_pkts=orig_pkts,
        orig_ip_bytes=ob + orig_pkts * head,
        resp_pkts=resp_pkts,
        resp_ip_bytes=rb + resp_pkts * head,
    )


# Connection attempts that never carried data: (history, orig pkts/ip bytes, resp pkts/ip bytes)
_ATTEMPTS: dict[str, tuple[str, int, int, int, int]] = {
    "S0": ("S", 1, 44, 0, 0),  # no answer (filtered)
    "REJ": ("Sr", 1, 44, 1, 40),  # closed: RST
    "RSTO": ("ShR", 2, 84, 1, 44),  # open: SYN-ACK, then the scanner resets
}


def attempts(
    rng: np.random.Generator,
    ts: IntArray,
    orig_h: Any,
    orig_p: Any,
    resp_h: Any,
    resp_p: Any,
    states: Sequence[str] | ObjArray,
) -> pa.Table:
    """SYNs that were dropped (S0), refused (REJ) or half-opened (RSTO)."""
    n = len(ts)
    state = np.asarray(states, dtype=object)
    table = {
        name: np.asarray([_ATTEMPTS[s][i] for s in state.tolist()])
        for i, name in enumerate(
            ("history", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes")
        )
    }
    single = state == "S0"
    # Zeek sets duration and byte counts only when the connection lasted longer than 0
    duration = rng.integers(20, 900, n)
    return make_table(
        CONN_SCHEMA,
        ts=ts,
        uid=uids(rng, n),
        orig_h=orig_h,
        orig_p=orig_p,
        resp_h=resp_h,
        resp_p=resp_p,
        proto="tcp",
        service=None,
        duration=optional(duration, ~single),
        orig_bytes=optional(np.zeros(n), ~single),
        resp_bytes=optional(np.zeros(n), ~single),
        conn_state=state,
        **table,
    )


# --- DNS ---------------------------------------------------------------------------------------


def lookups(
    rng: np.random.Generator,
    ts: IntArray,
    client: Any,
    query: Any,
    qtype: Any,
    *,
    rcode: Any = 0,
    answers: Any = None,
    ttls: Any = None,
    rtt: Any = None,
) -> tuple[pa.Table, pa.Table]:
    """dns.log rows and their conn.log twins (same uid), as Zeek writes for each UDP query."""
    n = len(ts)
    uid = uids(rng, n)
    port = ephemeral_ports(rng, n)
    if rtt is None:
        # Cached answers return in well under a millisecond, recursive ones take tens
        rtt = np.where(rng.random(n) < 0.6, rng.integers(150, 900, n), rng.lognormal(9.6, 0.6, n))
    rtt = np.asarray(rtt, dtype=np.int64)
    dns = make_table(
        DNS_SCHEMA,
        ts=ts,
        uid=uid,
        orig_h=client,
        orig_p=port,
        resp_h=RESOLVER,
        resp_p=53,
        proto="udp",
        trans_id=rng.integers(0, 65536, n),
        rtt=rtt,
        query=query,
        qtype=qtype,
        rcode=rcode,
        answers=answers,
        ttls=ttls,
    )
    q_len = pc.utf8_length(dns.column("query")).to_numpy()
    a_len = pc.utf8_length(dns.column("answers").fill_null("")).to_numpy()
    conn = flows(
        rng,
        ts,
        client,
        RESOLVER,
        53,
        proto="udp",
        service="dns",
        duration=rtt,
        orig_bytes=q_len + 18,
        resp_bytes=q_len + 18 + a_len,
        orig_p=port,
        uid=uid,
    )
    return dns, conn


def _answer_pools(pop: Population) -> tuple[ObjArray, ObjArray, ObjArray, ObjArray]:
    a = np.asarray([",".join(ips) for ips in pop.domain_ips], dtype=object)
    a_ttl = np.asarray(
        [
            ",".join([f"{d.ttl}.000000"] * len(ips))
            for d, ips in zip(catalog.DOMAINS, pop.domain_ips, strict=True)
        ],
        dtype=object,
    )
    aaaa = np.asarray(pop.domain_ipv6, dtype=object)
    aaaa_ttl = np.asarray([f"{d.ttl}.000000" for d in catalog.DOMAINS], dtype=object)
    return a, a_ttl, aaaa, aaaa_ttl


@dataclass(frozen=True)
class Resolved:
    """Who resolved which catalog domain when (index -1: not a catalog domain)."""

    ts: IntArray
    client: ObjArray
    domain: IntArray


def dns_baseline(
    pop: Population, period: Period, rate: float, rng: np.random.Generator
) -> tuple[pa.Table, pa.Table, Resolved]:
    """Workstation lookups: A/AAAA/HTTPS for popular names, a few NXDOMAINs and PTRs."""
    counts = clock.minute_counts(period, clock.OFFICE, 22.0 * rate, rng)
    ts = clock.spread(period.start_us, counts, rng)
    n = len(ts)
    weights = np.asarray([d.weight for d in catalog.DOMAINS])
    domain = rng.choice(len(catalog.DOMAINS), n, p=weights / weights.sum())
    names = np.asarray([d.name for d in catalog.DOMAINS], dtype=object)
    query = names[domain]
    client = np.asarray(pop.clients, dtype=object)[
        rng.choice(len(pop.clients), n, p=pop.client_weights)
    ]
    qtype = rng.choice([1, 28, 65], n, p=[0.6, 0.3, 0.1])
    a, a_ttl, aaaa, aaaa_ttl = _answer_pools(pop)
    answers, ttls = np.full(n, None, dtype=object), np.full(n, None, dtype=object)
    for code, values, lifetimes in ((1, a, a_ttl), (28, aaaa, aaaa_ttl)):
        asked = qtype == code
        answers[asked], ttls[asked] = values[domain[asked]], lifetimes[domain[asked]]
    rcode = np.zeros(n, dtype=np.int64)

    odd = rng.random(n)
    missing = odd < 0.02
    query[missing] = np.asarray(catalog.NXDOMAIN_NAMES, dtype=object)[
        rng.integers(0, len(catalog.NXDOMAIN_NAMES), int(missing.sum()))
    ]
    qtype[missing], rcode[missing], answers[missing], ttls[missing] = 1, 3, None, None
    reverse = (odd >= 0.02) & (odd < 0.03)
    servers = list(SERVERS.items())
    pick = rng.integers(0, len(servers), int(reverse.sum()))
    query[reverse] = [_ptr_name(servers[i][1]) for i in pick.tolist()]
    answers[reverse] = [f"{servers[i][0]}.{catalog.INTERNAL_ZONE}" for i in pick.tolist()]
    qtype[reverse], ttls[reverse] = 12, "3600.000000"
    domain[missing | reverse] = -1

    dns, conn = lookups(
        rng,
        ts,
        client,
        query,
        qtype,
        rcode=rcode,
        answers=pa.array(answers, type=pa.string()),
        ttls=pa.array(ttls, type=pa.string()),
    )
    return dns, conn, Resolved(ts, client, domain)


def _ptr_name(ip: str) -> str:
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"


# --- baseline connections ---------------------------------------------------------------------


def _lognormal_bytes(rng: np.random.Generator, n: int, median: float, sigma: float) -> IntArray:
    return np.maximum(1, rng.lognormal(np.log(median), sigma, n)).astype(np.int64)


def _seconds(rng: np.random.Generator, n: int, median: float, sigma: float) -> IntArray:
    return (rng.lognormal(np.log(median), sigma, n) * US).astype(np.int64)


def outbound_web(pop: Population, resolved: Resolved, rng: np.random.Generator) -> pa.Table:
    """HTTPS and HTTP sessions of workstations to the names they resolved a moment before."""
    follows = (resolved.domain >= 0) & (rng.random(len(resolved.ts)) < 0.6)
    m = int(follows.sum())
    ts = resolved.ts[follows] + rng.integers(2_000, 400_000, m)
    client = resolved.client[follows]
    domain = resolved.domain[follows]
    https = np.asarray([d.https for d in catalog.DOMAINS])[domain]
    first_ip = np.asarray([ips[0] for ips in pop.domain_ips], dtype=object)
    last_ip = np.asarray([ips[-1] for ips in pop.domain_ips], dtype=object)
    server = np.where(rng.random(m) < 0.5, first_ip[domain], last_ip[domain])
    state = np.where(rng.random(m) < 0.95, "SF", "RSTR")
    history = np.where(state == "SF", "ShADadFf", "ShADadr")
    return flows(
        rng,
        ts,
        client,
        server,
        np.where(https, 443, 80),
        proto="tcp",
        service=pa.array(np.where(https, "ssl", "http"), type=pa.string()),
        duration=_seconds(rng, m, 6.0, 1.4),
        orig_bytes=_lognormal_bytes(rng, m, 1_600, 0.9),
        resp_bytes=_lognormal_bytes(rng, m, 38_000, 1.6),
        state=state,
        history=history,
    )


@dataclass(frozen=True)
class Service:
    """One kind of baseline connection: who talks to whom, how often, how much."""

    profile: clock.Profile
    per_minute: float  # at the profile's peak, rate 1
    sources: tuple[str, ...]
    targets: tuple[str, ...]
    port: int
    proto: str
    service: str
    orig_bytes: float  # medians
    resp_bytes: float
    seconds: float
    sigma: float = 1.0


def _service_flows(period: Period, rate: float, svc: Service, rng: np.random.Generator) -> pa.Table:
    counts = clock.minute_counts(period, svc.profile, svc.per_minute * rate, rng)
    ts = clock.spread(period.start_us, counts, rng)
    n = len(ts)
    sources = np.asarray(svc.sources, dtype=object)[rng.integers(0, len(svc.sources), n)]
    return flows(
        rng,
        ts,
        sources,
        np.asarray(svc.targets, dtype=object)[rng.integers(0, len(svc.targets), n)],
        svc.port,
        proto=svc.proto,
        service=svc.service,
        duration=_seconds(rng, n, svc.seconds, 0.8),
        orig_bytes=_lognormal_bytes(rng, n, svc.orig_bytes, svc.sigma),
        resp_bytes=_lognormal_bytes(rng, n, svc.resp_bytes, svc.sigma),
        orig_p=np.full(n, 68) if svc.service == "dhcp" else None,
    )


def services(pop: Population) -> tuple[Service, ...]:
    """Directory and file services, mail, NTP, DHCP and the shop's inbound web sessions."""
    clients = pop.clients
    servers = tuple(ip for name, ip in SERVERS.items() if name != "gw01")
    visitors = tuple(str(ip) for ip in pop.visitors.ips.tolist() if not str(ip).startswith("10."))
    dc, fs, mail, web = (SERVERS[h] for h in ("dc01", "fs01", "mail01", "web01"))
    office, web_profile, server, flat = clock.OFFICE, clock.WEB, clock.SERVER, clock.FLAT
    # profile, peak/min, sources, targets, port, proto, service, median bytes out/in, seconds, σ
    return (
        Service(office, 2.5, clients, (dc,), 88, "udp", "krb", 1_500, 1_400, 0.004, 0.2),
        Service(office, 2.0, clients, (dc,), 389, "tcp", "ldap", 900, 3_200, 0.3, 0.6),
        Service(office, 3.0, clients, (fs,), 445, "tcp", "smb", 40_000, 350_000, 20.0, 1.8),
        Service(office, 0.8, clients, (mail,), 993, "tcp", "ssl", 2_500, 60_000, 30.0, 1.2),
        Service(office, 0.25, clients, (mail,), 587, "tcp", "smtp", 45_000, 900, 1.2, 1.3),
        Service(office, 0.35, (mail,), pop.mail_peers, 25, "tcp", "smtp", 38_000, 700, 1.5, 1.3),
        Service(server, 0.45, pop.mail_peers, (mail,), 25, "tcp", "smtp", 42_000, 650, 1.4, 1.3),
        Service(flat, 1.2, clients + servers, pop.ntp_servers, 123, "udp", "ntp", 48, 48, 0.025, 0),
        Service(office, 0.15, clients, (SERVERS["gw01"],), 67, "udp", "dhcp", 300, 300, 0.01, 0.05),
        Service(web_profile, 4.0, visitors, (web,), 443, "tcp", "ssl", 2_200, 120_000, 12.0, 1.4),
        Service(web_profile, 0.7, visitors, (web,), 80, "tcp", "http", 500, 450, 0.2, 0.3),
    )  # fmt: skip


def service_baseline(
    pop: Population, period: Period, rate: float, rng: np.random.Generator
) -> list[pa.Table]:
    """Connections of every baseline :class:`Service`."""
    return [_service_flows(period, rate, svc, rng) for svc in services(pop)]


def internet_noise(
    pop: Population, period: Period, rate: float, rng: np.random.Generator
) -> pa.Table:
    """Background radiation: single SYNs from all over the internet to the DMZ, mostly dropped."""
    counts = clock.minute_counts(period, clock.FLAT, 0.6 * rate, rng)
    ts = clock.spread(period.start_us, counts, rng)
    n = len(ts)
    # Telnet, SMB, RDP and web ports draw most probes; database and VNC ports fewer
    ports = np.asarray([23, 2323, 445, 3389, 8080, 8443, 22, 21, 6379, 1433, 3306, 5432, 5900])
    weights = np.asarray([8, 4, 6, 6, 4, 3, 5, 2, 2, 0.5, 0.5, 0.3, 0.4])
    dmz = [SERVERS[h] for h in ("web01", "bastion01", "mail01")]
    states = np.where(rng.random(n) < 0.8, "S0", "REJ")
    return attempts(
        rng,
        ts,
        np.asarray(pop.noise_sources, dtype=object)[rng.integers(0, 400, n)],
        ephemeral_ports(rng, n),
        np.asarray(dmz, dtype=object)[rng.integers(0, 3, n)],
        rng.choice(ports, n, p=weights / weights.sum()),
        states,
    )


# --- incidents --------------------------------------------------------------------------------


def port_scan(
    scanner: str, targets: Sequence[str], start_us: int, end_us: int, rng: np.random.Generator
) -> tuple[pa.Table, IntArray]:
    """A SYN scan of hundreds to thousands of ports per target. Returns conn rows and ports."""
    n_ports = int(rng.integers(400, 2001))
    ports = np.union1d(
        rng.choice(np.arange(1, 65536), n_ports, replace=False),
        [21, 22, 23, 25, 80, 443, 445, 1433, 3306, 3389, 5432, 5900, 8080],
    )
    names = {ip: name for name, ip in SERVERS.items()}
    parts = []
    source_ports = rng.integers(40000, 65000, 3)  # nmap reuses a few source ports
    for target in targets:
        open_ports = OPEN_PORTS.get(names.get(target, ""), frozenset())
        filtered = rng.uniform(0.2, 0.9)
        order = rng.permutation(ports)
        ts = np.sort(rng.integers(start_us, end_us, len(order), dtype=np.int64))
        is_open = np.isin(order, list(open_ports))
        states = np.where(is_open, "RSTO", np.where(rng.random(len(order)) < filtered, "S0", "REJ"))
        parts.append(
            attempts(
                rng,
                ts,
                scanner,
                source_ports[rng.integers(0, 3, len(order))],
                target,
                order,
                states,
            )
        )
    return pa.concat_tables(parts), ports


def exfiltration(
    host: str, sink: str, start_us: int, end_us: int, rng: np.random.Generator
) -> pa.Table:
    """Tens of TLS uploads summing to hundreds of MB or a few GB, all inside the window."""
    n = int(rng.integers(15, 51))
    total = rng.uniform(3e8, 2.2e9)
    sizes = (rng.dirichlet(np.full(n, 2.0)) * total).astype(np.int64)
    ts = np.sort(rng.integers(start_us, end_us - 10 * MINUTE_US, n, dtype=np.int64))
    speed = rng.uniform(4e6, 2e7, n)  # bytes per second
    duration = np.minimum((sizes / speed * US).astype(np.int64), end_us - ts - US)
    return flows(
        rng,
        ts,
        host,
        sink,
        443,
        proto="tcp",
        service="ssl",
        duration=duration,
        orig_bytes=sizes,
        resp_bytes=(sizes / rng.uniform(150, 400, n)).astype(np.int64),
    )


def tunnel_queries(
    host: str, zone: str, start_us: int, end_us: int, rng: np.random.Generator
) -> tuple[pa.Table, pa.Table]:
    """Thousands of long random-label queries under one zone (data encoded in the names)."""
    n = int(rng.integers(2000, 6001))
    ts = np.sort(rng.integers(start_us, end_us, n, dtype=np.int64))
    alphabet = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz234567", dtype=np.uint8)
    first = alphabet[rng.integers(0, 32, (n, 52))].view("S52").ravel().astype(str)
    second = alphabet[rng.integers(0, 32, (n, 30))].view("S30").ravel().astype(str)
    length = rng.integers(30, 53, n)
    queries = [
        f"{a[:k]}.{b}.{zone}"
        for a, b, k in zip(first.tolist(), second.tolist(), length.tolist(), strict=True)
    ]
    qtype = rng.choice([16, 10, 1], n, p=[0.7, 0.15, 0.15])
    payload = alphabet[rng.integers(0, 32, (n, 48))].view("S48").ravel().astype(str)
    # Zeek renders a TXT answer as "TXT <length> <text>"; NULL records have no printable answer
    answers = np.full(n, None, dtype=object)
    answers[qtype == 16] = ["TXT 48 " + p for p in payload[qtype == 16].tolist()]
    answers[qtype == 1] = "198.18.7.1"
    ttls = np.full(n, "0.000000", dtype=object)
    ttls[qtype == 10] = None
    return lookups(
        rng,
        ts,
        host,
        queries,
        qtype,
        answers=pa.array(answers, type=pa.string()),
        ttls=pa.array(ttls, type=pa.string()),
        rtt=rng.integers(30_000, 140_000, n),
    )


def irc_sessions(
    host: str, server: str, start_us: int, end_us: int, rng: np.random.Generator
) -> pa.Table:
    """A bot reconnecting to an IRC server on 6667 every few minutes."""
    n = int(rng.integers(5, 13))
    ts = np.sort(rng.integers(start_us, end_us - 6 * MINUTE_US, n, dtype=np.int64))
    return flows(
        rng,
        ts,
        host,
        server,
        6667,
        proto="tcp",
        service="irc",
        duration=rng.integers(60 * US, 300 * US, n),
        orig_bytes=rng.integers(400, 3_000, n),
        resp_bytes=rng.integers(2_000, 20_000, n),
    )


def http_sessions(
    client: str, server: str, port: int, request_ts: IntArray, rng: np.random.Generator
) -> pa.Table:
    """Keep-alive connections, each carrying the next ``REQUESTS_PER_CONNECTION`` requests."""
    per = REQUESTS_PER_CONNECTION
    starts = request_ts[::per]
    ends = np.append(request_ts[per - 1 :: per], request_ts[-1])[: len(starts)]
    requests = np.bincount(np.arange(len(request_ts)) // per)
    return flows(
        rng,
        starts,
        client,
        server,
        port,
        proto="tcp",
        service="http",
        duration=ends - starts + 200_000,
        orig_bytes=requests * 180,
        resp_bytes=requests * 420,
    )
