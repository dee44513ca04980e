"""Zeek logs, in both of Zeek's writers: classic tab-separated (TSV) and JSON (one object a line).

Both forms share one mapping table, ``ZEEK_COLUMNS``: a Zeek column name, the ECS column (or the
dotted ``extra`` key) it fills, an SQL transform, and the logs it applies to. The TSV parser reads
a value by its position in the ``#fields`` header; the JSON parser reads it by key. So
``zeek.conn`` from ``conn.log`` and from ``conn.json`` come out identical.

Mapping decisions:

- ``ts`` → ``@timestamp`` (epoch seconds, or an ISO 8601 string from Zeek's
  ``JSON::TS_ISO8601``). A record whose ``ts`` is missing or unreadable is a parse failure: every
  Zeek log has one, so it is the best sign that the record is not what it claims to be.
- ``uid`` → ``extra["zeek.session_id"]`` (Filebeat's name), the key that joins a connection's
  conn/dns/http/ssl/files records. ``id.orig_h/p`` → ``source.ip/port``, ``id.resp_h/p`` →
  ``destination.ip/port``, ``proto`` → ``network.transport``, ``duration`` → ``event.duration``
  (nanoseconds).
- conn: ``service`` → ``network.protocol``: the *first* analyser of Zeek's comma list
  (``smb,dce_rpc,gssapi`` → ``smb``), in Zeek's own words: ``ssl`` stays ``ssl`` (not ECS's
  ``tls``) and ``krb_tcp`` stays ``krb_tcp``, so the value always names a Zeek log to look in.
  ``orig_bytes``/``resp_bytes`` (payload bytes, as Zeek counts them) → ``source.bytes`` /
  ``destination.bytes``, their sum → ``network.bytes``; packets likewise. ``conn_state`` gives
  ``event.action`` (``REJ`` → ``connection_attempt_rejected``, see ``_CONN_STATES``).
- dns: ``query``/``qtype_name``/``rcode_name`` → ``dns.question.name/type``,
  ``dns.response_code``; action ``dns_query``. http: ``method``, ``host`` (without port) →
  ``url.domain``, ``uri`` → ``url.original/path/query``, status, user agent, referrer, body
  length, version, basic-auth ``username`` → ``user.name``. ssl: ``server_name`` →
  ``destination.domain`` and ECS-named ``extra`` keys ``tls.client.server_name``,
  ``tls.version`` (``TLSv12`` → ``1.2``), ``tls.version_protocol``, ``tls.cipher``, ...
  kerberos: ``client`` ``user/REALM`` → ``user.name`` + ``user.domain``, ``request_type`` →
  ``event.action``, ``success`` → ``event.outcome``. weird: ``name`` → ``event.action``.
  notice: ``note`` → ``event.action``, ``msg`` → ``message``, event.kind ``alert``.
  files: ``source`` (the analyser that saw the file) → ``network.protocol``, names and hashes →
  ECS-named ``file.*`` keys in ``extra``.
- Every other column goes to ``extra`` as ``zeek.<log>.<column>`` (``zeek.conn.conn_state``,
  ``zeek.x509.certificate.subject``), typed: counts as numbers, ``T``/``F`` as booleans, sets and
  vectors as JSON arrays, times as epoch seconds (as Zeek's JSON writer gives them). So nothing
  Zeek logged is lost and the key is predictable from the Zeek column name. A ``password``
  column (http/ftp with password capture on) is dropped: it stays only in ``event.original``.
- ``event.category``/``type`` come from the log (``_LOGS``); the schema holds one value each,
  so http is ``web``/``access`` (as for Apache lines; ``network.protocol`` is still ``http``),
  kerberos, ntlm and ssh are ``authentication``/``info``, files and pe ``file``/``info``.
- The log of a JSON record is its ``_path`` key (Zeek's Kafka writer and Corelight add it), else
  the file name (``conn.log``, ``dns.2023-08-16-01-00-00.log.gz``), else guessed from its keys
  (``conn_state`` → conn, ``qtype_name`` → dns, see ``_INFERENCE``); else ``unknown``.

TSV details: the header (``#separator``, ``#set_separator``, ``#empty_field``, ``#unset_field``,
``#path``, ``#fields``, ``#types``) arrives in ``ParseContext.header``; its lines in the batch
itself, and ``#close``, come out with ``_skip``. ``-`` (unset) is NULL, ``(empty)`` an empty
string or array, and Zeek's ``\\xNN`` escapes of printable ASCII are undone. A row whose field
count differs from the header's is a failure with both counts; without a header no row can be
read, and each says so. One header per input: a file that concatenates logs with different
headers fails on the rows after the first header (their field counts differ).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from loglens.parse.base import ParseContext, Parser, Sample, share_matching, sql_string
from loglens.parse.json_fields import JsonExtraction, JsonField, extra_sql
from loglens.parse.timestamps import epoch_to_utc, iso_to_utc
from loglens.parse.urls import url_path, url_query
from loglens.schema import FIELD_BY_NAME, quote_ident

UNKNOWN_LOG = "unknown"
"""The log name of a JSON record whose log could not be told (dataset ``zeek.unknown``)."""

# --- per-log constants --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Log:
    category: str | None
    type: str | None
    protocol: str | None = None  # network.protocol when no column says better
    action: str | None = None  # event.action when no column says better
    kind: str = "event"


def _protocol_log(name: str) -> _Log:
    return _Log("network", "protocol", name)


_LOGS: dict[str, _Log] = {
    "conn": _Log("network", "connection"),
    "dns": _Log("network", "protocol", "dns", "dns_query"),
    "http": _Log("web", "access", "http", "http_request"),
    "ssl": _Log("network", "protocol", "ssl"),
    "x509": _Log("network", "info"),
    "files": _Log("file", "info"),
    "pe": _Log("file", "info"),
    "kerberos": _Log("authentication", "info", "kerberos"),
    "ntlm": _Log("authentication", "info", "ntlm"),
    "ssh": _Log("authentication", "info", "ssh"),
    "smb_mapping": _Log("network", "protocol", "smb"),
    "smb_files": _Log("file", "access", "smb"),
    "ldap_search": _Log("network", "protocol", "ldap"),
    "weird": _Log("network", "info"),
    "analyzer": _Log("network", "info"),
    "dpd": _Log("network", "info"),
    "known_hosts": _Log("network", "info"),
    "known_services": _Log("network", "info"),
    "known_certs": _Log("network", "info"),
    "notice": _Log("intrusion_detection", "info", kind="alert"),
    "intel": _Log("threat", "indicator", kind="alert"),
    "packet_filter": _Log("configuration", "info"),
    **{
        name: _protocol_log(name)
        for name in (
            "dce_rpc", "dhcp", "smtp", "ftp", "sip", "snmp", "ntp", "radius", "rdp", "mysql",
            "irc", "modbus", "dnp3", "ldap", "rfb", "socks", "tunnel", "quic", "mqtt", "syslog",
        )
    },
}  # fmt: skip

_CONN_STATES: dict[str, str] = {
    "S0": "connection_attempt_unanswered",
    "S1": "connection_established",
    "SF": "connection_completed",
    "REJ": "connection_attempt_rejected",
    "S2": "connection_close_attempt_by_originator",
    "S3": "connection_close_attempt_by_responder",
    "RSTO": "connection_reset_by_originator",
    "RSTR": "connection_reset_by_responder",
    "RSTOS0": "connection_attempt_reset_by_originator",
    "RSTRH": "connection_reset_by_responder_without_syn",
    "SH": "connection_half_open_by_originator",
    "SHR": "connection_half_open_by_responder",
    "OTH": "connection_midstream",
}
"""conn_state → event.action (Zeek's conn.log documentation, one phrase per state)."""

# --- the shared column mapping -----------------------------------------------------------------


@dataclass(frozen=True)
class ZeekColumn:
    """One Zeek column → one ECS column or ``extra`` key.

    ``sql`` transforms the column's text (``{}``; NULL when unset or empty); ``logs`` limits the
    entry to those logs (empty: every log); ``keep`` also keeps the column in ``extra`` as
    ``zeek.<log>.<column>`` (for a mapping that loses information, like the first of a list).
    """

    column: str
    target: str
    sql: str = "{}"
    logs: frozenset[str] = frozenset()
    keep: bool = False

    def applies_to(self, log: str) -> bool:
        return not self.logs or log in self.logs


_INT = "TRY_CAST({} AS BIGINT)"
_NANOS = "CAST(round(TRY_CAST({} AS DOUBLE) * 1e9) AS BIGINT)"
_BOOL = (
    "CASE {} WHEN 'T' THEN true WHEN 'true' THEN true "
    "WHEN 'F' THEN false WHEN 'false' THEN false END"
)
_OUTCOME = (
    "CASE {} WHEN 'T' THEN 'success' WHEN 'true' THEN 'success' "
    "WHEN 'F' THEN 'failure' WHEN 'false' THEN 'failure' END"
)
_HTTP_OUTCOME = (
    "CASE WHEN TRY_CAST({} AS INTEGER) BETWEEN 100 AND 399 THEN 'success' "
    "WHEN TRY_CAST({} AS INTEGER) BETWEEN 400 AND 599 THEN 'failure' END"
)
URL_PATH_SQL = url_path("{}")
"""The path of a request target, absolute (proxy) or not; ``{}`` is the target (shared with EVE)."""
URL_QUERY_SQL = url_query("{}")
"""The query string of a request target without '?'; ``{}`` is the target."""
_HOST_ONLY = (
    "CASE WHEN starts_with({}, '[') THEN nullif(regexp_extract({}, '^\\[([^\\]]*)\\]', 1), '') "
    "ELSE regexp_replace({}, ':\\d+$', '') END"
)
_TLS_VERSION = (
    "CASE WHEN regexp_full_match({}, '(D?TLS|SSL)v\\d\\d?') "
    "THEN regexp_extract({}, 'v(\\d)', 1) || '.' "
    "|| coalesce(nullif(regexp_extract({}, 'v\\d(\\d)', 1), ''), '0') END"
)
_TLS_PROTOCOL = (
    "CASE WHEN regexp_matches({}, '^DTLSv') THEN 'dtls' WHEN regexp_matches({}, '^TLSv') "
    "THEN 'tls' WHEN regexp_matches({}, '^SSLv') THEN 'ssl' END"
)
_CONN_ACTION = (
    "CASE {} "
    + " ".join(f"WHEN {sql_string(s)} THEN {sql_string(a)}" for s, a in _CONN_STATES.items())
    + " END"
)


def _col(
    column: str, target: str, sql: str = "{}", logs: str = "", *, keep: bool = False
) -> ZeekColumn:
    return ZeekColumn(column, target, sql, frozenset(logs.split()), keep)


ZEEK_COLUMNS: tuple[ZeekColumn, ...] = (
    # Every log: the connection 5-tuple, the session id and the sensor.
    _col("uid", "zeek.session_id"),
    _col("id.orig_h", "source.ip"),
    _col("id.orig_p", "source.port", _INT),
    _col("id.resp_h", "destination.ip"),
    _col("id.resp_p", "destination.port", _INT),
    _col("proto", "network.transport", "lower({})"),
    _col("duration", "event.duration", _NANOS),
    _col("_system_name", "host.name"),
    # conn
    _col("service", "network.protocol", "lower(split_part({}, ',', 1))", "conn", keep=True),
    _col("conn_state", "event.action", _CONN_ACTION, "conn", keep=True),
    _col("orig_bytes", "source.bytes", _INT, "conn"),
    _col("resp_bytes", "destination.bytes", _INT, "conn"),
    _col("orig_pkts", "source.packets", _INT, "conn"),
    _col("resp_pkts", "destination.packets", _INT, "conn"),
    # dns
    _col("query", "dns.question.name", logs="dns"),
    _col("qtype_name", "dns.question.type", logs="dns"),
    _col("rcode_name", "dns.response_code", logs="dns"),
    # http (and the user agent of the other logs that have one)
    _col("method", "http.request.method", logs="http"),
    _col("host", "url.domain", _HOST_ONLY, "http"),
    _col("uri", "url.original", logs="http"),
    _col("uri", "url.path", URL_PATH_SQL, "http"),
    _col("uri", "url.query", URL_QUERY_SQL, "http"),
    _col("version", "http.version", logs="http"),
    _col("status_code", "http.response.status_code", _INT, "http"),
    _col("status_code", "event.outcome", _HTTP_OUTCOME, "http"),
    _col("referrer", "http.request.referrer", logs="http"),
    _col("response_body_len", "http.response.body.bytes", _INT, "http"),
    _col("user_agent", "user_agent.original", logs="http smtp sip"),
    _col("username", "user.name", logs="http ntlm"),
    # ssl (ECS tls.* names in extra: the schema has no tls columns)
    _col("server_name", "destination.domain", logs="ssl"),
    _col("server_name", "tls.client.server_name", logs="ssl"),
    _col("version", "tls.version", _TLS_VERSION, "ssl", keep=True),
    _col("version", "tls.version_protocol", _TLS_PROTOCOL, "ssl", keep=True),
    _col("cipher", "tls.cipher", logs="ssl"),
    _col("curve", "tls.curve", logs="ssl"),
    _col("resumed", "tls.resumed", _BOOL, "ssl"),
    _col("established", "tls.established", _BOOL, "ssl"),
    _col("next_protocol", "tls.next_protocol", logs="ssl"),
    # authentication: kerberos, ntlm, ssh
    _col("client", "user.name", "nullif(split_part({}, '/', 1), '')", "kerberos", keep=True),
    _col("client", "user.domain", "nullif(split_part({}, '/', 2), '')", "kerberos", keep=True),
    _col("request_type", "event.action", logs="kerberos"),
    _col("success", "event.outcome", _OUTCOME, "kerberos ntlm"),
    _col("domainname", "user.domain", logs="ntlm"),
    _col("hostname", "source.domain", logs="ntlm"),
    _col("auth_success", "event.outcome", _OUTCOME, "ssh"),
    # other logs whose column names an action, a user or an address
    _col("name", "event.action", logs="weird"),
    _col("note", "event.action", logs="notice"),
    _col("msg", "message", logs="notice"),
    _col("operation", "event.action", logs="dce_rpc"),
    _col("command", "event.action", logs="ftp"),
    _col("user", "user.name", logs="ftp"),
    _col("cause", "event.action", logs="analyzer"),
    _col("client_addr", "source.ip", logs="dhcp"),
    _col("server_addr", "destination.ip", logs="dhcp"),
    _col("host_name", "source.domain", logs="dhcp"),
    # files (ECS file.* names in extra)
    _col("source", "network.protocol", "lower({})", "files", keep=True),
    _col("mime_type", "file.mime_type", logs="files"),
    _col("filename", "file.name", logs="files"),
    _col("md5", "file.hash.md5", logs="files"),
    _col("sha1", "file.hash.sha1", logs="files"),
    _col("sha256", "file.hash.sha256", logs="files"),
)
"""The mapping both Zeek parsers share (see the module docstring)."""

_ALWAYS_CONSUMED = frozenset({"ts", "_path", "password"})
"""Columns never copied to extra: ts and _path are @timestamp and the dataset; see ``password``."""

# A log is inferred from the keys of a JSON record (or a header without #path): the first rule
# one of whose key sets is wholly present wins. Order matters where logs share keys: smtp and sip
# have http's trans_depth, kerberos has ssl's cipher, notice has weird-like names.
_INFERENCE: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...] = (
    ("conn", (("conn_state",),)),
    ("notice", (("note", "msg"),)),
    ("sip", (("call_id",),)),
    ("smtp", (("mailfrom",), ("rcptto",), ("helo",))),
    ("dns", (("qtype_name",), ("qtype",), ("rcode",), ("rcode_name",), ("query", "trans_id"))),
    ("http", (("method", "uri"), ("trans_depth",))),
    ("kerberos", (("request_type",), ("till",), ("service", "success"), ("client", "cipher"))),
    ("ssl", (("ssl_history",), ("resumed",), ("server_name",), ("version", "cipher"))),
    ("x509", (("certificate.subject",), ("fingerprint", "certificate.version"), ("certificate",))),
    ("pe", (("machine", "compile_ts"), ("is_exe",))),
    ("smb_files", (("fuid", "action"),)),
    ("files", (("fuid", "source"), ("fuid", "mime_type"), ("fuid", "seen_bytes"))),
    ("smb_mapping", (("share_type",),)),
    ("dce_rpc", (("endpoint", "operation"), ("named_pipe",))),
    ("ntlm", (("domainname",), ("server_nb_computer_name",), ("server_dns_computer_name",))),
    ("dhcp", (("msg_types",), ("assigned_addr",), ("lease_time",))),
    ("ssh", (("auth_success",), ("auth_attempts",), ("hassh",))),
    ("ftp", (("command", "reply_code"),)),
    ("rdp", (("cookie", "security_protocol"), ("keyboard_layout",))),
    ("weird", (("name", "peer"), ("name", "notice"))),
    ("analyzer", (("analyzer_kind",), ("analyzer_name", "failure_reason"))),
    ("dpd", (("analyzer", "failure_reason"),)),
    ("packet_filter", (("filter", "init"),)),
    ("tunnel", (("tunnel_type",),)),
    ("intel", (("seen.indicator",), ("matched", "sources"))),
    ("software", (("software_type",),)),
    ("capture_loss", (("percent_lost",),)),
    ("stats", (("pkts_proc",),)),
)


