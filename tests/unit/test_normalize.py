"""Locality, registered domains (offline), keyed pseudonyms."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from loglens.config import DEFAULT_INTERNAL_CIDRS
from loglens.errors import ConfigError
from loglens.normalize import DomainResolver, Locality, Pseudonymizer

KEY = "correct horse battery staple 42"


def test_locality_default_ranges() -> None:
    locality = Locality(DEFAULT_INTERNAL_CIDRS)
    assert locality.is_internal("10.1.2.3") is True
    assert locality.is_internal("172.20.0.1") is True
    assert locality.is_internal("100.64.1.1") is True  # carrier-grade NAT
    assert locality.is_internal("8.8.8.8") is False
    assert locality.is_internal("fd00::1") is True
    assert locality.is_internal("2001:4860::8888") is False
    assert locality.is_internal("::ffff:192.168.1.1") is True  # v4-mapped
    assert locality.is_internal("not-an-ip") is None


def test_registered_domains_need_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    resolver = DomainResolver()
    assert resolver.registered_domain("www.bbc.co.uk") == "bbc.co.uk"
    assert resolver.registered_domain("a.b.c.example-tunnel.net.") == "example-tunnel.net"
    assert resolver.registered_domain("shop.example.com.au") == "example.com.au"
    assert resolver.registered_domain("10.0.0.1") is None
    assert resolver.registered_domain("localhost") is None


def test_pseudonyms_are_keyed_consistent_and_prefix_preserving() -> None:
    one = Pseudonymizer(KEY)
    same = Pseudonymizer(KEY)
    other = Pseudonymizer(KEY + "!")
    a, b = one.ip("192.168.10.1"), one.ip("192.168.10.77")
    assert a == same.ip("192.168.10.1")
    assert a != other.ip("192.168.10.1")
    assert a != "192.168.10.1"
    # Crypto-PAn keeps shared prefixes: same /24 in, same /24 out.
    net_a = ipaddress.ip_network(f"{a}/24", strict=False)
    assert ipaddress.ip_address(b) in net_a
    v6 = one.ip("2001:db8::1")
    assert v6 is not None and ipaddress.ip_address(v6).version == 6
    assert one.name("alice") == same.name("alice") != other.name("alice")
    assert "alice" not in one.name("alice")


def test_pseudonymisation_requires_a_real_key() -> None:
    with pytest.raises(ConfigError, match="at least 16"):
        Pseudonymizer("short")
    with pytest.raises(ConfigError, match="LOGLENS_PSEUDONYM_KEY"):
        Pseudonymizer.from_environment({}, "LOGLENS_PSEUDONYM_KEY")


def test_scrub_replaces_addresses_and_known_names() -> None:
    p = Pseudonymizer(KEY)
    names = {"alice": p.name("alice")}
    text = "Failed password for alice from 203.0.113.9 port 22 (alicea untouched)"
    scrubbed = p.scrub(text, names)
    assert scrubbed is not None
    assert "203.0.113.9" not in scrubbed and p.ip("203.0.113.9") in scrubbed
    assert "for alice " not in scrubbed and names["alice"] in scrubbed
    assert "alicea" in scrubbed  # whole words only
