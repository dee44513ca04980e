"""Suricata EVE parser: real alert arrays, hand-made NDJSON of every event type, failures, fuzz."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loglens.parse.base import ParseContext
from loglens.parse.suricata import SuricataEveParser
from loglens.sources.files import OpenedInput, expand_inputs
from tests.parser_harness import run_parser, sample

DATA = Path(__file__).parent.parent / "data" / "suricata"
HONEYPOT = DATA / "honeypot-2018" / "alerts-only.json"
WRCCDC = DATA / "wrccdc-2018" / "alerts-excerpt.json"
NDJSON = DATA / "eve-sample.json"
REFERENCE = datetime(2024, 6, 1, tzinfo=UTC)

OTHER_FORMATS = {
    "apache": '203.0.113.9 - - [10/Oct/2023:13:55:36 +0000] "GET /a HTTP/1.1" 200 512 "-" "curl/8"',
    "syslog": "Mar  5 06:25:01 web01 sshd[2412]: Failed password for root from 192.0.2.7 port 22",
    "zeek_tsv": "1692161622.036086\tCnsu5m395zFmE9ikp4\t192.168.1.41\t52605\t192.168.1.4\t53\tudp"
    "\tdns\t-\t-\t-\tSHR\tT\tT\t0\t^d\t0\t0\t1\t62\t-",
    "zeek_json": '{"ts":1692161622.036086,"uid":"Cnsu5m395zFmE9ikp4","id.orig_h":"192.168.1.41",'
    '"id.orig_p":52605,"id.resp_h":"192.168.1.4","id.resp_p":53,"proto":"udp"}',
    "windows": '{"SourceName":"Microsoft-Windows-Security-Auditing","TimeCreated":'
    '"2020-10-21 12:19:04.411","Hostname":"WS5","EventID":4688,"Channel":"Security"}',
    "ecs": '{"@timestamp":"2024-01-01T00:00:00Z","event":{"kind":"alert","dataset":"suricata.eve"}'
    ',"source":{"ip":"10.0.0.1"},"destination":{"ip":"10.0.0.2"}}',
    "text": "the quick brown fox jumps over the lazy dog",
}


def parse(records: list[str], **ctx: Any) -> list[dict[str, Any]]:
    context = ParseContext(source="eve.json", reference_time=REFERENCE, **ctx)
    return run_parser(SuricataEveParser(), records, context)


def read_records(path: Path) -> tuple[str, list[str]]:
    """Records as the project's reader yields them (container and raw texts)."""
    inputs, _ = expand_inputs([str(path)])
    with OpenedInput(inputs[0]) as opened:
        raws = [
            raw
            for batch in opened.batches(max_line_bytes=1 << 20, batch_records=1000)
            for raw in batch.raw.to_pylist()
        ]
        return opened.container, raws


def ndjson_rows() -> list[dict[str, Any]]:
    return parse(NDJSON.read_text().splitlines())


