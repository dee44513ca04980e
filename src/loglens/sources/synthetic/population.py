"""The stable cast of the synthetic network: internal hosts, users, services and web visitors.

The population depends on the seed only (not on days or rate), so that runs of different
lengths describe the same organisation.
"""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from loglens.sources.synthetic import catalog

# Infrastructure with fixed addresses; the DMZ (10.0.2.0/24) faces the internet
SERVERS: dict[str, str] = {
    "gw01": "10.0.0.1",
    "dc01": "10.0.0.10",
    "fs01": "10.0.0.20",
    "ns01": "10.0.0.53",
    "web01": "10.0.2.10",
    "bastion01": "10.0.2.22",
    "mail01": "10.0.2.25",
    "db01": "10.0.3.5",
    "build01": "10.0.3.12",
}
# The web shop's server: it writes the access log (web/<host>/access.log)
WEB_HOST = "web01"
# Hosts whose auth log is collected into auth/auth.log (a central rsyslog file)
SYSLOG_HOSTS: tuple[str, ...] = ("web01", "bastion01", "mail01", "db01", "build01")
# What answers a SYN on each host; everything else is closed (RST) or filtered
OPEN_PORTS: dict[str, frozenset[int]] = {
    "web01": frozenset({22, 80, 443}),
    "bastion01": frozenset({22}),
    "mail01": frozenset({22, 25, 587, 993}),
    "ns01": frozenset({53}),
    "dc01": frozenset({53, 88, 135, 389, 445, 636}),
    "fs01": frozenset({22, 139, 445}),
    "db01": frozenset({22, 5432}),
    "build01": frozenset({22, 8080}),
    "gw01": frozenset({22, 443}),
}

BROWSER, CRAWLER, TOOL = 0, 1, 2
STAFF_UID_BASE, SERVICE_UID_BASE = 1001, 1101


@dataclass(frozen=True)
class User:
    """A local account that logs in to the servers."""

    name: str
    uid: int
    admin: bool
    workstation: str
    key_fingerprint: str

    @property
    def automated(self) -> bool:
        """A service account (deployment, configuration management) rather than a person."""
        return self.uid >= SERVICE_UID_BASE


@dataclass(frozen=True)
class Visitors:
    """Clients of the public web site, with popularity weights (sum 1) and fixed agents."""

    ips: NDArray[np.object_]
    weights: NDArray[np.float64]
    agents: NDArray[np.object_]
    kinds: NDArray[np.int8]
    http2: NDArray[np.bool_]


@dataclass(frozen=True)
class Population:
    """Everyone and everything that appears in the baseline traffic."""

    clients: tuple[str, ...]
    client_weights: NDArray[np.float64]
    users: tuple[User, ...]
    domain_ips: tuple[tuple[str, ...], ...]
    domain_ipv6: tuple[str, ...]
    visitors: Visitors
    ntp_servers: tuple[str, ...]
    mail_peers: tuple[str, ...]
    noise_sources: tuple[str, ...]
    monitors: tuple[str, ...]
    taken: frozenset[str] = field(repr=False)

    @property
    def admins(self) -> tuple[User, ...]:
        return tuple(u for u in self.users if u.admin)

    def user(self, name: str) -> User:
        return next(u for u in self.users if u.name == name)

    def fresh_public_ips(self, rng: np.random.Generator, n: int) -> list[str]:
        """Public addresses that the baseline never uses (attackers, exfiltration sinks)."""
        return public_ips(rng, n, avoid=self.taken)


def public_ips(rng: np.random.Generator, n: int, avoid: Iterable[str] = ()) -> list[str]:
    """Distinct random globally-routable IPv4 addresses (never contacted, only written)."""
    seen = set(avoid)
    found: list[str] = []
    while len(found) < n:
        for value in rng.integers(0x01000000, 0xDF000000, 2 * (n - len(found)) + 8).tolist():
            address = ipaddress.IPv4Address(value)
            text = str(address)
            if address.is_global and value & 0xFF not in (0, 255) and text not in seen:
                seen.add(text)
                found.append(text)
                if len(found) == n:
                    break
    return found


