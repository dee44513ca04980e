"""Apache and Nginx access logs: common, combined and vhost_combined formats.

Two paths in one query. Most lines contain no escaped quote, so splitting on ``"`` gives the
fields at once (fast); the rest go through one regular expression that understands ``\\"`` inside
quoted fields (slow, rare). A request that is not ``METHOD TARGET PROTOCOL`` (TLS bytes sent to
port 80, scanners' junk) still parses: the text is kept in ``url.original`` — such lines are
exactly what an analyst wants to see.

Nothing of a parsed line is lost: the fields the schema lacks — the identd name, the virtual
host's port and trailing fields some servers add (nginx ``$http_x_forwarded_for``, timings) — go
to ``extra`` (``apache.access.ident``, ``apache.access.vhost_port``, ``apache.access.trailing``),
so the pipeline need not keep ``event.original`` for parsed lines (``Parser.lossless``).
"""

from __future__ import annotations

import re

from loglens.parse.base import ParseContext, Parser, Sample, share_matching, sql_string
from loglens.parse.urls import url_host, url_path, url_query

_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_FULL = (
    r"^(?:(\S+):(\d+) )?(\S+) (\S+) (\S+) \[([^\]]+)\] "
    + _QUOTED
    + r" (\d{3}) (\d+|-)(?: "
    + _QUOTED
    + " "
    + _QUOTED
    + r")?"
    # Trailing fields some servers add (nginx "$http_x_forwarded_for", timings): quoted or bare
    # tokens only, so a line cut inside a quoted field does not pass as a shorter format.
    + r'((?: "(?:[^"\\]|\\.)*"| [^"\s]\S*)*)\s*$'
)
_SNIFF = re.compile(
    r'^(?:\S+:\d+ )?\S+ \S+ \S+ \[\d{2}/\w{3}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "[^"]*"? \d{3} '
)
_TIME_FORMAT = "'%d/%b/%Y:%H:%M:%S %z'"
_FIELDS = ["vhost", "vport", "client", "ident", "user", "ts", "request", "status", "bytes"]
_FULL_FIELDS = [*_FIELDS, "referrer", "agent", "rest"]


