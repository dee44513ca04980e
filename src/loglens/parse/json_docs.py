"""JSON documents: ECS documents (``ecs``) and any other JSON object (``json``).

This module also holds what the table parser (``tabular.py``) and the Windows parser share: the
alias table :data:`ALIASES`, the key-matching query :class:`KeyedRecords`, and SQL helpers that
turn text into the schema's kinds (:func:`timestamp_sql`, :func:`ip_sql`, ...).

ECS documents (``ecs``)
-----------------------
Every schema column is read from its own ECS path, nested (``{"source": {"ip": ..}}``) or as one
flat dotted key (``{"source.ip": ..}``); the list is built from ``loglens.schema.FIELDS``.

- Not read from the document: ``event.original`` (the pipeline stores the raw record there),
  ``event.id``, ``event.ingested``, ``log.file.path``/``log.file.line`` (provenance),
  ``error.message`` (reserved for parse failures) and ``extra``.
- An array where the schema holds one value (``event.category: ["authentication"]``) gives its
  first element; ``tags`` keeps the whole array (a text value is split on commas).
- Kibana's sample web logs (``kibana_sample_data_logs``: ``clientip``, ``request`` and
  ``response`` keys) are read too: ``clientip``/``ip`` → source.ip, ``response`` →
  http.response.status_code, ``bytes`` → http.response.body.bytes, ``agent`` →
  user_agent.original, ``referer`` → http.request.referrer, ``url`` → url.original, ``request``
  → url.path, ``host`` → url.domain (the site served), the method from ``message``,
  ``timestamp``/``utc_time`` → @timestamp; category ``web``/``access``, outcome from the status.
  ``machine.os`` → extra ``user_agent.os.name`` (the visitor's system), ``geo.src``/``geo.dest``
  → extra ``source``/``destination.geo.country_iso_code``, ``extension`` → extra
  ``url.extension``.
- event.dataset: the document's; else ``kibana.sample_logs`` for the Kibana shape; else
  ``ecs.generic``. event.module: the document's; else the part of the dataset before its first
  dot (``nginx.access`` → ``nginx``); else ``ecs``.
- Keys the schema lacks stay in the raw record (``event.original``, kept for such records:
  below); a fixed list of common ECS fields (``_ECS_EXTRA``: event.provider, service.name,
  process.parent.*, user.id, url.scheme, ..., and what Beats and Elastic Agent add to every
  document: agent.*, ecs.version, log.offset, data_stream.*, host.os.*, ...) is kept in
  ``extra`` under its ECS name.
- Values are cast as for generic JSON (below); the documents claim to be ECS, so a value that
  does not fit its field (an address ``999.1.1.1``, an ``event.kind`` outside ECS's list) is
  dropped without a note: it is still in ``event.original``.
- Completeness: the parser says per record (``_complete``, see :class:`CompletenessCheck`)
  whether the columns and ``extra`` hold all of it, so that ``keep_original = auto`` keeps
  the raw text only where they do not. Complete means every member of the document is on a
  path the parser reads (no unread key, no ``null``, no repeated key, no second path for the
  same column such as a flat ``"source.ip"`` next to the nested one) and every value comes
  back as written: no value dropped or rewritten by a cast (trimmed text, ``-``, a number
  with a fraction where a count goes, a time with an offset or beyond microseconds, a
  spelling ECS's lists or the address rules change), no array where one value goes (a
  one-element array is fine), no object. Kibana-shaped records are never complete. Numbers
  count as their value (``1.10`` is held as ``1.1``).
- Detection: 0.9 × the share of records that have ``@timestamp`` and at least two ECS top-level
  objects (``event``, ``source``, ``host``, ``http``, ``url``, ``ecs``, ...), or the Kibana
  sample shape.
- Plan: the parser reads, for the records whose top-level keys all occur in the detection sample
  (``ctx.sample``), only the paths under those keys (a web log: 36 paths instead of 202, no
  Kibana keys or flat variants the sample lacks), each in a column of its own. Every other
  record (a new top-level key, leading blanks, not a JSON object) gets the full reading: one
  ``json_keys`` per record decides, and a record's values never depend on the sample. Within
  a plan, the paths no sample record has a value for are worked on only where a record has
  one (``_rare``); elsewhere they are constant NULLs, which cost next to nothing.
- Shaped reading: when most sample documents are written alike (the same keys in the same
  order, the same separators, plain values: one program's output), the records written that
  way are read first, all values in one pass, and recognised by comparing each record's text
  with the document rebuilt from its values (:mod:`loglens.parse.json_shape`). Only the
  records it does not recognise go through the plan (or the full reading); a record's row
  is the same whichever reading takes it.

Generic JSON (``json``) and tables
----------------------------------
Top-level keys are matched to columns case-insensitively, the best match first:

1. ``ctx.column_map`` (``--map key=field``), exact key; a field the schema lacks goes to
   ``extra`` under that name.
2. The ECS name with ``_``, ``-`` or spaces for dots, with or without ``@``: ``source.ip``,
   ``Source IP``, ``source_ip``; ``@timestamp``/``timestamp``.
3. The aliases of :data:`ALIASES`, compared without case or punctuation (``src_ip`` = ``SrcIP``
   = ``src-ip``), in their listed order, then the ECS name without separators (``sourceip``;
   not for event.kind/category/type/outcome, whose values ECS restricts).

A key fills at most one column and a column takes its best key (if that key's value does not
cast, the column stays empty: the next-best key is not tried). Keys are matched once per distinct
key list (a table has one, an NDJSON log a few), not per record. Every other top-level key goes
to ``extra`` under its own name with its JSON value (objects and arrays included): nothing of the
record is hidden. Nested keys are read only when ``--map`` names them (``userIdentity.userName``);
documents in nested ECS form are the ``ecs`` parser's.

Values are cast to the column's kind: timestamps from ISO 8601 text, epoch seconds, milliseconds,
microseconds or nanoseconds (told apart by their number of digits), ``/Date(ms)/``, Apache,
RFC 1123, ``MM/DD/YYYY [hh:mm:ss [AM]]`` (US order) and year-less syslog spellings; numbers via
``TRY_CAST`` (ports 1-65535 only); addresses must be IPv4/IPv6 (``::ffff:a.b.c.d`` becomes
``a.b.c.d``; brackets and ``%zone`` are dropped); transports by name or IANA number (6 → tcp);
``event.kind/category/type/outcome`` must be ECS allowed values (``succeeded``, ``ok``,
``failed``, ``denied`` ... are read as success/failure). ``-`` and empty text are no value. A
value that does not fit keeps the event: it goes to ``extra`` under its key and the field is
named in ``extra["loglens.invalid_fields"]`` (comma-separated).

Generic JSON dataset: the record's own (a key mapped to event.dataset) or ``json.generic`` — a
per-file dataset would split rotated files (``app-2024-01-01.json``) into many; ``log.file.path``
still names the file. Module ``json``. Detection: 0.6 when at least 80 % of the sample are JSON
objects, so every specific JSON format (≥ 0.8) wins.

Records that are not JSON objects fail with ``invalid JSON`` (``... looks cut off`` for an
unterminated object) or ``not a JSON object (an array)``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loglens.parse.base import (
    FastPath,
    ParseContext,
    Parser,
    Sample,
    share_matching,
    sql_string,
)
from loglens.parse.json_fields import json_path
from loglens.parse.json_shape import DocumentShape
from loglens.parse.timestamps import epoch_to_utc, iso_to_utc, naive_to_utc, yearless_to_utc
from loglens.schema import FIELD_BY_NAME, FIELDS, Kind, quote_ident

# --- the shared alias table -------------------------------------------------------------------

ALIASES: dict[str, tuple[str, ...]] = {
    "@timestamp": (
        "@timestamp", "timestamp", "time", "ts", "datetime", "date_time", "TimeGenerated",
        "TimeCreated", "EventTime", "event_time", "created_at", "createdAt", "logged_at",
        "utc_time", "Date and Time", "asctime", "_time", "date",
    ),
    "message": (
        "message", "msg", "Message", "log", "SyslogMessage", "text", "log_message",
        "event_message",
    ),
    "host.name": (
        "host", "hostname", "host_name", "Computer", "computer_name", "MachineName", "machine",
        "DeviceName",
    ),
    "host.ip": ("HostIP", "host_ip", "host_address"),
    "source.ip": (
        "src_ip", "srcip", "src", "source_address", "src_addr", "saddr", "client_ip",
        "clientip", "client_addr", "client_address", "remote_addr", "remote_ip", "IpAddress",
        "sourceIPAddress", "callerIpAddress", "c-ip", "id.orig_h", "ip_address", "ip",
    ),
    "source.port": (
        "src_port", "srcport", "sport", "client_port", "remote_port", "IpPort", "c-port",
        "id.orig_p",
    ),
    "source.domain": ("src_host", "source_host", "client_host", "SourceHostname", "rhost"),
    "destination.ip": (
        "dst_ip", "dstip", "dst", "dest_ip", "dest", "dst_addr", "daddr", "server_ip",
        "DestAddress", "DestinationIp", "s-ip", "id.resp_h", "target_ip",
    ),
    "destination.port": (
        "dst_port", "dstport", "dport", "dest_port", "server_port", "DestPort",
        "id.resp_p", "target_port",
    ),
    "destination.domain": ("dst_host", "dest_host", "destination_host", "DestinationHostname"),
    "user.name": (
        "user", "username", "usr", "account", "account_name", "login", "cs-username",
        "userPrincipalName",
    ),
    "user.domain": ("user_domain", "account_domain", "logon_domain"),
    "process.name": (
        "ProcessName", "process", "proc", "program", "prog", "app", "appname", "application",
        "SYSLOG_IDENTIFIER", "syslog_program", "ident", "comm",
    ),
    "process.pid": ("pid", "process_id", "proc_id", "_PID"),
    "process.executable": ("exe", "executable", "image", "image_path", "process_path"),
    "process.command_line": ("command_line", "cmdline", "cmd", "command", "proctitle"),
    "log.level": (
        "level", "loglevel", "levelname", "level_name", "severity", "SeverityLevel",
        "severity_text", "lvl",
    ),
    "event.severity": ("severity_number", "severity_num", "SeverityValue", "severity_code"),
    "event.code": ("EventID", "event_id", "EventCode", "Event ID"),
    "event.action": (
        "action", "eventName", "event_name", "operation", "operationName", "activity", "act",
    ),
    "event.outcome": ("outcome", "result", "resultType"),
    "event.dataset": ("dataset", "log_type", "sourcetype"),
    "http.request.method": ("method", "http_method", "request_method", "cs-method", "verb"),
    "http.response.status_code": (
        "status", "status_code", "http_status", "response_code", "response", "sc-status",
    ),
    "http.response.body.bytes": (
        "bytes", "body_bytes_sent", "bytes_sent", "response_bytes", "response_size", "sc-bytes",
    ),
    "http.request.referrer": ("referer", "referrer", "http_referer", "http_referrer"),
    "user_agent.original": (
        "user_agent", "http_user_agent", "agent", "ua", "cs(User-Agent)",
    ),
    "url.original": ("url", "uri", "request_uri", "request", "request_url", "cs-uri"),
    "url.path": ("uri_path", "request_path", "cs-uri-stem"),
    "url.query": ("query_string", "uri_query", "cs-uri-query"),
    "url.domain": ("vhost", "server_name", "http_host", "cs-host"),
    "dns.question.name": ("qname", "query_name", "QueryName", "dns_query", "dns_question"),
    "dns.question.type": ("qtype", "qtype_name", "query_type", "record_type"),
    "dns.response_code": ("rcode", "rcode_name", "dns_rcode"),
    "network.transport": ("proto", "transport", "ip_protocol", "protocol"),
    "network.protocol": ("app_proto", "application_protocol", "l7_protocol"),
    "network.bytes": ("total_bytes", "bytes_total"),
    "source.bytes": ("src_bytes", "orig_bytes", "sent_bytes"),
    "destination.bytes": ("dst_bytes", "resp_bytes", "received_bytes"),
    "source.packets": ("src_packets", "orig_pkts"),
    "destination.packets": ("dst_packets", "resp_pkts"),
    "rule.name": ("rule", "rule_name", "signature", "alert_name"),
    "rule.id": ("rule_id", "signature_id", "sid"),
    "tags": ("tags", "tag"),
    # ECS fields the schema lacks: their values go to ``extra`` under the ECS name.
    "log.syslog.facility.name": ("Facility", "syslog_facility", "facility_label"),
    "log.logger": ("logger", "logger_name"),
    "process.thread.name": ("thread", "thread_name"),
    "trace.id": ("trace_id",),
    "span.id": ("span_id",),
    "http.request.id": ("request_id",),
    "event.provider": ("eventSource", "provider", "ProviderName", "SourceName"),
    "cloud.region": ("awsRegion", "region"),
}  # fmt: skip
"""ECS field → source keys that mean it, best first (generic JSON and tables).

