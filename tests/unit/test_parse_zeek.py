"""Zeek TSV and JSON parsers: real OTRF logs, hand-made edge cases, failures, sniffing, fuzzing."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loglens.parse.base import ParseContext
from loglens.parse.zeek import (
    ZeekJsonParser,
    ZeekTsvParser,
    infer_log,
    log_from_source,
    parse_header,
)
from tests.parser_harness import run_parser, sample

DATA = Path(__file__).parent.parent / "data" / "zeek"
TSV = DATA / "tsv"
JSON_DIR = DATA / "json"
REFERENCE = datetime(2024, 6, 1, tzinfo=UTC)

HEADER = [
    "#separator \\x09",
    "#set_separator\t,",
    "#empty_field\t(empty)",
    "#unset_field\t-",
    "#path\thttp",
    "#open\t2024-05-01-10-00-00",
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tmethod\thost\turi\t"
    "referrer\tuser_agent\tstatus_code\tusername\tpassword\ttags",
    "#types\ttime\tstring\taddr\tport\taddr\tport\tstring\tstring\tstring\tstring\tstring\t"
    "count\tstring\tstring\tset[enum]",
]

OTHER_FORMATS = {
    "apache": '203.0.113.9 - - [10/Oct/2023:13:55:36 +0000] "GET /a HTTP/1.1" 200 512 "-" "curl/8"',
    "syslog": "Mar  5 06:25:01 web01 sshd[2412]: Failed password for root from 192.0.2.7 port 22",
    "eve": '{"timestamp":"2024-03-11T09:14:33.958203+0000","flow_id":1,"event_type":"flow",'
    '"src_ip":"10.0.0.1","src_port":1,"dest_ip":"10.0.0.2","dest_port":2,"proto":"TCP"}',
    "windows": '{"SourceName":"Microsoft-Windows-Security-Auditing","TimeCreated":'
    '"2020-10-21 12:19:04.411","Hostname":"WS5","EventID":4688,"Channel":"Security"}',
    "ecs": '{"@timestamp":"2024-01-01T00:00:00Z","event":{"dataset":"zeek.conn"},'
    '"source":{"ip":"10.0.0.1"},"ts":1704067200.0,"uid":"CAbcdefghijkl1"}',
    "text": "the quick brown fox jumps over the lazy dog",
}


def tsv_input(name: str) -> tuple[list[str], ParseContext]:
    """A TSV sample's lines and the context the pipeline would build (its leading # lines)."""
    lines = (TSV / name).read_text().splitlines()
    header = []
    for line in lines:
        if not line.startswith("#"):
            break
        header.append(line)
    return lines, ParseContext(source=f"/logs/{name}", reference_time=REFERENCE, header=header)


def parse_tsv(name: str) -> list[dict[str, Any]]:
    lines, ctx = tsv_input(name)
    return run_parser(ZeekTsvParser(), lines, ctx)


def events(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if not r.get("_skip")]


def parse_json(lines: list[str], source: str = "test.log", **ctx: Any) -> list[dict[str, Any]]:
    context = ParseContext(source=source, reference_time=REFERENCE, **ctx)
    return run_parser(ZeekJsonParser(), lines, context)


def by_uid(rows: list[dict[str, Any]], uid: str) -> dict[str, Any]:
    matches = [r for r in rows if json.loads(r["extra"] or "{}").get("zeek.session_id") == uid]
    assert len(matches) == 1, uid
    return matches[0]


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- TSV: real logs ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(TSV.glob("*.log")), ids=lambda p: p.stem)
def test_every_real_tsv_row_parses_into_its_dataset(path: Path) -> None:
    rows = parse_tsv(path.name)
    skipped = [r for r in rows if r["_skip"]]
    body = events(rows)
    lines = path.read_text().splitlines()
    assert len(skipped) == sum(1 for line in lines if line.startswith("#"))
    assert body and all(r["_error"] is None for r in body)
    assert {r["event.dataset"] for r in body} == {f"zeek.{path.stem}"}
    assert {r["event.module"] for r in body} == {"zeek"}
    assert all(r["@timestamp"] is not None for r in body)


