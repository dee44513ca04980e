"""The canonical event schema: Elastic Common Schema (ECS) names, one Arrow schema.

Every parser produces (a subset of) these columns and every store keeps them. Columns keep their
dotted ECS names (``source.ip``), so a Kibana user's query names the same field in DuckDB and in
Elasticsearch. Fields a parser knows but the schema does not carry go into ``extra``: a JSON
object with dotted keys (``{"zeek.conn_state": "SF"}``), still searchable by name.

Non-ECS columns are few and documented here: ``log.file.line`` (provenance: the 1-based line, or
record number for arrays and tables), ``loglens.template.id`` (the template mined from
``message`` after ingest; its text lives in the store's template state) and ``extra``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pyarrow as pa


class Kind(StrEnum):
    """How a field behaves in queries (mirrors the Elasticsearch mapping type)."""

    KEYWORD = "keyword"  # exact, case-sensitive match; wildcards allowed
    TEXT = "text"  # full text: case-insensitive substring match
    LONG = "long"
    IP = "ip"  # keyword semantics plus CIDR match (10.0.0.0/8)
    DATE = "date"
    KEYWORD_LIST = "keyword_list"  # an array of keywords (tags)
    JSON = "json"


@dataclass(frozen=True)
class Field:
    """One column of the canonical schema."""

    name: str
    kind: Kind
    description: str

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW_TYPES[self.kind]

    @property
    def sql_type(self) -> str:
        return _SQL_TYPES[self.kind]


_ARROW_TYPES: dict[Kind, pa.DataType] = {
    Kind.KEYWORD: pa.string(),
    Kind.TEXT: pa.string(),
    Kind.LONG: pa.int64(),
    Kind.IP: pa.string(),
    Kind.DATE: pa.timestamp("us", tz="UTC"),
    Kind.KEYWORD_LIST: pa.list_(pa.string()),
    Kind.JSON: pa.string(),
}

_SQL_TYPES: dict[Kind, str] = {
    Kind.KEYWORD: "VARCHAR",
    Kind.TEXT: "VARCHAR",
    Kind.LONG: "BIGINT",
    Kind.IP: "VARCHAR",
    Kind.DATE: "TIMESTAMPTZ",
    Kind.KEYWORD_LIST: "VARCHAR[]",
    Kind.JSON: "VARCHAR",
}

K, T, L, IP, D = Kind.KEYWORD, Kind.TEXT, Kind.LONG, Kind.IP, Kind.DATE

FIELDS: tuple[Field, ...] = (
    Field("@timestamp", D, "When the event happened, UTC."),
    Field("event.id", K, "Deterministic id: hash of source key, record number and raw record."),
    Field("event.kind", K, "event, alert, or pipeline_error for a record no parser understood."),
    Field("event.module", K, "Log family: apache, system, zeek, suricata, windows, ..."),
    Field("event.dataset", K, "Family and log: apache.access, system.auth, zeek.conn, ..."),
    Field("event.category", K, "ECS category: network, authentication, web, process, ..."),
    Field("event.type", K, "ECS type: connection, start, denied, access, protocol, ..."),
    Field("event.action", K, "What happened: ssh_login, sudo, alert, dns_query, ..."),
    Field("event.outcome", K, "success, failure or unknown."),
    Field("event.code", K, "Source-specific event code (Windows EventID, Sysmon id)."),
    Field("event.severity", L, "Numeric severity as the source gives it."),
    Field("event.duration", L, "Duration in nanoseconds."),
    Field("event.original", T, "The raw record exactly as read (a line, or a JSON element)."),
    Field("event.ingested", D, "When loglens stored the event, UTC."),
    Field("log.level", K, "Level or syslog severity name (info, warning, err, ...)."),
    Field("log.file.path", K, "Provenance: the file the record came from ('-' for stdin)."),
    Field("log.file.line", L, "Provenance: 1-based line (or record number for arrays/tables)."),
    Field("message", T, "The human-readable message, where the source has one."),
    Field("error.message", T, "Why the record could not be parsed (pipeline_error events)."),
    Field("tags", Kind.KEYWORD_LIST, "Labels such as _parse_failure."),
    Field("host.name", K, "The host that logged the event."),
    Field("host.ip", IP, "Address of the host that logged the event."),
    Field("user.name", K, "The user the event is about."),
    Field("user.domain", K, "Domain of the user (Windows)."),
    Field("process.name", K, "Process name (sshd, sudo, powershell.exe, ...)."),
    Field("process.pid", L, "Process id."),
    Field("process.executable", K, "Full path of the executable."),
    Field("process.command_line", T, "Full command line."),
    Field("source.ip", IP, "Client / originator address."),
    Field("source.port", L, "Client / originator port."),
    Field("source.bytes", L, "Bytes sent by the source."),
    Field("source.packets", L, "Packets sent by the source."),
    Field("source.domain", K, "Client host name, where known."),
    Field("destination.ip", IP, "Server / responder address."),
    Field("destination.port", L, "Server / responder port."),
    Field("destination.bytes", L, "Bytes sent by the destination."),
    Field("destination.packets", L, "Packets sent by the destination."),
    Field("destination.domain", K, "Server host name, where known."),
    Field("network.protocol", K, "Application protocol: dns, http, ssh, tls, smtp, dhcp, ..."),
    Field("network.transport", K, "tcp, udp, icmp, ..."),
    Field("network.bytes", L, "Total bytes in both directions."),
    Field("network.packets", L, "Total packets in both directions."),
    Field("network.direction", K, "inbound, outbound, internal or external (configured CIDRs)."),
    Field("url.original", K, "The URL or request target as logged."),
    Field("url.domain", K, "Host part of the URL."),
    Field("url.registered_domain", K, "Registered domain of url.domain (public suffix + 1)."),
    Field("url.path", K, "Path of the URL."),
    Field("url.query", K, "Query string of the URL, without '?'."),
    Field("http.request.method", K, "GET, POST, ..."),
    Field("http.request.referrer", K, "Referer header."),
    Field("http.response.status_code", L, "HTTP status code."),
    Field("http.response.body.bytes", L, "Response body size."),
    Field("http.version", K, "HTTP version (1.1, 2)."),
    Field("user_agent.original", K, "User-Agent header."),
    Field("dns.question.name", K, "Queried name."),
    Field("dns.question.registered_domain", K, "Registered domain of the queried name."),
    Field("dns.question.type", K, "A, AAAA, TXT, ..."),
    Field("dns.response_code", K, "NOERROR, NXDOMAIN, ..."),
    Field("rule.id", K, "Detection rule id (Suricata signature id)."),
    Field("rule.name", K, "Detection rule name (Suricata signature)."),
    Field("rule.category", K, "Detection rule category."),
    Field("loglens.template.id", K, "The message's log template (see `loglens templates`)."),
    Field("extra", Kind.JSON, "Other fields of the source, as a JSON object with dotted keys."),
)

FIELD_BY_NAME: dict[str, Field] = {f.name: f for f in FIELDS}
COLUMNS: tuple[str, ...] = tuple(f.name for f in FIELDS)

EVENT_SCHEMA: pa.Schema = pa.schema([pa.field(f.name, f.arrow_type) for f in FIELDS])

TEMPLATE_ID = "loglens.template.id"
"""The column holding each message's template id (null for events without a ``message``)."""

PARSE_FAILURE_TAG = "_parse_failure"
"""Tag on records no parser understood (after Logstash's ``_grokparsefailure``)."""

TEXT_SEARCH_FIELDS: tuple[str, ...] = (
    "event.original",
    "message",
    "error.message",
    "process.command_line",
    "url.original",
    "http.request.referrer",
    "user_agent.original",
    "dns.question.name",
    "rule.name",
    "extra",
)
"""Fields a free-text query (no field name) searches: the record's text. ``event.original`` is
not kept for every parsed record (``ingest.keep_original``), so the fields a raw line's text
lands in are searched too."""


def quote_ident(name: str) -> str:
    """Quote a column name for SQL (dotted ECS names need quoting)."""
    return '"' + name.replace('"', '""') + '"'


def field_kind(name: str) -> Kind | None:
    """The kind of a schema field, or None for a field that lives in ``extra``."""
    field = FIELD_BY_NAME.get(name)
    return field.kind if field else None