class AccessLogParser(Parser):
    name = "apache"
    description = "Apache/Nginx access log (common, combined, vhost_combined)"
    lossless = True

    def sniff(self, sample: Sample) -> float:
        return share_matching(sample.records, _SNIFF.match)

    def sql(self, ctx: ParseContext) -> str:
        module = "nginx" if "nginx" in ctx.source.lower() else "apache"
        full_names = ", ".join(sql_string(n) for n in _FULL_FIELDS)
        dataset = sql_string(module + ".access")
        shape = "(len(p) = 3 OR (len(p) = 7 AND p[5] = ' ' AND p[7] = ''))"
        return f"""
WITH split AS (
    SELECT record_no, raw, string_split(raw, '"') AS p,
           NOT contains(raw, '\\"') AS plain
    FROM batch
),
pieces AS (
    -- The fast path splits instead of matching: "IP IDENT USER [DATE ZONE] " and " STATUS BYTES ".
    SELECT record_no, raw, p,
           CASE WHEN plain AND {shape} THEN string_split(p[1], ' ') END AS q,
           CASE WHEN plain AND {shape} THEN string_split(p[3], ' ') END AS z
    FROM split
),
matched AS (
    SELECT record_no, raw, p, q, z,
           coalesce(len(q) = 6 AND q[6] = '' AND starts_with(q[4], '[')
                    AND ends_with(q[5], ']') AND len(z) IN (3, 4) AND z[1] = ''
                    AND (len(z) = 3 OR z[4] = '') AND regexp_full_match(z[2], '\\d{{3}}')
                    AND (z[3] = '-' OR regexp_full_match(z[3], '\\d+')), false) AS fast
    FROM pieces
),
extracted AS (
    SELECT *,
           CASE WHEN NOT fast THEN regexp_extract(raw, {sql_string(_FULL)},
                [{full_names}]) END AS m
    FROM matched
),
fields AS (
    SELECT record_no, raw,
           CASE WHEN fast THEN q[1] ELSE nullif(m.client, '') END AS client,
           CASE WHEN fast THEN NULL ELSE m.vhost END AS vhost,
           CASE WHEN fast THEN q[3] ELSE m.user END AS user,
           CASE WHEN fast THEN q[2] ELSE m.ident END AS ident,
           CASE WHEN fast THEN NULL ELSE nullif(m.vport, '') END AS vport,
           CASE WHEN fast THEN NULL ELSE nullif(trim(m.rest), '') END AS rest,
           CASE WHEN fast THEN substr(q[4], 2) || ' ' || left(q[5], -1) ELSE m.ts END AS ts,
           CASE WHEN fast THEN p[2] ELSE replace(m.request, '\\"', '"') END AS request,
           CASE WHEN fast THEN z[2] ELSE nullif(m.status, '') END AS status,
           CASE WHEN fast THEN z[3] ELSE m.bytes END AS bytes,
           CASE WHEN fast THEN (CASE WHEN len(p) = 7 THEN p[4] END)
                ELSE nullif(replace(m.referrer, '\\"', '"'), '') END AS referrer,
           CASE WHEN fast THEN (CASE WHEN len(p) = 7 THEN p[6] END)
                ELSE nullif(replace(m.agent, '\\"', '"'), '') END AS agent
    FROM extracted
),
requests AS (
    SELECT *, string_split(request, ' ') AS r,
           try_strptime(ts, {_TIME_FORMAT}) AS parsed_ts,
           client IS NOT NULL AND status IS NOT NULL AS ok
    FROM fields
),
targets AS (
    SELECT *,
           (len(r) = 3 AND starts_with(r[3], 'HTTP/'))
               OR (len(r) = 2 AND regexp_full_match(r[1], '[A-Z]+')) AS well_formed
    FROM requests
),
final AS (
    SELECT *, CASE WHEN well_formed THEN r[2] ELSE request END AS target FROM targets
)
SELECT record_no,
       CASE WHEN ok THEN parsed_ts ELSE try_strptime(regexp_extract(raw,
            '\\[(\\d{{2}}/\\w{{3}}/\\d{{4}}:\\d{{2}}:\\d{{2}}:\\d{{2}} [+-]\\d{{4}})\\]', 1),
            {_TIME_FORMAT}) END AS "@timestamp",
       'event' AS "event.kind",
       {sql_string(module)} AS "event.module",
       {dataset} AS "event.dataset",
       'web' AS "event.category",
       'access' AS "event.type",
       CASE WHEN TRY_CAST(status AS INTEGER) < 400 THEN 'success' ELSE 'failure' END
           AS "event.outcome",
       CASE WHEN regexp_full_match(client, '[0-9A-Fa-f:.]+') THEN client END AS "source.ip",
       CASE WHEN NOT regexp_full_match(client, '[0-9A-Fa-f:.]+') THEN client END
           AS "source.domain",
       nullif(nullif(user, '-'), '') AS "user.name",
       coalesce(nullif(vhost, ''), {url_host("target")}) AS "url.domain",
       CASE WHEN well_formed THEN r[1] END AS "http.request.method",
       target AS "url.original",
       CASE WHEN well_formed THEN {url_path("target")} END AS "url.path",
       CASE WHEN well_formed THEN {url_query("target")} END AS "url.query",
       CASE WHEN len(r) = 3 AND starts_with(r[3], 'HTTP/') THEN substr(r[3], 6) END
           AS "http.version",
       TRY_CAST(status AS INTEGER) AS "http.response.status_code",
       CASE WHEN bytes = '-' THEN 0 ELSE TRY_CAST(bytes AS BIGINT) END
           AS "http.response.body.bytes",
       nullif(referrer, '-') AS "http.request.referrer",
       nullif(agent, '-') AS "user_agent.original",
       'http' AS "network.protocol",
       CASE WHEN ok AND (nullif(ident, '-') IS NOT NULL OR vport IS NOT NULL OR rest IS NOT NULL)
            THEN CAST(json_merge_patch('{{}}', json_object(
                'apache.access.ident', nullif(ident, '-'),
                'apache.access.vhost_port', TRY_CAST(vport AS INTEGER),
                'apache.access.trailing', rest)) AS VARCHAR) END AS extra,
       CASE WHEN NOT ok THEN
                CASE WHEN (length(raw) - length(replace(raw, '"', ''))
                           - 2 * (length(raw) - length(replace(raw, '\\"', '')))) % 2 = 1
                     THEN 'unterminated quoted field: the line looks cut off'
                     ELSE 'not an access log line in common or combined format' END
            WHEN parsed_ts IS NULL
                THEN 'timestamp ' || ts || ' is not in %d/%b/%Y:%H:%M:%S %z form'
       END AS _error
FROM final
"""
