"""Streaming output: all five log files written day by day, each in time order.

Events are generated a day at a time, but some belong to a later day (a session that closes
after midnight, an incident that spans it). The writer keeps such rows pending until their day
is written, so every file stays sorted while memory holds only about one day of traffic.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import BinaryIO

import pyarrow as pa

from loglens.sources.synthetic import formats
from loglens.sources.synthetic.clock import Period, zeek_stamp
from loglens.sources.synthetic.formats import Alert
from loglens.sources.synthetic.incidents import Traffic
from loglens.sources.synthetic.population import WEB_HOST

# Where each dataset is written, relative to the output directory. An access-log line does not
# name its server, so the web log sits in a folder named after it (as a log collector would
# file it): ingest with ``host_from_path=HOST_FROM_PATH`` to give its events ``host.name``.
FILE_LAYOUT: dict[str, str] = {
    "apache.access": f"web/{WEB_HOST}/access.log",
    "system.auth": "auth/auth.log",
    "zeek.conn": "zeek/conn.log",
    "zeek.dns": "zeek/dns.log",
    "suricata.eve": "suricata/eve.json",
}
HOST_FROM_PATH = r"(?:^|/)web/(?P<host>[^/]+)/access\.log$"
"""The ``ingest.host_from_path`` that reads the web server's name from ``FILE_LAYOUT``."""
_SCHEMAS: dict[str, pa.Schema] = {
    "apache.access": formats.WEB_SCHEMA,
    "system.auth": formats.AUTH_SCHEMA,
    "zeek.conn": formats.CONN_SCHEMA,
    "zeek.dns": formats.DNS_SCHEMA,
}
_ZEEK = {
    "zeek.conn": ("conn", formats.ZEEK_CONN_FIELDS),
    "zeek.dns": ("dns", formats.ZEEK_DNS_FIELDS),
}


class LogWriter:
    """Writes :class:`Traffic` into the native files of ``root`` in time order.

    Use as a context manager; :meth:`close` writes what is still pending (up to the period's
    end) and the Zeek ``#close`` lines.
    """

    def __init__(self, root: Path, period: Period) -> None:
        self.period = period
        self.paths = {dataset: root / relative for dataset, relative in FILE_LAYOUT.items()}
        self.counts = dict.fromkeys(FILE_LAYOUT, 0)
        self._pending = {dataset: schema.empty_table() for dataset, schema in _SCHEMAS.items()}
        self._pending_alerts: list[Alert] = []
        self._gaps: list[tuple[str, int, int]] = []
        self._handles: dict[str, BinaryIO] = {}
        for dataset, path in self.paths.items():
            self._handles[dataset] = path.open("wb")
        for dataset, (log, fields) in _ZEEK.items():
            self._handles[dataset].write(formats.zeek_header(log, fields, period.start).encode())

    def __enter__(self) -> LogWriter:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is None:
            self.close()
        else:
            for handle in self._handles.values():
                handle.close()

    def write(self, traffic: Traffic, until_us: int) -> None:
        """Add ``traffic`` and write every event before ``until_us``; keep the rest pending."""
        self._gaps += traffic.gaps
        parts = {
            "apache.access": traffic.web,
            "system.auth": traffic.auth,
            "zeek.conn": traffic.conn,
            "zeek.dns": traffic.dns,
        }
        for dataset, tables in parts.items():
            table = formats.merge([self._pending[dataset], *tables], _SCHEMAS[dataset])
            table = formats.keep_window(table, self.period.start_us, 2**62)
            for gap_dataset, start_us, end_us in self._gaps:
                if gap_dataset == dataset:
                    table = formats.drop_window(table, start_us, end_us)
            ready = formats.keep_window(table, self.period.start_us, until_us)
            self._pending[dataset] = table.slice(ready.num_rows)
            self._write_rows(dataset, ready)
        alerts = sorted([*self._pending_alerts, *traffic.alerts], key=lambda a: (a.ts, a.flow_id))
        ready_alerts = [a for a in alerts if self.period.start_us <= a.ts < until_us]
        self._pending_alerts = [a for a in alerts if a.ts >= until_us]
        self.counts["suricata.eve"] += formats.write_eve(
            self._handles["suricata.eve"], ready_alerts
        )

    def _write_rows(self, dataset: str, table: pa.Table) -> None:
        handle = self._handles[dataset]
        if dataset == "apache.access":
            formats.write_lines(handle, formats.apache_lines(table))
        elif dataset == "system.auth":
            formats.write_lines(handle, formats.syslog_lines(table))
        else:
            rows = formats.conn_lines(table) if dataset == "zeek.conn" else formats.dns_lines(table)
            formats.write_lines(handle, formats.terminated(rows))
        self.counts[dataset] += table.num_rows

    def close(self) -> None:
        """Flush pending events inside the period, end the Zeek logs, close the files."""
        self.write(Traffic(), self.period.end_us)
        stamp = zeek_stamp(self.period.end)
        for dataset in _ZEEK:
            self._handles[dataset].write(f"#close\t{stamp}\n".encode())
        for handle in self._handles.values():
            handle.close()