def test_conn_row_maps_tuple_bytes_packets_duration_and_state() -> None:
    row = by_uid(events(parse_tsv("conn.log")), "CFk0K7CmGGGMIgep9")
    assert row["@timestamp"] == ts("2023-08-16T04:54:47.316519+00:00")
    expected = {
        "event.kind": "event",
        "event.category": "network",
        "event.type": "connection",
        "event.action": "connection_midstream",
        "source.ip": "192.168.1.41",
        "source.port": 51132,
        "destination.ip": "192.168.1.4",
        "destination.port": 445,
        "network.transport": "tcp",
        "network.protocol": "smb",
        "event.duration": 10_915_040_000,
        "source.bytes": 0,
        "destination.bytes": 3697,
        "network.bytes": 3697,
        "source.packets": 0,
        "destination.packets": 20,
        "network.packets": 20,
    }
    assert {k: row[k] for k in expected} == expected
    assert json.loads(row["extra"]) == {
        "zeek.session_id": "CFk0K7CmGGGMIgep9",
        "zeek.conn.service": "smb,dce_rpc,gssapi,krb",
        "zeek.conn.conn_state": "OTH",
        "zeek.conn.local_orig": True,
        "zeek.conn.local_resp": True,
        "zeek.conn.missed_bytes": 0,
        "zeek.conn.history": "^hdat",
        "zeek.conn.orig_ip_bytes": 0,
        "zeek.conn.resp_ip_bytes": 4637,
    }


def test_conn_row_with_unset_fields_gives_nulls() -> None:
    row = by_uid(events(parse_tsv("conn.log")), "Cnsu5m395zFmE9ikp4")
    assert row["event.duration"] is None
    assert row["source.bytes"] is None and row["destination.bytes"] is None
    assert row["network.bytes"] is None
    assert row["event.action"] == "connection_half_open_by_responder"
    assert row["network.protocol"] == "dns"


def test_conn_icmp_over_ipv6() -> None:
    row = by_uid(events(parse_tsv("conn.log")), "CA8psB3voT4U2fMWw")
    assert row["source.ip"] == "fe80::a00:27ff:fe18:a1ef"
    assert row["destination.ip"] == "ff02::1"
    assert row["network.transport"] == "icmp"
    assert row["network.protocol"] is None


def test_dns_rows_question_response_and_answers() -> None:
    rows = events(parse_tsv("dns.log"))
    answered = by_uid(rows, "C93HYr25Z16GTmQOt")
    assert answered["dns.question.name"] == (
        "_ldap._tcp.default-first-site-name._sites.dc._msdcs.pandalab.com"
    )
    assert answered["dns.question.type"] is None  # qtype_name is unset in this row
    assert answered["dns.response_code"] == "NOERROR"
    assert answered["event.action"] == "dns_query"
    assert answered["network.protocol"] == "dns"
    extra = json.loads(answered["extra"])
    assert extra["zeek.dns.answers"] == ["dc01.pandalab.com"]
    assert extra["zeek.dns.TTLs"] == [600.0]
    assert extra["zeek.dns.AA"] is True
    failed = rows[0]
    assert failed["dns.response_code"] == "SERVFAIL"
    assert failed["dns.question.name"] is None
    named = [r for r in rows if r["dns.question.name"] == "zsvtcebybn"]
    assert named and all(r["dns.question.type"] == "A" for r in named)


def test_http_rows_status_outcome_and_file_ids() -> None:
    rows = events(parse_tsv("http.log"))
    not_found = by_uid(rows, "CmEIco3PeaVm1LV64l")
    assert not_found["http.response.status_code"] == 404
    assert not_found["event.outcome"] == "failure"
    assert not_found["http.response.body.bytes"] == 335
    assert not_found["http.version"] == "1.0"
    assert not_found["event.category"] == "web"
    assert not_found["url.original"] is None  # the request side is unset in this capture
    extra = json.loads(not_found["extra"])
    assert extra["zeek.http.resp_fuids"] == ["FAP2Mb4ef15vLkLkwa"]
    assert extra["zeek.http.tags"] == []  # (empty) set
    assert extra["zeek.http.status_msg"] == "File not found"


