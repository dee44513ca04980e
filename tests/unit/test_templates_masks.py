"""Masking: every variable kind is masked, constants are left alone, Arrow and Python agree."""

from __future__ import annotations

import re

import pyarrow as pa
import pytest

from loglens.templates import MASKS, WILDCARD, canonical_token, mask_array, mask_message, tokenize

W = WILDCARD

# (kind, message, masked): the value must be masked whole, the words around it kept.
CASES = [
    ("url", "fetch https://example.com/a/b?x=1&y=2 done", f"fetch {W} done"),
    ("url", "proxy to ftp://files.example.org/pub ok", f"proxy to {W} ok"),
    ("email", "mail from alice.smith+tag@mail.example.co.uk rejected", f"mail from {W} rejected"),
    ("uuid", "req-38101a0b-2096-447d-96ea-a692162415ae accepted", f"req-{W} accepted"),
    ("timestamp", "at 2024-05-01T10:00:00.123Z started", f"at {W} started"),
    ("timestamp", "at 2016-09-28 04:30:30 started", f"at {W} started"),
    ("timestamp", "connection at Sun Jul 10 03:55:15 2005 closed", f"connection at {W} closed"),
    ("timestamp", "seen [10/Oct/2000:13:55:36 -0700] once", f"seen [{W}] once"),
    ("timestamp", "since 17:41:44,747 idle", f"since {W} idle"),
    ("mac", "lease for 00:1a:2b:3c:4d:5e renewed", f"lease for {W} renewed"),
    ("ipv6", "from fe80::1ff:fe23:4567:890a port", f"from {W} port"),
    ("ipv6", "from 2001:db8:85a3:0:0:8a2e:370:7334 port", f"from {W} port"),
    ("ipv4", "Invalid user admin from 173.234.31.186", f"Invalid user admin from {W}"),
    ("ipv4", "connect to 10.251.73.220:50010 failed", f"connect to {W} failed"),
    ("path", "open /etc/httpd/conf/workers2.properties ok", f"open {W} ok"),
    ("path", r"Loaded C:\Windows\winsxs\cbscore.dll now", f"Loaded {W} now"),
    ("hex", "stack @0x7fed806eb5d called", f"stack @{W} called"),
    ("hex", "token a64f992 ready", f"token {W} ready"),
    ("duration", "request took 250ms total", f"request took {W} total"),
    ("duration", "waited 1.5 s before retry", f"waited {W} before retry"),
    ("size", "estimated size 16.8 KB, free 317.5 MB", f"estimated size {W}, free {W}"),
    (
        "number",
        "PacketResponder 1 for block terminating",
        f"PacketResponder {W} for block terminating",
    ),
    ("number", "error state 6", f"error state {W}"),
    ("literal", "shouldBlockLocation ret:false", f"shouldBlockLocation ret:{W}"),
    ("literal", "ws=null, uid=1000", f"ws={W}, uid={W}"),
    ("number", "offset -42 applied", f"offset {W} applied"),
]


@pytest.mark.parametrize(("kind", "message", "masked"), CASES)
def test_each_kind_is_masked(kind: str, message: str, masked: str) -> None:
    assert mask_message(message) == masked
    pattern = next(m for m in MASKS if m.kind == kind).regex
    assert pattern.search(message), f"{kind} pattern alone must find its value"


def test_every_kind_has_a_case() -> None:
    assert {m.kind for m in MASKS} == {kind for kind, _, _ in CASES}


@pytest.mark.parametrize(
    "message",
    [
        "session opened for user root by LOGIN",
        "Disconnecting: Too many authentication failures [preauth]",
        "deadline cafe facade bed",  # hex letters alone are words
        "use application/json please",  # one slash is not a path
    ],
)
def test_constants_are_not_masked(message: str) -> None:
    assert mask_message(message) == message


def test_hyphenated_name_keeps_its_hyphen_and_an_underscore_id_is_one_value() -> None:
    assert mask_message("node-246 up") == f"node-{W} up"
    assert tokenize(mask_message("node-246 eth0 v2.1")) == (f"node-{W}", f"eth{W}", f"v{W}")
    # blk_<id>, job_<id>: the identifier as a whole is the value, as is /address.
    assert tokenize(mask_message("blk_-6952295868487656571 blk_38865049064139660 /10.1.2.3")) == (
        W,
        W,
        W,
    )


def test_arrow_and_python_masking_agree() -> None:
    messages = [message for _, message, _ in CASES] + [None, ""]
    masked = mask_array(pa.array(messages)).to_pylist()
    assert masked == [None if m is None else mask_message(m) for m in messages]


@pytest.mark.parametrize(
    ("token", "canonical"),
    [
        ("R02-M1-N0-C:J12-U11", f"R{W}"),
        (f"(uid={W})", f"(uid={W})"),
        ("appattempt_1445144423722_0020_000001", W),
        ("rdd_2_3,", f"{W},"),
        ("[DFSClient_NONMAPREDUCE_1537864556_1]", f"[{W}]"),
        (f"{W},{W}", W),
        ("(45C),", f"({W}),"),
        ("plain", "plain"),
    ],
)
def test_canonical_tokens(token: str, canonical: str) -> None:
    assert canonical_token(token) == canonical


def test_masks_are_valid_for_re2_and_python() -> None:
    for mask in MASKS:
        re.compile(mask.pattern)
        mask_array(pa.array(["x"]))  # RE2 compiles the alternation of every kind


def test_large_columns_masked_in_slices_match_python() -> None:
    messages = [f"user u{i % 50} from 10.0.{i % 250}.{i % 7} took {i}ms" for i in range(120_000)]
    masked = mask_array(pa.chunked_array([messages[:1000], messages[1000:]])).to_pylist()
    assert masked[::997] == [mask_message(m) for m in messages[::997]]
    assert len(masked) == len(messages)
