"""Normalisation that needs knowledge outside the record: event ids, locality, domains, pseudonyms.

Everything here works on *distinct values* (a few thousand addresses or domains per batch, not a
million lines): the pipeline asks the batch for its distinct values, these functions map them,
and the mapping is joined back in SQL.

- ``network.direction`` follows the configured internal CIDRs: inbound (external → internal),
  outbound (internal → external), internal, external. When a log names only the client (web and
  auth logs are written by the server itself), the client alone decides: external → inbound,
  internal → internal.
- Registered domains come from tldextract's bundled Public Suffix List snapshot, never fetched.
- Pseudonymisation is keyed: prefix-preserving Crypto-PAn for IPv4/IPv6 and HMAC-SHA256 for user
  and host names; the key comes from the environment. An unkeyed hash would be reversible (the
  IPv4 space is small), so there is none.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache

import pyarrow as pa

from loglens.errors import ConfigError

RECORD_SEPARATOR = "\x1f"


def event_id_sql(source_key: str, record_no: str = "record_no", raw: str = "raw") -> str:
    """SQL for the deterministic event id from the record number and raw text columns.

    The id is the MD5 of (source key, record number, raw record): the same input ingested twice
    gets the same ids, while two identical lines at different places stay two events. MD5 here is
    a fingerprint, not a security measure.
    """
    key = source_key.replace("'", "''")
    return f"md5('{key}' || chr(31) || CAST({record_no} AS VARCHAR) || chr(31) || {raw})"


class Locality:
    """Internal vs external addresses, from configured CIDR ranges."""

    def __init__(self, cidrs: Iterable[str]) -> None:
        self.networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]

    def is_internal(self, address: str) -> bool | None:
        """True/False for an address, None for text that is not an IP address."""
        return _is_internal(address, tuple(self.networks))

    def ipv4_internal_sql(self, number: str) -> str:
        """SQL testing an IPv4 address given as an integer against the internal ranges."""
        ranges = [
            f"({number} BETWEEN {int(net.network_address)} AND {int(net.broadcast_address)})"
            for net in self.networks
            if net.version == 4
        ]
        return " OR ".join(ranges) if ranges else "false"

    def table(self, addresses: Iterable[str]) -> pa.Table:
        """(ip, canonical, internal) for each distinct value; non-addresses get NULLs.

        The canonical spelling (``2001:db8::1``, not ``2001:0DB8:0:0::1``) is what the store
        keeps, so equality queries on addresses match however the source wrote them.
        """
        values = sorted({a for a in addresses if a})
        return pa.table(
            {
                "ip": pa.array(values, type=pa.string()),
                "canonical": pa.array([canonical_ip(v) for v in values], type=pa.string()),
                "internal": pa.array([self.is_internal(v) for v in values], type=pa.bool_()),
            }
        )


def canonical_ip(value: str) -> str | None:
    """The canonical text of an address (IPv4-mapped IPv6 as dotted IPv4), else None."""
    try:
        ip = ipaddress.ip_address(value.strip("[]").split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


@lru_cache(maxsize=200_000)
def _is_internal(
    address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
) -> bool | None:
    try:
        ip = ipaddress.ip_address(address.strip("[]").split("%")[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in networks if net.version == ip.version)


DIRECTION_SQL = """CASE
    WHEN src.internal AND dst.internal THEN 'internal'
    WHEN src.internal AND NOT dst.internal THEN 'outbound'
    WHEN NOT src.internal AND dst.internal THEN 'inbound'
    WHEN NOT src.internal AND NOT dst.internal THEN 'external'
    WHEN dst.internal IS NULL AND src.internal THEN 'internal'
    WHEN dst.internal IS NULL AND NOT src.internal THEN 'inbound'
END"""
"""SQL for network.direction given joins ``src`` and ``dst`` on the locality table."""


class DomainResolver:
    """Registered domain (public suffix + one label) from the bundled suffix list, offline."""

    def __init__(self) -> None:
        import tldextract

        # No URLs and no cache: tldextract must use its packaged snapshot and never fetch.
        self._extract = tldextract.TLDExtract(
            suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True
        )

    def registered_domain(self, name: str) -> str | None:
        host = name.strip().rstrip(".").lower()
        if not host or _looks_like_ip(host):
            return None
        result = self._extract(host)
        if not result.suffix or not result.domain:
            return None
        return f"{result.domain}.{result.suffix}"

    def table(self, names: Iterable[str]) -> pa.Table:
        values = sorted({n for n in names if n})
        return pa.table(
            {
                "name": pa.array(values, type=pa.string()),
                "registered": pa.array([self.registered_domain(v) for v in values], pa.string()),
            }
        )


def _looks_like_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


_MIN_KEY_LENGTH = 16
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")


class Pseudonymizer:
    """Keyed, consistent pseudonyms: the same input and key always give the same output."""

    def __init__(self, key: str) -> None:
        if len(key) < _MIN_KEY_LENGTH:
            raise ConfigError(
                f"the pseudonymisation key must be at least {_MIN_KEY_LENGTH} characters",
                location="pseudonymize.key_env",
            )
        import yacryptopan

        secret = key.encode("utf-8")
        # Separate derived keys so an IP pseudonym reveals nothing about a name pseudonym.
        pan_key = hmac.new(secret, b"loglens crypto-pan", hashlib.sha256).digest()
        self._name_key = hmac.new(secret, b"loglens names", hashlib.sha256).digest()
        self._pan = yacryptopan.CryptoPAn(pan_key)
        self._ip_cache: dict[str, str | None] = {}

    @classmethod
    def from_environment(cls, env: Mapping[str, str], variable: str) -> Pseudonymizer:
        key = env.get(variable)
        if not key:
            raise ConfigError(
                f"pseudonymisation is on but the environment variable {variable} is not set",
                location="pseudonymize.key_env",
            )
        return cls(key)

    def ip(self, address: str) -> str | None:
        """Prefix-preserving pseudonym of an address; None for text that is not an address."""
        if address not in self._ip_cache:
            try:
                ipaddress.ip_address(address)
                self._ip_cache[address] = str(self._pan.anonymize(address))
            except ValueError:
                self._ip_cache[address] = None
        return self._ip_cache[address]

    def name(self, value: str) -> str:
        digest = hmac.new(self._name_key, value.encode("utf-8"), hashlib.sha256).hexdigest()
        return "anon-" + digest[:16]

    def ip_table(self, addresses: Iterable[str]) -> pa.Table:
        values = sorted({a for a in addresses if a})
        return pa.table(
            {
                "value": pa.array(values, type=pa.string()),
                "pseudonym": pa.array([self.ip(v) or self.name(v) for v in values], pa.string()),
            }
        )

    def name_table(self, names: Iterable[str]) -> pa.Table:
        values = sorted({n for n in names if n})
        return pa.table(
            {
                "value": pa.array(values, type=pa.string()),
                "pseudonym": pa.array([self.name(v) for v in values], type=pa.string()),
            }
        )

    def scrub(self, text: str | None, names: Mapping[str, str]) -> str | None:
        """Text with every IPv4 address and every known name replaced by its pseudonym.

        Used on free text (the raw record, the message) so a pseudonymised store does not keep
        the real values there. IPv6 addresses in free text are replaced when they are among the
        known values of the batch.
        """
        if text is None:
            return None
        text = _IPV4.sub(lambda m: self.ip(m.group(0)) or m.group(0), text)
        for real, pseudonym in names.items():
            if real and real in text:
                text = re.sub(rf"(?<![\w.-]){re.escape(real)}(?![\w-])", pseudonym, text)
        return text