def test_ssl_rows_tls_version_and_cipher() -> None:
    row = by_uid(events(parse_tsv("ssl.log")), "CwPdEL3GjlTuYf5iAd")
    assert row["network.protocol"] == "ssl"
    assert row["destination.domain"] is None
    extra = json.loads(row["extra"])
    assert extra["tls.version"] == "1.0"
    assert extra["tls.version_protocol"] == "tls"
    assert extra["tls.cipher"] == "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"
    assert extra["tls.established"] is False
    assert extra["zeek.ssl.version"] == "TLSv10"
    assert "zeek.ssl.cipher" not in extra


def test_kerberos_rows_user_realm_and_outcome() -> None:
    rows = events(parse_tsv("kerberos.log"))
    granted = by_uid(rows, "CE5w9p2vqahtUxMkTj")
    assert granted["user.name"] == "stevie.marie"
    assert granted["user.domain"] == "PANDALAB.COM"
    assert granted["event.outcome"] == "success"
    assert granted["event.category"] == "authentication"
    assert granted["network.protocol"] == "kerberos"
    assert json.loads(granted["extra"])["zeek.kerberos.client"] == "stevie.marie/PANDALAB.COM"
    refused = by_uid(rows, "C9kgIj1Hnh6x9Wd8ak")
    assert refused["user.name"] is None
    assert refused["event.outcome"] == "failure"
    assert json.loads(refused["extra"])["zeek.kerberos.error_msg"] == "KDC_ERR_PREAUTH_REQUIRED"
    machine = by_uid(rows, "CIDGvgLnVvWAITGQ3")
    assert machine["user.name"] == "MKT01$"


def test_weird_rows_name_is_the_action() -> None:
    rows = events(parse_tsv("weird.log"))
    first = rows[0]
    assert first["event.action"] == "bad_IP_checksum"
    assert first["source.port"] == 0
    assert "zeek.session_id" not in json.loads(first["extra"])  # uid is '-'


def test_files_x509_and_pe_keep_their_columns_in_extra() -> None:
    files = events(parse_tsv("files.log"))
    exe = next(r for r in files if "x-dosexec" in r["extra"])
    extra = json.loads(exe["extra"])
    assert exe["network.protocol"] == "http"
    assert exe["event.category"] == "file"
    assert exe["event.duration"] == 1_217_000
    assert extra["file.mime_type"] == "application/x-dosexec"
    assert extra["zeek.files.analyzers"] == ["PE"]
    assert extra["zeek.files.seen_bytes"] == 7168
    x509 = json.loads(events(parse_tsv("x509.log"))[0]["extra"])
    assert x509["zeek.x509.certificate.key_length"] == 2048
    assert x509["zeek.x509.certificate.not_valid_after"] == 1926071370.0
    assert x509["zeek.x509.basic_constraints.ca"] is True
    pe = json.loads(events(parse_tsv("pe.log"))[0]["extra"])
    assert pe["zeek.pe.section_names"] == [".text", ".rdata", ".cmcq"]
    assert pe["zeek.pe.is_64bit"] is True


# --- TSV: hand-made edge cases -------------------------------------------------------------------


def http_ctx(header: list[str] | None = None, **kwargs: Any) -> ParseContext:
    return ParseContext(
        source="/var/log/zeek/current.log",
        reference_time=REFERENCE,
        header=HEADER if header is None else header,
        **kwargs,
    )


def http_row(*cells: str) -> str:
    return "\t".join(cells)