def consumed_columns(log: str) -> frozenset[str]:
    """Columns of ``log`` that the mapping uses up (not copied to ``extra`` as zeek.<log>.*)."""
    entries = [e for e in ZEEK_COLUMNS if e.applies_to(log)]
    kept = {e.column for e in entries if e.keep}
    return frozenset({e.column for e in entries} - kept) | _ALWAYS_CONSUMED


def infer_log(keys: Iterable[str]) -> str | None:
    """The Zeek log whose columns these are, by ``_INFERENCE``; None if none fits."""
    present = set(keys)
    for log, clauses in _INFERENCE:
        if any(present.issuperset(clause) for clause in clauses):
            return log
    return None


def log_from_source(source: str) -> str | None:
    """A known Zeek log named by a file (``conn.log``, ``dns.09:00:00-10:00:00.log.gz``)."""
    stem = PurePath(source).name.split(".", 1)[0]
    return stem if stem in _LOGS or any(stem == log for log, _ in _INFERENCE) else None


def _log_constant(log: str, attr: str) -> str | None:
    info = _LOGS.get(log)
    value = getattr(info, attr) if info else None
    if attr == "kind" and value is None:
        return "event"
    return value if isinstance(value, str) else None


def _literal(value: str | None) -> str:
    return "NULL" if value is None else sql_string(value)