def extra(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(row["extra"]) if row["extra"] else {}


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- real alert arrays ---------------------------------------------------------------------------


def test_honeypot_array_read_by_the_file_reader_parses_every_alert() -> None:
    container, records = read_records(HONEYPOT)
    assert container == "json"
    assert len(records) == 44
    assert SuricataEveParser().sniff(sample(records, HONEYPOT.name, container)) >= 0.8
    rows = parse(records)
    assert all(r["_error"] is None for r in rows)
    assert {r["event.kind"] for r in rows} == {"alert"}
    assert {r["event.category"] for r in rows} == {"intrusion_detection"}
    first = rows[0]
    expected = {
        "@timestamp": ts("2019-01-02T03:50:11.315110+00:00"),  # no offset: read as UTC
        "event.dataset": "suricata.eve",
        "event.module": "suricata",
        "event.action": "alert",
        "event.type": "allowed",
        "event.severity": 2,
        "rule.id": "2001219",
        "rule.name": "ET SCAN Potential SSH Scan",
        "rule.category": "Attempted Information Leak",
        "message": "ET SCAN Potential SSH Scan",
        "source.ip": "8.42.77.171",
        "source.port": 49678,
        "destination.ip": "138.68.3.71",
        "destination.port": 22,
        "network.transport": "tcp",
        "network.protocol": None,
    }
    assert {k: first[k] for k in expected} == expected
    assert extra(first) == {
        "suricata.flow_id": 52710912,
        "suricata.in_iface": "eth0",
        "suricata.alert.action": "allowed",
        "suricata.alert.gid": 1,
        "suricata.alert.rev": 19,
    }


def test_honeypot_alert_with_http_and_payload() -> None:
    records = [json.dumps(r) for r in json.loads(HONEYPOT.read_text())]  # split like the reader
    rows = parse(records)
    http = [r for r in rows if r["url.domain"]]
    assert len(http) == 1
    row = http[0]
    assert row["url.domain"] == "mirrors.digitalocean.com"
    assert row["url.path"] == "/ubuntu/pool/main/t/tzdata/tzdata_2018i-0ubuntu0.16.04_all.deb"
    assert row["http.request.method"] == "GET"
    assert row["http.response.status_code"] == 200
    assert row["event.outcome"] is None  # an alert is not a success because of a 200
    assert row["user_agent.original"] == "Debian APT-HTTP/1.3 (1.2.29)"
    payloads = [r for raw, r in zip(records, rows, strict=True) if '"payload"' in raw]
    assert payloads and all("suricata.payload" not in extra(r) for r in payloads)


def test_honeypot_zoneless_timestamps_follow_the_configured_zone() -> None:
    records = [json.dumps(r) for r in json.loads(HONEYPOT.read_text())[:3]]
    rows = parse(records, timezone="America/New_York")
    assert rows[0]["@timestamp"] == ts("2019-01-02T08:50:11.315110+00:00")


def test_wrccdc_excerpt_parses_with_offsets_flows_and_protocols() -> None:
    container, records = read_records(WRCCDC)
    assert container == "json" and len(records) == 112
    rows = parse(records)
    assert all(r["_error"] is None for r in rows)
    assert all(r["rule.id"] and r["rule.name"] and r["event.severity"] in (1, 2, 3) for r in rows)
    first = rows[0]
    assert first["@timestamp"] == ts("2018-03-24T20:37:19.037299+00:00")  # -0600 applied
    bytes_ = (first["source.bytes"], first["destination.bytes"], first["network.bytes"])
    assert bytes_ == (74, 0, 74)
    assert (first["source.packets"], first["network.packets"]) == (1, 1)
    assert first["event.duration"] is None  # an alert's flow has no end yet
    assert extra(first)["suricata.flow.start"] == "2018-03-24T14:37:19.037299-0600"
    assert extra(first)["suricata.pcap_cnt"] == 169577
    protocols = {r["network.protocol"] for r in rows}
    assert {"http", "tls", "smtp", "dns", "smb", "ftp"} <= protocols
    assert "failed" not in protocols


def test_wrccdc_tls_and_smtp_alerts() -> None:
    rows = parse(read_records(WRCCDC)[1])
    heartbeat = next(r for r in rows if r["rule.id"] == "2018372")
    tls = extra(heartbeat)
    assert tls["tls.version"] == "1.2"
    assert tls["tls.version_protocol"] == "tls"
    assert tls["tls.server.hash.sha1"] == "220E918FFBD0F882C9794C7FB95A8AEA7FCA58B6"
    assert tls["tls.server.issuer"].startswith("C=US, ST=CA, L=Santa Clara, O=Palo Alto")
    assert tls["suricata.tls.serial"] == "2C:A6:E0:4A:49:EF:E9:5D"
    assert tls["suricata.vars.flowbits"] == {"ET.MalformedTLSHB": True, "ET.HB.Request.CI": True}
    smtp = next(r for r in rows if r["rule.id"] == "2220000")
    assert smtp["network.protocol"] == "smtp"
    assert extra(smtp)["suricata.smtp.helo"] == "hotmail.com"
    assert extra(smtp)["suricata.app_proto_tc"] == "failed"


# --- every event type (hand-made NDJSON) ---------------------------------------------------------


def test_ndjson_sniff_is_confident_despite_two_broken_lines() -> None:
    lines = NDJSON.read_text().splitlines()
    assert SuricataEveParser().sniff(sample(lines, NDJSON.name)) >= 0.8


def test_flow_event() -> None:
    row = ndjson_rows()[0]
    expected = {
        "@timestamp": ts("2024-03-11T09:14:33.958203+00:00"),
        "event.kind": "event",
        "event.action": "flow",
        "event.category": "network",
        "event.type": "connection",
        "event.duration": 2_556_086_000,
        "network.protocol": "tls",
        "network.transport": "tcp",
        "source.bytes": 1877,
        "destination.bytes": 9821,
        "network.bytes": 11698,
        "source.packets": 14,
        "destination.packets": 16,
        "network.packets": 30,
        "host.name": "sensor-01",
    }
    assert {k: row[k] for k in expected} == expected
    assert extra(row)["suricata.community_id"] == "1:Wz3Ry6d2bP5ul7jVnhD6Pqu8sEw="
    assert extra(row)["suricata.flow.state"] == "closed"
    assert extra(row)["suricata.tcp.syn"] is True


def test_dns_events_in_three_shapes() -> None:
    query, answer, nxdomain, v3 = ndjson_rows()[1:5]
    assert (query["dns.question.name"], query["dns.question.type"]) == ("updates.example.org", "A")
    assert query["dns.response_code"] is None
    assert answer["dns.response_code"] == "NOERROR"
    assert extra(answer)["suricata.dns.answers"][0]["rdata"] == "203.0.113.80"
    assert nxdomain["dns.response_code"] == "NXDOMAIN"
    assert v3["dns.question.name"] == "login.microsoftonline.com"
    assert v3["dns.question.type"] == "AAAA"
    assert {r["event.action"] for r in (query, answer, v3)} == {"dns"}
    assert {r["network.protocol"] for r in (query, answer, v3)} == {"dns"}  # no app_proto given


def test_http_events() -> None:
    post, missing = ndjson_rows()[5:7]
    expected = {
        "event.category": "web",
        "event.type": "access",
        "event.outcome": "success",
        "url.domain": "intranet.corp.example",
        "url.original": "/login.php?user=admin&next=%2Fhome",
        "url.path": "/login.php",
        "url.query": "user=admin&next=%2Fhome",
        "http.request.method": "POST",
        "http.response.status_code": 302,
        "http.response.body.bytes": 0,
        "http.request.referrer": "http://intranet.corp.example:8080/",
        "http.version": "1.1",
    }
    assert {k: post[k] for k in expected} == expected
    assert extra(post)["suricata.http.redirect"] == "/home"
    assert missing["event.outcome"] == "failure"
    assert missing["user_agent.original"] == "curl/8.4.0"


def test_tls_event() -> None:
    row = ndjson_rows()[7]
    assert row["destination.domain"] == "updates.example.org"
    tls = extra(row)
    assert tls["tls.client.server_name"] == "updates.example.org"
    assert (tls["tls.version"], tls["tls.version_protocol"]) == ("1.3", "tls")
    assert tls["tls.client.ja3"] == "cd08e31494f9531f560d64c695473da9"
    assert tls["tls.server.ja3s"] == "f4febc55ea12b31ae17cfb7e614afda8"
    assert tls["tls.server.subject"] == "CN=updates.example.org"
    assert "suricata.tls.sni" not in tls


def test_fileinfo_and_blocked_alert() -> None:
    fileinfo, alert = ndjson_rows()[8:10]
    assert (fileinfo["event.category"], fileinfo["event.type"]) == ("file", "info")
    assert extra(fileinfo)["file.size"] == 734208
    assert extra(fileinfo)["file.name"] == "/tools/setup.exe"
    assert extra(fileinfo)["file.hash.sha256"].startswith("2cf24dba")
    assert fileinfo["url.domain"] == "downloads.example.net"
    assert alert["event.kind"] == "alert"
    assert alert["event.type"] == "denied"
    assert alert["event.severity"] == 1
    assert extra(alert)["suricata.alert.action"] == "blocked"
    assert extra(alert)["suricata.alert.metadata"] == {
        "created_at": ["2014_08_19"],
        "updated_at": ["2019_07_26"],
    }
    assert "suricata.payload" not in extra(alert)


def test_anomaly_ssh_and_stats_events() -> None:
    rows = ndjson_rows()
    anomaly, ssh, stats = rows[10], rows[11], rows[14]
    assert (anomaly["event.action"], anomaly["event.type"]) == ("anomaly", "info")
    assert extra(anomaly)["suricata.anomaly.event"] == "INVALID_RECORD_TYPE"
    assert ssh["network.protocol"] == "ssh"
    assert extra(ssh)["suricata.ssh.client"]["software_version"] == "libssh2_1.10.0"
    assert stats["event.action"] == "stats"
    assert stats["event.category"] is None and stats["source.ip"] is None
    assert extra(stats)["suricata.stats.capture"]["kernel_drops"] == 12


def test_broken_lines_of_the_sample_fail_as_invalid_json() -> None:
    rows = ndjson_rows()
    assert [r["_error"] for r in rows[12:14]] == ["invalid JSON", "invalid JSON"]
    assert [r["_error"] is None for r in rows].count(True) == 13


# --- failures and edge cases ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ('{"timestamp":"2024-03-11T09:14:33Z","event_type":"fl', "invalid JSON"),
        ('[{"event_type":"alert"}]', "not a JSON object but an array"),
        ("42", "not a JSON object but a number"),
        (
            '{"timestamp":"2024-03-11T09:14:33Z","src_ip":"10.0.0.1"}',
            "no event_type: not a Suricata EVE record",
        ),
        ('{"event_type":"flow","src_ip":"10.0.0.1"}', "no timestamp in this EVE record"),
        (
            '{"timestamp":"11/03/2024 09:14","event_type":"flow"}',
            "timestamp '11/03/2024 09:14' is not an ISO 8601 time",
        ),
    ],
)
def test_failures_have_specific_reasons(record: str, reason: str) -> None:
    (row,) = parse([record])
    assert row["_error"] == reason
    assert (row["event.module"], row["event.dataset"]) == ("suricata", "suricata.eve")