REQUEST = http_row(
    "1714557600.123456", "CHhAvVGS1DHFjwGM9", "10.1.2.3", "50111", "198.51.100.7", "8080",
    "GET", "shop.example.com:8080", "http://shop.example.com:8080/a/b%20c/d.php?x=1&y=2#frag",
    "https://www.example.org/", "Mozilla/5.0\\x09(X11)\\x5cx41", "200", "alice", "hunter2",
    "(empty)",
)  # fmt: skip


def test_http_request_row_maps_url_user_agent_and_unescapes() -> None:
    lines = [*HEADER, REQUEST, "#close\t2024-05-01-11-00-00"]
    rows = run_parser(ZeekTsvParser(), lines, http_ctx())
    assert [r["_skip"] for r in rows] == [True] * len(HEADER) + [False, True]
    row = rows[len(HEADER)]
    expected = {
        "_error": None,
        "@timestamp": ts("2024-05-01T10:00:00.123456+00:00"),
        "event.dataset": "zeek.http",
        "event.action": "http_request",
        "event.outcome": "success",
        "http.request.method": "GET",
        "url.domain": "shop.example.com",
        "url.original": "http://shop.example.com:8080/a/b%20c/d.php?x=1&y=2#frag",
        "url.path": "/a/b%20c/d.php",
        "url.query": "x=1&y=2",
        "http.request.referrer": "https://www.example.org/",
        "user_agent.original": "Mozilla/5.0\t(X11)\\x41",
        "http.response.status_code": 200,
        "user.name": "alice",
    }
    assert {k: row[k] for k in expected} == expected
    extra = json.loads(row["extra"])
    assert extra == {"zeek.session_id": "CHhAvVGS1DHFjwGM9", "zeek.http.tags": []}
    assert "hunter2" not in row["extra"]  # captured passwords are never copied


def test_row_with_wrong_field_count_fails_with_both_counts() -> None:
    short = http_row("1714557600.5", "CX", "10.1.2.3", "1", "10.1.2.4", "80", "GET")
    rows = run_parser(ZeekTsvParser(), [short], http_ctx())
    assert rows[0]["_error"] == "Zeek row has 7 fields, the #fields header declares 15"
    assert rows[0]["event.dataset"] == "zeek.http"


def test_unreadable_ts_fails() -> None:
    row = REQUEST.replace("1714557600.123456", "yesterday", 1)
    rows = run_parser(ZeekTsvParser(), [row], http_ctx())
    assert rows[0]["_error"] == "ts 'yesterday' is not epoch seconds"


def test_batch_from_the_middle_of_a_file_uses_the_header_from_ctx() -> None:
    rows = run_parser(ZeekTsvParser(), [REQUEST, REQUEST], http_ctx())
    assert [r["_error"] for r in rows] == [None, None]
    assert [r["url.domain"] for r in rows] == ["shop.example.com"] * 2


def test_without_header_every_row_fails_clearly_and_keeps_its_time() -> None:
    lines = (TSV / "conn.log").read_text().splitlines()
    ctx = ParseContext(source="/logs/conn.log", reference_time=REFERENCE)
    rows = run_parser(ZeekTsvParser(), lines, ctx)
    body = events(rows)
    assert len(body) == 112
    assert all("without a header" in r["_error"] for r in body)
    assert all(r["event.dataset"] == "zeek.conn" for r in body)
    assert body[0]["@timestamp"] == ts("2023-08-16T04:53:42.036086+00:00")


def test_header_without_fields_line_fails_every_row() -> None:
    header = [h for h in HEADER if not h.startswith("#fields")]
    rows = run_parser(ZeekTsvParser(), [REQUEST], http_ctx(header))
    assert rows[0]["_error"] == "the Zeek header has no #fields line, so its rows cannot be read"