# --- SQL shared by both parsers -------------------------------------------------------------


def _ts_sql(text: str, ctx: ParseContext) -> str:
    """ts text (epoch seconds or ISO 8601) → TIMESTAMPTZ; NULL if unreadable.

    Epoch digits are bounded so that a hostile number cannot overflow make_timestamp.
    """
    return (
        f"CASE WHEN regexp_full_match({text}, '\\d{{1,11}}(\\.\\d{{1,9}})?') "
        f"THEN {epoch_to_utc(text)} ELSE {iso_to_utc(text, ctx)} END"
    )


def _mapped_sql(
    value: Callable[[str], str | None], when: Callable[[frozenset[str]], str | None]
) -> dict[str, str]:
    """Target → SQL for every target some usable entry of ZEEK_COLUMNS fills.

    ``value(column)`` is the column's text (None: the input cannot have it); ``when(logs)`` the
    condition that the record belongs to one of ``logs`` ("true", or None for never).
    """
    candidates: dict[str, list[str]] = {}
    for entry in ZEEK_COLUMNS:
        text = value(entry.column)
        condition = when(entry.logs)
        if text is None or condition is None:
            continue
        expr = entry.sql.replace("{}", text)
        if condition != "true":
            expr = f"CASE WHEN {condition} THEN {expr} END"
        candidates.setdefault(entry.target, []).append(expr)
    return {
        target: exprs[0] if len(exprs) == 1 else f"coalesce({', '.join(exprs)})"
        for target, exprs in candidates.items()
    }