Keys are compared without case or punctuation (see :func:`alias_key`); a target the schema lacks
is written to ``extra`` under its ECS name.
"""

NOT_FROM_RECORDS: frozenset[str] = frozenset(
    {"event.original", "event.id", "event.ingested", "log.file.path", "log.file.line",
     "error.message", "extra"}
)  # fmt: skip
"""Schema columns a record never fills: the pipeline sets them (provenance, ids, failures)."""

ENUMERATED: dict[str, tuple[str, ...]] = {
    "event.kind": (
        "alert", "asset", "enrichment", "event", "metric", "state", "pipeline_error", "signal",
    ),
    "event.category": (
        "api", "authentication", "configuration", "database", "driver", "email", "file", "host",
        "iam", "intrusion_detection", "library", "malware", "network", "package", "process",
        "registry", "session", "threat", "vulnerability", "web",
    ),
    "event.type": (
        "access", "admin", "allowed", "change", "connection", "creation", "deletion", "denied",
        "end", "error", "group", "indicator", "info", "installation", "protocol", "start", "user",
    ),
    "event.outcome": ("failure", "success", "unknown"),
}  # fmt: skip
"""ECS fields with allowed values (ECS 8.x)."""

INVALID_FIELDS_KEY = "loglens.invalid_fields"
"""``extra`` key naming the fields whose source value could not be cast (comma-separated)."""

_SUCCESS_WORDS = ("succeeded", "successful", "ok", "pass", "passed", "allow", "allowed",
                  "accept", "accepted", "true")  # fmt: skip
_FAILURE_WORDS = ("fail", "failed", "error", "denied", "deny", "blocked", "reject", "rejected",
                  "drop", "dropped", "false")  # fmt: skip

# IANA protocol numbers of the transports logs name by number (Windows WFP events, NetFlow).
_TRANSPORT_NUMBERS = {"1": "icmp", "2": "igmp", "6": "tcp", "17": "udp", "47": "gre",
                      "50": "esp", "51": "ah", "58": "ipv6-icmp", "132": "sctp"}  # fmt: skip

# RFC 3339 date and time with an explicit offset (``2024-05-20T14:02:11.512Z``).
_RFC3339 = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"
_IPV4 = r"((25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_HEX = r"[0-9A-Fa-f]{1,4}"
# IPv6: eight groups, or one "::" between groups (a MAC address is neither), or an IPv4 tail.
_IPV6 = (
    rf"({_HEX}:){{7}}{_HEX}"
    rf"|({_HEX}(:{_HEX}){{0,6}})?::({_HEX}(:{_HEX}){{0,6}})?"
    rf"|({_HEX}:){{6}}{_IPV4}|({_HEX}(:{_HEX}){{0,5}})?::({_HEX}:){{0,5}}{_IPV4}"
)


def alias_key(key: str) -> str:
    """How aliases are compared: lower case, letters and digits only (``Src-IP`` → ``srcip``)."""
    return re.sub(r"[^a-z0-9]", "", key.lower())


def ecs_key(key: str) -> str:
    """How ECS names are compared: lower case, no ``@``, runs of ``_ -`` and space as a dot."""
    return re.sub(r"[\s_\-]+", ".", key.strip().lower().lstrip("@")).strip(".")


def _alias_key_sql(expr: str) -> str:
    return f"regexp_replace(lower({expr}), '[^a-z0-9]', '', 'g')"


def _ecs_key_sql(expr: str) -> str:
    dotted = f"regexp_replace(regexp_replace(lower(trim({expr})), '^@+', ''), '[\\s_-]+', '.', 'g')"
    return f"trim({dotted}, '.')"


# --- SQL helpers: text to schema kinds --------------------------------------------------------


def record_error_sql(raw: str = "raw") -> str:
    """Why a record is not a JSON object (NULL when it is one), as a SQL expression."""
    kind = (
        f"CASE json_type({raw}) WHEN 'ARRAY' THEN 'an array' WHEN 'VARCHAR' THEN 'a string' "
        f"WHEN 'BOOLEAN' THEN 'a boolean' WHEN 'NULL' THEN 'null' ELSE 'a number' END"
    )
    return (
        f"CASE WHEN NOT json_valid({raw}) THEN "
        f"CASE WHEN starts_with(ltrim({raw}), '{{') AND NOT ends_with(rtrim({raw}), '}}') "
        f"THEN 'invalid JSON: the record looks cut off' ELSE 'invalid JSON' END "
        # Valid JSON starting with '{' is an object: no second parse for json_type.
        f"WHEN {raw} >= '{{' AND {raw} < '|' THEN NULL "
        f"WHEN json_type({raw}) <> 'OBJECT' THEN 'not a JSON object (' || {kind} || ')' END"
    )


def trim_sql(expr: str) -> str:
    """``trim(expr)``, skipped when it has nothing to remove.

    DuckDB's ``trim`` removes Unicode space separators (category Zs: U+0020, U+00A0, U+3000,
    ...) and decodes the whole text to find them: on a user agent it costs as much as parsing
    the JSON record. All-ASCII text (as many bytes as characters) has only U+0020 among them:
    it has nothing to trim when its first byte is above the space (``>= '!'``: DuckDB compares
    text as bytes) and its last is not a space.
    """
    return (
        f"CASE WHEN {expr} >= '!' AND NOT ends_with({expr}, ' ') "
        f"AND strlen({expr}) = length({expr}) THEN {expr} ELSE trim({expr}) END"
    )


def blank_to_null_sql(expr: str) -> str:
    """Trimmed text, NULL for empty text and ``-`` (the usual "no value")."""
    return f"nullif(nullif({trim_sql(expr)}, ''), '-')"


def scalar_sql(expr: str) -> str:
    """Extracted JSON text as one value: an array gives its first element, an object nothing."""
    # Text compares as bytes: '[' <= x < '\\' is "starts with [" ('{' and '|' likewise), five
    # times cheaper than starts_with and ten than left(x, 1) (which cuts grapheme clusters).
    bracket = f"({expr} >= '[' AND {expr} < '\\')"
    return (
        f"CASE WHEN ({bracket} OR ({expr} >= '{{' AND {expr} < '|')) AND json_valid({expr}) "
        f"THEN CASE WHEN {bracket} THEN json_extract_string({expr}, '$[0]') END "
        f"ELSE {expr} END"
    )


def _epoch_sql(text: str) -> str:
    """Epoch digits (``\\d+(\\.\\d+)?``) to TIMESTAMPTZ, the unit told by the integer's length.

    9-11 digits are seconds (1973-5138), 12-14 milliseconds, 15-17 microseconds, 18-20
    nanoseconds: the decimal point is moved to make seconds, which ``epoch_to_utc`` reads.
    """
    branches = []
    for low, high, shift in ((9, 11, 0), (12, 14, 3), (15, 17, 6), (18, 20, 9)):
        seconds = text
        if shift:
            pattern = sql_string(f"^(\\d+)(\\d{{{shift}}})(?:\\.(\\d+))?$")
            seconds = f"regexp_replace({text}, {pattern}, '\\1.\\2\\3')"
        match = sql_string(f"\\d{{{low},{high}}}(\\.\\d+)?")
        branches.append(f"WHEN regexp_full_match({text}, {match}) THEN {epoch_to_utc(seconds)}")
    return f"CASE {' '.join(branches)} END"


def timestamp_sql(expr: str, ctx: ParseContext, *, trimmed: bool = False) -> str:
    """Text holding a timestamp in a common spelling → TIMESTAMPTZ (NULL if none fits).

    ISO 8601 (``T`` or space, ``,`` or ``.`` fraction, ``Z``/offset/``UTC`` or none: then in
    ``ctx.timezone``; DuckDB's ``+00`` offsets too), epoch numbers by magnitude, ``/Date(ms)/``,
    Apache ``21/Oct/2020:07:28:00 +0000``, RFC 1123, US ``MM/DD/YYYY [hh:mm[:ss] [AM|PM]]``
    and year-less syslog ``Oct 21 07:28:00``. ``trimmed``: ``expr`` is already trimmed.
    """
    # RFC 3339 with T and an offset (most JSON logs): none of the rewrites of the general rules
    # changes it and every time zone reads it the same, so it is cast directly (the general
    # rules cost ten times more).
    return (
        f"CASE WHEN regexp_full_match({expr}, {sql_string(_RFC3339)}) "
        f"THEN TRY_CAST({expr} AS TIMESTAMPTZ) "
        f"ELSE {_timestamp_rules_sql(expr if trimmed else f'trim({expr})', ctx)} END"
    )


def _timestamp_rules_sql(v: str, ctx: ParseContext) -> str:
    """:func:`timestamp_sql` of trimmed text ``v``, spelling by spelling."""
    iso = (
        f"regexp_replace(regexp_replace(regexp_replace(regexp_replace({v}, "
        f"'^(\\d{{4}})/(\\d\\d)/(\\d\\d)', '\\1-\\2-\\3'), "
        f"'(\\d\\d:\\d\\d:\\d\\d),(\\d)', '\\1.\\2'), "
        f"'\\s*(UTC|GMT)$', 'Z'), "
        f"'(\\d\\d:\\d\\d(:\\d\\d(\\.\\d+)?)?)([+-]\\d\\d)$', '\\1\\4:00')"
    )
    dotnet = f"regexp_extract({v}, '^/Date\\((\\d+)', 1)"  # .NET JSON: milliseconds
    us_formats = ("%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M %p",
                  "%m/%d/%Y %H:%M", "%m/%d/%Y")  # fmt: skip
    us = ", ".join(f"try_strptime({v}, {sql_string(f)})" for f in us_formats)
    syslog = f"regexp_extract({v}, '^([A-Z][a-z]{{2}} +\\d{{1,2}} \\d\\d:\\d\\d:\\d\\d)', 1)"
    return (
        f"CASE WHEN {v} IS NULL THEN NULL "
        f"WHEN regexp_full_match({v}, '\\d+(\\.\\d+)?') THEN {_epoch_sql(v)} "
        f"WHEN regexp_matches({v}, '^/Date\\(\\d+') THEN {_epoch_sql(dotnet)} "
        f"WHEN regexp_matches({v}, '^\\d{{4}}[-/]\\d\\d[-/]\\d\\d') THEN {iso_to_utc(iso, ctx)} "
        f"WHEN regexp_matches({v}, '^\\d\\d/[A-Za-z]{{3}}/\\d{{4}}:') "
        f"THEN try_strptime({v}, '%d/%b/%Y:%H:%M:%S %z') "
        f"WHEN regexp_matches({v}, '^[A-Za-z]{{3}}, ') "
        f"THEN coalesce(try_strptime({v}, '%a, %d %b %Y %H:%M:%S %z'), "
        f"try_strptime({v}, '%a, %d %b %Y %H:%M:%S %Z')) "
        f"WHEN regexp_matches({v}, '^\\d{{1,2}}/\\d{{1,2}}/\\d{{4}}') "
        f"THEN {naive_to_utc(f'coalesce({us})', ctx)} "
        f"WHEN {syslog} <> '' THEN {yearless_to_utc(syslog, ctx)} END"
    )


def ip_sql(expr: str, *, trimmed: bool = False) -> str:
    """An IPv4/IPv6 address from text (brackets, zone and the ``::ffff:`` prefix removed)."""
    # A plain IPv4 address (the usual value) is kept as it is, without the rewrites.
    return (
        f"CASE WHEN regexp_full_match({expr}, {sql_string(_IPV4)}) THEN {expr} "
        f"ELSE {_ip_rules_sql(expr if trimmed else f'trim({expr})')} END"
    )


def _ip_rules_sql(text: str) -> str:
    """:func:`ip_sql` of trimmed text, rewrites first."""
    v = (
        f"regexp_replace(regexp_replace(regexp_replace({text}, '^\\[(.*)\\]$', '\\1'), "
        f"'%.*$', ''), '^::ffff:(\\d+\\.\\d+\\.\\d+\\.\\d+)$', '\\1', 'i')"
    )
    return (
        f"CASE WHEN regexp_full_match({v}, {sql_string(_IPV4)}) "
        f"OR regexp_full_match({v}, {sql_string(_IPV6)}) THEN {v} END"
    )


def port_sql(expr: str) -> str:
    """A port number (1-65535); 0, text and out-of-range values are no port."""
    number = f"TRY_CAST({expr} AS BIGINT)"
    return f"CASE WHEN {number} BETWEEN 1 AND 65535 THEN {number} END"


def transport_sql(expr: str, *, trimmed: bool = False) -> str:
    """network.transport from a name (``TCP``) or an IANA protocol number (``6``)."""
    text = expr if trimmed else f"trim({expr})"
    numbers = " ".join(
        f"WHEN {sql_string(n)} THEN {sql_string(name)}" for n, name in _TRANSPORT_NUMBERS.items()
    )
    names = ", ".join(sql_string(name) for name in sorted(set(_TRANSPORT_NUMBERS.values())))
    return (
        f"CASE {text} {numbers} ELSE CASE WHEN lower({text}) IN ({names}, 'icmpv6') "
        f"THEN replace(lower({text}), 'icmpv6', 'ipv6-icmp') END END"
    )


def enumerated_sql(field: str, expr: str, *, trimmed: bool = False) -> str:
    """The value if ECS allows it for ``field`` (case-insensitive), else NULL."""
    v = f"lower({expr})" if trimmed else f"lower(trim({expr}))"
    if field == "event.outcome":
        success = ", ".join(sql_string(w) for w in _SUCCESS_WORDS)
        failure = ", ".join(sql_string(w) for w in _FAILURE_WORDS)
        v = (
            f"CASE WHEN {v} IN ({success}) THEN 'success' "
            f"WHEN {v} IN ({failure}) THEN 'failure' ELSE {v} END"
        )
    allowed = ", ".join(sql_string(a) for a in ENUMERATED[field])
    return f"CASE WHEN {v} IN ({allowed}) THEN {v} END"


def tags_sql(expr: str) -> str:
    """A VARCHAR[] from a JSON array of strings or comma-separated text."""
    return (
        f"CASE WHEN {expr} IS NULL THEN NULL "
        f"WHEN starts_with({expr}, '[') AND json_valid({expr}) "
        f"THEN list_filter(from_json({expr}, '[\"VARCHAR\"]'), lambda t: coalesce(t, '') <> '') "
        f"ELSE list_filter(list_transform(string_split({expr}, ','), lambda t: trim(t)), "
        f"lambda t: t <> '') "
        f"END"
    )


def cast_sql(field: str, expr: str, ctx: ParseContext, *, trimmed: bool = False) -> str:
    """Text → the schema kind of ``field`` (NULL when the text does not fit).

    ``trimmed``: ``expr`` is already trimmed (:func:`blank_to_null_sql`), so no cast trims it
    again (``trim`` is idempotent: the result is the same, the SQL shorter and faster).
    """
    kind = FIELD_BY_NAME[field].kind
    if field in ENUMERATED:
        return enumerated_sql(field, expr, trimmed=trimmed)
    if field == "network.transport":
        return transport_sql(expr, trimmed=trimmed)
    if field in ("source.port", "destination.port"):
        return port_sql(expr)
    if kind is Kind.DATE:
        return timestamp_sql(expr, ctx, trimmed=trimmed)
    if kind is Kind.LONG:
        return f"TRY_CAST({expr if trimmed else f'trim({expr})'} AS BIGINT)"
    if kind is Kind.IP:
        return ip_sql(expr, trimmed=trimmed)
    if kind is Kind.KEYWORD_LIST:
        return tags_sql(expr)
    return expr


def can_fail(field: str) -> bool:
    """Whether ``cast_sql`` may turn a value of ``field`` into NULL (a value that does not fit)."""
    kind = FIELD_BY_NAME[field].kind
    return (
        field in ENUMERATED
        or field == "network.transport"
        or kind in (Kind.DATE, Kind.LONG, Kind.IP)
    )


def json_object_record(record: str) -> dict[str, Any] | None:
    """The record as a dict if it is a JSON object (for ``sniff``), else None."""
    text = record.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def mappable_fields() -> list[str]:
    """Schema columns a record may fill (all but the pipeline's own)."""
    return [f.name for f in FIELDS if f.name not in NOT_FROM_RECORDS]


def scalar_list_sql(values: str) -> str:
    """:func:`scalar_sql` over every element of a list of extracted texts (one expression)."""
    return f"list_transform({values}, lambda x: {scalar_sql('x')})"


def blank_list_sql(values: str) -> str:
    """:func:`blank_to_null_sql` over every element of a list of texts (one expression)."""
    return f"list_transform({values}, lambda x: {blank_to_null_sql('x')})"


def select_list(items: Iterable[str]) -> str:
    """Items of a SELECT list, one a line."""
    return ",\n       ".join(items)


# --- per-candidate path extraction --------------------------------------------------------------


class PathCandidates:
    """JSON paths per target, each candidate readable on its own.

    ``JsonExtraction`` coalesces a target's paths before any transform; here every candidate is
    a separate text (``texts``), so a candidate that does not cast (an ECS ``host`` object where
    a name was hoped for) falls through to the next one.

    Two layouts of the same values:

    - lists (the default): one list per record of every path's text (``j``), then of the
      scalars (``js``) and of the blank-cleaned scalars (``jb``). Transforms that apply to every
      candidate run once over the whole list (:func:`scalar_list_sql`), not once per column:
      DuckDB's binder slows down sharply with hundreds of expressions in one SELECT.
    - columns (``top_keys`` given, for a plan): only the paths under those top-level keys are
      read, and each used path becomes its own columns ``j_<n>``, ``js_<n>``, ``jb_<n>``, with
      only the transforms some column reads (a few dozen paths: cheaper than list lambdas).

    A path under a top-level key outside ``top_keys`` is not read at all: for a record whose
    top-level keys are all in ``top_keys`` its value is NULL anyway, so both layouts give such a
    record the same values. ``only`` narrows the paths further to the key paths it names (the
    shaped reading, whose records have no value elsewhere).
    """

    def __init__(
        self,
        targets: Sequence[tuple[str, Sequence[str]]],
        *,
        flat_aliases: bool = True,
        top_keys: Iterable[str] | None = None,
        only: Collection[tuple[str, ...]] | None = None,
    ) -> None:
        self.top_keys = None if top_keys is None else frozenset(top_keys)
        self.paths: list[str] = []
        """The JSON paths read, in list order (slot ``n`` is ``paths[n - 1]``)."""
        self.keys: list[tuple[str, ...]] = []
        """The keys each path goes through, from the top (``("source", "ip")``, or
        ``("source.ip",)`` for the flat variant), in the order of :attr:`paths`."""
        self._candidates: dict[str, list[list[int]]] = {}
        self._used: dict[str, set[int]] = {"j": set(), "js": set(), "jb": set()}
        for target, paths in targets:
            candidates = self._candidates.setdefault(target, [])
            for path in paths:
                # A dotted path is read nested and, as in exports, as one flat key.
                variants = [(tuple(path.split(".")), json_path(path))]
                if flat_aliases and "." in path:
                    variants.append(((path,), json_path(path, flat=True)))
                slots = []
                for keys, variant in variants:
                    if self.top_keys is not None and keys[0] not in self.top_keys:
                        continue
                    if only is not None and keys not in only:
                        continue
                    if variant not in self.paths:
                        self.paths.append(variant)
                        self.keys.append(keys)
                    slots.append(self.paths.index(variant) + 1)  # DuckDB lists are 1-based
                candidates.append(slots)

    @property
    def planned(self) -> bool:
        """Whether only the paths under ``top_keys`` are read (the column layout)."""
        return self.top_keys is not None

    def values_sql(self, column: str = "raw") -> str:
        """The extraction list for one record (NULL for a record that is not JSON)."""
        paths = ", ".join(sql_string(p) for p in self.paths)
        return f"CASE WHEN json_valid({column}) THEN json_extract_string({column}, [{paths}]) END"

    def reads_first(self, target: str) -> bool:
        """Whether the best candidate of ``target`` is read (it may be unplanned)."""
        candidates = self._candidates.get(target, [])
        return bool(candidates and candidates[0])

    def texts(self, target: str, values: str = "j") -> list[str]:
        """SQL of each read candidate's text, best first.

        ``values`` names the layer: ``j`` (extracted text), ``js`` (:func:`scalar_sql`) or
        ``jb`` (:func:`blank_to_null_sql` of the scalar). Empty text is no value. Candidates
        that are not read are left out (they are NULL for every record the plan takes).
        """
        texts = []
        for slots in self._candidates.get(target, []):
            if not slots:
                continue
            if self.planned:
                self._used[values].update(slots)
                parts = [f"nullif({values}_{slot}, '')" for slot in slots]
            else:
                parts = [f"nullif({values}[{slot}], '')" for slot in slots]
            texts.append(first_sql(parts))
        return texts

    def candidate_slots(self, target: str) -> list[list[int]]:
        """The read slots of each candidate of ``target``, best first (unread ones left out)."""
        return [slots for slots in self._candidates.get(target, []) if slots]

    def targets(self) -> list[str]:
        """Every target, in the order given."""
        return list(self._candidates)

    def slot_sql(self, slot: int, values: str = "j") -> str:
        """SQL of one slot's text in layer ``values`` (``j``, ``js`` or ``jb``, as :meth:`texts`).

        In the column layout the slot is read from then on, like the candidates :meth:`texts`
        returns.
        """
        if self.planned:
            self._used[values].add(slot)
            return f"{values}_{slot}"
        return f"{values}[{slot}]"

    def used_slots(self) -> list[int]:
        """The slots some layer of the column layout reads so far, in order."""
        return sorted(self._used["j"] | self._used["js"] | self._used["jb"])

    def layers_sql(
        self,
        source: str,
        carried: Sequence[tuple[str, str]] = (),
        seen: Iterable[int] | None = None,
    ) -> str:
        """CTEs ``src`` .. ``clean`` over ``source``: record_no, _error and the value layers.

        In the column layout, call this after every :meth:`texts` (it emits only what they
        read) and only for records known to be JSON objects (``_error`` is NULL).

        Args:
            source: the records (``record_no``, ``raw``).
            carried: more columns, ``(name, SQL over raw)``, kept in every layer. In the
                list layout the SQL must accept any text (records that are not JSON objects
                reach it too).
            seen: in the column layout, the slots the sample has values for. The others get
                ``_rare`` (whether any of them has a value): where none has, their texts are
                constant NULLs, so that their layers and casts cost next to nothing. The values
                are the same either way.
        """
        extras = [f"{sql} AS {name}" for name, sql in carried]
        names = [name for name, _ in carried]
        if not self.planned:
            return f"""src AS (
    SELECT {select_list(["record_no", "raw", f"{record_error_sql()} AS _error",
                         f"{self.values_sql()} AS j"])}
    FROM {source}
),
scalars AS (
    SELECT {select_list(["record_no", "_error", "j", *extras,
                         f"{scalar_list_sql('j')} AS js"])}
    FROM src
),
clean AS (
    SELECT {select_list(["record_no", "_error", "j", "js", *names,
                         f"{blank_list_sql('js')} AS jb"])}
    FROM scalars
)"""  # fmt: skip
        blank = sorted(self._used["jb"])
        scalar = sorted(self._used["js"] | self._used["jb"])
        text = self.used_slots()
        paths = ", ".join(sql_string(self.paths[slot - 1]) for slot in text)
        extracted = f"json_extract_string(raw, [{paths}])" if text else "NULL"
        texts = [f"j[{i}] AS j_{slot}" for i, slot in enumerate(text, 1)]
        scalars = [f"{scalar_sql(f'j_{slot}')} AS js_{slot}" for slot in scalar]
        blanks = [f"{blank_to_null_sql(f'js_{slot}')} AS jb_{slot}" for slot in blank]
        rare = [f"j_{slot}" for slot in text if seen is not None and slot not in seen]
        rare_sql = f"{first_sql(rare)} IS NOT NULL" if rare else "false"
        guarded = f"REPLACE ({', '.join(f'CASE WHEN _rare THEN {j} END AS {j}' for j in rare)})"
        return f"""src AS (
    SELECT {select_list(["record_no", "raw", f"{extracted} AS j"])} FROM {source}
),
texts AS (
    SELECT {select_list(["record_no", "CAST(NULL AS VARCHAR) AS _error", *texts, *extras])}
    FROM src
),
rare AS (SELECT *, {rare_sql} AS _rare FROM texts),
guarded AS (SELECT * {guarded if rare else ""} FROM rare),
scalars AS (SELECT {select_list(["*", *scalars])} FROM guarded),
clean AS (SELECT {select_list(["*", *blanks])} FROM scalars)"""


def first_sql(parts: Sequence[str]) -> str:
    """The first non-NULL of ``parts`` (NULL for none)."""
    if not parts:
        return "NULL"
    return parts[0] if len(parts) == 1 else f"coalesce({', '.join(parts)})"


def first_cast_sql(texts: Sequence[str], cast: Callable[[str], str]) -> str:
    """The first non-NULL of ``cast`` over ``texts`` (NULL for none).

    A long cast (timestamps, addresses) is written once, in a lambda over the list of texts,
    rather than once per text: DuckDB takes longer to bind a query than to run it on 10,000
    records when the query repeats a large expression.
    """
    cast_x = cast("x")
    if len(texts) <= 1 or cast_x == "x" or len(cast_x) < 500:
        return first_sql([cast(t) for t in texts])
    return (
        f"list_filter(list_transform([{', '.join(texts)}], lambda x: {cast_x}), "
        f"lambda y: y IS NOT NULL)[1]"
    )


def merge_json_sql(objects: Iterable[str]) -> str:
    """One JSON object text from several (NULLs skipped, null values dropped), NULL if empty."""
    # A NULL argument would reset json_merge_patch's result, so each becomes '{}' first.
    parts = ", ".join(f"coalesce(CAST({o} AS VARCHAR), '{{}}')" for o in objects)
    return f"nullif(CAST(json_merge_patch('{{}}', {parts}) AS VARCHAR), '{{}}')"


# --- ECS documents -----------------------------------------------------------------------------

_ECS_TOP_LEVEL = frozenset(
    {"event", "source", "destination", "host", "http", "url", "ecs", "agent", "user", "process",
     "network", "log", "client", "server", "dns", "file", "observer", "service", "related",
     "user_agent", "error", "labels", "cloud", "container", "rule", "threat", "tls", "data_stream",
     "organization", "trace", "transaction", "winlog", "registry"}
)  # fmt: skip
# Top-level ECS names that non-ECS logs also use for plain text (Logstash's "host": "web1").
_ECS_OBJECT_ONLY = frozenset({"host", "agent", "url", "log", "user", "process", "error", "rule"})

_ECS_EXTRA = (
    "event.provider", "event.created", "event.reason", "event.timezone", "service.name",
    "service.type", "agent.type", "agent.name", "observer.name", "observer.type",
    "observer.vendor", "observer.product", "log.logger", "log.syslog.facility.name", "file.path",
    "file.name", "process.parent.executable", "process.parent.name", "process.parent.pid",
    "process.parent.command_line", "user.id", "user.email", "user.target.name", "host.hostname",
    "host.os.name", "host.os.platform", "source.geo.country_iso_code",
    "destination.geo.country_iso_code", "url.scheme", "url.full", "url.extension",
    "http.request.body.bytes", "tls.version", "trace.id", "transaction.id", "container.id",
    "cloud.provider", "cloud.region",
    # What Beats and Elastic Agent add to every document they ship: held, so such documents
    # can be complete (their raw text not kept) and read in the shaped pass.
    "agent.version", "agent.id", "agent.ephemeral_id", "agent.hostname", "ecs.version",
    "log.offset", "log.file.path", "input.type", "data_stream.type", "data_stream.dataset",
    "data_stream.namespace", "event.agent_id_status", "elastic_agent.id",
    "elastic_agent.version", "fileset.name", "host.id", "host.architecture", "host.os.family",
    "host.os.kernel", "host.os.version", "host.os.type", "host.os.codename", "service.version",
    "cloud.account.id", "cloud.instance.id", "cloud.availability_zone", "container.name",
    "container.image.name",
)  # fmt: skip

# Kibana sample web logs: ECS field → the sample's keys; read only for records of that shape.
_KIBANA_FIELDS: dict[str, tuple[str, ...]] = {
    "source.ip": ("clientip", "ip"),
    "http.response.status_code": ("response",),
    "http.response.body.bytes": ("bytes",),
    "user_agent.original": ("agent",),
    "http.request.referrer": ("referer",),
    "url.original": ("url",),
    "url.path": ("request",),
    "url.domain": ("host",),
}
_KIBANA_EXTRA = (
    ("user_agent.os.name", "machine.os"), ("source.geo.country_iso_code", "geo.src"),
    ("destination.geo.country_iso_code", "geo.dest"), ("url.extension", "extension"),
)  # fmt: skip
# Any document may carry its time as "timestamp" (Kibana samples, many shippers).
_OTHER_TIMESTAMPS = ("timestamp", "utc_time")
# Columns the ECS parser completes after reading them (defaults, Kibana shape).
_ECS_COMPLETED = ("event.kind", "event.module", "event.dataset", "event.category", "event.type",
                  "event.outcome", "http.request.method", "network.protocol")  # fmt: skip


def _is_ecs_document(record: str) -> bool:
    doc = json_object_record(record)
    if doc is None:
        return False
    if {"clientip", "request", "response"} <= doc.keys() and (
        "timestamp" in doc or "@timestamp" in doc
    ):
        return True  # Kibana's sample web logs
    if "@timestamp" not in doc:
        return False
    tops = set()
    for key, value in doc.items():
        top = key.split(".", 1)[0]
        if top in _ECS_OBJECT_ONLY and "." not in key and not isinstance(value, dict):
            continue
        if top in _ECS_TOP_LEVEL:
            tops.add(top)
    return len(tops) >= 2


class EcsJsonParser(Parser):
    """Documents already in ECS (nested or flat dotted keys), including Kibana's sample logs."""

    name = "ecs"
    description = "Elastic Common Schema JSON documents (Beats, Elastic Agent, Kibana samples)"
    containers = frozenset({"lines", "json"})

    def sniff(self, sample: Sample) -> float:
        return 0.9 * share_matching(sample.records, _is_ecs_document)

    def sql(self, ctx: ParseContext) -> str:
        tops = sample_top_keys(ctx.sample)
        if tops is None:
            return self._select(ctx, _ecs_paths(None), "batch")
        # The plan: only the paths under the sample's top-level keys. A record with any other
        # top-level key (or that is not plainly a JSON object) takes the full reading instead.
        planned = self._select(ctx, _ecs_paths(tops), PLANNED_RECORDS)
        general = self._select(ctx, _ecs_paths(None), UNPLANNED_RECORDS)
        return planned_union_sql(tops, planned, general)

    def fast_path(self, ctx: ParseContext) -> FastPath | None:
        tops = sample_top_keys(ctx.sample)
        if tops is None:
            return None
        quick = self._select_shaped(ctx, tops)
        return FastPath(planned_sql(tops), self._select(ctx, _ecs_paths(tops), "batch"), quick)

    def _select(self, ctx: ParseContext, paths: PathCandidates, source: str) -> str:
        kibana_keys = ("source.ip", "url.path", "http.response.status_code")
        # Kibana's shape needs its three keys: when the plan reads none of one, no record the
        # plan takes has that shape.
        kibana: str | None = None
        if all(paths.reads_first(f"kibana:{f}") for f in kibana_keys):
            kibana = " AND ".join(
                f"{paths.texts(f'kibana:{f}', 'jb')[0]} IS NOT NULL" for f in kibana_keys
            )
        mapped = self._mapped_items(ctx, paths, kibana)
        seen = _seen_slots(paths, ctx.sample)
        check = CompletenessCheck(paths, _outputs(), seen)
        layers = paths.layers_sql(source, check.layer_items(), seen)
        carried = check.carried()
        return f"""
WITH {layers},
shaped AS (
    SELECT *, {f"coalesce({kibana}, false)" if kibana else "false"} AS kibana,
       {select_list(check.shaped_items())}
    FROM clean
),
lists AS (SELECT *, {select_list(check.lists_items())} FROM shaped),
kinds AS (SELECT *, {check.kinds_item()} FROM lists),
mapped AS (
    SELECT {select_list(["record_no", "_error", "kibana", *carried, *mapped])}
    FROM kinds
)
{_completed_select(carried, f"NOT kibana AND _error IS NULL AND {check.sql()}")}"""

    def _select_shaped(self, ctx: ParseContext, tops: Iterable[str]) -> str | None:
        """The quick reading: the records with the sample's layout (:class:`DocumentShape`)
        get their values from one ``json_extract_string``, with no per-path clean-ups and no
        member counting; ``_shaped`` says which records it read (the others are for
        :meth:`_select`). Its rows are those of the plan's reading, less the columns no
        value of the layout reaches (NULL for every record it reads), plus the batch's
        ``line_no`` and ``raw`` (see :class:`FastPath`)."""
        paths = _ecs_paths(tops, only=DocumentShape.key_paths(ctx.sample))
        kibana = {
            slot
            for target in paths.targets()
            if target.startswith("kibana:")
            for candidate in paths.candidate_slots(target)
            for slot in candidate
        }
        slot_of = {keys: slot for slot, keys in enumerate(paths.keys, 1) if slot not in kibana}
        shape = DocumentShape.learn(
            ctx.sample, {keys: f"j_{slot}" for keys, slot in slot_of.items()}
        )
        if shape is None:
            return None
        mapped = self._mapped_items(ctx, paths, None, every_column=False)
        reached = {f for f in _ECS_COMPLETED if paths.texts(f)}
        leaves = [(keys, slot_of[keys]) for keys, _ in shape.leaves()]
        read = {slot for _, slot in leaves}
        check = CompletenessCheck(paths, _outputs(), read)
        held = check.held_sql(read, plain=True)
        carried = [f"{layer}_{slot}" for layer in ("j", "js") for slot in check.order]
        # Every layer of a slot is its text: a record with the layout needs no clean-up.
        values = {
            slot: shape.value_sql(keys, f"_j[{i}]") for i, (keys, slot) in enumerate(leaves, 1)
        }
        texts = [f"{values.get(s, 'CAST(NULL AS VARCHAR)')} AS j_{s}" for s in paths.used_slots()]
        aliases = [f"j_{s} AS {layer}_{s}" for layer in ("js", "jb") for s in paths.used_slots()]
        extracted = ", ".join(sql_string(paths.paths[slot - 1]) for _, slot in leaves)
        return f"""
WITH src AS (
    SELECT record_no, line_no, raw, try(json_extract_string(raw, [{extracted}])) AS _j
    FROM batch
),
texts AS (SELECT {select_list(["record_no", "line_no", "raw", *texts])} FROM src),
clean AS (
    SELECT {select_list(["*", "CAST(NULL AS VARCHAR) AS _error", *aliases])},
       coalesce({shape.matches_sql()}, false) AS _shaped
    FROM texts
),
mapped AS (
    SELECT {select_list(["record_no", "line_no", "raw", "_error", "false AS kibana"])},
       {select_list(["_shaped", *carried])},
       CAST(NULL AS VARCHAR[]) AS _jk,
       {select_list(mapped)}
    FROM clean
)
{_shaped_select([*carried, "_jk"], f"_shaped AND {held}", reached)}"""

    def _mapped_items(
        self,
        ctx: ParseContext,
        paths: PathCandidates,
        kibana: str | None,
        *,
        every_column: bool = True,
    ) -> list[str]:
        """The columns, the completed columns (``_0`` ..) and ``extra``, over the layers.

        Without ``every_column``, a column no path reaches is left out (it would be NULL for
        every record), ``extra`` too; the completed ones are always there.
        """
        fields = [f for f in mappable_fields() if f not in _ECS_COMPLETED]
        if not every_column:
            fields = [f for f in fields if paths.texts(f)]
        columns = [self._column(paths, f, ctx, kibana) for f in fields]
        completed = [
            self._column(paths, f, ctx, kibana, alias=f"_{i}") for i, f in enumerate(_ECS_COMPLETED)
        ]
        extra = self._extra(paths, kibana)
        if not every_column and extra == _NO_TEXT:
            return [*columns, *completed]
        return [*columns, *completed, f"{extra} AS extra"]

    def _column(
        self,
        paths: PathCandidates,
        field: str,
        ctx: ParseContext,
        kibana: str | None,
        alias: str | None = None,
    ) -> str:
        kind = FIELD_BY_NAME[field].kind
        if kind is Kind.TEXT:
            value = first_sql(paths.texts(field, "js"))
        elif kind is Kind.KEYWORD_LIST:
            value = first_sql([tags_sql(t) for t in paths.texts(field, "j")])
        else:
            texts = paths.texts(field, "jb")
            if kibana:  # a cast of NULL is NULL: the guard may go inside
                texts += [
                    f"CASE WHEN kibana THEN {t} END" for t in paths.texts(f"kibana:{field}", "jb")
                ]
            value = first_cast_sql(texts, lambda t: cast_sql(field, t, ctx, trimmed=True))
        return f"{value} AS {quote_ident(alias or field)}"

    def _extra(self, paths: PathCandidates, kibana: str | None) -> str:
        pairs = [(f, first_sql(paths.texts(f"extra:{f}", "js"))) for f in _ECS_EXTRA]
        if kibana:
            shaped = [(f, first_sql(paths.texts(f"kibana:{f}", "js"))) for f, _ in _KIBANA_EXTRA]
            pairs += [(f, f"CASE WHEN kibana THEN {v} END") for f, v in shaped if v != "NULL"]
        # Keys the plan does not read are NULL, and NULLs are dropped from ``extra`` anyway.
        pairs = [(k, v) for k, v in pairs if v != "NULL"]
        if not pairs:
            return _NO_TEXT
        args = ", ".join(f"{sql_string(k)}, {v}" for k, v in pairs)
        merged = merge_json_sql([f"json_object({args})"])
        # Most records have none of these keys: skip building and merging an empty object.
        return f"CASE WHEN coalesce({', '.join(v for _, v in pairs)}) IS NOT NULL THEN {merged} END"


_NO_TEXT = "CAST(NULL AS VARCHAR)"


def _outputs() -> dict[str, str]:
    """Field → the SQL name of its column in ``mapped`` (the completed ones are ``_0`` ..)."""
    outputs = {f: quote_ident(f) for f in mappable_fields()}
    outputs.update({f: f"_{i}" for i, f in enumerate(_ECS_COMPLETED)})
    return outputs


def _completed_select(carried: Sequence[str], complete: str) -> str:
    """The ECS parser's last step over ``mapped``: ``_complete`` and the completed columns
    (defaults, the Kibana shape's values), without the columns the check carried."""
    excluded = ", ".join([*carried, *(f"_{i}" for i in range(len(_ECS_COMPLETED)))])
    return f"""SELECT record_no,
       * EXCLUDE (record_no, _error, kibana, {excluded}),
       coalesce({complete}, false) AS _complete,
       coalesce(_0, 'event') AS "event.kind",
       coalesce(_1, CASE WHEN kibana THEN 'kibana' END,
                CASE WHEN contains(_2, '.') THEN split_part(_2, '.', 1) END,
                'ecs') AS "event.module",
       coalesce(_2, CASE WHEN kibana THEN 'kibana.sample_logs' END, 'ecs.generic')
           AS "event.dataset",
       coalesce(_3, CASE WHEN kibana THEN 'web' END) AS "event.category",
       coalesce(_4, CASE WHEN kibana THEN 'access' END) AS "event.type",
       coalesce(_5, CASE WHEN NOT kibana THEN NULL
                         WHEN "http.response.status_code" < 400 THEN 'success'
                         WHEN "http.response.status_code" >= 400 THEN 'failure' END)
           AS "event.outcome",
       coalesce(_6, CASE WHEN kibana THEN nullif(regexp_extract(message,
                '"([A-Z]+) [^ "]+ HTTP/', 1), '') END) AS "http.request.method",
       coalesce(_7, CASE WHEN kibana THEN 'http' END) AS "network.protocol",
       _error
FROM mapped"""


def _shaped_select(carried: Sequence[str], complete: str, reached: set[str]) -> str:
    """:func:`_completed_select` for the shaped reading (no Kibana shape, no ``_error``): a
    completed column no path reaches is left out, but for the three with defaults."""
    excluded = ", ".join([*carried, *(f"_{i}" for i in range(len(_ECS_COMPLETED)))])
    optional = [
        f"_{i} AS {quote_ident(f)}"
        for i, f in enumerate(_ECS_COMPLETED)
        if f in reached and f not in ("event.kind", "event.module", "event.dataset")
    ]
    return f"""SELECT record_no,
       * EXCLUDE (record_no, _error, kibana, {excluded}),
       coalesce({complete}, false) AS _complete,
       coalesce(_0, 'event') AS "event.kind",
       coalesce(_1, CASE WHEN contains(_2, '.') THEN split_part(_2, '.', 1) END, 'ecs')
           AS "event.module",
       coalesce(_2, 'ecs.generic') AS "event.dataset"{"".join(f", {o}" for o in optional)}
FROM mapped"""


# A time the column holds exactly: UTC, at most microseconds (TIMESTAMPTZ's precision).
_EXACT_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?(Z|\+00:00)"


def colon_count_sql(raw: str) -> str:
    """How many ``:`` a JSON text holds; -1 when it spells one as ``\\u003a``.

    A JSON object member has exactly one ``:`` outside strings, so a document holds one per
    member plus those inside its keys and strings (the escape aside, which is why it gives
    -1): this counts members without parsing (see :class:`CompletenessCheck`).
    """
    escaped = f"contains({raw}, '\\u003a') OR contains({raw}, '\\u003A')"
    return f"CASE WHEN {escaped} THEN -1 ELSE len(string_split({raw}, ':')) - 1 END"


def _colons_sql(text: str) -> str:
    """One plus the ``:`` inside an extracted text, 0 for NULL (no value)."""
    return (
        f"CASE WHEN {text} IS NULL THEN 0 WHEN contains({text}, ':') "
        f"THEN len(string_split({text}, ':')) ELSE 1 END"
    )


def _opens_sql(text: str) -> str:
    """Whether extracted text starts like a JSON array or object (compared as bytes)."""
    return f"(({text} >= '[' AND {text} < '\\') OR ({text} >= '{{' AND {text} < '|'))"


class CompletenessCheck:
    """``_complete`` of the ECS parser: whether a record's columns and ``extra`` hold it all.

    A record is complete when:

    1. every member of the document is on a path the parser read. A member has exactly one
       ``:`` outside strings, so the document (``_colons``, :func:`colon_count_sql`) must hold
       exactly as many ``:`` as the values present account for: one per value and those
       inside its text, plus one per object on the way to a value. A member nothing reads, a
       ``null``, an empty object or a repeated key adds one, so such a record is never
       complete;
    2. each value present is held as written (:meth:`_held`): one path present at most per
       column (a flat ``"source.ip"`` next to the nested one: one of them is not stored), and
       no object, no array where one value goes, no text the column rewrites.

    The Kibana keys are left out (their records are never complete: the parser says so), and
    NULL counts as not complete.

    In the column layout (a plan: the usual records) the paths the sample showed (``seen``)
    get plain expressions, the cheapest to run; the whole check, in lambdas over lists of the
    paths, runs only for the records with another path. The list layout (the full reading:
    rare records, but its SQL is bound for every batch) uses the lambdas alone, to keep the
    SQL short. Both give the same answer.

    The SQL comes in steps, each over the last: :meth:`layer_items` (in the layers),
    :meth:`shaped_items`, :meth:`lists_items`, :meth:`kinds_item`, then :meth:`sql` over the
    columns :meth:`carried` names and the outputs.
    """

    def __init__(
        self, paths: PathCandidates, outputs: Mapping[str, str], seen: Iterable[int] = ()
    ) -> None:
        """Prepare the check of the paths ``paths`` reads into the columns ``outputs`` names.

        Args:
            paths: the parser's paths (either layout).
            outputs: field → the SQL name of its column where :meth:`sql` runs.
            seen: the slots the sample has values for (speed only: the answer does not
                depend on it).
        """
        self.paths = paths
        self.outputs = outputs
        self.targets: list[tuple[str, list[int]]] = []
        for target in paths.targets():
            slots = [slot for candidate in paths.candidate_slots(target) for slot in candidate]
            if slots and not target.startswith("kibana:"):
                self.targets.append((target, slots))
        self.order = sorted({slot for _, slots in self.targets for slot in slots})
        self.position = {slot: i for i, slot in enumerate(self.order, 1)}
        self.seen = set(seen) & set(self.order)
        # Each object on the way to a value is a member too: objects by their keys, numbered.
        self.parents: dict[tuple[str, ...], int] = {}
        self.parents_of = {
            slot: [
                self.parents.setdefault(keys[:depth], len(self.parents) + 1)
                for depth in range(1, len(keys))
            ]
            for slot, keys in ((slot, paths.keys[slot - 1]) for slot in self.order)
        }
        for slot in self.order:  # every checked text and scalar is read, from the start
            paths.slot_sql(slot, "j")
            paths.slot_sql(slot, "js")

    def _j(self, slot: int, layer: str = "j") -> str:
        """One path's text (``j``) or scalar (``js``)."""
        return self.paths.slot_sql(slot, layer)

    def _list(self, layer: str) -> str:
        """The texts (``j``) or scalars (``js``) of the checked paths, as one list."""
        if self.paths.planned:
            return f"([{', '.join(self._j(slot, layer) for slot in self.order)}]::VARCHAR[])"
        return self._pick(layer, self.order)

    @staticmethod
    def _ints(numbers: Iterable[int]) -> str:
        return f"[{', '.join(map(str, numbers))}]"

    @staticmethod
    def _pick(values: str, positions: Sequence[int]) -> str:
        """The elements of list ``values`` at ``positions``, by slices where they run on."""
        runs: list[list[int]] = []
        for p in positions:
            if runs and p == runs[-1][1] + 1:
                runs[-1][1] = p
            else:
                runs.append([p, p])
        if not runs or len(runs) > 4:
            return f"list_select({values}, [{', '.join(map(str, positions))}])"
        slices = [f"{values}[{a}:{b}]" for a, b in runs]
        return slices[0] if len(slices) == 1 else f"list_concat({', '.join(slices)})"

    def layer_items(self) -> list[tuple[str, str]]:
        """Columns for :meth:`PathCandidates.layers_sql`: ``raw`` and ``_colons``."""
        return [("raw", "raw"), ("_colons", colon_count_sql("raw"))]

    def carried(self) -> list[str]:
        """The columns :meth:`sql` reads besides the outputs (to carry them to it)."""
        names = ["_colons", "_jk", "_J", "_JS"]
        if not self.paths.planned:
            return [*names, "j", "js"]
        slots = [f"{layer}_{slot}" for layer in ("j", "js") for slot in self.order]
        return [*names, "_rare", *slots]

    def shaped_items(self) -> list[str]:
        """``_jt``, over the layers: the JSON types of the paths, only for records with a ``[``
        (an array, or text that may look like one: extracted text does not tell ``[1]`` from
        ``"[1]"``; objects show as NULL scalars)."""
        paths = ", ".join(sql_string(self.paths.paths[slot - 1]) for slot in self.order)
        return [
            f"CASE WHEN _error IS NULL AND contains(raw, '[') "
            f"THEN json_type(raw, [{paths}]) END AS _jt"
        ]

    def lists_items(self) -> list[str]:
        """``_J`` and ``_JS``: the texts and scalars of the checked paths, as lists (in a plan
        only for the records that need them: a ``[`` or a path the sample did not show)."""
        if not self.paths.planned:
            return [f"{self._list(layer)} AS _{layer.upper()}" for layer in ("j", "js")]
        return [
            f"CASE WHEN _rare OR _jt IS NOT NULL THEN {self._list(layer)} END AS _{layer.upper()}"
            for layer in ("j", "js")
        ]

    def kinds_item(self) -> str:
        """``_jk``: each value's kind (:meth:`_kind_sql`) where ``_jt`` is known, else NULL
        (every value is a plain scalar)."""
        kind = self._kind_sql("z[1]", "z[2]", "z[3]")
        return (
            f"CASE WHEN _jt IS NOT NULL "
            f"THEN list_transform(list_zip(_J, _JS, _jt), lambda z: {kind}) END AS _jk"
        )

    @staticmethod
    def _kind_sql(j: str, js: str, jt: str) -> str:
        """What a path's value is: NULL (absent), ``s`` (a scalar whose scalar text is the
        value as written), ``1`` (an array of one such scalar), ``a`` (another array) or ``x``
        (an object, or text :func:`scalar_sql` rewrites)."""
        return (
            f"CASE WHEN {j} IS NULL THEN NULL WHEN NOT {_opens_sql(j)} THEN 's' "
            f"WHEN {jt} = 'VARCHAR' THEN CASE WHEN {js} = {j} THEN 's' ELSE 'x' END "
            f"WHEN {jt} = 'ARRAY' THEN CASE WHEN json_array_length({j}) = 1 "
            f"AND NOT {_opens_sql(js)} THEN '1' ELSE 'a' END ELSE 'x' END"
        )

    def sql(self) -> str:
        """The check (NULL or false: not complete)."""
        tags = [self.position[slot] for target, slots in self.targets for slot in slots
                if target == "tags"]  # fmt: skip
        # Objects and rewritten text are never held; whole arrays only in tags.
        single = [p for p in self.position.values() if p not in tags]
        shapes = (
            "(_jk IS NULL OR (NOT list_contains(_jk, 'x') AND NOT list_contains("
            f"{self._pick('_jk', single)}, 'a')))"
        )
        # Every path, in lambdas over lists of them: short SQL for the full reading, and in a
        # plan for the records that have a path the sample did not (rare, slower per record).
        every = " AND ".join(self._checks_list("_J", "_JS"))
        if not self.paths.planned:
            return f"{shapes} AND {every}"
        seen = self._checks(self.seen)
        return f"{shapes} AND CASE WHEN _rare THEN {every} ELSE {seen} END"

    def _checks(self, slots: set[int]) -> str:
        """The whole check for records whose values are all in ``slots`` (plain expressions)."""
        members = [_colons_sql(self._j(s)) for s in self.order if s in slots]
        for parent in self.parents.values():
            below = [self._j(s) for s in self.order if s in slots and parent in self.parents_of[s]]
            if below:
                members.append(f"({' OR '.join(f'{j} IS NOT NULL' for j in below)})::INTEGER")
        checks = [f"_colons = {' + '.join(members) or '0'}", self.held_sql(slots)]
        return "(" + " AND ".join(checks) + ")"

    def held_sql(self, slots: set[int], *, plain: bool = False) -> str:
        """For records whose values are all in ``slots``: one path present at most per
        column, and its value held (plain expressions; the member count is not checked).

        ``plain``: the values are known to be plain scalars with nothing to trim (the shaped
        reading), so a column that holds its text as it is needs no check.
        """
        checks = []
        for target, all_slots in self.targets:
            present = [s for s in all_slots if s in slots]
            if present:
                held = not plain or _rewrites(target)
                checks += self._target_checks(target, present, held=held)
        return "(" + (" AND ".join(checks) or "true") + ")"

    def _target_checks(self, target: str, slots: Sequence[int], *, held: bool = True) -> list[str]:
        """One path present at most, and its value held (plain expressions; without
        ``held``, only the first)."""
        texts = [self._j(slot) for slot in slots]
        checks = []
        if len(slots) == 2:
            checks.append(f"({texts[0]} IS NULL OR {texts[1]} IS NULL)")
        elif len(slots) > 2:
            present = " + ".join(f"({j} IS NOT NULL)::INTEGER" for j in texts)
            checks.append(f"{present} <= 1")
        if not held:
            return checks
        # With one path present at most, the first present is the one. Where the scalar is
        # NULL for a text (an object), the text stands in: no column equals it.
        scalars = [self._j(slot, "js") for slot in slots]
        kind = first_sql([*(f"_jk[{self.position[slot]}]" for slot in slots), "'s'"])
        field = None if target.startswith("extra:") else target
        j, js, value = first_sql(texts), first_sql(scalars), first_sql([*scalars, *texts])
        checks.append(self._held(field, kind, j, js, value))
        return checks

    def _checks_list(self, texts: str, scalars: str) -> list[str]:
        """The whole check in lambdas over ``texts`` and ``scalars``: lists of the checked
        paths' texts and scalars, in the order of :attr:`order`."""

        def nth(values: str, t: str) -> str:
            return f"list_filter(list_select({values}, {t}), lambda x: x IS NOT NULL)[1]"

        def lists(groups: Iterable[Sequence[int]]) -> str:
            return f"[{', '.join(self._ints(self.position[s] for s in g) for g in groups)}]"

        ids = ", ".join(self._ints(self.parents_of[slot]) for slot in self.order)
        objects = (
            f"len(list_distinct(flatten(list_transform({texts}, lambda x, i: "
            f"CASE WHEN x IS NOT NULL THEN ([{ids}]::INTEGER[][])[i] ELSE []::INTEGER[] END))))"
        )
        values = f"list_sum(list_transform({texts}, lambda x: {_colons_sql('x')}))"
        checks = [f"_colons = coalesce({values}, 0) + {objects}"]
        several = [slots for _, slots in self.targets if len(slots) > 1]
        if several:
            checks.append(
                f"list_bool_and(list_transform({lists(several)}, lambda t: "
                f"list_count(list_select({texts}, t)) <= 1))"
            )
        plain = [(t, s) for t, s in self.targets if self._plain(t)]
        if plain:
            outputs = ", ".join(f"CAST({self.outputs[t]} AS VARCHAR)" for t, _ in plain)
            value = f"coalesce({nth(scalars, 't')}, {nth(texts, 't')})"
            expected = f"list_transform({lists(s for _, s in plain)}, lambda t: {value})"
            checks.append(f"[{outputs}]::VARCHAR[] IS NOT DISTINCT FROM {expected}")
        extras = [s for t, s in self.targets if t.startswith("extra:")]
        if extras:
            checks.append(
                f"list_bool_and(list_transform({lists(extras)}, lambda t: "
                f"(list_count(list_select({texts}, t)) = 0) "
                f"= (nullif({nth(scalars, 't')}, '') IS NULL)))"
            )
        for target, slots in self.targets:
            if not target.startswith("extra:") and not self._plain(target):
                j = first_sql([f"{texts}[{self.position[slot]}]" for slot in slots])
                js = first_sql([f"{scalars}[{self.position[slot]}]" for slot in slots])
                kind = first_sql([*(f"_jk[{self.position[slot]}]" for slot in slots), "'s'"])
                checks.append(self._held(target, kind, j, js, js))
        return checks

    @staticmethod
    def _plain(target: str) -> bool:
        """Whether a field's column, as text, must equal the value as written."""
        if target.startswith("extra:"):
            return False
        return FIELD_BY_NAME[target].kind not in (Kind.DATE, Kind.KEYWORD_LIST)

    def _held(self, field: str | None, kind: str, j: str, js: str, value: str) -> str:
        """Whether the column of ``field`` (``extra`` when None) holds the value as written.

        ``j``, ``js`` and ``kind`` are the text, scalar and kind of the path present (NULL
        when none is: then it holds); ``value`` is the scalar, or the text where the scalar is
        NULL (an object: no column equals it). Trimmed text, ``-``, a number with a fraction
        where a count goes, a time with an offset or beyond microseconds, a spelling ECS's
        lists or the address rules rewrite: none is held. Numbers count as their value
        (``1.10`` is held as ``1.1``: JSON does not tell them apart).
        """
        if field is None:
            return f"(({j} IS NULL) = (nullif({js}, '') IS NULL))"
        out = self.outputs[field]
        kind_of = FIELD_BY_NAME[field].kind
        if kind_of is Kind.KEYWORD_LIST:
            # Text split on commas with nothing dropped (and no object, which would pass for
            # text), or an array of scalars kept whole.
            return (
                f"({j} IS NULL OR CASE {kind} WHEN 's' THEN array_to_string({out}, ',') = {j} "
                f"AND NOT ({j} >= '{{' AND {j} < '|') "
                f"ELSE len({out}) = json_array_length({j}) "
                f"AND NOT regexp_matches(substr({j}, 2), '[\\[{{]') END)"
            )
        if kind_of is Kind.DATE:
            exact = f"regexp_full_match({js}, {sql_string(_EXACT_TIME)})"
            return f"({j} IS NULL OR ({out} IS NOT NULL AND {exact}))"
        if kind_of is Kind.LONG:
            return f"CAST({out} AS VARCHAR) IS NOT DISTINCT FROM {value}"
        return f"{out} IS NOT DISTINCT FROM {value}"


def _rewrites(target: str) -> bool:
    """Whether the column of ``target`` may hold a plain value otherwise than as written (a
    cast, an ECS list, a split): only such columns need the held check for plain values."""
    if target.startswith("extra:"):
        return False
    return can_fail(target) or FIELD_BY_NAME[target].kind is Kind.KEYWORD_LIST


def _seen_slots(paths: PathCandidates, sample: Sequence[str]) -> set[int]:
    """The slots of ``paths`` that some JSON object of ``sample`` has a value for."""
    docs = [doc for doc in map(json_object_record, sample) if doc is not None]
    seen = set()
    for slot, keys in enumerate(paths.keys, 1):
        for doc in docs:
            node: Any = doc
            for key in keys:
                node = node.get(key) if isinstance(node, dict) else None
            if node is not None:
                seen.add(slot)
                break
    return seen


def _ecs_paths(
    top_keys: Iterable[str] | None, only: Collection[tuple[str, ...]] | None = None
) -> PathCandidates:
    """Every path the ECS parser reads (all of them, or those under ``top_keys``; of those,
    only the key paths in ``only`` when given)."""
    targets: list[tuple[str, Sequence[str]]] = [(f, (f,)) for f in mappable_fields()]
    targets.append(("@timestamp", _OTHER_TIMESTAMPS))
    targets += [(f"kibana:{f}", keys) for f, keys in _KIBANA_FIELDS.items()]
    targets += [(f"kibana:{f}", (key,)) for f, key in _KIBANA_EXTRA]
    targets += [(f"extra:{f}", (f,)) for f in _ECS_EXTRA]
    return PathCandidates(targets, top_keys=top_keys, only=only)


def sample_top_keys(sample: Sequence[str]) -> frozenset[str] | None:
    """The top-level keys of the sample's JSON objects (None when it holds no object)."""
    objects = [doc for doc in map(json_object_record, sample) if doc is not None]
    if not objects:
        return None
    return frozenset(key for doc in objects for key in doc)


PLANNED_RECORDS = "(SELECT record_no, raw FROM batch ANTI JOIN _unplanned USING (record_no))"
"""The records of ``batch`` a plan takes (inside :func:`planned_union_sql`)."""
UNPLANNED_RECORDS = "(SELECT record_no, raw FROM batch SEMI JOIN _unplanned USING (record_no))"
"""The records of ``batch`` a plan does not take (inside :func:`planned_union_sql`)."""


def planned_sql(top_keys: Iterable[str]) -> str:
    """True for a record a plan for ``top_keys`` takes (see :func:`planned_union_sql`)."""
    keys = "[" + ", ".join(sql_string(k) for k in sorted(top_keys)) + "]"
    return (
        f"coalesce(starts_with(raw, '{{') AND len(list_filter(try(json_keys(raw)), "
        f"lambda k: NOT list_contains({keys}, k))) = 0, false)"
    )


def planned_union_sql(top_keys: Iterable[str], planned: str, general: str) -> str:
    """One row per record: ``planned`` for the records a plan takes, ``general`` for the rest.

    ``planned`` reads :data:`PLANNED_RECORDS`, ``general`` :data:`UNPLANNED_RECORDS`. A record
    is taken when it is a JSON object (starts with ``{``, parses) whose top-level keys are all
    in ``top_keys``: one cheap parse (``json_keys``, with ``try`` turning a record that does not
    parse into NULL, i.e. not taken) decides, once per record. Only the numbers of the records
    not taken are kept (usually none), and each branch joins ``batch`` with them.
    """
    return f"""WITH _unplanned AS MATERIALIZED
    (SELECT record_no FROM batch WHERE NOT {planned_sql(top_keys)})
SELECT * FROM ({planned})
UNION ALL BY NAME
SELECT * FROM ({general})"""


# --- generic JSON objects and tables ----------------------------------------------------------


@dataclass(frozen=True)
class KeyRule:
    """One way a top-level key can name a field (see :func:`key_rules`)."""

    match: str  # exact (column_map), ecs (ECS name), alias (ALIASES, punctuation-blind)
    key: str
    target: str
    priority: int  # lower wins


def key_rules(column_map: Mapping[str, str]) -> list[KeyRule]:
    """How top-level keys map to fields, in the order of the module doc."""
    rules = [KeyRule("exact", src, dst, i) for i, (src, dst) in enumerate(column_map.items())]
    fields = mappable_fields()
    rules += [KeyRule("ecs", ecs_key(f), f, 1000) for f in fields]
    seen: set[str] = set()
    for target, keys in ALIASES.items():
        for i, key in enumerate(keys):
            if alias_key(key) not in seen:
                seen.add(alias_key(key))
                rules.append(KeyRule("alias", alias_key(key), target, 2000 + i))
    for f in fields:
        if f not in ENUMERATED and alias_key(f) not in seen:
            seen.add(alias_key(f))
            rules.append(KeyRule("alias", alias_key(f), f, 3000))
    return rules


class KeyedRecords:
    """The SELECT for JSON objects whose top-level keys name the fields (generic JSON, tables).

    Keys are matched once per distinct key list (a table has one, an NDJSON log a few), not once
    per record: the plan says, for each key list, which position fills which field, and each
    record reads its values by position (``json_extract_string(raw, '$.*')``).
    """

    def __init__(self, ctx: ParseContext, *, module: str, dataset: str) -> None:
        """Prepare the rules and slots for one input.

        Args:
            ctx: the parse context (its ``column_map`` and ``timezone`` matter here).
            module: ``event.module`` when no key gives one.
            dataset: SQL for ``event.dataset`` when no key gives one (a literal or expression).
        """
        self.ctx = ctx
        self.module = module
        self.dataset = dataset
        self.rules = key_rules(ctx.column_map)
        self.fields = mappable_fields()
        schema = set(self.fields)
        extra_targets = sorted({r.target for r in self.rules if r.target not in schema})
        self.slots = {target: i for i, target in enumerate([*self.fields, *extra_targets])}
        mapped = [(f"map:{dst}", (src,)) for src, dst in ctx.column_map.items() if "." in src]
        self.paths = PathCandidates(mapped, flat_aliases=False)

    def sql(self) -> str:
        """The parser's SELECT."""
        rules = ",\n        ".join(
            f"({sql_string(r.match)}, {sql_string(r.key)}, {sql_string(r.target)}, {r.priority})"
            for r in self.rules
        )
        matches = "\n    UNION ALL\n    ".join(
            f"SELECT k.ks, k.col, k.pos, r.target, r.priority FROM keyed k JOIN rules r "
            f"ON r.match = {sql_string(match)} AND r.key = {column}"
            for match, column in (
                ("exact", "k.col"),
                ("ecs", "k.ecs_key"),
                ("alias", "k.alias_key"),
            )
        )
        plan = [
            f"max(c.pos) FILTER (WHERE c.target = {sql_string(t)}) AS p{i}, "
            f"max(c.col) FILTER (WHERE c.target = {sql_string(t)}) AS c{i}"
            for t, i in self.slots.items()
        ]
        schema_slots = [(t, i) for t, i in self.slots.items() if t in FIELD_BY_NAME]
        values = [f"{self._value(t, i)} AS x{i}" for t, i in schema_slots]
        outputs = [self._output(t, i) for t, i in schema_slots]
        # Objects and arrays are not values of a column (tags excepted: they are read apart).
        v = "CAST(vj[i] AS VARCHAR)"
        top_text = (
            f"list_transform(vs, lambda x, i: CASE WHEN ({v} >= '{{' AND {v} < '|') "
            f"OR ({v} >= '[' AND {v} < '\\') THEN NULL ELSE x END)"
        )
        return f"""
WITH src AS (
    SELECT record_no, raw, {record_error_sql()} AS _error FROM batch
),
rows AS (
    SELECT record_no, _error,
           CASE WHEN _error IS NULL THEN json_keys(raw) END AS ks,
           CASE WHEN _error IS NULL THEN json_extract_string(raw, '$.*') END AS vs,
           CASE WHEN _error IS NULL THEN json_extract(raw, '$.*') END AS vj,
           CASE WHEN _error IS NULL THEN {self.paths.values_sql()} END AS j
    FROM src
),
headers AS (SELECT DISTINCT ks FROM rows WHERE ks IS NOT NULL),
cols AS (
    SELECT ks, unnest(ks) AS col, unnest(generate_series(1, len(ks))) AS pos FROM headers
),
keyed AS (
    SELECT ks, col, pos, {_ecs_key_sql("col")} AS ecs_key, {_alias_key_sql("col")} AS alias_key
    FROM cols
),
rules(match, key, target, priority) AS (
    VALUES
        {rules}
),
matches AS (
    {matches}
),
per_key AS (
    SELECT ks, pos, arg_min(col, priority) AS col, arg_min(target, priority) AS target,
           min(priority) AS priority
    FROM matches GROUP BY ks, pos
),
chosen AS (
    SELECT ks, target, arg_min(pos, priority * 100000 + pos) AS pos,
           arg_min(col, priority * 100000 + pos) AS col
    FROM per_key GROUP BY ks, target
),
plan AS (
    SELECT h.ks,
       {select_list(plan)}
    FROM headers h LEFT JOIN chosen c ON c.ks = h.ks
    GROUP BY h.ks
),
unused AS (
    SELECT ks, list(pos ORDER BY pos) AS xpos, list(col ORDER BY pos) AS xcol
    FROM (SELECT k.ks, k.col, min(k.pos) AS pos FROM cols k
          WHERE NOT EXISTS (SELECT 1 FROM chosen c WHERE c.ks = k.ks AND c.pos = k.pos)
          GROUP BY k.ks, k.col)
    GROUP BY ks
),
texts AS (
    SELECT r.record_no, r._error, r.vs, r.vj, p.* EXCLUDE (ks), u.xpos, u.xcol,
           {top_text} AS vt, {scalar_list_sql("r.j")} AS jt
    FROM rows r LEFT JOIN plan p ON p.ks = r.ks LEFT JOIN unused u ON u.ks = r.ks
),
clean AS (
    SELECT *, {blank_list_sql("vt")} AS vb, {blank_list_sql("jt")} AS jb FROM texts
),
typed AS (
    SELECT *,
       {select_list(values)}
    FROM clean
)
SELECT record_no,
       {select_list(outputs)},
       {self._extra()} AS extra,
       _error
FROM typed
"""

    def _value(self, target: str, slot: int) -> str:
        """``target`` cast to its kind: the mapped nested key, the top-level key, the ECS path."""
        kind = FIELD_BY_NAME[target].kind
        mapped = f"map:{target}"
        if kind is Kind.KEYWORD_LIST:  # arrays allowed
            vj = f"CAST(vj[p{slot}] AS VARCHAR)"
            top = f"CASE WHEN {vj} >= '{{' AND {vj} < '|' THEN NULL ELSE vs[p{slot}] END"
            value = tags_sql(first_sql([*self.paths.texts(mapped, "j"), top]))
        else:
            values = ("jt", "vt") if kind is Kind.TEXT else ("jb", "vb")
            text = first_sql([*self.paths.texts(mapped, values[0]), f"{values[1]}[p{slot}]"])
            if kind is Kind.TEXT:
                value = f"nullif({text}, '')"
            else:
                value = cast_sql(target, text, self.ctx, trimmed=True)
        if self.paths.texts(mapped):
            return value
        # Most fields have no key in a given key list (p is NULL): skip their casts, which cost
        # even on NULLs (a timestamp's as much as a JSON parse).
        return f"CASE WHEN p{slot} IS NOT NULL THEN {value} END"

    def _output(self, target: str, slot: int) -> str:
        value = f"x{slot}"
        if target == "event.kind":
            value = f"coalesce({value}, 'event')"
        elif target == "event.module":
            value = f"coalesce({value}, {sql_string(self.module)})"
        elif target == "event.dataset":
            value = f"coalesce({value}, {self.dataset})"
        return f"{value} AS {quote_ident(target)}"

    def _extra(self) -> str:
        checked = [(t, i) for t, i in self.slots.items() if t in FIELD_BY_NAME and can_fail(t)]
        invalid = {i: f"(vb[p{i}] IS NOT NULL AND x{i} IS NULL)" for _, i in checked}
        # Empty text and "-" are no value (a blank CSV cell), as for the columns.
        # The unused keys' object, written as text (the merge below parses and rewrites it):
        # five times cheaper than building a MAP for to_json.
        value = "CAST(vj[p] AS VARCHAR)"
        member = f"to_json(xcol[i]) || ':' || {value}"
        objects = [
            "'{' || array_to_string(list_filter(list_transform(xpos, lambda p, i: "
            f"CASE WHEN {value} NOT IN ('\"\"', '\"-\"') THEN {member} END), "
            "lambda t: t IS NOT NULL), ',') || '}'"
        ]
        objects += [
            f"CASE WHEN {invalid[i]} THEN json_object(c{i}, vj[p{i}]) END" for _, i in checked
        ]
        present = {
            i: f"vb[p{i}] IS NOT NULL" for t, i in self.slots.items() if t not in FIELD_BY_NAME
        }
        objects += [
            f"CASE WHEN {present[i]} THEN json_object({sql_string(t)}, vj[p{i}]) END"
            for t, i in self.slots.items()
            if i in present
        ]
        names = ", ".join(f"CASE WHEN {invalid[i]} THEN {sql_string(t)} END" for t, i in checked)
        key = sql_string(INVALID_FIELDS_KEY)
        objects.append(f"json_object({key}, nullif(concat_ws(',', {names}), ''))")
        # Usually no value is invalid and no key names a field the schema lacks: then all those
        # objects are empty, and merging them (one JSON parse each) would change nothing.
        rare = " OR ".join([*invalid.values(), *present.values()]) or "false"
        usual = merge_json_sql([objects[0], f"json_object({key}, NULL)"])
        return f"CASE WHEN {rare} THEN {merge_json_sql(objects)} ELSE {usual} END"


def _share_json_objects(records: Sequence[str]) -> float:
    return share_matching(records, lambda r: json_object_record(r) is not None)


class GenericJsonParser(Parser):
    """Any JSON object: fields found by ECS name or a common alias; the rest kept in ``extra``."""

    name = "json"
    description = "Any JSON objects (NDJSON or arrays): common keys mapped, the rest kept in extra"
    containers = frozenset({"lines", "json"})

    def sniff(self, sample: Sample) -> float:
        return 0.6 if sample.records and _share_json_objects(sample.records) >= 0.8 else 0.0

    def sql(self, ctx: ParseContext) -> str:
        return KeyedRecords(ctx, module="json", dataset="'json.generic'").sql()