def test_declared_separator_and_markers_are_honoured() -> None:
    header = [
        "#separator \\x7c",
        "#set_separator|;",
        "#empty_field|EMPTY",
        "#unset_field|NONE",
        "#path|dns",
        "#fields|ts|uid|id.orig_h|id.orig_p|id.resp_h|id.resp_p|query|qtype_name|answers",
        "#types|time|string|addr|port|addr|port|string|string|vector[string]",
    ]
    lines = [
        "1714557600.000001|CAb1|10.0.0.5|5353|10.0.0.1|53|example.com|A|192.0.2.1;192.0.2.2",
        "1714557601|NONE|10.0.0.5|5354|10.0.0.1|53|EMPTY|NONE|EMPTY",
    ]
    ctx = ParseContext(source="x.log", reference_time=REFERENCE, header=header)
    first, second = run_parser(ZeekTsvParser(), lines, ctx)
    assert first["_error"] is None and second["_error"] is None
    assert first["dns.question.name"] == "example.com"
    assert json.loads(first["extra"])["zeek.dns.answers"] == ["192.0.2.1", "192.0.2.2"]
    assert second["@timestamp"] == ts("2024-05-01T10:00:01+00:00")
    assert second["dns.question.name"] is None  # empty string: no name in ECS
    assert second["dns.question.type"] is None
    assert json.loads(second["extra"]) == {"zeek.dns.answers": []}


def test_parse_header_reads_every_directive() -> None:
    header = parse_header(HEADER)
    assert header.separator == "\t"
    assert header.path == "http"
    assert header.fields[:3] == ("ts", "uid", "id.orig_h")
    assert header.type_of(14) == "set[enum]"


def test_log_from_fields_when_the_header_has_no_path() -> None:
    header = [h for h in HEADER if not h.startswith("#path")]
    rows = run_parser(ZeekTsvParser(), [REQUEST], http_ctx(header))
    assert rows[0]["event.dataset"] == "zeek.http"
    assert rows[0]["url.domain"] == "shop.example.com"


def test_timezone_does_not_shift_epoch_times() -> None:
    rows = run_parser(ZeekTsvParser(), [REQUEST], http_ctx(timezone="America/Denver"))
    assert rows[0]["@timestamp"] == ts("2024-05-01T10:00:00.123456+00:00")


# --- JSON ----------------------------------------------------------------------------------------


def json_lines(name: str) -> list[str]:
    return (JSON_DIR / name).read_text().splitlines()


def comparable(row: dict[str, Any]) -> dict[str, Any]:
    """A row without its position, with extra as an object (number spellings differ)."""
    out = {k: v for k, v in row.items() if k not in ("record_no", "_skip") and v is not None}
    if "extra" in out:
        out["extra"] = json.loads(out["extra"])
    return out


@pytest.mark.parametrize("name", ["conn.log", "dns.log", "http.log", "mixed-no-path.log"])
def test_json_rows_equal_the_tsv_rows_they_were_written_from(name: str) -> None:
    rows = parse_json(json_lines(name), source=f"/logs/{name}")
    assert all(r["_error"] is None for r in rows)
    tsv: dict[tuple[object, str], dict[str, Any]] = {}
    for path in TSV.glob("*.log"):
        for row in events(parse_tsv(path.name)):
            tsv[(row["@timestamp"], row["event.dataset"])] = comparable(row)
    for row in rows:
        assert comparable(row) == tsv[(row["@timestamp"], row["event.dataset"])]


def test_json_iso8601_ts_matches_epoch_ts() -> None:
    iso = parse_json(json_lines("dns-iso8601.json"), source="/logs/dns-iso8601.json")
    epoch = {comparable(r)["@timestamp"]: comparable(r) for r in events(parse_tsv("dns.log"))}
    assert len(iso) == 4
    for row in iso:
        assert row["event.dataset"] == "zeek.dns"  # inferred from the keys, not the name
        assert comparable(row) == epoch[row["@timestamp"]]


def test_json_path_key_names_the_log() -> None:
    rows = parse_json(json_lines("zeek-stream.log"))
    datasets = [r["event.dataset"] for r in rows]
    assert datasets == [
        "zeek.ssl", "zeek.ssl", "zeek.kerberos", "zeek.kerberos", "zeek.kerberos",
        "zeek.weird", "zeek.weird", "zeek.files", "zeek.x509", "zeek.smb_mapping", "zeek.pe",
    ]  # fmt: skip
    assert all("_path" not in (r["extra"] or "") for r in rows)