def _ecs_select(mapped: dict[str, str], constant: Callable[[str], str]) -> list[str]:
    """The ECS part of the SELECT list: mapped columns plus the per-log constants."""
    columns = {
        "event.kind": constant("kind"),
        "event.category": constant("category"),
        "event.type": constant("type"),
        "event.action": _coalesce(mapped.get("event.action"), constant("action")),
        "network.protocol": _coalesce(mapped.get("network.protocol"), constant("protocol")),
    }
    for target, expr in mapped.items():
        if target in FIELD_BY_NAME and target not in columns:
            columns[target] = expr
    return [f"{expr} AS {quote_ident(target)}" for target, expr in columns.items()]


def _join(items: Sequence[str]) -> str:
    return ",\n           ".join(items)


def not_object_sql(json_type: str) -> str:
    """The reason for a valid JSON record that is not an object, from its ``json_type``."""
    return (
        f"'not a JSON object but ' || CASE {json_type} WHEN 'ARRAY' THEN 'an array' "
        "WHEN 'VARCHAR' THEN 'a string' WHEN 'BOOLEAN' THEN 'a boolean' "
        "WHEN 'NULL' THEN 'null' ELSE 'a number' END"
    )


def _coalesce(first: str | None, second: str) -> str:
    return second if first is None else f"coalesce({first}, {second})"


