"""Intermediate tables of generated events and the writers of their native log formats.

Each traffic family builds Arrow tables with one of the schemas below (instants in epoch
microseconds, unset values as nulls); the writers turn whole columns into lines with Arrow
compute kernels, so no Python code runs per line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loglens.sources.synthetic import clock
from loglens.sources.synthetic.catalog import Signature


def _schema(spec: str) -> pa.Schema:
    """An Arrow schema from ``"name:int name:str ..."`` (int64 and string columns only)."""
    types = {"int": pa.int64(), "str": pa.string()}
    return pa.schema([(name, types[kind]) for name, kind in (f.split(":") for f in spec.split())])


def _zeek_fields(spec: str) -> tuple[tuple[str, str], ...]:
    """Zeek ``#fields`` and ``#types`` from ``"name:type ..."``."""
    return tuple((name, kind) for name, kind in (f.split(":", 1) for f in spec.split()))


WEB_SCHEMA = _schema(
    "ts:int client:str user:str method:str target:str protocol:str status:int bytes:int "
    "referer:str agent:str"
)
AUTH_SCHEMA = _schema("ts:int host:str program:str pid:int message:str")
# duration and rtt are microseconds; nulls are Zeek's unset '-'
CONN_SCHEMA = _schema(
    "ts:int uid:str orig_h:str orig_p:int resp_h:str resp_p:int proto:str service:str "
    "duration:int orig_bytes:int resp_bytes:int conn_state:str history:str orig_pkts:int "
    "orig_ip_bytes:int resp_pkts:int resp_ip_bytes:int"
)
DNS_SCHEMA = _schema(
    "ts:int uid:str orig_h:str orig_p:int resp_h:str resp_p:int proto:str trans_id:int rtt:int "
    "query:str qtype:int rcode:int answers:str ttls:str"
)

ZEEK_CONN_FIELDS = _zeek_fields(
    "ts:time uid:string id.orig_h:addr id.orig_p:port id.resp_h:addr id.resp_p:port proto:enum "
    "service:string duration:interval orig_bytes:count resp_bytes:count conn_state:string "
    "local_orig:bool local_resp:bool missed_bytes:count history:string orig_pkts:count "
    "orig_ip_bytes:count resp_pkts:count resp_ip_bytes:count tunnel_parents:set[string]"
)
ZEEK_DNS_FIELDS = _zeek_fields(
    "ts:time uid:string id.orig_h:addr id.orig_p:port id.resp_h:addr id.resp_p:port proto:enum "
    "trans_id:count rtt:interval query:string qclass:count qclass_name:string qtype:count "
    "qtype_name:string rcode:count rcode_name:string AA:bool TC:bool RD:bool RA:bool Z:count "
    "answers:vector[string] TTLs:vector[interval] rejected:bool"
)

QTYPES: dict[int, str] = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 10: "NULL", 12: "PTR", 15: "MX", 16: "TXT",
    28: "AAAA", 33: "SRV", 65: "HTTPS",
}  # fmt: skip
RCODES: dict[int, str] = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}


