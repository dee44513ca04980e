"""Suricata alerts: what an IDS with the ET Open ruleset says about the generated flows.

Alerts are derived from the same conn rows and web requests that Zeek and Apache log, so ports,
flow sizes and times agree across the sources. Rules with thresholds fire once per window.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loglens.sources.synthetic import catalog, clock, network
from loglens.sources.synthetic.catalog import Signature
from loglens.sources.synthetic.clock import DAY_US, HOUR_US, MINUTE_US, US, Period
from loglens.sources.synthetic.formats import Alert
from loglens.sources.synthetic.population import SERVERS, SYSLOG_HOSTS, Population

APT_AGENT = "Debian APT-HTTP/1.3 (2.4.11)"


def _flow_id(rng: np.random.Generator) -> int:
    return int(rng.integers(10**14, 2**51))


def _flow(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "pkts_toserver": row["orig_pkts"],
        "pkts_toclient": row["resp_pkts"],
        "bytes_toserver": row["orig_ip_bytes"],
        "bytes_toclient": row["resp_ip_bytes"],
        "start": clock.eve_time(row["ts"]),
    }


def from_conn(
    row: dict[str, Any],
    signature: Signature,
    rng: np.random.Generator,
    delay_us: int = 0,
    **extra: Any,
) -> Alert:
    """An alert on the flow of one conn.log row."""
    return Alert(
        ts=row["ts"] + delay_us,
        flow_id=_flow_id(rng),
        src_ip=row["orig_h"],
        src_port=row["orig_p"],
        dest_ip=row["resp_h"],
        dest_port=row["resp_p"],
        proto=row["proto"].upper(),
        signature=signature,
        flow=_flow(row),
        **extra,
    )


def _once_per(rows: list[dict[str, Any]], window_us: int, count: int) -> list[int]:
    """Indices of the (time-sorted) rows at which a rule with ``threshold: type both, count N,
    seconds S`` fires: the N-th match of each window."""
    fired, bucket, seen = [], None, 0
    for i, row in enumerate(rows):
        key = row["ts"] // window_us
        seen = seen + 1 if key == bucket else 1
        bucket = key
        if seen == count:
            fired.append(i)
    return fired


def _sorted_rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.sort_by("ts").to_pylist()  # type: ignore[no-any-return]


def port_scan(conns: pa.Table, inbound: bool, rng: np.random.Generator) -> list[Alert]:
    """NMAP SYN-scan alerts once a minute per target, plus per-port rules for inbound scans."""
    rows = _sorted_rows(conns)
    alerts = []
    for target in sorted({r["resp_h"] for r in rows}):
        mine = [r for r in rows if r["resp_h"] == target]
        alerts += [
            from_conn(mine[i], catalog.SIG_NMAP_SYN, rng) for i in _once_per(mine, MINUTE_US, 1)
        ]
    if inbound:
        alerts += [
            from_conn(r, catalog.PORT_SIGNATURES[r["resp_p"]], rng)
            for r in rows
            if r["resp_p"] in catalog.PORT_SIGNATURES
        ]
    return alerts


def ssh_scan(conns: pa.Table, rng: np.random.Generator) -> list[Alert]:
    """``ET SCAN Potential SSH Scan``: 5 new connections to port 22 within 120 s."""
    rows = [r for r in _sorted_rows(conns) if r["resp_p"] == 22]
    return [from_conn(rows[i], catalog.SIG_SSH_SCAN, rng) for i in _once_per(rows, 120 * US, 5)]


def web_scan(requests: pa.Table, conns: pa.Table, rng: np.random.Generator) -> list[Alert]:
    """Scanner user-agent alerts (threshold 5 a minute) and rules on the paths themselves;
    ``conns`` are the keep-alive connections from :func:`network.http_sessions`."""
    per_conn = network.REQUESTS_PER_CONNECTION
    rows = _sorted_rows(requests)
    carriers = conns.sort_by("ts").to_pylist()
    flow_ids = [_flow_id(rng) for _ in carriers]
    alerts: list[Alert] = []
    nikto = set(_once_per(rows, MINUTE_US, 5))
    for i, row in enumerate(rows):
        carrier = min(i // per_conn, len(carriers) - 1)
        conn = carriers[carrier]
        signatures = [sig for key, sig in catalog.PATH_SIGNATURES if key in row["target"]]
        if i in nikto:
            signatures.insert(0, catalog.SIG_NIKTO)
        alerts += [
            Alert(
                ts=row["ts"] + int(rng.integers(200, 5_000)),
                flow_id=flow_ids[carrier],
                src_ip=row["client"],
                src_port=conn["orig_p"],
                dest_ip=conn["resp_h"],
                dest_port=conn["resp_p"],
                proto="TCP",
                signature=sig,
                app_proto="http",
                flow=_flow(conn),
                http=_http(row, catalog.SITE_HOST),
            )
            for sig in signatures
        ]
    return alerts


def _http(row: dict[str, Any], hostname: str) -> dict[str, Any]:
    record: dict[str, Any] = {
        "hostname": hostname,
        "url": row["target"],
        "http_user_agent": row["agent"],
        "http_method": row["method"],
        "protocol": row["protocol"],
        "status": row["status"],
    }
    if row["bytes"] is not None:
        record["length"] = row["bytes"]
    return record


def irc(conns: pa.Table, rng: np.random.Generator) -> list[Alert]:
    """A client registering on IRC: NICK and USER at once, JOIN a few seconds later."""
    alerts = []
    for row in _sorted_rows(conns):
        alerts.append(from_conn(row, catalog.SIG_IRC_NICK, rng, delay_us=150_000))
        alerts.append(from_conn(row, catalog.SIG_IRC_USER, rng, delay_us=151_000))
        alerts.append(from_conn(row, catalog.SIG_IRC_JOIN, rng, delay_us=3 * US))
    return alerts


def background(noise: pa.Table, rng: np.random.Generator) -> list[Alert]:
    """Single inbound SYNs to database and VNC ports trip the ET SCAN port rules."""
    ports = list(catalog.PORT_SIGNATURES)
    hits = noise.filter(pc.is_in(noise.column("resp_p"), pa.array(ports)))
    return [from_conn(r, catalog.PORT_SIGNATURES[r["resp_p"]], rng) for r in _sorted_rows(hits)]


def package_updates(
    pop: Population, period: Period, rng: np.random.Generator
) -> tuple[list[Alert], pa.Table]:
    """Each server fetches package lists over plain HTTP every morning (the APT policy rule)."""
    names = [d.name for d in catalog.DOMAINS]
    mirror = pop.domain_ips[names.index("archive.ubuntu.com")][0]
    midnight = period.start_us - period.start_us % DAY_US
    days = midnight + np.arange(period.days) * DAY_US + 6 * HOUR_US + 25 * MINUTE_US
    hosts = [SERVERS[h] for h in SYSLOG_HOSTS]
    jitter = rng.integers(5 * US, 40 * MINUTE_US, len(days) * len(hosts))
    ts = np.repeat(days, len(hosts)) + jitter
    client = np.tile(np.asarray(hosts, dtype=object), len(days))
    conns = network.flows(
        rng,
        ts,
        client,
        mirror,
        80,
        proto="tcp",
        service="http",
        duration=rng.integers(300_000, 4 * US, len(ts)),
        orig_bytes=rng.integers(900, 2_000, len(ts)),
        resp_bytes=rng.integers(60_000, 3_000_000, len(ts)),
    )
    alerts = [
        from_conn(
            row,
            catalog.SIG_APT_AGENT,
            rng,
            delay_us=40_000,
            app_proto="http",
            http={
                "hostname": "archive.ubuntu.com",
                "url": "/ubuntu/dists/jammy-updates/InRelease",
                "http_user_agent": APT_AGENT,
                "http_method": "GET",
                "protocol": "HTTP/1.1",
                "status": 200,
                "length": 128_912,
            },
        )
        for row in _sorted_rows(conns)
    ]
    return alerts, conns