def test_json_file_name_names_the_log_and_unknown_logs_still_parse() -> None:
    line = '{"ts":1714557600.5,"uid":"CAbcdef123456","id.orig_h":"10.0.0.1","custom":7}'
    (named,) = parse_json([line], source="/data/zeek/conn.2024-05-01-10-00-00.log.gz")
    assert named["event.dataset"] == "zeek.conn"
    assert json.loads(named["extra"])["zeek.conn.custom"] == 7
    (unknown,) = parse_json([line], source="export.ndjson")
    assert unknown["_error"] is None
    assert unknown["event.dataset"] == "zeek.unknown"
    assert unknown["source.ip"] == "10.0.0.1"
    assert json.loads(unknown["extra"]) == {
        "zeek.session_id": "CAbcdef123456",
        "zeek.unknown.custom": 7,
    }


def test_json_nested_id_object_and_http_request_fields() -> None:
    line = json.dumps(
        {
            "_path": "http",
            "ts": "2024-05-01T10:00:00.25Z",
            "uid": "CHhAvVGS1DHFjwGM9",
            "id": {"orig_h": "10.1.2.3", "orig_p": 50111, "resp_h": "198.51.100.7", "resp_p": 80},
            "method": "POST",
            "host": "[2001:db8::1]:8080",
            "uri": "/api/login?next=/",
            "status_code": 401,
            "password": "hunter2",
        }
    )
    (row,) = parse_json([line])
    assert row["_error"] is None
    assert row["@timestamp"] == ts("2024-05-01T10:00:00.25+00:00")
    assert (row["source.ip"], row["source.port"]) == ("10.1.2.3", 50111)
    assert (row["destination.ip"], row["destination.port"]) == ("198.51.100.7", 80)
    assert row["url.domain"] == "2001:db8::1"
    assert (row["url.path"], row["url.query"]) == ("/api/login", "next=/")
    assert row["event.outcome"] == "failure"
    assert json.loads(row["extra"]) == {"zeek.session_id": "CHhAvVGS1DHFjwGM9"}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"ts":1714557600.5,"uid":"CAbc', "invalid JSON"),
        ("[1, 2]", "not a JSON object but an array"),
        ('"ts"', "not a JSON object but a string"),
        ('{"uid":"CAbcdef123456","conn_state":"S0"}', "no ts field: not a Zeek JSON log record"),
        (
            '{"ts":"last tuesday","conn_state":"S0"}',
            "ts 'last tuesday' is neither epoch seconds nor an ISO 8601 time",
        ),
        ('{"ts":99999999999999999999,"conn_state":"S0"}', None),
    ],
)
def test_json_failures_have_specific_reasons(line: str, reason: str | None) -> None:
    (row,) = parse_json([line])
    if reason is None:
        assert row["_error"] is not None and row["_error"].startswith("ts ")
    else:
        assert row["_error"] == reason
    assert row["event.module"] == "zeek"


def test_json_duplicate_keys_keep_the_first_in_extra() -> None:
    line = '{"ts":1714557600,"uid":"CAbcdef123456","conn_state":"S0","history":"S","history":"Sr"}'
    (row,) = parse_json([line])
    assert row["_error"] is None
    assert row["event.dataset"] == "zeek.conn"
    assert row["extra"].count("zeek.conn.history") == 1
    assert json.loads(row["extra"])["zeek.conn.history"] == "S"