def make_table(schema: pa.Schema, **columns: Any) -> pa.Table:
    """A table of ``schema`` from arrays, lists or scalars (broadcast); missing columns are null."""
    unknown = set(columns) - set(schema.names)
    if unknown:
        raise ValueError(f"columns not in schema: {sorted(unknown)}")
    sizes = {len(v) for v in columns.values() if v is not None and not _is_scalar(v)}
    if len(sizes) != 1:
        raise ValueError(f"columns need one common length, got {sorted(sizes)}")
    n = sizes.pop()
    arrays = []
    for field in schema:
        value = columns.get(field.name)
        if value is None:
            arrays.append(pa.nulls(n, field.type))
        elif _is_scalar(value):
            arrays.append(pa.repeat(pa.scalar(value, field.type), n))
        elif isinstance(value, pa.Array):
            arrays.append(value.cast(field.type))
        else:
            arrays.append(pa.array(value, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int | float | np.integer | np.floating)


def optional(values: Any, present: Any) -> pa.Array:
    """An int64 array that is null where ``present`` is false (Zeek's unset ``-``)."""
    return pa.array(np.asarray(values, dtype=np.int64), mask=~np.asarray(present, dtype=bool))


def merge(tables: Iterable[pa.Table], schema: pa.Schema) -> pa.Table:
    """All tables of one dataset in time order (stable, so equal instants keep their order)."""
    parts = [t for t in tables if t.num_rows]
    if not parts:
        return schema.empty_table()
    return pa.concat_tables(parts).sort_by("ts")


def drop_window(table: pa.Table, start_us: int, end_us: int) -> pa.Table:
    """Rows outside ``[start, end)``: an outage leaves a gap, not zeros."""
    ts = table.column("ts")
    keep = pc.or_(pc.less(ts, start_us), pc.greater_equal(ts, end_us))
    return table.filter(keep)


def keep_window(table: pa.Table, start_us: int, end_us: int) -> pa.Table:
    """Rows inside ``[start, end)``."""
    ts = table.column("ts")
    return table.filter(pc.and_(pc.greater_equal(ts, start_us), pc.less(ts, end_us)))


def write_lines(handle: BinaryIO, lines: pa.Array | pa.ChunkedArray) -> None:
    """Write newline-terminated strings by copying Arrow's value buffer (no per-line Python)."""
    chunks = lines.chunks if isinstance(lines, pa.ChunkedArray) else [lines]
    for chunk in chunks:
        if len(chunk) == 0:
            continue
        if chunk.null_count:
            raise ValueError("a generated line is null")
        chunk = chunk.cast(pa.string())
        offsets = np.frombuffer(chunk.buffers()[1], dtype=np.int32)
        offsets = offsets[chunk.offset : chunk.offset + len(chunk) + 1]
        data = memoryview(chunk.buffers()[2])
        handle.write(data[int(offsets[0]) : int(offsets[-1])])


def _columns(table: pa.Table) -> Callable[[str], pa.Array]:
    """Column lookup returning contiguous arrays (compute kernels do not mix chunked inputs)."""
    arrays = {name: table.column(name).combine_chunks() for name in table.column_names}
    return arrays.__getitem__


def _text(column: pa.Array | pa.ChunkedArray, unset: str = "-") -> pa.Array:
    return pc.fill_null(column.cast(pa.string()), unset)


def _join(*parts: Any) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


# --- Apache combined ------------------------------------------------------------------------


def apache_lines(table: pa.Table) -> pa.Array:
    """``IP - user [time] "METHOD target PROTO" status bytes "referer" "agent"`` + newline."""
    col = _columns(table)
    return _join(
        col("client"), " - ", _text(col("user")),
        " [", clock.apache_time(col("ts").to_numpy()), "] ",
        '"', col("method"), " ", col("target"), " ", col("protocol"), '" ',
        _text(col("status")), " ", _text(col("bytes")), " ",
        '"', _text(col("referer")), '" "', _text(col("agent")), '"\n',
    )  # fmt: skip


def ecs_web_lines(table: pa.Table) -> pa.Array:
    """One nested ECS JSON document per request (what Filebeat would index) + newline."""
    col = _columns(table)
    target, referer, size = col("target"), col("referer"), col("bytes")
    path = pc.replace_substring_regex(target, r"\?.*$", "")
    query = pc.replace_substring_regex(target, r"^[^?]*\?", "")
    has_referer = pc.not_equal(pc.fill_null(referer, "-"), "-")
    # Optional members are spliced in as whole ',"key":value' pieces, or left out
    referrer = pc.if_else(has_referer, _join(',"referrer":', _json_strings(referer)), "")
    body = pc.if_else(pc.is_valid(size), _join(',"body":{"bytes":', _text(size), "}"), "")
    query_member = pc.if_else(
        pc.match_substring(target, "?"), _join(',"query":', _json_strings(query)), ""
    )
    return _join(
        '{"@timestamp":"', clock.iso_time(col("ts").to_numpy()), '"',
        ',"event":{"dataset":"apache.access","module":"apache"}',
        ',"source":{"ip":"', col("client"), '"}',
        ',"http":{"version":"', pc.replace_substring(col("protocol"), "HTTP/", ""), '"',
        ',"request":{"method":"', col("method"), '"', referrer, "}",
        ',"response":{"status_code":', _text(col("status")), body, "}}",
        ',"url":{"original":', _json_strings(target), ',"path":', _json_strings(path),
        query_member, "}",
        ',"user_agent":{"original":', _json_strings(pc.fill_null(col("agent"), "")), "}}\n",
    )  # fmt: skip


def _json_strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """JSON string literals; escapes each distinct value once."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    encoded = pc.dictionary_encode(values)
    literals = pa.array([json.dumps(v) for v in encoded.dictionary.to_pylist()], type=pa.string())
    return literals.take(encoded.indices)


# --- syslog (RFC 3164) ------------------------------------------------------------------------


def syslog_lines(table: pa.Table) -> pa.Array:
    """``Mar  5 06:25:01 host prog[pid]: message`` (``prog:`` when there is no pid)."""
    col = _columns(table)
    with_pid = _join(col("program"), "[", col("pid").cast(pa.string()), "]")
    tag = pc.coalesce(with_pid, col("program"))
    time = clock.syslog_time(col("ts").to_numpy())
    return _join(time, " ", col("host"), " ", tag, ": ", col("message"), "\n")


# --- Zeek TSV --------------------------------------------------------------------------------


def _interval(column: pa.Array) -> pa.Array:
    micros = pc.fill_null(column, 0).to_numpy()
    return pc.if_else(pc.is_valid(column), clock.epoch_seconds(micros), "-")


def _local(column: pa.Array) -> pa.Array:
    return pc.if_else(pc.starts_with(column, "10."), "T", "F")


def conn_lines(table: pa.Table) -> pa.Array:
    """Rows of a classic Zeek ``conn.log`` (tab separated, ``-`` for unset)."""
    col = _columns(table)
    parts = [
        clock.epoch_seconds(col("ts").to_numpy()), col("uid"),
        col("orig_h"), _text(col("orig_p")), col("resp_h"), _text(col("resp_p")),
        col("proto"), _text(col("service")), _interval(col("duration")),
        _text(col("orig_bytes")), _text(col("resp_bytes")), col("conn_state"),
        _local(col("orig_h")), _local(col("resp_h")), "0",  # missed_bytes
        _text(col("history")), _text(col("orig_pkts")), _text(col("orig_ip_bytes")),
        _text(col("resp_pkts")), _text(col("resp_ip_bytes")), "-",  # tunnel_parents
    ]  # fmt: skip
    return pc.binary_join_element_wise(*parts, "\t")


def dns_lines(table: pa.Table) -> pa.Array:
    """Rows of a classic Zeek ``dns.log`` (recursive queries answered by the resolver)."""
    col = _columns(table)
    qtype, rcode = col("qtype"), col("rcode")
    parts = [
        clock.epoch_seconds(col("ts").to_numpy()), col("uid"),
        col("orig_h"), _text(col("orig_p")), col("resp_h"), _text(col("resp_p")),
        col("proto"), _text(col("trans_id")), _interval(col("rtt")), col("query"),
        "1", "C_INTERNET", _text(qtype), pc.fill_null(_lookup(qtype, QTYPES), "-"),
        _text(rcode), pc.fill_null(_lookup(rcode, RCODES), "-"),
        "F", "F", "T", "T", "0",  # AA TC RD RA Z
        _text(col("answers")), _text(col("ttls")), "F",  # rejected
    ]  # fmt: skip
    return pc.binary_join_element_wise(*parts, "\t")


def _lookup(codes: pa.Array, names: Mapping[int, str]) -> pa.Array:
    keys = pa.array(list(names), type=pa.int64())
    index = pc.index_in(codes, value_set=keys)
    return pa.array(list(names.values()), type=pa.string()).take(index)


def terminated(lines: pa.Array) -> pa.Array:
    """Each line followed by a newline."""
    return pc.binary_join_element_wise(lines, "\n", "")


def zeek_header(log: str, fields: tuple[tuple[str, str], ...], opened: datetime) -> str:
    """The header block of a classic Zeek log, ``#separator`` through ``#types``."""
    lines = [
        "#separator \\x09",
        "#set_separator\t,",
        "#empty_field\t(empty)",
        "#unset_field\t-",
        f"#path\t{log}",
        f"#open\t{clock.zeek_stamp(opened)}",
        "#fields\t" + "\t".join(name for name, _ in fields),
        "#types\t" + "\t".join(kind for _, kind in fields),
    ]
    return "\n".join(lines) + "\n"


# --- Suricata EVE ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Alert:
    """One Suricata ``alert`` event; ``http`` and ``flow`` are EVE's nested objects."""

    ts: int
    flow_id: int
    src_ip: str
    src_port: int
    dest_ip: str
    dest_port: int
    proto: str
    signature: Signature
    flow: dict[str, Any]
    app_proto: str | None = None
    http: dict[str, Any] | None = None

    def to_eve(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "timestamp": clock.eve_time(self.ts),
            "flow_id": self.flow_id,
            "in_iface": "eth1",
            "event_type": "alert",
            "src_ip": self.src_ip,
            "src_port": self.src_port,
            "dest_ip": self.dest_ip,
            "dest_port": self.dest_port,
            "proto": self.proto,
        }
        if self.http is not None:
            record["tx_id"] = 0
        record["alert"] = {
            "action": "allowed",
            "gid": 1,
            "signature_id": self.signature.sid,
            "rev": self.signature.rev,
            "signature": self.signature.name,
            "category": self.signature.category,
            "severity": self.signature.severity,
        }
        if self.http is not None:
            record["http"] = self.http
        if self.app_proto is not None:
            record["app_proto"] = self.app_proto
        record["flow"] = self.flow
        return record


def write_eve(handle: BinaryIO, alerts: Iterable[Alert]) -> int:
    """Suricata EVE NDJSON (compact, one event per line, in the given order); returns the count."""
    count = 0
    for alert in alerts:
        handle.write(json.dumps(alert.to_eve(), separators=(",", ":")).encode() + b"\n")
        count += 1
    return count
