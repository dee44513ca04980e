"""Lucene → DuckDB SQL: every rule checked on a real in-memory DuckDB ``events`` table.

The table holds hand-written events (Apache hits, sshd and sudo lines, Zeek connections with
``extra`` JSON, parse failures, a Suricata alert, a Windows logon, a bare message) over five
days; each query in the table below lists exactly the event ids it must return.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loglens.errors import QueryError
from loglens.query import (
    MATCH_ALL,
    LuceneQuery,
    SqlPredicate,
    install_sql_functions,
    parse_query,
    to_duckdb_sql,
)
from loglens.schema import FIELDS, quote_ident

NOW = datetime(2024, 5, 10, 12, 0, 0, tzinfo=UTC)  # a Friday, noon UTC


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def apache(
    eid: str,
    when: str,
    method: str,
    path: str,
    status: int,
    ip: str,
    more: dict[str, object] | None = None,
) -> dict[str, object]:
    return {
        "event.id": eid,
        "@timestamp": ts(when),
        "event.module": "apache",
        "event.dataset": "apache.access",
        "event.category": "web",
        "http.request.method": method,
        "url.path": path,
        "url.original": path,
        "http.response.status_code": status,
        "source.ip": ip,
        "host.name": "web1",
        "message": f"{method} {path} HTTP/1.1",
        "event.original": f'{ip} - - "{method} {path} HTTP/1.1" {status}',
        **(more or {}),
    }


def sshd(eid: str, when: str, message: str, more: dict[str, object]) -> dict[str, object]:
    return {
        "event.id": eid,
        "@timestamp": ts(when),
        "event.module": "system",
        "event.dataset": "system.auth",
        "event.action": "ssh_login",
        "process.name": "sshd",
        "host.name": "bastion",
        "log.level": "info",
        "message": message,
        "event.original": f"May  6 03:00:00 bastion sshd[1234]: {message}",
        **(more or {}),
    }


def zeek(
    eid: str, when: str, src: str, dst: str, extra: dict[str, object], more: dict[str, object]
) -> dict[str, object]:
    return {
        "event.id": eid,
        "@timestamp": ts(when),
        "event.module": "zeek",
        "event.dataset": "zeek.conn",
        "event.category": "network",
        "source.ip": src,
        "destination.ip": dst,
        "extra": json.dumps(extra),
        **(more or {}),
    }


EVENTS: list[dict[str, object]] = [
    apache(
        "e01",
        "2024-05-06T08:00:00",
        "GET",
        "/wp-login.php",
        404,
        "203.0.113.5",
        {"user_agent.original": "Mozilla/5.0 (compatible; Nmap Scripting Engine)"},
    ),
    apache("e02", "2024-05-06T08:00:05", "POST", "/wp-login.php", 404, "203.0.113.5"),
    apache("e03", "2024-05-07T09:30:00", "GET", "/index.html", 200, "198.51.100.7"),
    apache("e04", "2024-05-08T10:00:00", "GET", "/admin/config.php", 500, "10.1.2.3"),
    apache(
        "e05",
        "2024-05-09T23:59:59",
        "GET",
        "/wp-login.php",
        200,
        "2001:db8::5",
        {"http.version": "2"},
    ),
    apache(
        "e06",
        "2024-05-10T11:50:00",
        "GET",
        "/search",
        403,
        "192.168.1.20",
        {"url.query": "q=100%_off", "url.original": "/search?q=100%_off"},
    ),
    sshd(
        "e07",
        "2024-05-06T03:00:00",
        "Failed password for root from 203.0.113.9 port 50022 ssh2",
        {
            "user.name": "root",
            "event.outcome": "failure",
            "source.ip": "203.0.113.9",
            "source.port": 50022,
            "process.pid": 1234,
        },
    ),
    sshd(
        "e08",
        "2024-05-08T04:00:00",
        "Failed password for invalid user admin from 2001:db8:abcd::17 port 40000 ssh2",
        {
            "user.name": "admin",
            "event.outcome": "failure",
            "source.ip": "2001:db8:abcd::17",
            "source.port": 40000,
            "process.pid": 1300,
        },
    ),
    sshd(
        "e09",
        "2024-05-09T05:00:00",
        "Accepted publickey for Deploy from 10.0.0.8 port 51000 ssh2",
        {
            "user.name": "Deploy",
            "event.outcome": "success",
            "source.ip": "10.0.0.8",
            "source.port": 51000,
            "process.pid": 1400,
        },
    ),
    sshd(
        "e10",
        "2024-05-10T11:59:00",
        "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/apt update",
        {
            "process.name": "sudo",
            "event.action": "sudo",
            "user.name": "alice",
            "process.command_line": "/usr/bin/apt update",
            "log.level": "notice",
        },
    ),
    zeek(
        "e11",
        "2024-05-07T12:00:00",
        "10.0.0.8",
        "8.8.8.8",
        {"zeek.conn_state": "SF", "zeek.duration": 0.5, "zeek.history": "Dd"},
        {"destination.port": 53, "network.transport": "udp", "network.bytes": 120},
    ),
    zeek(
        "e12",
        "2024-05-08T12:00:00",
        "10.0.0.9",
        "93.184.216.34",
        {"zeek.conn_state": "S0", "zeek.duration": 12.25, "zeek.missed_bytes": 0},
        {"destination.port": 443, "network.transport": "tcp", "network.bytes": 0},
    ),
    zeek(
        "e13",
        "2024-05-09T12:00:00",
        "fe80::1",
        "ff02::fb",
        {"zeek.conn_state": "SH", "zeek.duration": 3, "zeek.local_orig": True},
        {"destination.port": 5353, "network.transport": "udp", "network.bytes": 300},
    ),
    zeek(
        "e14",
        "2024-05-10T00:00:00",
        "172.16.5.4",
        "10.255.255.255",
        {"zeek.conn_state": "SF", "zeek.duration": 120.0},
        {"destination.port": 137, "network.transport": "udp", "network.bytes": 5000},
    ),
    {
        "event.id": "e15",
        "@timestamp": ts("2024-05-08T13:00:00"),
        "event.kind": "pipeline_error",
        "tags": ["_parse_failure"],
        "error.message": "no parser matched the line",
        "event.original": "<<<garbled>>> ERROR: disk   full",
        "log.file.path": "/var/log/weird.log",
    },
    {
        "event.id": "e16",
        "@timestamp": ts("2024-05-09T13:00:00"),
        "event.kind": "pipeline_error",
        "tags": ["_parse_failure", "truncated"],
        "error.message": "Line truncated at 64 KiB",
        "event.original": "Mar  3 GET /wp-login.php partial",
    },
    {
        "event.id": "e17",
        "@timestamp": ts("2024-05-09T20:00:00"),
        "event.kind": "alert",
        "event.module": "suricata",
        "tags": ["ids", "high"],
        "rule.id": "2009358",
        "rule.name": "ET SCAN Nmap Scripting Engine User-Agent Detected",
        "source.ip": "203.0.113.5",
        "destination.ip": "10.1.2.3",
        "destination.port": 80,
        "network.transport": "tcp",
        "event.severity": 1,
    },
    {
        "event.id": "e18",
        "@timestamp": ts("2024-05-10T06:00:00"),
        "event.dataset": "zeek.dns",
        "network.protocol": "dns",
        "dns.question.name": "evil.example.com",
        "dns.response_code": "NXDOMAIN",
        "source.ip": "10.0.0.8",
        "tags": ["dns"],
        "extra": json.dumps({"zeek.conn_state": "sf", "dns.answers": "none"}),
    },
    {
        "event.id": "e19",
        "@timestamp": ts("2024-05-07T15:00:00"),
        "event.code": "4625",
        "event.outcome": "failure",
        "user.name": "Administrator",
        "host.name": "DC01",
        "message": "An account failed to log on.",
        "tags": ["windows"],
        "process.executable": "C:\\Windows\\System32\\lsass.exe",
        "process.command_line": "C:\\Windows\\System32\\lsass.exe -k",
    },
    apache(
        "e20",
        "2024-05-10T11:59:59.500",
        "GET",
        "/api/v1/items",
        201,
        "10.1.2.4",
        {"user_agent.original": "curl/8.0", "http.version": "1.1"},
    ),
    # A bare event: almost every field NULL, and an `extra` that is not valid JSON.
    {
        "event.id": "e21",
        "@timestamp": ts("2024-05-06T00:00:00"),
        "message": "hello world",
        "extra": "{broken",
    },
]

ALL = {str(e["event.id"]) for e in EVENTS}
APACHE = {"e01", "e02", "e03", "e04", "e05", "e06", "e20"}


def ids(*names: str) -> set[str]:
    return set(names)


# events whose source.ip is an IPv4 address (the others have an IPv6 one, or none)
V4_SOURCES = ALL - ids("e05", "e08", "e13", "e10", "e15", "e16", "e19", "e21")


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(":memory:")
    columns = ", ".join(f"{quote_ident(f.name)} {f.sql_type}" for f in FIELDS)
    connection.execute(f"CREATE TABLE events ({columns})")
    placeholders = ", ".join("?" for _ in FIELDS)
    connection.executemany(
        f"INSERT INTO events VALUES ({placeholders})",
        [[event.get(f.name) for f in FIELDS] for event in EVENTS],
    )
    install_sql_functions(connection)
    yield connection
    connection.close()


def matching(con: duckdb.DuckDBPyConnection, predicate: SqlPredicate) -> set[str]:
    rows = con.execute(
        f'SELECT "event.id" FROM events WHERE {predicate.sql}', list(predicate.params)
    ).fetchall()
    return {row[0] for row in rows}


def search(con: duckdb.DuckDBPyConnection, query: str, **options: str) -> set[str]:
    return matching(con, to_duckdb_sql(query, now=NOW, **options))


CASES: list[tuple[str, set[str]]] = [
    # match all
    ("", ALL),
    ("   ", ALL),
    ("*", ALL),
    ("*:*", ALL),
    # long: equality, ranges (both syntaxes), groups, wildcards, regex, existence
    ("http.response.status_code:404", ids("e01", "e02")),
    ("http.response.status_code:404 AND url.path:*wp-login*", ids("e01", "e02")),
    ("http.response.status_code:>=400", ids("e01", "e02", "e04", "e06")),
    ("http.response.status_code:>403", ids("e01", "e02", "e04")),
    ("http.response.status_code:<300", ids("e03", "e05", "e20")),
    ("http.response.status_code:<=200", ids("e03", "e05")),
    ("http.response.status_code:[400 TO 499]", ids("e01", "e02", "e06")),
    ("http.response.status_code:{403 TO 500]", ids("e01", "e02", "e04")),
    ("http.response.status_code:[200 TO 404}", ids("e03", "e05", "e06", "e20")),
    ("http.response.status_code:[500 TO *]", ids("e04")),
    ("http.response.status_code:[* TO *]", APACHE),
    ("http.response.status_code:(404 OR 500)", ids("e01", "e02", "e04")),
    ('http.response.status_code:"500"', ids("e04")),
    ("http.response.status_code:4*", ids("e01", "e02", "e06")),
    ("http.response.status_code:/40[0-9]/", ids("e01", "e02", "e06")),
    ("http.response.status_code:*", APACHE),
    ("process.pid:[1300 TO 1400]", ids("e08", "e09")),
    ("network.bytes:0", ids("e12")),
    ("network.bytes:[1 TO *]", ids("e11", "e13", "e14")),
    ("destination.port:53 OR destination.port:137", ids("e11", "e14")),
    # keyword: exact and case-sensitive; wildcards (LIKE, with literal % and _); regex
    ("url.path:\\/wp-login.php", ids("e01", "e02", "e05")),
    ('url.path:"/wp-login.php"', ids("e01", "e02", "e05")),
    ("url.path:*WP-LOGIN*", set()),
    ('url.path:"*wp-login*"', set()),  # wildcards inside a phrase are literal
    ("user.name:root", ids("e07")),
    ("user.name:Deploy", ids("e09")),
    ("user.name:deploy", set()),
    ("user.name:adm*", ids("e08")),
    ("user.name:Adm*", ids("e19")),
    ("user.name:?oot", ids("e07")),
    ("user.name:/[a-z]+/", ids("e07", "e08", "e10")),
    ("user.name:/ad.*/", ids("e08")),
    ("url.query:q=100%_off", ids("e06")),
    ("url.query:q=100%_*", ids("e06")),
    ("url.query:q=100_*", set()),  # `_` is literal, not LIKE's any-character
    ("url.original:*100%_off", ids("e06")),
    ("user_agent.original:*Nmap*", ids("e01")),
    ("rule.id:2009358", ids("e17")),
    ("dns.question.name:*.example.com", ids("e18")),
    ('http.version:"1.1"', ids("e20")),
    ("event.kind:pipeline_error", ids("e15", "e16")),
    ("_exists_:user.name", ids("e07", "e08", "e09", "e10", "e19")),
    # escapes
    ("process.executable:C\\:\\\\Windows\\\\System32\\\\lsass.exe", ids("e19")),
    ('process.executable:"C:\\\\Windows\\\\System32\\\\lsass.exe"', ids("e19")),
    ("message:hello\\ world", ids("e21")),
    # text: case-insensitive substring, phrases, wildcards, regex
    ("message:FAILED", ids("e07", "e08", "e19")),
    ('message:"for invalid user"', ids("e08")),
    ("message:/failed password.*/", ids("e07", "e08")),
    ("process.command_line:APT", ids("e10")),
    ("process.command_line:*system32*lsass*", ids("e19")),
    ("error.message:truncated", ids("e16")),
    # free text: substring over event.original and message
    ("wp-login", ids("e01", "e02", "e05", "e16")),
    ("WP-LOGIN", ids("e01", "e02", "e05", "e16")),
    ("*:wp-login", ids("e01", "e02", "e05", "e16")),
    ('"Failed password"', ids("e07", "e08")),
    ('"failed PASSWORD for root"', ids("e07")),
    ("failed", ids("e07", "e08", "e19")),
    ("garb*disk", ids("e15")),
    ("/disk\\s+full/", ids("e15")),
    # ip: equality (canonical form), CIDR v4 and v6, address-order ranges
    ("source.ip:203.0.113.5", ids("e01", "e02", "e17")),
    ('source.ip:"2001:DB8::5"', ids("e05")),
    ("source.ip:10.0.0.0/8", ids("e04", "e09", "e11", "e12", "e18", "e20")),
    ('source.ip:"10.0.0.0/24"', ids("e09", "e11", "e12", "e18")),
    ("destination.ip:10.0.0.0/8", ids("e14", "e17")),
    ("NOT source.ip:10.0.0.0/8", ALL - ids("e04", "e09", "e11", "e12", "e18", "e20")),
    ('source.ip:"2001:db8::/32"', ids("e05", "e08")),
    ("source.ip:172.16.0.0/12", ids("e14")),
    ("source.ip:0.0.0.0/0", V4_SOURCES),
    ('source.ip:"::ffff:0:0/96"', V4_SOURCES),  # IPv4 lives there, as in Elasticsearch
    ('source.ip:"::/0"', V4_SOURCES | ids("e05", "e08", "e13")),
    ("source.ip:2001\\:db8\\:abcd\\:\\:/48", ids("e08")),
    ('source.ip:"fe80::/10"', ids("e13")),
    ("source.ip:[10.0.0.0 TO 10.0.0.255]", ids("e09", "e11", "e12", "e18")),
    ("source.ip:[10.0.0.9 TO 10.1.2.3]", ids("e04", "e12")),
    ("source.ip:[10.0.0.10 TO 10.0.0.255]", set()),  # lexicographic order would say .8, .9
    ("source.ip:>=192.168.0.0", ids("e01", "e02", "e03", "e06", "e07", "e17")),
    ('source.ip:["2001:db8::" TO "2001:db8:ffff::"]', ids("e05", "e08")),
    ("source.ip:10.0.*", ids("e09", "e11", "e12", "e18")),
    # dates: whole-unit equality, rounding ranges, date math against NOW
    ("@timestamp:2024-05-08", ids("e04", "e08", "e12", "e15")),
    (
        "@timestamp:[2024-05-06 TO 2024-05-07]",
        ids("e01", "e02", "e03", "e07", "e11", "e19", "e21"),
    ),
    ("@timestamp:{2024-05-06 TO 2024-05-08}", ids("e03", "e11", "e19")),
    ('@timestamp:"2024-05-09T23:59:59"', ids("e05")),
    ("@timestamp:2024-05-10T11:59", ids("e10", "e20")),
    ("@timestamp:1715342399500", ids("e20")),
    ('@timestamp:>="2024-05-10T08:00:00+02:00"', ids("e06", "e10", "e18", "e20")),
    (
        "@timestamp:>=now-1d",
        ids("e05", "e06", "e10", "e13", "e14", "e16", "e17", "e18", "e20"),
    ),
    ("@timestamp:>now-1d", ids("e05", "e06", "e10", "e14", "e16", "e17", "e18", "e20")),
    ("@timestamp:[now-15m TO now]", ids("e06", "e10", "e20")),
    ("@timestamp:<now-10m/h", ALL - ids("e06", "e10", "e20")),
    ("@timestamp:now/d", ids("e06", "e10", "e14", "e18", "e20")),
    ("@timestamp:[now-1d/d TO now-1d/d]", ids("e05", "e09", "e13", "e16", "e17")),
    ("@timestamp:2024-05-10||-1d/d", ids("e05", "e09", "e13", "e16", "e17")),
    # Sunday 5 May rounds to its week, Mon 29 Apr to Mon 6 May; `{` starts after that week.
    ("@timestamp:{2024-05-05||/w TO 2024-05-06T05:00}", ids("e07", "e21")),
    # tags: any element
    ("tags:_parse_failure", ids("e15", "e16")),
    ("tags:truncated", ids("e16")),
    ("tags:_PARSE_FAILURE", set()),
    ("tags:_parse*", ids("e15", "e16")),
    ("tags:/i.s/", ids("e17")),
    ("tags:*", ids("e15", "e16", "e17", "e18", "e19")),
    ("_exists_:tags", ids("e15", "e16", "e17", "e18", "e19")),
    ("NOT _exists_:tags", ALL - ids("e15", "e16", "e17", "e18", "e19")),
    ("tags:[a TO j]", ids("e17", "e18")),  # "dns", "high", "ids"
    # fields of `extra` (and an invalid `extra` JSON that matches nothing, without failing)
    ("zeek.conn_state:SF", ids("e11", "e14")),
    ("zeek.conn_state:S*", ids("e11", "e12", "e13", "e14")),
    ("zeek.conn_state:*", ids("e11", "e12", "e13", "e14", "e18")),
    ("NOT zeek.conn_state:SF", ALL - ids("e11", "e14")),
    ("zeek.duration:[1 TO 100]", ids("e12", "e13")),
    ("zeek.duration:>100", ids("e14")),
    ("zeek.history:[A TO Z]", ids("e11")),  # text bounds: lexicographic ("Dd")
    ("zeek.duration:120", ids("e14")),  # stored as 120.0
    ("zeek.local_orig:true", ids("e13")),
    ("_exists_:zeek.history", ids("e11")),
    ("zeek.conn_state:/S[0F]/", ids("e11", "e12", "e14")),
    # boolean structure: negation only, +/-, &&, ||, !, grouping, precedence, boosts
    ("NOT event.dataset:apache.access", ALL - APACHE),
    ("-tags:_parse_failure", ALL - ids("e15", "e16")),
    ("!user.name:root", ALL - ids("e07")),
    ("NOT NOT user.name:root", ids("e07")),
    ("+event.dataset:system.auth -event.outcome:success", ids("e07", "e08", "e10")),
    ("event.dataset:system.auth AND NOT event.outcome:failure", ids("e09", "e10")),
    ("event.outcome:failure OR NOT event.dataset:system.auth", ids("e19")),  # as in ES
    ("event.dataset:zeek.conn && network.transport:udp", ids("e11", "e13", "e14")),
    ("user.name:root || user.name:alice", ids("e07", "e10")),
    ("!(user.name:root || user.name:alice) && host.name:bastion", ids("e08", "e09")),
    (
        "(user.name:root OR user.name:admin) AND source.ip:2001\\:db8\\:\\:/32",
        ids("e08"),
    ),
    ("user.name:alice OR user.name:root AND event.outcome:failure", ids("e07", "e10")),
    ("host.name:bastion AND NOT user.name:root", ids("e08", "e09", "e10")),
    ("user.name:(root OR alice) -host.name:web1", ids("e07", "e10")),
    ("http.response.status_code:(-404)", ALL - ids("e01", "e02")),
    (
        "event.dataset:apache.access AND (NOT http.response.status_code:200)",
        ids("e01", "e02", "e04", "e06", "e20"),
    ),
    ("user.name:root^2", ids("e07")),
    ("(user.name:root OR user.name:admin)^3", ids("e07", "e08")),
    ("source.ip:10.0.0.8 AND event.dataset:zeek.conn", ids("e11")),
    # injection attempts are only values
    ('user.name:"x\' OR 1=1 --"', set()),
    ('zeek.conn_state:"\') OR TRUE --"', set()),
]


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[q or "<empty>" for q, _ in CASES])
def test_query_matches_expected_events(
    con: duckdb.DuckDBPyConnection, query: str, expected: set[str]
) -> None:
    assert search(con, query) == expected


IMPLICIT_CASES: list[tuple[str, str, set[str]]] = [
    ("user.name:root user.name:admin", "OR", ids("e07", "e08")),
    ("user.name:root user.name:admin", "AND", set()),
    ("event.dataset:apache.access http.response.status_code:404", "OR", APACHE),
    ("event.dataset:apache.access http.response.status_code:404", "AND", ids("e01", "e02")),
    ("http.response.status_code:(200 500)", "OR", ids("e03", "e04", "e05")),
    ("http.response.status_code:(200 500)", "and", set()),
    ("failed password", "OR", ids("e07", "e08", "e19")),
    ("failed password", "AND", ids("e07", "e08")),
    ("+user.name:root user.name:admin", "OR", ids("e07")),  # `should` only scores with a must
    ("-user.name:root user.name:admin", "OR", ids("e08")),
]


@pytest.mark.parametrize(("query", "operator", "expected"), IMPLICIT_CASES)
def test_implicit_operator(
    con: duckdb.DuckDBPyConnection, query: str, operator: str, expected: set[str]
) -> None:
    assert search(con, query, default_operator=operator) == expected


ERROR_CASES: list[tuple[str, str]] = [
    ("(user.name:root", "ends too early"),
    ("user.name:root AND", "ends too early"),
    ("user.name:root)", "position 14"),
    ("'root'", "double quotes"),
    ("url.path:/wp-login.php", "regular expression"),
    ("source.ip:2001:db8::1", "':'"),
    ("http.response.status_code:abc", "'abc' is not a number"),
    ("http.response.status_code:[400 TO lots]", "'lots' is not a number"),
    ("http.response.status_code:nan", "not a number"),
    ("user.name:rooot~", "fuzzy"),
    ("user.name:rooot~1", "not supported"),
    ('"failed root"~3', "proximity"),
    ("root^1..2", "must be followed by a number"),
    ('"failed root"~1.5', "must be followed by a number"),
    ("source.ip:10.0.0.0/33", "invalid CIDR"),
    ("source.ip:not-an-address", "neither an address nor a CIDR"),
    ("source.ip:[a TO b]", "neither an address"),
    ("@timestamp:yesterday", "is not a date"),
    ("@timestamp:2024-13-01", "month"),
    ("@timestamp:2024-05*", "wildcards are not supported on date"),
    ("@timestamp:/2024.*/", "regular expressions are not supported on date"),
    ("@timestamp:>now+999999y", "out of range"),
    ("user.name:/(/", "invalid regular expression"),
    ("user.name:/a(?=b)/", "invalid regular expression"),
    ("extra:SF", "cannot be queried directly"),
    ("bad$field:x", "invalid field name"),
    ("user.*:root", "invalid field name"),
    ("[1 TO 5]", "needs a field"),
    ("_exists_:[a TO b]", "_exists_ takes a field name"),
    ("a\x00b", "NUL"),
]


@pytest.mark.parametrize(("query", "message"), ERROR_CASES)
def test_invalid_queries_raise_query_error(query: str, message: str) -> None:
    with pytest.raises(QueryError) as info:
        to_duckdb_sql(query, now=NOW)
    assert message in str(info.value)


def test_error_position_points_into_the_typed_text() -> None:
    # `&&` is rewritten before parsing; positions must still refer to what the user typed.
    query = "user.name:root && !tags:x && http.response.status_code:abc"
    with pytest.raises(QueryError, match=f"position {query.index('abc')}"):
        to_duckdb_sql(query)


def test_default_operator_must_be_and_or_or() -> None:
    with pytest.raises(QueryError, match="default operator"):
        to_duckdb_sql("a b", default_operator="XOR")


def test_values_never_reach_the_sql_text() -> None:
    hostile = "x' OR 1=1; DROP TABLE events; --"
    for query in (f'user.name:"{hostile}"', f'message:"{hostile}"', f'zeek.a:"{hostile}"'):
        predicate = to_duckdb_sql(query)
        assert "DROP" not in predicate.sql
        assert any(hostile in str(p) for p in predicate.params)


def test_extra_field_path_comes_from_a_validated_name() -> None:
    predicate = to_duckdb_sql("zeek.conn_state:SF")
    assert "'$.\"zeek.conn_state\"'" in predicate.sql
    assert predicate.params == ("SF",)
    with pytest.raises(QueryError, match="invalid field name"):
        to_duckdb_sql('zeek\\"x:SF')


def test_match_all_queries_give_true_without_parameters() -> None:
    for query in ("", "*", "*:*", "  *  "):
        assert to_duckdb_sql(query) == MATCH_ALL
    assert parse_query("").tree is None


def test_parse_once_translate_many() -> None:
    parsed = parse_query("user.name:root AND (zeek.conn_state:SF OR _exists_:tags) wp-login")
    assert isinstance(parsed, LuceneQuery)
    assert parsed.fields() == {"user.name", "zeek.conn_state", "tags"}
    assert to_duckdb_sql(parsed) == to_duckdb_sql(parsed.text)
    assert parse_query("url\\.path:x *:y").fields() == {"url.path"}


DATE_SPANS: list[tuple[str, str, str]] = [
    # value (NOW is Friday 2024-05-10 12:00Z) → the [start, end) an equality query covers
    ("now/y", "2024-01-01T00:00:00", "2025-01-01T00:00:00"),
    ("now/M", "2024-05-01T00:00:00", "2024-06-01T00:00:00"),
    ("now/w", "2024-05-06T00:00:00", "2024-05-13T00:00:00"),  # weeks start on Monday
    ("now-1M/M", "2024-04-01T00:00:00", "2024-05-01T00:00:00"),
    ("now+1y/y", "2025-01-01T00:00:00", "2026-01-01T00:00:00"),
    ("now-15m/m", "2024-05-10T11:45:00", "2024-05-10T11:46:00"),
    ("now/H", "2024-05-10T12:00:00", "2024-05-10T13:00:00"),
    ("now-90s/s", "2024-05-10T11:58:30", "2024-05-10T11:58:31"),
    ("now-1d", "2024-05-09T12:00:00", "2024-05-09T12:00:00.000001"),
    ("2024-01-31||+1M", "2024-02-29T00:00:00", "2024-03-01T00:00:00"),  # clamped to Feb 29
    ("2024-02", "2024-02-01T00:00:00", "2024-03-01T00:00:00"),
    ("2024", "2024-01-01T00:00:00", "2025-01-01T00:00:00"),
    ("2024-05-10T12:00:00.5", "2024-05-10T12:00:00.500000", "2024-05-10T12:00:00.600000"),
    ('"2024-05-10T14:00:00+02:00"', "2024-05-10T12:00:00", "2024-05-10T12:00:01"),
    ("1715342400000", "2024-05-10T12:00:00", "2024-05-10T12:00:00.001"),
]


@pytest.mark.parametrize(("value", "start", "end"), DATE_SPANS)
def test_date_values_cover_their_whole_unit(value: str, start: str, end: str) -> None:
    assert to_duckdb_sql(f"@timestamp:{value}", now=NOW).params == (ts(start), ts(end))


def test_now_defaults_to_current_time_and_naive_means_utc() -> None:
    naive = datetime(2024, 5, 10, 12, 0, 0)
    assert to_duckdb_sql("@timestamp:>now-1h", now=naive) == to_duckdb_sql(
        "@timestamp:>now-1h", now=NOW
    )
    (start,) = to_duckdb_sql("@timestamp:>=now").params
    assert isinstance(start, datetime)
    assert abs((datetime.now(UTC) - start).total_seconds()) < 60


def test_install_sql_functions_is_idempotent(con: duckdb.DuckDBPyConnection) -> None:
    install_sql_functions(con)
    install_sql_functions(con)
    rows = con.execute(
        "SELECT loglens_ipv4_to_int('10.0.0.1'), loglens_ipv4_to_int('10.0.0.256'),"
        " loglens_ip_key('::1'), loglens_ip_key('10.0.0.1'), loglens_ip_key('nope'),"
        " loglens_ip_key(NULL)"
    ).fetchall()
    assert rows == [
        (167772161, None, "0" * 31 + "1", "00000000000000000000ffff0a000001", None, None)
    ]


# --------------------------------------------------------------------------------------------
# Property: any text is either rejected with a QueryError or runs on the table.
# --------------------------------------------------------------------------------------------

_FIELD_TOKENS = [f"{f.name}:" for f in FIELDS] + ["zeek.conn_state:", "_exists_:", "*:"]
# fmt: off
_SYNTAX_TOKENS = [
    " ", " AND ", " OR ", "NOT ", "&&", "||", "!", "+", "-", "(", ")", "[", "]", "{", "}",
    " TO ", "*", "?", '"', "/", "\\", "~", "^2", ".", ">", ">=", "<", "<=", ":", "'", "%", "_",
    "404", "-5", "1.5e3", "10.0.0.0/8", "2001\\:db8\\:\\:/32", '"fe80::/10"', "now-1d/d",
    "now", "2024-05-08", "2024-05-10T11:59", "1715342399500", "root", "wp-login", "SF", "é",
]
# fmt: on
_lucene_like = st.lists(st.sampled_from(_FIELD_TOKENS + _SYNTAX_TOKENS), max_size=12).map("".join)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(text=st.one_of(st.text(max_size=40), _lucene_like))
def test_any_text_is_rejected_or_runs(con: duckdb.DuckDBPyConnection, text: str) -> None:
    for operator in ("OR", "AND"):
        try:
            predicate = to_duckdb_sql(text, default_operator=operator, now=NOW)
        except QueryError:
            return
        result = matching(con, predicate)
        assert result <= ALL