def network_totals_sql(produced: set[str]) -> list[str]:
    """``network.bytes``/``packets``: the sum of both directions, NULL when neither is known.

    Reads the ``source.*``/``destination.*`` columns of the query it is selected from.
    """
    totals = []
    for total, parts in (("network.bytes", "bytes"), ("network.packets", "packets")):
        src, dst = quote_ident(f"source.{parts}"), quote_ident(f"destination.{parts}")
        if f"source.{parts}" in produced and f"destination.{parts}" in produced:
            totals.append(
                f"CASE WHEN {src} IS NULL AND {dst} IS NULL THEN NULL "
                f"ELSE coalesce({src}, 0) + coalesce({dst}, 0) END AS {quote_ident(total)}"
            )
    return totals


def quoted_sql(text: str) -> str:
    """A value in quotes for an error message, cut short: hostile input can be megabytes."""
    cut = f"CASE WHEN length({text}) > 64 THEN '...' ELSE '' END"
    return f"chr(39) || left({text}, 64) || {cut} || chr(39)"


def _final_sql(mapped_cte: str, produced: set[str], error: str, helpers: Sequence[str]) -> str:
    """Wrap the mapped rows: totals of bytes and packets, ``_error``, helper columns dropped."""
    extra_columns = "".join(f",\n       {t}" for t in network_totals_sql(produced))
    return f"""
WITH {mapped_cte}
SELECT * EXCLUDE ({", ".join(helpers)}){extra_columns},
       {error} AS _error
FROM mapped
"""


# --- TSV ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ZeekHeader:
    """What a Zeek TSV header declares."""

    separator: str = "\t"
    set_separator: str = ","
    empty_field: str = "(empty)"
    unset_field: str = "-"
    path: str | None = None
    fields: tuple[str, ...] = ()
    types: tuple[str, ...] = ()

    def type_of(self, index: int) -> str:
        """The declared type of column ``index`` (``string`` if #types is missing or short)."""
        return self.types[index] if len(self.types) == len(self.fields) else "string"


_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")


def parse_header(lines: Sequence[str]) -> ZeekHeader:
    """Read a Zeek TSV header from its ``#`` lines (other lines are ignored)."""
    separator = "\t"
    for line in lines:
        if line.startswith("#separator "):
            text = line[len("#separator ") :].strip()
            decoded = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
            separator = decoded or separator
            break
    values: dict[str, list[str]] = {}
    for line in lines:
        if line.startswith("#") and not line.startswith("#separator"):
            key, *rest = line[1:].split(separator)
            values.setdefault(key, rest)  # the first of repeated lines wins
    one = {key: rest[0] for key, rest in values.items() if len(rest) == 1}
    return ZeekHeader(
        separator=separator,
        set_separator=one.get("set_separator", ","),
        empty_field=one.get("empty_field", "(empty)"),
        unset_field=one.get("unset_field", "-"),
        path=one.get("path") or None,
        fields=tuple(values.get("fields", ())),
        types=tuple(values.get("types", ())),
    )


def _sql_char(text: str) -> str:
    """A separator as SQL: ``chr(9)`` for control characters, else a literal."""
    if len(text) == 1 and (ord(text) < 32 or ord(text) == 127):
        return f"chr({ord(text)})"
    return sql_string(text)


def _unescape_sql(expr: str) -> str:
    """Undo Zeek's ``\\xNN`` escapes of tab, CR, LF and printable ASCII in a string value.

    Other bytes stay escaped: decoding one byte of a multi-byte character would make invalid
    UTF-8. Zeek writes a literal backslash as ``\\x5c``, so the split cannot be fooled.
    """
    return (
        f"CASE WHEN contains({expr}, '\\x') THEN array_to_string(list_transform("
        f"string_split({expr}, '\\x'), lambda p, i: CASE WHEN i = 1 THEN p "
        "WHEN regexp_matches(p, '^(0[9aAdD]|[2-7][0-9a-fA-F])') "
        "THEN decode(unhex(left(p, 2))) || substr(p, 3) ELSE '\\x' || p END), '') "
        f"ELSE {expr} END"
    )


