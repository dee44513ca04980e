"""Plain text lines: the fallback for any line-oriented log no other parser recognises.

Each line becomes an event whose ``message`` is the line. A leading or embedded timestamp in a
common spelling (ISO 8601, ``YYYY-MM-DD HH:MM:SS``, syslog's ``Mmm dd HH:MM:SS``) becomes
``@timestamp``; a line without one is still an event (template mining and search use it).
"""

from __future__ import annotations

from loglens.parse.base import ParseContext, Parser, Sample, sql_string
from loglens.parse.timestamps import iso_to_utc, yearless_to_utc

_ISO = r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)"
_SYSLOG = r"^([A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2})"


class PlainTextParser(Parser):
    name = "text"
    description = "Any text lines (message only, timestamp when one is found)"

    def sniff(self, sample: Sample) -> float:
        # Always possible, never preferred: any specific parser that recognises the sample wins.
        return 0.05 if sample.records else 0.0

    def sql(self, ctx: ParseContext) -> str:
        iso = f"nullif(replace(regexp_extract(raw, {sql_string(_ISO)}, 1), ',', '.'), '')"
        syslog = f"nullif(regexp_extract(raw, {sql_string(_SYSLOG)}, 1), '')"
        return f"""
SELECT record_no,
       coalesce({iso_to_utc(iso, ctx)}, {yearless_to_utc(syslog, ctx)}) AS "@timestamp",
       'event' AS "event.kind",
       'log' AS "event.module",
       'log.text' AS "event.dataset",
       raw AS message,
       CAST(NULL AS VARCHAR) AS _error
FROM batch
"""
