"""Suricata EVE JSON: one event per record, from NDJSON lines or the elements of a JSON array.

Every event type lands in one dataset, ``suricata.eve`` (as in Filebeat); ``event.action`` is the
EVE ``event_type`` (alert, flow, dns, http, tls, fileinfo, anomaly, stats, ...).

Mapping decisions:

- ``timestamp`` → ``@timestamp`` (EVE writes ``2018-03-24T14:37:19.037299-0600``; one without an
  offset is read in ``ParseContext.timezone``). An event without a readable timestamp, or without
  ``event_type``, is a parse failure.
- ``src_ip/src_port/dest_ip/dest_port`` → ``source.*``/``destination.*``; ``proto`` lower-cased →
  ``network.transport``; ``app_proto`` → ``network.protocol`` (``failed``, Suricata's word for
  "could not tell", is dropped; app-layer events without ``app_proto`` use their event type);
  ``host`` (the sensor name) → ``host.name``.
- alert: ``signature`` → ``rule.name`` and ``message``, ``signature_id`` → ``rule.id``,
  ``category`` → ``rule.category``, ``severity`` → ``event.severity`` (Suricata's 1 = highest,
  kept as given), ``action`` → ``event.type`` (``allowed`` → allowed, ``blocked``/``drop`` →
  denied); ``event.kind`` is ``alert`` and ``event.category`` ``intrusion_detection``.
- flow (also the ``flow`` object alerts carry): ``bytes_toserver``/``bytes_toclient`` →
  ``source.bytes``/``destination.bytes``, sum → ``network.bytes``; packets likewise;
  ``end - start`` → ``event.duration`` (ns) when both are there.
- dns: ``rrname``/``rrtype``/``rcode`` → ``dns.question.name/type``, ``dns.response_code``; the
  newer shapes that list questions (``dns.queries[0]`` of EVE dns v3, ``dns.query[0]`` of alert
  metadata) are read too.
- http: ``hostname`` → ``url.domain``, ``url`` → ``url.original/path/query``, ``http_method``,
  ``status``, ``http_user_agent``, ``http_refer``, ``length``, ``protocol`` (``HTTP/1.1`` →
  ``http.version`` 1.1); these fields also fill alerts and fileinfo events that carry an
  ``http`` object. http events get category ``web``/``access`` as Zeek's http.log does, and
  ``event.outcome`` from the status (only them: an alert is not a "success" because of a 200).
- tls: ``sni`` → ``destination.domain``; ECS-named ``extra`` keys ``tls.client.server_name``,
  ``tls.version`` (``TLS 1.2`` → ``1.2``), ``tls.version_protocol``, ``tls.server.subject``,
  ``tls.server.issuer``, ``tls.server.hash.sha1``, ``tls.client.ja3``, ``tls.server.ja3s``.
  fileinfo: ``file.name``, ``file.size``, ``file.hash.*`` in ``extra``.
- Everything else goes to ``extra`` as ``suricata.<key>`` for top-level values (``flow_id``,
  ``community_id``, ``in_iface``, ``pcap_cnt``, ``tx_id``) and ``suricata.<object>.<key>`` for the
  members of nested objects (``suricata.alert.action``, ``suricata.flow.state``,
  ``suricata.dns.answers``); deeper values stay JSON. ``payload`` and ``packet`` (base64 copies
  of the traffic) are left out: they stay in ``event.original``.
"""

from __future__ import annotations

import json

from loglens.parse.base import ParseContext, Parser, Sample, share_matching, sql_string
from loglens.parse.json_fields import JsonExtraction, JsonField, extra_sql
from loglens.parse.timestamps import iso_to_utc
from loglens.parse.zeek import (
    URL_PATH_SQL,
    URL_QUERY_SQL,
    network_totals_sql,
    not_object_sql,
    object_pairs_sql,
    pairs_object_sql,
    quoted_sql,
    unique_pairs_sql,
)

_INT = "TRY_CAST({} AS BIGINT)"
_HTTP_VERSION = "nullif(regexp_extract({}, '^HTTP/(.+)$', 1), '')"
_TLS_VERSION_RE = "^(?:TLS|SSL|DTLS)\\s*v?(\\d)(?:\\.(\\d))?$"