_NUMBER_TYPES = {"count": "BIGINT", "int": "BIGINT", "port": "BIGINT", "double": "DOUBLE"}
_NUMBER_TYPES |= {"interval": "DOUBLE", "time": "DOUBLE"}


def _typed_sql(text: str, zeek_type: str, *, escaped: bool) -> str:
    """A scalar Zeek value (text, NULL when unset) as the JSON-friendly SQL type of its type.

    ``escaped``: the text still holds Zeek's escapes (a set element, not a cleaned cell).
    """
    if zeek_type in _NUMBER_TYPES:
        return f"TRY_CAST({text} AS {_NUMBER_TYPES[zeek_type]})"
    if zeek_type == "bool":
        return f"CASE {text} WHEN 'T' THEN true WHEN 'F' THEN false END"
    if zeek_type == "string" and escaped:
        return _unescape_sql(text)
    return text


class _TsvColumns:
    """SQL for the cells of one header: cleaned text per position and typed extra values."""

    def __init__(self, header: ZeekHeader) -> None:
        self.header = header
        self.index: dict[str, int] = {}
        for position, name in enumerate(header.fields):
            self.index.setdefault(name, position)  # duplicated names: the first wins

    def raw(self, position: int) -> str:
        return f"f[{position + 1}]"

    def cell_sql(self, position: int) -> str:
        """The cleaned text of a cell: NULL if unset, '' if empty, escapes undone for strings."""
        h, raw = self.header, self.raw(position)
        zeek_type = h.type_of(position)
        text = _unescape_sql(raw) if zeek_type == "string" else raw
        return (
            f"CASE {raw} WHEN {sql_string(h.unset_field)} THEN NULL "
            f"WHEN {sql_string(h.empty_field)} THEN '' ELSE {text} END"
        )

    def value(self, column: str) -> str | None:
        """The ECS-ready text of a column (NULL when unset or empty), None if absent."""
        position = self.index.get(column)
        return None if position is None else f"nullif(c{position + 1}, '')"

    def extra_value(self, position: int) -> str:
        """The typed value for ``extra``: numbers, booleans, arrays for sets and vectors."""
        h, raw = self.header, self.raw(position)
        zeek_type = h.type_of(position)
        container = re.fullmatch(r"(?:set|vector|table)\[(\w+)\]", zeek_type)
        if container is None:
            return _typed_sql(f"c{position + 1}", zeek_type, escaped=False)
        element = _typed_sql("e", container.group(1), escaped=True)
        return (
            f"CASE {raw} WHEN {sql_string(h.unset_field)} THEN NULL "
            f"WHEN {sql_string(h.empty_field)} THEN [] ELSE list_transform("
            f"string_split({raw}, {_sql_char(h.set_separator)}), lambda e: {element}) END"
        )


