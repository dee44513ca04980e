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
- Keys the schema lacks stay in the raw record (``event.original``); a fixed list of common ECS
  fields (``_ECS_EXTRA``: event.provider, service.name, process.parent.*, user.id, url.scheme,
  ...) is kept in ``extra`` under its ECS name.
- Values are cast as for generic JSON (below); the documents claim to be ECS, so a value that
  does not fit its field (an address ``999.1.1.1``, an ``event.kind`` outside ECS's list) is
  dropped without a note: it is still in ``event.original``.
- Detection: 0.9 × the share of records that have ``@timestamp`` and at least two ECS top-level
  objects (``event``, ``source``, ``host``, ``http``, ``url``, ``ecs``, ...), or the Kibana
  sample shape.
- Plan: the parser reads, for the records whose top-level keys all occur in the detection sample
  (``ctx.sample``), only the paths under those keys (a web log: 36 paths instead of 202, no
  Kibana keys or flat variants the sample lacks), each in a column of its own. Every other
  record (a new top-level key, leading blanks, not a JSON object) gets the full reading: one
  ``json_keys`` per record decides, and a record's values never depend on the sample.

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from loglens.parse.base import ParseContext, Parser, Sample, share_matching, sql_string
from loglens.parse.json_fields import json_path
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
    record the same values.
    """

    def __init__(
        self,
        targets: Sequence[tuple[str, Sequence[str]]],
        *,
        flat_aliases: bool = True,
        top_keys: Iterable[str] | None = None,
    ) -> None:
        self.top_keys = None if top_keys is None else frozenset(top_keys)
        self.paths: list[str] = []
        """The JSON paths read, in list order (slot ``n`` is ``paths[n - 1]``)."""
        self._candidates: dict[str, list[list[int]]] = {}
        self._used: dict[str, set[int]] = {"j": set(), "js": set(), "jb": set()}
        for target, paths in targets:
            candidates = self._candidates.setdefault(target, [])
            for path in paths:
                # A dotted path is read nested and, as in exports, as one flat key.
                variants = [(path.split(".", 1)[0], json_path(path))]
                if flat_aliases and "." in path:
                    variants.append((path, json_path(path, flat=True)))
                slots = []
                for top, variant in variants:
                    if self.top_keys is not None and top not in self.top_keys:
                        continue
                    if variant not in self.paths:
                        self.paths.append(variant)
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

    def layers_sql(self, source: str) -> str:
        """CTEs ``src`` .. ``clean`` over ``source``: record_no, _error and the value layers.

        In the column layout, call this after every :meth:`texts` (it emits only what they
        read) and only for records known to be JSON objects (``_error`` is NULL).
        """
        if not self.planned:
            return f"""src AS (
    SELECT record_no, {record_error_sql()} AS _error, {self.values_sql()} AS j FROM {source}
),
scalars AS (
    SELECT record_no, _error, j, {scalar_list_sql("j")} AS js FROM src
),
clean AS (
    SELECT record_no, _error, j, js, {blank_list_sql("js")} AS jb FROM scalars
)"""
        blank = sorted(self._used["jb"])
        scalar = sorted(self._used["js"] | self._used["jb"])
        text = sorted(self._used["j"] | set(scalar))
        paths = ", ".join(sql_string(self.paths[slot - 1]) for slot in text)
        extracted = f"json_extract_string(raw, [{paths}])" if text else "NULL"
        texts = [f"j[{i}] AS j_{slot}" for i, slot in enumerate(text, 1)]
        scalars = [f"{scalar_sql(f'j_{slot}')} AS js_{slot}" for slot in scalar]
        blanks = [f"{blank_to_null_sql(f'js_{slot}')} AS jb_{slot}" for slot in blank]
        return f"""src AS (
    SELECT record_no, {extracted} AS j FROM {source}
),
texts AS (
    SELECT {select_list(["record_no", "CAST(NULL AS VARCHAR) AS _error", *texts])}
    FROM src
),
scalars AS (SELECT {select_list(["*", *scalars])} FROM texts),
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

    def _select(self, ctx: ParseContext, paths: PathCandidates, source: str) -> str:
        fields = mappable_fields()
        kibana_keys = ("source.ip", "url.path", "http.response.status_code")
        # Kibana's shape needs its three keys: when the plan reads none of one, no record the
        # plan takes has that shape.
        kibana: str | None = None
        if all(paths.reads_first(f"kibana:{f}") for f in kibana_keys):
            kibana = " AND ".join(
                f"{paths.texts(f'kibana:{f}', 'jb')[0]} IS NOT NULL" for f in kibana_keys
            )
        columns = [self._column(paths, f, ctx, kibana) for f in fields if f not in _ECS_COMPLETED]
        completed = [
            self._column(paths, f, ctx, kibana, alias=f"_{i}") for i, f in enumerate(_ECS_COMPLETED)
        ]
        excluded = ", ".join(f"_{i}" for i in range(len(_ECS_COMPLETED)))
        extra = self._extra(paths, kibana)
        return f"""
WITH {paths.layers_sql(source)},
shaped AS (SELECT *, {f"coalesce({kibana}, false)" if kibana else "false"} AS kibana FROM clean),
mapped AS (
    SELECT record_no, _error, kibana,
       {select_list(columns)},
       {select_list(completed)},
       {extra} AS extra
    FROM shaped
)
SELECT record_no,
       * EXCLUDE (record_no, _error, kibana, {excluded}),
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
FROM mapped
"""

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
            return "CAST(NULL AS VARCHAR)"
        args = ", ".join(f"{sql_string(k)}, {v}" for k, v in pairs)
        merged = merge_json_sql([f"json_object({args})"])
        # Most records have none of these keys: skip building and merging an empty object.
        return f"CASE WHEN coalesce({', '.join(v for _, v in pairs)}) IS NOT NULL THEN {merged} END"


def _ecs_paths(top_keys: Iterable[str] | None) -> PathCandidates:
    """Every path the ECS parser reads (all of them, or those under ``top_keys``)."""
    targets: list[tuple[str, Sequence[str]]] = [(f, (f,)) for f in mappable_fields()]
    targets.append(("@timestamp", _OTHER_TIMESTAMPS))
    targets += [(f"kibana:{f}", keys) for f, keys in _KIBANA_FIELDS.items()]
    targets += [(f"kibana:{f}", (key,)) for f, key in _KIBANA_EXTRA]
    targets += [(f"extra:{f}", (f,)) for f in _ECS_EXTRA]
    return PathCandidates(targets, top_keys=top_keys)


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


def planned_union_sql(top_keys: Iterable[str], planned: str, general: str) -> str:
    """One row per record: ``planned`` for the records a plan takes, ``general`` for the rest.

    ``planned`` reads :data:`PLANNED_RECORDS`, ``general`` :data:`UNPLANNED_RECORDS`. A record
    is taken when it is a JSON object (starts with ``{``, parses) whose top-level keys are all
    in ``top_keys``: one cheap parse (``json_keys``, with ``try`` turning a record that does not
    parse into NULL, i.e. not taken) decides, once per record. Only the numbers of the records
    not taken are kept (usually none), and each branch joins ``batch`` with them.
    """
    keys = "[" + ", ".join(sql_string(k) for k in sorted(top_keys)) + "]"
    taken = (
        f"coalesce(starts_with(raw, '{{') AND len(list_filter(try(json_keys(raw)), "
        f"lambda k: NOT list_contains({keys}, k))) = 0, false)"
    )
    return f"""WITH _unplanned AS MATERIALIZED (SELECT record_no FROM batch WHERE NOT {taken})
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