def test_colliding_extra_keys_keep_the_first() -> None:
    record = (
        '{"timestamp":"2024-03-11T09:14:33Z","event_type":"flow",'
        '"flow.state":"dotted","flow":{"state":"nested","bytes_toserver":5}}'
    )
    (row,) = parse([record])
    assert row["_error"] is None
    assert extra(row) == {"suricata.flow.state": "dotted"}
    assert row["source.bytes"] == 5


def test_offset_timestamps_ignore_the_configured_zone() -> None:
    record = '{"timestamp":"2018-03-24T14:37:19.037299-0600","event_type":"flow"}'
    (row,) = parse([record], timezone="Asia/Tokyo")
    assert row["@timestamp"] == ts("2018-03-24T20:37:19.037299+00:00")


# --- sniffing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(OTHER_FORMATS))
def test_sniff_rejects_other_formats(fmt: str) -> None:
    assert SuricataEveParser().sniff(sample([OTHER_FORMATS[fmt]] * 5)) < 0.5


def test_sniff_accepts_both_containers() -> None:
    assert SuricataEveParser.containers == frozenset({"lines", "json"})
    lines = NDJSON.read_text().splitlines()[:8]
    assert SuricataEveParser().sniff(sample(lines, "eve.json", "json")) >= 0.8