_FIELDS: tuple[JsonField, ...] = (
    JsonField("_timestamp", ("timestamp",)),
    JsonField("_event_type", ("event_type",)),
    JsonField("_app_proto", ("app_proto",)),
    JsonField("_alert_action", ("alert.action",)),
    JsonField("_flow_start", ("flow.start",)),
    JsonField("_flow_end", ("flow.end",)),
    JsonField("_tls_version", ("tls.version",)),
    JsonField("_dns_name", ("dns.rrname",)),
    JsonField("_dns_type", ("dns.rrtype",)),
    JsonField("source.ip", ("src_ip",)),
    JsonField("source.port", ("src_port",), _INT),
    JsonField("destination.ip", ("dest_ip",)),
    JsonField("destination.port", ("dest_port",), _INT),
    JsonField("network.transport", ("proto",), "lower({})"),
    JsonField("host.name", ("host",)),
    JsonField("rule.name", ("alert.signature",)),
    JsonField("message", ("alert.signature",)),
    JsonField("rule.id", ("alert.signature_id",)),
    JsonField("rule.category", ("alert.category",)),
    JsonField("event.severity", ("alert.severity",), _INT),
    JsonField("source.bytes", ("flow.bytes_toserver",), _INT),
    JsonField("destination.bytes", ("flow.bytes_toclient",), _INT),
    JsonField("source.packets", ("flow.pkts_toserver",), _INT),
    JsonField("destination.packets", ("flow.pkts_toclient",), _INT),
    JsonField("dns.response_code", ("dns.rcode",)),
    JsonField("url.domain", ("http.hostname",)),
    JsonField("url.original", ("http.url",)),
    JsonField("url.path", ("http.url",), URL_PATH_SQL),
    JsonField("url.query", ("http.url",), URL_QUERY_SQL),
    JsonField("http.request.method", ("http.http_method",)),
    JsonField("http.response.status_code", ("http.status",), _INT),
    JsonField("http.request.referrer", ("http.http_refer",)),
    JsonField("http.response.body.bytes", ("http.length",), _INT),
    JsonField("http.version", ("http.protocol",), _HTTP_VERSION),
    JsonField("user_agent.original", ("http.http_user_agent",)),
    JsonField("destination.domain", ("tls.sni",)),
)
"""EVE paths → ECS columns; targets starting with '_' are inputs to computed columns."""

# ECS-named extra keys (the schema has no tls or file columns): (key, EVE path, SQL).
_ECS_EXTRA: tuple[tuple[str, str, str], ...] = (
    ("tls.client.server_name", "tls.sni", "{}"),
    ("tls.server.subject", "tls.subject", "{}"),
    ("tls.server.issuer", "tls.issuerdn", "{}"),
    ("tls.server.hash.sha1", "tls.fingerprint", "upper(replace({}, ':', ''))"),
    ("tls.server.not_before", "tls.notbefore", "{}"),
    ("tls.server.not_after", "tls.notafter", "{}"),
    ("tls.client.ja3", "tls.ja3.hash", "{}"),
    ("tls.server.ja3s", "tls.ja3s.hash", "{}"),
    ("file.name", "fileinfo.filename", "{}"),
    ("file.size", "fileinfo.size", _INT),
    ("file.hash.md5", "fileinfo.md5", "{}"),
    ("file.hash.sha1", "fileinfo.sha1", "{}"),
    ("file.hash.sha256", "fileinfo.sha256", "{}"),
)

_KEPT = frozenset({"alert.action", "flow.start", "flow.end", "tls.ja3.hash", "tls.ja3s.hash"})
"""Mapped paths still copied to extra: the mapping loses detail (blocked vs drop, the times)."""
_LEFT_OUT = frozenset({"payload", "packet"})
"""Top-level keys never copied to extra (base64 copies of the traffic; event.original has them)."""

# Event types that describe traffic, not an application protocol.
_NOT_APP_LAYER = ("alert", "flow", "netflow", "fileinfo", "anomaly", "stats", "drop", "frame")