class ZeekTsvParser(Parser):
    """Zeek's classic tab-separated logs, read with the ``#fields`` header of the input."""

    name = "zeek"
    description = "Zeek (Bro) TSV log with #fields header (conn, dns, http, ssl, ...)"

    def sniff(self, sample: Sample) -> float:
        records = sample.records
        header_lines = [r for r in records if r.startswith("#")]
        rows = [r for r in records if not r.startswith("#")]
        has_separator = any(r.startswith("#separator ") for r in header_lines)
        header = parse_header(header_lines)
        if header.fields and has_separator:
            if not rows:
                return 0.95
            width = len(header.fields)
            return 0.6 + 0.4 * share_matching(
                rows, lambda r: len(r.split(header.separator)) == width
            )
        # Rows without a header cannot be parsed; recognise them but never pick them alone.
        return 0.4 * share_matching(rows, _HEADERLESS_ROW.match)

    def sql(self, ctx: ParseContext) -> str:
        header = parse_header(ctx.header)
        log = header.path or log_from_source(ctx.source)
        if not header.fields:
            return self._without_header_sql(ctx, header, log)
        log = log or infer_log(header.fields) or UNKNOWN_LOG
        return self._rows_sql(ctx, header, log)

    def _rows_sql(self, ctx: ParseContext, header: ZeekHeader, log: str) -> str:
        columns = _TsvColumns(header)
        width = len(header.fields)
        cells = _join([f"{columns.cell_sql(i)} AS c{i + 1}" for i in range(width)])
        mapped = _mapped_sql(
            columns.value, lambda logs: "true" if not logs or log in logs else None
        )
        select = _ecs_select(mapped, lambda attr: _literal(_log_constant(log, attr)))
        ts_text = columns.value("ts") or "CAST(NULL AS VARCHAR)"
        extra = extra_sql(self._extra_pairs(columns, log, mapped))
        mapped_cte = f"""rows AS (
    SELECT record_no, starts_with(raw, '#') AS _skip,
           string_split(raw, {_sql_char(header.separator)}) AS f
    FROM batch
),
cells AS (
    SELECT record_no, _skip, f, len(f) AS _width,
           {cells}
    FROM rows
),
mapped AS (
    SELECT record_no, _skip, _width, {ts_text} AS _ts_text,
           {_ts_sql(ts_text, ctx)} AS "@timestamp",
           'zeek' AS "event.module",
           {sql_string("zeek." + log)} AS "event.dataset",
           {_join(select)},
           {extra} AS extra
    FROM cells
)"""
        error = f"""CASE WHEN _skip THEN NULL
            WHEN _width <> {width}
            THEN 'Zeek row has ' || _width || ' fields, the #fields header declares {width}'
            WHEN _ts_text IS NULL THEN 'Zeek row has no ts'
            WHEN "@timestamp" IS NULL
            THEN 'ts ' || {quoted_sql("_ts_text")} || ' is not epoch seconds'
       END"""
        produced = {t for t in mapped if t in FIELD_BY_NAME}
        return _final_sql(mapped_cte, produced, error, ["_ts_text", "_width"])

    @staticmethod
    def _extra_pairs(
        columns: _TsvColumns, log: str, mapped: dict[str, str]
    ) -> list[tuple[str, str]]:
        pairs = [(t, expr) for t, expr in mapped.items() if t not in FIELD_BY_NAME]
        consumed = consumed_columns(log)
        for name, position in columns.index.items():
            if name not in consumed:
                pairs.append((f"zeek.{log}.{name}", columns.extra_value(position)))
        return pairs

    @staticmethod
    def _without_header_sql(ctx: ParseContext, header: ZeekHeader, log: str | None) -> str:
        reason = (
            "the Zeek header has no #fields line, so its rows cannot be read"
            if ctx.header
            else "Zeek TSV row without a header: the input does not start with the "
            "#separator ... #fields lines that name its columns"
        )
        first = f"split_part(raw, {_sql_char(header.separator)}, 1)"
        return f"""
SELECT record_no,
       starts_with(raw, '#') AS _skip,
       {_ts_sql(first, ctx)} AS "@timestamp",
       'zeek' AS "event.module",
       {sql_string("zeek." + (log or UNKNOWN_LOG))} AS "event.dataset",
       CASE WHEN NOT starts_with(raw, '#') THEN {sql_string(reason)} END AS _error
FROM batch
"""


_HEADERLESS_ROW = re.compile(r"^\d{9,11}\.\d{1,6}(?:\t[^\t]*){4,}$")

# --- JSON --------------------------------------------------------------------------------------

_UID = re.compile(r"^[CF][0-9A-Za-z]{8,24}$")


def _looks_like_zeek_json(record: str) -> bool:
    try:
        value = json.loads(record)
    except ValueError:
        return False
    if not isinstance(value, dict) or "ts" not in value:
        return False
    if "event_type" in value or "@timestamp" in value:
        return False  # Suricata EVE, or an ECS document (which may carry zeek.* fields)
    uid = value.get("uid", value.get("fuid", value.get("id")))
    return (
        "id.orig_h" in value
        or "_path" in value
        or (isinstance(uid, str) and _UID.match(uid) is not None)
        or (isinstance(value.get("id"), dict) and "orig_h" in value["id"])
        or "certificate.subject" in value
    )


def _all_columns() -> list[str]:
    names = ["ts", "_path"]
    for entry in ZEEK_COLUMNS:
        if entry.column not in names:
            names.append(entry.column)
    return names