# --- property: never raise, one row per record --------------------------------------------------

_REAL = NDJSON.read_text().splitlines() + [
    json.dumps(r) for r in json.loads(WRCCDC.read_text())[:20]
]

_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                ["timestamp", "event_type", "src_ip", "flow", "dns", "a.b", "a", "b", "x"]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    line = draw(st.sampled_from(_REAL))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(line)))
        cut = draw(st.integers(0, 8))
        insert = draw(st.sampled_from(["", '"', "{", "}", ",", ":", "[", "null", "\\u00e9"]))
        line = line[:at] + insert + line[at + cut :]
    return line


_RECORDS = st.lists(
    st.one_of(
        mutated(),
        _JSON_VALUES.map(json.dumps),
        st.text(min_size=1, max_size=60).filter(lambda s: s.strip() != ""),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_RECORDS)
def test_never_raises_and_keeps_one_row_per_record(records: list[str]) -> None:
    rows = parse(records)
    assert all(r["event.dataset"] == "suricata.eve" for r in rows)


def test_a_huge_bad_timestamp_is_cut_short_in_the_reason() -> None:
    record = json.dumps({"timestamp": "x" * 5000, "event_type": "flow"})
    (row,) = parse([record])
    assert row["_error"] == "timestamp '" + "x" * 64 + "...' is not an ISO 8601 time"