def test_json_timezone_applies_only_to_zoneless_iso_times() -> None:
    lines = [
        '{"ts":"2024-05-01T10:00:00","uid":"CAbcdef123456","conn_state":"S0"}',
        '{"ts":"2024-05-01T10:00:00+02:00","uid":"CAbcdef123457","conn_state":"S0"}',
        '{"ts":1714557600.0,"uid":"CAbcdef123458","conn_state":"S0"}',
    ]
    rows = parse_json(lines, timezone="Europe/Berlin")
    assert [r["@timestamp"] for r in rows] == [
        ts("2024-05-01T08:00:00+00:00"),
        ts("2024-05-01T08:00:00+00:00"),
        ts("2024-05-01T10:00:00+00:00"),
    ]


def test_infer_log_and_log_from_source() -> None:
    assert infer_log(["ts", "uid", "conn_state"]) == "conn"
    assert infer_log(["ts", "trans_depth", "helo", "mailfrom"]) == "smtp"
    assert infer_log(["ts", "service", "success", "cipher"]) == "kerberos"
    assert infer_log(["ts", "version", "cipher"]) == "ssl"
    assert infer_log(["ts", "uid"]) is None
    assert log_from_source("/x/dns.09:00:00-10:00:00.log.gz") == "dns"
    assert log_from_source("eve.json") is None


# --- sniffing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(TSV.glob("*.log")), ids=lambda p: p.stem)
def test_tsv_sniff_recognises_real_logs(path: Path) -> None:
    lines = path.read_text().splitlines()
    assert ZeekTsvParser().sniff(sample(lines, path.name)) >= 0.8
    assert ZeekJsonParser().sniff(sample(lines, path.name)) < 0.5


@pytest.mark.parametrize("path", sorted(JSON_DIR.glob("*")), ids=lambda p: p.name)
def test_json_sniff_recognises_zeek_json(path: Path) -> None:
    lines = path.read_text().splitlines()
    assert ZeekJsonParser().sniff(sample(lines, path.name)) >= 0.8
    assert ZeekTsvParser().sniff(sample(lines, path.name)) < 0.5


@pytest.mark.parametrize("fmt", sorted(OTHER_FORMATS))
def test_sniff_rejects_other_formats(fmt: str) -> None:
    records = [OTHER_FORMATS[fmt]] * 5
    assert ZeekTsvParser().sniff(sample(records)) < 0.5
    assert ZeekJsonParser().sniff(sample(records)) < 0.5


def test_tsv_sniff_of_headerless_rows_is_below_the_choice_threshold() -> None:
    rows = [line for line in (TSV / "conn.log").read_text().splitlines() if line[0] != "#"]
    score = ZeekTsvParser().sniff(sample(rows))
    assert 0 < score < 0.5


# --- property: never raise, one row per record --------------------------------------------------

_REAL_LINES = [
    line
    for path in sorted(TSV.glob("*.log"))
    for line in path.read_text().splitlines()
    if not line.startswith("#")
][:60]
_JSON_LINES = [line for path in sorted(JSON_DIR.glob("*")) for line in json_lines(path.name)]


@st.composite
def mutated(draw: st.DrawFn, lines: list[str]) -> str:
    line = draw(st.sampled_from(lines))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(line)))
        cut = draw(st.integers(0, 8))
        insert = draw(st.sampled_from(["", "\t", "-", "(empty)", "\\x", "\\x09", '"', "{", "é"]))
        line = line[:at] + insert + line[at + cut :]
    return line


def record_lists(lines: list[str]) -> st.SearchStrategy[list[str]]:
    any_text = st.text(min_size=1, max_size=80).filter(lambda s: s.strip() != "")
    return st.lists(st.one_of(mutated(lines), any_text), min_size=1, max_size=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record_lists(_REAL_LINES))
def test_tsv_never_raises_and_keeps_one_row_per_record(records: list[str]) -> None:
    _, ctx = tsv_input("conn.log")
    rows = run_parser(ZeekTsvParser(), records, ctx)
    assert all(r["_skip"] or r["_error"] is None or r["_error"] for r in rows)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(record_lists(_JSON_LINES))
def test_json_never_raises_and_keeps_one_row_per_record(records: list[str]) -> None:
    rows = parse_json(records)
    assert all(r["event.module"] == "zeek" for r in rows)