def build_population(rng: np.random.Generator) -> Population:
    """A seeded organisation: 40–80 workstations, staff, services and a web audience."""
    n_clients = int(rng.integers(40, 81))
    hosts = rng.choice(np.arange(20, 250), size=n_clients, replace=False)
    clients = tuple(f"10.0.{1 if i % 3 else 4}.{h}" for i, h in enumerate(hosts.tolist()))
    # Some people are busier than others on the network
    client_weights = rng.lognormal(0.0, 0.6, n_clients)
    client_weights /= client_weights.sum()

    users = _users(rng, clients)
    domain_ips = tuple(
        tuple(public_ips(rng, int(rng.integers(1, 4)))) for _ in range(len(catalog.DOMAINS))
    )
    domain_ipv6 = tuple(
        f"2a0{rng.integers(0, 10)}:{rng.integers(0x1000, 0xFFFF):x}:{rng.integers(1, 0xFFFF):x}"
        f"::{rng.integers(1, 0xFFFF):x}"
        for _ in catalog.DOMAINS
    )
    ntp_servers = tuple(public_ips(rng, 4))
    mail_peers = tuple(public_ips(rng, 12))
    noise_sources = tuple(public_ips(rng, 400))
    monitors = tuple(public_ips(rng, 2))
    visitors = _visitors(rng, clients)
    taken = frozenset(
        [*clients, *SERVERS.values(), *ntp_servers, *mail_peers, *noise_sources, *monitors]
        + [ip for ips in domain_ips for ip in ips]
        + [str(ip) for ip in visitors.ips.tolist()]
    )
    return Population(
        clients=clients,
        client_weights=client_weights,
        users=users,
        domain_ips=domain_ips,
        domain_ipv6=domain_ipv6,
        visitors=visitors,
        ntp_servers=ntp_servers,
        mail_peers=mail_peers,
        noise_sources=noise_sources,
        monitors=monitors,
        taken=taken,
    )


def _fingerprint(rng: np.random.Generator) -> str:
    raw = rng.integers(0, 256, 32, dtype=np.uint8).tobytes()
    return "SHA256:" + base64.b64encode(raw).decode().rstrip("=")


def _users(rng: np.random.Generator, clients: tuple[str, ...]) -> tuple[User, ...]:
    staff = [
        User(name, STAFF_UID_BASE + i, admin, clients[i], _fingerprint(rng))
        for i, (name, admin) in enumerate(catalog.STAFF)
    ]
    automation = [
        User(name, SERVICE_UID_BASE + i, True, SERVERS["build01"], _fingerprint(rng))
        for i, name in enumerate(catalog.SERVICE_ACCOUNTS)
    ]
    return (*staff, *automation)


def _visitors(rng: np.random.Generator, clients: tuple[str, ...]) -> Visitors:
    """External browsers (Zipf-like popularity), crawlers, scripts and some staff."""
    n_external = 3000
    external = public_ips(rng, n_external, avoid=clients)
    ranks = rng.permutation(n_external) + 1
    zipf = 1.0 / (ranks + 4.0) ** 1.05
    browser_agents = [a for a, _ in catalog.BROWSER_AGENTS]
    browser_share = np.asarray([s for _, s in catalog.BROWSER_AGENTS])
    ips: list[str] = list(external)
    weights: list[float] = (0.78 * zipf / zipf.sum()).tolist()
    agents: list[str] = rng.choice(
        browser_agents, n_external, p=browser_share / browser_share.sum()
    ).tolist()
    kinds: list[int] = [BROWSER] * n_external

    staff_weights = rng.lognormal(0.0, 0.5, len(clients))
    ips += clients
    weights += (0.06 * staff_weights / staff_weights.sum()).tolist()
    agents += rng.choice(browser_agents[:7], len(clients)).tolist()
    kinds += [BROWSER] * len(clients)

    for crawler in catalog.CRAWLERS:
        n = int(rng.integers(3, 9))
        nets = rng.choice(crawler.networks, n)
        hosts = rng.choice(np.arange(1, 255), n, replace=False)
        ips += [f"{net}.{host}" for net, host in zip(nets.tolist(), hosts.tolist(), strict=True)]
        weights += [0.14 * crawler.share / n] * n
        agents += [crawler.agent] * n
        kinds += [CRAWLER] * n

    tool_ips = public_ips(rng, 12, avoid=ips)
    ips += tool_ips
    weights += [0.02 / len(tool_ips)] * len(tool_ips)
    agents += rng.choice(catalog.TOOL_AGENTS, len(tool_ips)).tolist()
    kinds += [TOOL] * len(tool_ips)

    kind_array = np.asarray(kinds, dtype=np.int8)
    weight_array = np.asarray(weights, dtype=np.float64)
    return Visitors(
        ips=np.asarray(ips, dtype=object),
        weights=weight_array / weight_array.sum(),
        agents=np.asarray(agents, dtype=object),
        kinds=kind_array,
        http2=(kind_array == BROWSER) & (rng.random(len(ips)) < 0.6),
    )