class ZeekJsonParser(Parser):
    """Zeek's JSON writer: one object per line with flat dotted keys (``id.orig_h``)."""

    name = "zeek-json"
    description = "Zeek (Bro) JSON log (LogAscii::use_json), one object per line"
    containers = frozenset({"lines", "json"})

    def sniff(self, sample: Sample) -> float:
        return 0.95 * share_matching(sample.records, _looks_like_zeek_json)

    def sql(self, ctx: ParseContext) -> str:
        extraction = JsonExtraction([JsonField(name, (name,)) for name in _all_columns()])

        def value(column: str) -> str:
            return extraction.value_sql(column, "j")

        def when(logs: frozenset[str]) -> str:
            return "true" if not logs else f"_log IN ({', '.join(map(sql_string, sorted(logs)))})"

        mapped = _mapped_sql(value, when)
        select = _ecs_select(mapped, self._constant_sql)
        fixed = extra_sql([(t, expr) for t, expr in mapped.items() if t not in FIELD_BY_NAME])
        rest = pairs_object_sql("_rest", "'zeek.' || _log || '.'")
        extra = (
            f"nullif(CAST(json_merge_patch(coalesce({fixed}, '{{}}'), {rest}) AS VARCHAR), '{{}}')"
        )
        source_log = _literal(log_from_source(ctx.source))
        ts_text = value("ts")
        keep = (
            "lambda p: NOT list_contains(_consumed, p[1]) "
            "AND NOT (list_contains(_parents, p[1]) AND starts_with(p[2], '{'))"
        )
        mapped_cte = f"""src AS (
    SELECT record_no, raw,
           json_valid(raw) AS _valid,
           CASE WHEN json_valid(raw) THEN json_type(raw) END AS _type,
           {extraction.values_sql("raw")} AS j
    FROM batch
),
keyed AS (
    SELECT *, {object_pairs_sql("raw", "_type")} AS _pairs,
           list_transform(_pairs, lambda p: p[1]) AS k
    FROM src
),
logs AS (
    SELECT *, coalesce({value("_path")}, {source_log}, {self._inference_sql()},
                       {sql_string(UNKNOWN_LOG)}) AS _log
    FROM keyed
),
consumed AS (
    SELECT *, {self._consumed_sql(parents=False)} AS _consumed,
           {self._consumed_sql(parents=True)} AS _parents
    FROM logs
),
rest AS (
    SELECT *, {unique_pairs_sql(f"list_filter(_pairs, {keep})")} AS _rest
    FROM consumed
),
mapped AS (
    SELECT record_no, _valid, _type, {ts_text} AS _ts_text,
           {_ts_sql(ts_text, ctx)} AS "@timestamp",
           'zeek' AS "event.module",
           'zeek.' || _log AS "event.dataset",
           {_join(select)},
           {extra} AS extra
    FROM rest
)"""
        error = f"""CASE WHEN NOT _valid THEN 'invalid JSON'
            WHEN _type <> 'OBJECT' THEN {not_object_sql("_type")}
            WHEN _ts_text IS NULL THEN 'no ts field: not a Zeek JSON log record'
            WHEN "@timestamp" IS NULL
            THEN 'ts ' || {quoted_sql("_ts_text")}
                 || ' is neither epoch seconds nor an ISO 8601 time'
       END"""
        produced = {t for t in mapped if t in FIELD_BY_NAME}
        return _final_sql(mapped_cte, produced, error, ["_ts_text", "_valid", "_type"])

    @staticmethod
    def _constant_sql(attr: str) -> str:
        cases = []
        for log in _LOGS:
            value = _log_constant(log, attr)
            if value is not None and not (attr == "kind" and value == "event"):
                cases.append(f"WHEN {sql_string(log)} THEN {sql_string(value)}")
        default = "'event'" if attr == "kind" else "NULL"
        if not cases:
            return default
        return f"CASE _log {' '.join(cases)} ELSE {default} END"

    @staticmethod
    def _inference_sql() -> str:
        whens = []
        for log, clauses in _INFERENCE:
            tests = " OR ".join(
                "(" + " AND ".join(f"list_contains(k, {sql_string(key)})" for key in clause) + ")"
                for clause in clauses
            )
            whens.append(f"WHEN {tests} THEN {sql_string(log)}")
        return f"CASE {' '.join(whens)} END"

    @staticmethod
    def _consumed_sql(*, parents: bool) -> str:
        """Per log, the keys not copied to extra (or, with ``parents``, the nested parents).

        A parent (``id`` of ``{"id": {"orig_h": ..}}``) is left out only when it holds an
        object: pe.log's ``id`` is a plain column.
        """
        cases = []
        for log in sorted(set(_LOGS) | {log for log, _ in _INFERENCE}):
            cases.append(f"WHEN {sql_string(log)} THEN {_sql_list(_consumed_keys(log)[parents])}")
        default = _sql_list(_consumed_keys(UNKNOWN_LOG)[parents])
        return f"CASE _log {' '.join(cases)} ELSE {default} END"


def object_pairs_sql(raw: str, json_type: str) -> str:
    """A JSON object's members as a list of [key, JSON value text] (NULL for non-objects).

    Two vectorised calls (keys, and the ``$.*`` values in the same order) instead of a cast to
    a MAP, which is several times slower and fails on duplicate keys.
    """
    return (
        f"CASE WHEN {json_type} = 'OBJECT' "
        f"THEN list_zip(json_keys({raw}), json_extract({raw}, '$.*')) END"
    )


def unique_pairs_sql(pairs: str) -> str:
    """``pairs`` with only the first of equal keys (paid only by records that repeat a key)."""
    keys = f"list_transform({pairs}, lambda p: p[1])"
    return (
        f"CASE WHEN len(list_distinct({keys})) = len({keys}) THEN {pairs} "
        f"ELSE list_filter({pairs}, lambda p, i: list_position({keys}, p[1]) = i) END"
    )


def pairs_object_sql(pairs: str, prefix: str) -> str:
    """JSON object text from [key, JSON value] pairs, each key behind ``prefix`` (SQL text)."""
    members = f"list_transform({pairs}, lambda p: to_json({prefix} || p[1]) || ':' || p[2])"
    return f"coalesce('{{' || array_to_string({members}, ',') || '}}', '{{}}')"


def _consumed_keys(log: str) -> tuple[list[str], list[str]]:
    """JSON keys not copied to extra, and the parents of consumed dotted columns."""
    consumed = consumed_columns(log)
    nested = {name.split(".", 1)[0] for name in consumed if "." in name}
    return sorted(consumed), sorted(nested)


def _sql_list(values: Sequence[str]) -> str:
    return "[" + ", ".join(sql_string(v) for v in values) + "]::VARCHAR[]"