# The question of newer dns shapes sits in an array, which JSON field paths cannot index.
_DNS_QUESTION_PATHS = (
    "$.dns.queries[0].rrname",
    "$.dns.queries[0].rrtype",
    "$.dns.query[0].rrname",
    "$.dns.query[0].rrtype",
)


def _looks_like_eve(record: str) -> bool:
    try:
        value = json.loads(record)
    except ValueError:
        return False
    return (
        isinstance(value, dict)
        and isinstance(value.get("event_type"), str)
        and ("src_ip" in value or "dest_ip" in value or "timestamp" in value)
    )


def _consumed_paths() -> list[str]:
    paths = {path for f in _FIELDS for path in f.paths}
    paths |= {path for _, path, _ in _ECS_EXTRA}
    return sorted((paths - _KEPT) | _LEFT_OUT)


class SuricataEveParser(Parser):
    """Suricata's EVE JSON output (eve.json), every event type."""

    name = "suricata"
    description = "Suricata EVE JSON (alert, flow, dns, http, tls, fileinfo, ...)"
    containers = frozenset({"lines", "json"})

    def sniff(self, sample: Sample) -> float:
        return share_matching(sample.records, _looks_like_eve)

    def sql(self, ctx: ParseContext) -> str:
        x = JsonExtraction([*_FIELDS, *(JsonField(key, (path,)) for key, path, _ in _ECS_EXTRA)])
        direct = ",\n       ".join(
            x.column_sql(f.target, "j") for f in _FIELDS if not f.target.startswith("_")
        )
        event_type = x.value_sql("_event_type", "j")
        status = x.value_sql("http.response.status_code", "j")
        flow_start = iso_to_utc(x.value_sql("_flow_start", "j"), ctx)
        flow_end = iso_to_utc(x.value_sql("_flow_end", "j"), ctx)
        questions = ", ".join(sql_string(p) for p in _DNS_QUESTION_PATHS)
        directions = {"source.bytes", "destination.bytes", "source.packets", "destination.packets"}
        totals = ",\n       ".join(network_totals_sql(directions))
        return f"""
WITH src AS (
    SELECT record_no, raw,
           json_valid(raw) AS _valid,
           CASE WHEN json_valid(raw) THEN json_type(raw) END AS _type,
           {x.values_sql("raw")} AS j
    FROM batch
),
fields AS (
    SELECT *,
           {event_type} AS _event_type,
           {x.value_sql("_timestamp", "j")} AS _ts_text,
           CASE WHEN _valid AND contains(raw, '"quer')
                THEN json_extract_string(raw, [{questions}]) END AS q,
           {_rest_pairs_sql(object_pairs_sql("raw", "_type"))} AS _rest
    FROM src
),
mapped AS (
    SELECT record_no, _valid, _type, _event_type, _ts_text,
           {iso_to_utc("_ts_text", ctx)} AS "@timestamp",
           CASE WHEN _event_type = 'alert' THEN 'alert' ELSE 'event' END AS "event.kind",
           'suricata' AS "event.module",
           'suricata.eve' AS "event.dataset",
           {self._category_sql()} AS "event.category",
           {self._type_sql(x.value_sql("_alert_action", "j"))} AS "event.type",
           _event_type AS "event.action",
           {self._protocol_sql(x.value_sql("_app_proto", "j"))} AS "network.protocol",
           coalesce({x.value_sql("_dns_name", "j")}, nullif(q[1], ''), nullif(q[3], ''))
               AS "dns.question.name",
           coalesce({x.value_sql("_dns_type", "j")}, nullif(q[2], ''), nullif(q[4], ''))
               AS "dns.question.type",
           CASE WHEN _event_type <> 'http' THEN NULL
                WHEN TRY_CAST({status} AS INTEGER) BETWEEN 100 AND 399 THEN 'success'
                WHEN TRY_CAST({status} AS INTEGER) BETWEEN 400 AND 599 THEN 'failure'
           END AS "event.outcome",
           (epoch_us({flow_end}) - epoch_us({flow_start})) * 1000 AS "event.duration",
           {direct},
           {self._extra_sql(x, x.value_sql("_tls_version", "j"))} AS extra
    FROM fields
)
SELECT * EXCLUDE (_valid, _type, _event_type, _ts_text),
       {totals},
       CASE WHEN NOT _valid THEN 'invalid JSON'
            WHEN _type <> 'OBJECT' THEN {not_object_sql("_type")}
            WHEN _event_type IS NULL THEN 'no event_type: not a Suricata EVE record'
            WHEN _ts_text IS NULL THEN 'no timestamp in this EVE record'
            WHEN "@timestamp" IS NULL
            THEN 'timestamp ' || {quoted_sql("_ts_text")} || ' is not an ISO 8601 time'
       END AS _error
FROM mapped
"""

    @staticmethod
    def _category_sql() -> str:
        return """CASE WHEN _event_type IS NULL OR _event_type = 'stats' THEN NULL
                WHEN _event_type = 'alert' THEN 'intrusion_detection'
                WHEN _event_type = 'http' THEN 'web' WHEN _event_type = 'fileinfo' THEN 'file'
                ELSE 'network' END"""

    @staticmethod
    def _type_sql(alert_action: str) -> str:
        return f"""CASE WHEN _event_type IS NULL THEN NULL ELSE CASE _event_type
                WHEN 'alert' THEN CASE lower({alert_action}) WHEN 'allowed' THEN 'allowed'
                     WHEN 'blocked' THEN 'denied' WHEN 'drop' THEN 'denied' ELSE 'info' END
                WHEN 'flow' THEN 'connection' WHEN 'netflow' THEN 'connection'
                WHEN 'drop' THEN 'denied' WHEN 'http' THEN 'access'
                WHEN 'fileinfo' THEN 'info' WHEN 'anomaly' THEN 'info' WHEN 'stats' THEN NULL
                ELSE 'protocol' END END"""

    @staticmethod
    def _protocol_sql(app_proto: str) -> str:
        not_app = ", ".join(sql_string(t) for t in _NOT_APP_LAYER)
        return (
            f"coalesce(nullif(lower({app_proto}), 'failed'), "
            f"CASE WHEN _event_type NOT IN ({not_app}) THEN lower(_event_type) END)"
        )

    @staticmethod
    def _extra_sql(x: JsonExtraction, tls_version: str) -> str:
        pattern = sql_string(_TLS_VERSION_RE)
        version = f"regexp_extract({tls_version}, {pattern}, ['major', 'minor'])"
        pairs = [(key, sql.replace("{}", x.value_sql(key, "j"))) for key, _, sql in _ECS_EXTRA]
        pairs += [
            (
                "tls.version",
                f"CASE WHEN {version}.major <> '' "
                f"THEN {version}.major || '.' || coalesce(nullif({version}.minor, ''), '0') END",
            ),
            (
                "tls.version_protocol",
                f"CASE WHEN {version}.major <> '' "
                f"THEN lower(regexp_extract({tls_version}, '^[A-Za-z]+', 0)) END",
            ),
        ]
        rest = pairs_object_sql("_rest", "'suricata.'")
        return (
            f"nullif(CAST(json_merge_patch(coalesce({extra_sql(pairs)}, '{{}}'), {rest}) "
            "AS VARCHAR), '{}')"
        )


def _rest_pairs_sql(pairs: str) -> str:
    """Unmapped [key, JSON value] pairs, with the members of nested objects one level up.

    ``{"flow": {"state": ..}}`` gives ``flow.state``; deeper values stay JSON. Only the first of
    equal keys is kept: a top-level key with a dot can collide with an object member
    (``"a.b"`` and ``{"a": {"b": ..}}``).
    """
    consumed = "[" + ", ".join(sql_string(p) for p in _consumed_paths()) + "]::VARCHAR[]"
    flat = (
        f"flatten(list_transform({pairs}, lambda p: CASE WHEN starts_with(p[2], '{{') "
        "THEN list_zip(list_transform(json_keys(p[2]), lambda s: p[1] || '.' || s), "
        "json_extract(p[2], '$.*')) ELSE [p] END))"
    )
    return unique_pairs_sql(f"list_filter({flat}, lambda p: NOT list_contains({consumed}, p[1]))")
