"""EcsJsonParser (ECS documents, Kibana sample logs) and GenericJsonParser (any JSON object)."""

from __future__ import annotations

import ipaddress
import json
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loglens.parse.base import ParseContext, Parser, Sample
from loglens.parse.json_docs import (
    _ECS_EXTRA,
    ALIASES,
    INVALID_FIELDS_KEY,
    EcsJsonParser,
    GenericJsonParser,
    _ip_rules_sql,
    _timestamp_rules_sql,
    alias_key,
    blank_to_null_sql,
    ecs_key,
    ip_sql,
    mappable_fields,
    scalar_sql,
    timestamp_sql,
)
from loglens.parse.registry import detect_format
from loglens.schema import FIELD_BY_NAME
from tests.parser_harness import extra, run_parser, sample, utc

DATA = Path(__file__).parent.parent / "data" / "json"
ECS = EcsJsonParser()
GENERIC = GenericJsonParser()
CTX = ParseContext(source="docs.json", reference_time=datetime(2024, 6, 1, tzinfo=UTC))

OTHER_FORMATS = {
    "apache": '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326 '
    '"http://www.example.com/start.html" "Mozilla/4.08"',
    "syslog": "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
    "zeek_tsv": "1692161622.036086\tCmJ5Rv1yJ0c0fVXaDb\t10.0.0.5\t52345\t10.0.0.1\t53\tudp\tdns",
    "eve": '{"timestamp":"2018-03-10T09:12:34.567890+0000","flow_id":1,"event_type":"alert",'
    '"src_ip":"10.0.0.1","src_port":1234,"dest_ip":"10.0.0.2","dest_port":80,"proto":"TCP"}',
    "windows": '{"EventID":4624,"Channel":"Security","Hostname":"dc1","TargetUserName":"bob",'
    '"@timestamp":"2020-09-21T23:26:50.694Z","host":"wec","tags":["x"]}',
    "text": "Starting up the service on port 8080",
}
BROKEN = ['{"@timestamp": "2024-01-01T00:00:00Z", "message": "cut', "[1, 2]", "not json", "42"]
BROKEN_REASONS = [
    "invalid JSON: the record looks cut off",
    "not a JSON object (an array)",
    "invalid JSON",
    "not a JSON object (a number)",
]


def lines(name: str) -> list[str]:
    return [line for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line]


# --- ECS documents -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ecs_rows() -> list[dict[str, Any]]:
    return run_parser(ECS, lines("ecs_documents.ndjson"), CTX)


def test_ecs_nested_document(ecs_rows: list[dict[str, Any]]) -> None:
    row = ecs_rows[0]
    assert row["@timestamp"] == utc(2024, 5, 20, 14, 2, 11)
    assert (row["event.module"], row["event.dataset"]) == ("nginx", "nginx.access")
    assert (row["event.category"], row["event.type"], row["event.outcome"]) == (
        "web", "access", "success",
    )  # fmt: skip
    assert (row["source.ip"], row["host.name"], row["host.ip"]) == (
        "198.51.100.77", "web-01", "10.1.0.11",
    )  # fmt: skip
    assert (row["http.request.method"], row["http.response.status_code"]) == ("GET", 200)
    assert (row["url.path"], row["url.query"], row["url.domain"]) == (
        "/api/v2/items", "page=3", "shop.example.com",
    )  # fmt: skip
    assert row["http.response.body.bytes"] == 5120
    assert row["tags"] == ["nginx", "web"]
    assert row["message"].startswith("198.51.100.77 - - [20/May/2024:14:02:11 +0000]")
    assert "event.original" not in row  # the pipeline stores the raw record there
    assert extra(row) == {
        "event.created": "2024-05-20T14:02:11.512Z",
        "agent.type": "filebeat",
        "agent.name": "web-01",
        "host.hostname": "web-01",
        "host.os.name": "Ubuntu",
        "host.os.platform": "ubuntu",
        "source.geo.country_iso_code": "NL",
        # What Filebeat adds to every document it ships, held so such documents can be whole:
        "agent.version": "8.13.4",
        "ecs.version": "8.11.0",
        "log.offset": "88211",
        "log.file.path": "/var/log/nginx/access.log",  # the shipper's file, not provenance
        "data_stream.type": "logs",
        "data_stream.dataset": "nginx.access",
        "data_stream.namespace": "default",
    }


def test_ecs_auth_flat_and_alert_documents(ecs_rows: list[dict[str, Any]]) -> None:
    auth, flat, alert = ecs_rows[2], ecs_rows[3], ecs_rows[4]
    assert (auth["event.module"], auth["event.action"], auth["event.outcome"]) == (
        "system", "ssh_login", "failure",
    )  # fmt: skip
    assert (auth["process.name"], auth["process.pid"], auth["user.name"]) == (
        "sshd",
        30112,
        "oracle",
    )
    assert extra(auth)["log.syslog.facility.name"] == "auth"
    assert (flat["event.dataset"], flat["dns.question.name"], flat["dns.response_code"]) == (
        "zeek.dns", "update.example.org", "NXDOMAIN",
    )  # fmt: skip
    assert (flat["source.port"], flat["network.transport"]) == (53211, "udp")
    assert flat["tags"] == ["zeek", "dns"]  # comma-separated text
    assert alert["@timestamp"] == utc(2024, 5, 20, 14, 3, 10, 123000)  # epoch milliseconds
    assert (alert["event.kind"], alert["event.severity"]) == ("alert", 2)
    assert alert["event.category"] == "network"  # first of ["network", "intrusion_detection"]
    assert (alert["rule.id"], alert["rule.category"]) == ("2013028", "Attempted Information Leak")
    assert alert["event.module"] == "suricata"  # from the dataset's prefix
    assert extra(alert)["observer.vendor"] == "OISF"


def test_kibana_sample_logs() -> None:
    rows = run_parser(ECS, lines("kibana_sample_web_logs.ndjson"), CTX)
    first, missing, ipv6 = rows[0], rows[2], rows[4]
    assert first["@timestamp"] == utc(2024, 5, 12, 0, 39, 2, 912000)
    assert (first["event.module"], first["event.dataset"]) == ("kibana", "sample_web_logs")
    assert (first["source.ip"], first["http.request.method"], first["url.path"]) == (
        "223.87.60.27", "GET", "/elasticsearch/elasticsearch-8.13.2.deb",
    )  # fmt: skip
    assert (first["http.response.status_code"], first["http.response.body.bytes"]) == (200, 6219)
    assert first["url.domain"] == "artifacts.elastic.co"
    assert first["user_agent.original"].startswith("Mozilla/5.0 (X11; Linux x86_64")
    assert first["http.request.referrer"] == "http://twitter.com/success/wendy-lawrence"
    assert (first["event.category"], first["event.type"], first["event.outcome"]) == (
        "web", "access", "success",
    )  # fmt: skip
    assert first["tags"] == ["success", "info"]
    assert extra(first) == {
        "user_agent.os.name": "win 8",
        "source.geo.country_iso_code": "IN",
        "destination.geo.country_iso_code": "US",
        "url.extension": "deb",
    }
    assert (missing["http.response.status_code"], missing["event.outcome"]) == (404, "failure")
    assert ipv6["source.ip"] == "2001:db8:4:7::1f"


def test_kibana_document_without_dataset() -> None:
    doc = json.loads(lines("kibana_sample_web_logs.ndjson")[0])
    del doc["event"]
    (row,) = run_parser(ECS, [json.dumps(doc)], CTX)
    assert row["event.dataset"] == "kibana.sample_logs"


def test_ecs_timezone_for_times_without_offset() -> None:
    doc = (
        '{"@timestamp": "2024-05-20T14:02:11", "event": {"dataset": "a.b"}, "host": {"name": "h"}}'
    )
    ctx = ParseContext(source="x.json", timezone="Europe/Paris")
    (row,) = run_parser(ECS, [doc], ctx)
    assert row["@timestamp"] == utc(2024, 5, 20, 12, 2, 11)


def test_ecs_bad_values_are_dropped_not_fatal() -> None:
    doc = {
        "@timestamp": "yesterday",
        "source": {"ip": "999.1.1.1", "port": "http"},
        "event": {"kind": "nonsense", "outcome": "succeeded"},
        "host": {"name": {"x": 1}},
    }
    (row,) = run_parser(ECS, [json.dumps(doc)], CTX)
    assert row["_error"] is None
    assert (row["@timestamp"], row["source.ip"], row["source.port"]) == (None, None, None)
    assert (row["event.kind"], row["event.outcome"], row["host.name"]) == ("event", "success", None)


def test_ecs_broken_records() -> None:
    assert [r["_error"] for r in run_parser(ECS, BROKEN, CTX)] == BROKEN_REASONS


def test_ecs_sniff() -> None:
    assert ECS.sniff(sample(lines("ecs_documents.ndjson"))) >= 0.8
    assert ECS.sniff(sample(lines("kibana_sample_web_logs.ndjson"))) >= 0.8
    assert ECS.sniff(sample(lines("app_events.ndjson"))) < 0.5
    assert ECS.sniff(sample(lines("otrf_log4shell_auoms_auditd.json"))) < 0.5
    logstash = (
        '{"@timestamp": "2024-01-01T00:00:00Z", "@version": "1", "host": "web1", "message": "x"}'
    )
    assert ECS.sniff(sample([logstash])) < 0.5


@pytest.mark.parametrize("fmt", sorted(OTHER_FORMATS))
def test_ecs_sniff_rejects_other_formats(fmt: str) -> None:
    assert ECS.sniff(sample([OTHER_FORMATS[fmt]] * 5)) < 0.5


# --- generic JSON --------------------------------------------------------------------------------


def test_generic_azure_syslog_export_auditd() -> None:
    rows = run_parser(GENERIC, lines("otrf_log4shell_auoms_auditd.json"), CTX)
    row = rows[0]
    assert row["@timestamp"] == utc(2022, 5, 11, 18, 10, 21, 997000)  # TimeGenerated
    assert (row["event.module"], row["event.dataset"], row["event.kind"]) == (
        "json", "json.generic", "event",
    )  # fmt: skip
    assert (row["host.name"], row["host.ip"]) == ("UBUNTU5", "192.168.2.5")
    assert (row["process.name"], row["log.level"]) == ("auoms", "info")
    assert row["message"].startswith("type=AUOMS_EXECVE audit(1652292621.986:84138):")
    more = extra(row)
    assert more["log.syslog.facility.name"] == "user"
    assert (more["EventType"], more["Type"], more["SourceSystem"]) == (
        "AUOMS_EXECVE", "Syslog", "Linux",
    )  # fmt: skip
    assert more["EventTime"] == "2022-05-11T18:10:21Z"  # the losing time key is kept
    assert INVALID_FIELDS_KEY not in more
    assert all(r["_error"] is None and r["@timestamp"] for r in rows)


def test_generic_azure_syslog_export_sysmon() -> None:
    rows = run_parser(GENERIC, lines("otrf_log4shell_sysmon_linux.json"), CTX)
    assert rows[0]["@timestamp"] == utc(2022, 5, 11, 18, 10, 20, 400000)
    assert rows[0]["process.name"] == "sysmon"
    assert rows[0]["message"].startswith('<Event><System><Provider Name="Linux-Sysmon"')
    assert {r["host.name"] for r in rows} == {"UBUNTU5"}
    assert all(r["_error"] is None for r in rows)


@pytest.fixture(scope="module")
def app_rows() -> list[dict[str, Any]]:
    return run_parser(GENERIC, lines("app_events.ndjson"), CTX)


def test_generic_aliases(app_rows: list[dict[str, Any]]) -> None:
    login, failed, timeout, cloudtrail, azure, _ = app_rows
    assert login["@timestamp"] == utc(2024, 5, 20, 14, 0, 0, 250000)  # epoch seconds
    assert (login["user.name"], login["source.ip"], login["source.port"]) == (
        "alice", "10.9.8.7", 50001,
    )  # fmt: skip
    assert (login["message"], login["log.level"]) == ("login ok", "INFO")
    assert extra(login) == {
        "duration_ms": 41,
        "http.request.id": "r-1f2e",
        "log.logger": "api.auth",
    }
    assert (failed["source.port"], failed["event.outcome"]) == (50002, "failure")
    assert timeout["@timestamp"] == utc(2024, 5, 20, 12, 0, 2, 750000)  # +02:00
    assert (timeout["host.name"], timeout["source.ip"]) == ("api-2", "10.9.8.9")
    assert (timeout["http.response.status_code"], timeout["http.request.method"]) == (504, "GET")
    assert extra(timeout) == {"upstream": {"addr": "10.0.0.5:8080", "ms": 30000}}
    assert (cloudtrail["event.action"], cloudtrail["source.ip"]) == (
        "ConsoleLogin", "198.51.100.200",
    )  # fmt: skip
    assert extra(cloudtrail)["cloud.region"] == "us-east-1"
    assert extra(cloudtrail)["event.provider"] == "signin.amazonaws.com"
    assert (azure["process.name"], azure["process.pid"], azure["host.ip"]) == (
        "sudo", 41210, "10.2.0.7",
    )  # fmt: skip


def test_generic_values_that_do_not_fit_stay_in_extra(app_rows: list[dict[str, Any]]) -> None:
    row = app_rows[5]
    assert row["_error"] is None
    assert (row["@timestamp"], row["process.pid"], row["destination.ip"]) == (None, None, None)
    assert row["message"] == "bad timestamp kept"
    assert extra(row) == {
        "timestamp": "not a time",
        "pid": "12x",
        "dst_ip": "300.1.2.3",
        INVALID_FIELDS_KEY: "@timestamp,process.pid,destination.ip",
    }


def test_generic_keys_match_without_case_or_punctuation() -> None:
    doc = {"TIMESTAMP": "2024-01-02 03:04:05", "Source_IP": "10.0.0.1", "Destination Port": "443",
           "HOSTNAME": "h1", "SrcIP": "10.0.0.9", "Event-Code": 4625, "LEVEL": "warn"}  # fmt: skip
    (row,) = run_parser(GENERIC, [json.dumps(doc)], CTX)
    assert row["@timestamp"] == utc(2024, 1, 2, 3, 4, 5)
    assert (row["source.ip"], row["destination.port"], row["host.name"]) == ("10.0.0.1", 443, "h1")
    assert (row["event.code"], row["log.level"]) == ("4625", "warn")
    assert extra(row) == {"SrcIP": "10.0.0.9"}  # the ECS spelling won source.ip


def test_generic_column_map_overrides_and_extends() -> None:
    doc = json.loads(lines("app_events.ndjson")[3])
    ctx = ParseContext(
        source="trail.json",
        column_map={"userIdentity.userName": "user.name", "eventName": "message",
                    "awsRegion": "cloud.availability_zone", "eventSource": "host.name"},
    )  # fmt: skip
    (row,) = run_parser(GENERIC, [json.dumps(doc)], ctx)
    assert (row["user.name"], row["message"], row["host.name"]) == (
        "carol", "ConsoleLogin", "signin.amazonaws.com",
    )  # fmt: skip
    assert row["event.action"] is None  # eventName went to message
    assert extra(row)["cloud.availability_zone"] == "us-east-1"
    assert "cloud.region" not in extra(row)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1716213600, utc(2024, 5, 20, 14, 0)),
        (1716213600123, utc(2024, 5, 20, 14, 0, 0, 123000)),
        (1716213600123456, utc(2024, 5, 20, 14, 0, 0, 123456)),
        (1716213600123456789, utc(2024, 5, 20, 14, 0, 0, 123456)),
        ("1716213600.5", utc(2024, 5, 20, 14, 0, 0, 500000)),
        ("/Date(1716213600123)/", utc(2024, 5, 20, 14, 0, 0, 123000)),
        ("2024-05-20 14:00:00,250", utc(2024, 5, 20, 14, 0, 0, 250000)),
        ("2024-05-20 14:00:00+00", utc(2024, 5, 20, 14, 0)),
        ("2024/05/20 14:00:00 UTC", utc(2024, 5, 20, 14, 0)),
        ("20/May/2024:16:00:00 +0200", utc(2024, 5, 20, 14, 0)),
        ("Mon, 20 May 2024 14:00:00 GMT", utc(2024, 5, 20, 14, 0)),
        ("05/20/2024 02:00:00 PM", utc(2024, 5, 20, 14, 0)),
        ("May 20 14:00:00", utc(2024, 5, 20, 14, 0)),  # year from the reference time
        ("2024-05-20", utc(2024, 5, 20)),
        ("2024-05-20 16:00+02", utc(2024, 5, 20, 14, 0)),
        ("2024-05-20T11:00:00.5-03", utc(2024, 5, 20, 14, 0, 0, 500000)),
        (2024, None),
        ("soon", None),
    ],
)
def test_generic_timestamp_spellings(value: object, expected: datetime | None) -> None:
    (row,) = run_parser(GENERIC, [json.dumps({"time": value, "msg": "x"})], CTX)
    assert row["@timestamp"] == expected


def test_generic_timezone_for_times_without_offset() -> None:
    ctx = ParseContext(source="x.json", timezone="Asia/Tokyo")
    records = [
        json.dumps({"time": "2024-05-20 09:00:00"}),
        json.dumps({"time": "2024-05-20T09:00Z"}),
    ]
    rows = run_parser(GENERIC, records, ctx)
    assert [r["@timestamp"] for r in rows] == [utc(2024, 5, 20, 0, 0), utc(2024, 5, 20, 9, 0)]


def test_generic_broken_records() -> None:
    rows = run_parser(GENERIC, BROKEN, CTX)
    assert [r["_error"] for r in rows] == BROKEN_REASONS
    assert all(r["event.dataset"] == "json.generic" for r in rows)


def test_generic_sniff() -> None:
    for name in ("app_events.ndjson", "otrf_log4shell_auoms_auditd.json", "ecs_documents.ndjson"):
        assert GENERIC.sniff(sample(lines(name))) == pytest.approx(0.6)
    for fmt in ("apache", "syslog", "zeek_tsv", "text"):
        assert GENERIC.sniff(sample([OTHER_FORMATS[fmt]] * 5)) == 0.0


@pytest.mark.parametrize(
    ("name", "expected"),
    [("ecs_documents.ndjson", "ecs"), ("kibana_sample_web_logs.ndjson", "ecs"),
     ("app_events.ndjson", "json"), ("otrf_log4shell_auoms_auditd.json", "json"),
     ("otrf_log4shell_sysmon_linux.json", "json")],
)  # fmt: skip
def test_detection_picks_the_specific_parser(name: str, expected: str) -> None:
    detection = detect_format(Sample(lines(name)[:40], name, "lines"))
    assert detection is not None and detection.parser.name == expected


@pytest.mark.parametrize(
    "value",
    ["1.2.3.4", "255.255.255.255", "256.1.1.1", "01.2.3.4", "::1", "::", "2001:db8:4:7::1f",
     "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8:9", "00:1a:2b:3c:4d:5e", "64:ff9b::1.2.3.4",
     "1:2:3:4:5:6:1.2.3.4", "12345::1", ":::", "1::2::3", "abc", "10.0.0.1/24"],
)  # fmt: skip
def test_addresses_are_what_python_calls_addresses(value: str) -> None:
    (row,) = run_parser(GENERIC, [json.dumps({"src_ip": value})], CTX)
    try:
        expected: str | None = str(ipaddress.ip_address(value)) and value
    except ValueError:
        expected = None
    assert row["source.ip"] == expected


def test_addresses_are_cleaned() -> None:
    values = ["::ffff:10.0.0.1", "[2001:db8::1]", "fe80::1%eth0", " 10.0.0.2 "]
    rows = run_parser(GENERIC, [json.dumps({"src_ip": v}) for v in values], CTX)
    assert [r["source.ip"] for r in rows] == ["10.0.0.1", "2001:db8::1", "fe80::1", "10.0.0.2"]


# --- the alias table -----------------------------------------------------------------------------


def test_alias_keys_name_one_field_each() -> None:
    targets: dict[str, set[str]] = defaultdict(set)
    for target, keys in ALIASES.items():
        for key in keys:
            targets[alias_key(key)].add(target)
    assert {k: t for k, t in targets.items() if len(t) > 1} == {}
    assert len({ecs_key(f) for f in mappable_fields()}) == len(mappable_fields())


def test_alias_targets_are_ecs_names() -> None:
    for target in ALIASES:
        assert target in FIELD_BY_NAME or "." in target, target
        assert target not in ("event.original", "extra", "event.id")


# --- robustness --------------------------------------------------------------------------------

_KEYS = ["@timestamp", "timestamp", "time", "ts", "msg", "message", "host", "source", "ip",
         "src_ip", "port", "src_port", "event", "tags", "level", "status", "clientip",
         "request", "response", "url", "agent", "user", "pid", "TimeGenerated", "a.b",
         "Source IP"]  # fmt: skip
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=15),
    st.sampled_from(["-", "", "1716213600123", "/Date(9)/", "2024-13-45", "::ffff:1.2.3.4", "[1"]),
)  # fmt: skip
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4)
    ),
    max_leaves=8,
)
_DOCS = st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=8).map(json.dumps)
_SAMPLE_LINES = lines("ecs_documents.ndjson")[:3] + lines("app_events.ndjson")


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    line = draw(st.sampled_from(_SAMPLE_LINES))
    cut = draw(st.integers(0, len(line)))
    return line[:cut] + draw(st.text(max_size=5)) + line[cut + draw(st.integers(0, 5)) :]


_RECORDS = st.lists(st.one_of(st.text(max_size=30), _DOCS, _mutated()), min_size=1, max_size=12)


@pytest.mark.parametrize("parser", [ECS, GENERIC], ids=["ecs", "json"])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=_RECORDS)
def test_arbitrary_records_never_raise(parser: Parser, records: list[str]) -> None:
    rows = run_parser(parser, records, CTX)
    assert len(rows) == len(records)
    for row in rows:
        assert row["event.dataset"]
        if row["extra"] is not None:
            assert isinstance(json.loads(row["extra"]), dict)


# --- plans from the sample ---------------------------------------------------------------------
# The pipeline gives a parser the records detection looked at (ParseContext.sample); the ECS
# parser plans its SQL for their shapes. Any record the plan does not fit must still get exactly
# what the full reading (an empty sample) gives it.


def planned_and_full(
    parser: Parser, records: list[str], plan_from: list[str], ctx: ParseContext = CTX
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    planned = run_parser(parser, records, replace(ctx, sample=tuple(plan_from)))
    return planned, run_parser(parser, records, ctx)


_WEB = {
    "@timestamp": "2024-05-20T14:02:11.512Z",
    "event": {"dataset": "nginx.access", "module": "nginx"},
    "source": {"ip": "198.51.100.7"},
    "http": {"request": {"method": "GET"}, "response": {"status_code": 200}},
    "url": {"original": "/a?b=1", "path": "/a"},
    "user_agent": {"original": "curl/8.5.0"},
}
_KIBANA = json.loads(lines("kibana_sample_web_logs.ndjson")[0])


def _doc(**changes: Any) -> str:
    doc = json.loads(json.dumps(_WEB))
    for key, value in changes.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return json.dumps(doc)


_UNLIKE_THE_SAMPLE = [
    # Top-level objects the sample did not have.
    _doc(
        host={"name": "web-2", "ip": ["10.0.0.2"]},
        process={"name": "nginx", "pid": 7},
        dns={"question": {"name": "a.example"}},
        message="GET /a",
        tags=["x", "y"],
    ),
    # Flat dotted keys, alone and next to the nested form (the nested one wins).
    _doc(**{"source.ip": "192.0.2.9", "source": None, "event.dataset": "flat.ds"}),
    _doc(**{"url.path": "/flat", "user_agent.original": "flat-agent"}),
    # Fields the sample lacked under objects it had; extras; odd values.
    _doc(
        url={"original": "/q?x=1", "path": "/q", "query": "x=1", "scheme": "https"},
        event={
            "kind": "alert",
            "category": ["web", "network"],
            "outcome": "denied",
            "provider": "p",
            "created": "2024-05-20T14:02:12Z",
        },
        source={"ip": "::ffff:10.1.2.3", "port": "443", "bytes": " 12 "},
    ),
    _doc(
        **{
            "@timestamp": "1716213600123",
            "http": {
                "request": {"method": ["POST"]},
                "response": {"status_code": "-", "body": {"bytes": ""}},
            },
        }
    ),
    _doc(**{"@timestamp": "20/May/2024:16:00:00 +0200", "source": {"ip": "[2001:db8::1]"}}),
    _doc(**{"@timestamp": " 2024-05-20T14:02:11Z", "user_agent": {"original": "\u00a0ua "}}),
    _doc(**{"@timestamp": None, "timestamp": "2024-05-20 14:00:00", "url": {"path": {"a": 1}}}),
    # Kibana's sample shape after ECS documents.
    json.dumps(_KIBANA),
    # Not records the plan can take at all.
    ' {"@timestamp": "2024-05-20T14:02:11Z", "event": {"dataset": "a.b"}}',
    *BROKEN,
    "{}",
]


def test_ecs_records_unlike_the_sample_read_as_without_a_plan() -> None:
    sample_docs = [_doc(), _doc(user_agent=None)]
    records = [*sample_docs, *_UNLIKE_THE_SAMPLE, *sample_docs]
    planned, full = planned_and_full(ECS, records, sample_docs)
    assert planned == full
    # The plan did not hide anything: the unusual records really were read.
    other, flat, kibana = planned[2], planned[3], planned[10]
    assert (other["host.name"], other["process.pid"], other["tags"]) == ("web-2", 7, ["x", "y"])
    assert (flat["source.ip"], flat["event.dataset"]) == ("192.0.2.9", "nginx.access")
    assert (kibana["source.ip"], kibana["event.module"]) == ("223.87.60.27", "kibana")
    assert planned[5]["url.query"] == "x=1" and extra(planned[5])["url.scheme"] == "https"


@pytest.mark.parametrize(
    "name",
    ["ecs_documents.ndjson", "kibana_sample_web_logs.ndjson", "app_events.ndjson",
     "otrf_log4shell_auoms_auditd.json"],
)  # fmt: skip
@pytest.mark.parametrize("size", [1, 2, 40])
def test_ecs_plan_from_the_start_of_a_file(name: str, size: int) -> None:
    records = lines(name)
    planned, full = planned_and_full(ECS, records, records[:size])
    assert planned == full


def test_ecs_plan_from_kibana_then_ecs_records() -> None:
    records = [*lines("kibana_sample_web_logs.ndjson"), *lines("ecs_documents.ndjson")]
    planned, full = planned_and_full(ECS, records, records[:3])
    assert planned == full


def test_ecs_plan_with_a_time_zone() -> None:
    ctx = ParseContext(source="x.json", timezone="Europe/Paris", reference_time=CTX.reference_time)
    records = [
        _doc(),
        _doc(**{"@timestamp": "2024-05-20T14:02:11"}),
        _doc(**{"@timestamp": "2024-05-20T14:02:11+02:00"}),
        _doc(**{"@timestamp": "May 20 14:02:11"}),
    ]
    planned, full = planned_and_full(ECS, records, records[:1], ctx)
    assert planned == full
    assert planned[1]["@timestamp"] == utc(2024, 5, 20, 12, 2, 11)


# ECS-like documents: nested objects and flat dotted keys, Kibana keys, odd values.
_ECS_PATHS = [
    "@timestamp", "timestamp", "message", "tags", "event.kind", "event.dataset",
    "event.module", "event.category", "event.outcome", "event.provider", "event.duration",
    "source.ip", "source.port", "source.geo.country_iso_code", "destination.ip",
    "destination.port", "host.name", "host.ip", "host.os.name", "user.name", "process.pid",
    "process.parent.name", "network.transport", "url.original", "url.path", "url.query",
    "url.scheme", "http.request.method", "http.response.status_code",
    "http.response.body.bytes", "http.request.body.bytes", "user_agent.original",
    "dns.question.name", "rule.id", "log.level", "clientip", "ip", "request", "response",
    "bytes", "agent", "referer", "url", "host", "extension", "geo.src", "machine.os", "labels.x",
]  # fmt: skip
_ECS_VALUES = st.one_of(
    st.sampled_from(
        [
            "2024-05-20T14:02:11.512Z",
            "1716213600",
            "May 20 14:02:11",
            "10.0.0.1",
            "::1",
            "[fe80::1%eth0]",
            "999.1.1.1",
            "tcp",
            "6",
            "GET",
            "200",
            "404",
            " 7 ",
            "-",
            "",
            "web",
            "success",
            "failed",
            "a,b",
            "\u00a0x",
            "x ",
            "[1,2]",
            '{"a":1}',
            "GET /x HTTP/1.1",
        ]
    ),
    st.integers(-5, 70000),
    st.none(),
    st.booleans(),
    st.lists(st.sampled_from(["web", "network", "10.0.0.2", ""]), max_size=2),
    st.text(max_size=6),
)


def _nest(pairs: list[tuple[str, Any, bool]]) -> str:
    doc: dict[str, Any] = {}
    for path, value, flat in pairs:
        if flat or "." not in path:
            doc.setdefault(path, value)
            continue
        *parents, leaf = path.split(".")
        node = doc
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node.setdefault(leaf, value)
    return json.dumps(doc)


_ECS_DOCS = st.lists(
    st.tuples(st.sampled_from(_ECS_PATHS), _ECS_VALUES, st.booleans()), max_size=10
).map(_nest)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    plan_from=st.lists(_ECS_DOCS, min_size=1, max_size=4),
    later=st.lists(st.one_of(_ECS_DOCS, _ECS_DOCS, st.sampled_from(BROKEN)), max_size=12),
)
def test_ecs_plan_never_changes_what_a_record_gives(plan_from: list[str], later: list[str]) -> None:
    records = [*plan_from, *later]
    planned, full = planned_and_full(ECS, records, plan_from)
    assert planned == full


# --- shortcuts in the SQL helpers ----------------------------------------------------------------
# The helpers skip work for the usual values (ASCII text with nothing to trim, RFC 3339 times,
# plain IPv4 addresses); for any text they must give what the plain expression gives.

_TRICKY = st.text(
    alphabet=st.sampled_from(
        [*"09-:.TZ+/ []{}\"'ab,", "\u00a0", "\u3000", "\u2009", "\t", "\n", "\u0301", "é"]
    ),
    max_size=30,
)
_TIMES = st.builds(
    lambda d, t, frac, zone, pad: f"{pad}{d}{t}{frac}{zone}{pad}",
    st.sampled_from(["2024-05-20", "2024/05/20", "2024-13-45", "0000-01-01", "20/May/2024"]),
    st.sampled_from(["T14:02:11", " 14:02:11", "T14:02", "T24:00:00", ":16:00:00", ""]),
    st.sampled_from(["", ".5", ".123456789", ",250"]),
    st.sampled_from(["Z", "z", "+02:00", "-03:30", "+0200", "+00", " UTC", "", "+99:99"]),
    st.sampled_from(["", " ", "\u00a0"]),
)
_ADDRESSES = st.one_of(
    st.ip_addresses().map(str),
    st.sampled_from(["01.2.3.4", "1.2.3.4 ", "[::1]", "fe80::1%eth0", "::ffff:10.0.0.1", "1.2.3"]),
)


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.one_of(_TRICKY, _TIMES, _ADDRESSES), min_size=1, max_size=40))
def test_shortcuts_give_what_the_plain_expressions_give(values: list[str]) -> None:
    paris = ParseContext(source="x", timezone="Europe/Paris", reference_time=CTX.reference_time)
    pairs = {
        "blank": (blank_to_null_sql("v"), "nullif(nullif(trim(v), ''), '-')"),
        "scalar": (
            scalar_sql("v"),
            "CASE WHEN left(v, 1) IN ('[', '{') AND json_valid(v) THEN CASE WHEN left(v, 1) = '[' "
            "THEN json_extract_string(v, '$[0]') END ELSE v END",
        ),
        "time": (timestamp_sql("v", CTX), _timestamp_rules_sql("trim(v)", CTX)),
        "time paris": (timestamp_sql("v", paris), _timestamp_rules_sql("trim(v)", paris)),
        "address": (ip_sql("v"), _ip_rules_sql("trim(v)")),
    }
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for name, (shortcut, plain) in pairs.items():
        rows = con.execute(
            f"SELECT v, {shortcut}, {plain} FROM (SELECT unnest(?::VARCHAR[]) AS v)", [values]
        ).fetchall()
        assert [(v, a) for v, a, _ in rows] == [(v, b) for v, _, b in rows], name
    con.close()


# --- completeness: the raw text is kept only where the columns cannot hold it --------------------
# ``_complete`` says a record's columns and ``extra`` hold everything it says. The checks below
# build documents whose fate is known by construction (clean ones, and one flaw each), and an
# oracle written here, apart from the parser's SQL, confirms that a record called complete
# really comes back whole from its columns.

_CLEAN_CHOICES: dict[str, list[Any]] = {
    "@timestamp": ["2024-05-20T14:02:11.512Z", "2024-05-20T14:02:11Z",
                   "2024-05-20T14:02:11.123456+00:00"],
    "event.dataset": ["nginx.access", "zeek.conn"],
    "event.module": ["nginx", "zeek"],
    "event.kind": ["event", "alert"],
    "event.category": ["web", ["network"]],
    "event.outcome": ["success", "failure"],
    "event.action": ["GET: /a", "login"],
    "source.ip": ["198.51.100.7", "2001:db8::1", "10.0.0.1"],
    "source.port": [443, "8080"],
    "destination.ip": ["192.0.2.10"],
    "network.transport": ["tcp", "udp"],
    "http.request.method": ["GET", "POST"],
    "http.response.status_code": [200, 404, "302"],
    "http.response.body.bytes": [0, 5120],
    "http.version": ["1.1", 2],
    "url.original": ["/a?b=1", "https://shop.example.com:8443/x"],
    "url.path": ["/a", "/static/[v1]/app.js"],
    "user_agent.original": ["Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101"],
    "host.name": ["web-1", "db-2"],
    "process.pid": [7, 30112],
    "message": ["[INFO] started: pid 7", " padded text ", "a \"quoted\" word"],
    "tags": [["nginx", "web"], "zeek,dns", []],
    "event.provider": ["nginx"],
    "url.scheme": ["https"],
    "service.name": ["shop"],
}  # fmt: skip
_REQUIRED = ("@timestamp", "event.dataset")


def _nested(pairs: list[tuple[str, Any]], flat: set[str]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for path, value in pairs:
        if path in flat or "." not in path:
            doc[path] = value
            continue
        *parents, leaf = path.split(".")
        node = doc
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return doc


def _clean_doc(rng: np.random.Generator) -> tuple[list[tuple[str, Any]], set[str]]:
    """Fields with values the columns hold as written, a few of them as flat dotted keys."""
    optional = [f for f in _CLEAN_CHOICES if f not in _REQUIRED]
    chosen = [*_REQUIRED, *rng.choice(optional, size=int(rng.integers(2, 10)), replace=False)]
    pairs = [(f, _CLEAN_CHOICES[f][int(rng.integers(len(_CLEAN_CHOICES[f])))]) for f in chosen]
    flat = {f for f in chosen if "." in f and rng.random() < 0.2}
    return pairs, flat


def _dumps(doc: dict[str, Any], rng: np.random.Generator) -> str:
    if rng.random() < 0.5:
        return json.dumps(doc, separators=(",", ":"))
    return json.dumps(doc)  # ", " and ": " between items


# Each flaw takes a clean document (its pairs and flat keys) and returns a JSON text the
# columns cannot hold.
def _unread_key(pairs: list[tuple[str, Any]], flat: set[str]) -> str:
    return json.dumps(_nested([*pairs, ("labels.team", "payments")], flat))


def _replace(field: str, value: Any) -> Callable[[list[tuple[str, Any]], set[str]], str]:
    def flaw(pairs: list[tuple[str, Any]], flat: set[str]) -> str:
        kept = [(f, v) for f, v in pairs if f != field]
        return json.dumps(_nested([*kept, (field, value)], flat - {field}))

    return flaw


def _flat_and_nested(pairs: list[tuple[str, Any]], flat: set[str]) -> str:
    doc = _nested(pairs, flat - {"source.ip"})
    doc.setdefault("source", {})["ip"] = "198.51.100.7"
    doc["source.ip"] = "198.51.100.7"  # the same value twice: one path is not stored
    return json.dumps(doc)


def _repeated_key(pairs: list[tuple[str, Any]], flat: set[str]) -> str:
    text = json.dumps(_nested(pairs, flat))
    return text[:-1] + ', "@timestamp": "2024-05-21T00:00:00Z"}'


def _timestamp_too(pairs: list[tuple[str, Any]], flat: set[str]) -> str:
    return json.dumps(_nested([*pairs, ("timestamp", "2024-05-20T14:02:11Z")], flat))


def _escaped_colon(pairs: list[tuple[str, Any]], flat: set[str]) -> str:
    kept = [(f, v) for f, v in pairs if f != "message"]
    text = json.dumps(_nested([*kept, ("message", "a:b")], flat - {"message"}))
    return text.replace("a:b", "a\\u003ab")  # json.dumps never escapes ":" itself


_FLAWS: dict[str, Callable[[list[tuple[str, Any]], set[str]], str]] = {
    "unread key": _unread_key,
    "null": _replace("host.name", None),
    "empty text": _replace("host.name", ""),
    "dash": _replace("user_agent.original", "-"),
    "padded keyword": _replace("host.name", " web-1"),
    "bad address": _replace("source.ip", "999.1.1.1"),
    "address with zone": _replace("source.ip", "fe80::1%eth0"),
    "bracketed address": _replace("destination.ip", "[2001:db8::2]"),
    "bad time": _replace("@timestamp", "yesterday"),
    "time with offset": _replace("@timestamp", "2024-05-20T16:02:11+02:00"),
    "nanoseconds": _replace("@timestamp", "2024-05-20T14:02:11.123456789Z"),
    "epoch time": _replace("@timestamp", 1716213731),
    "kind outside ECS": _replace("event.kind", "nonsense"),
    "kind in capitals": _replace("event.kind", "Alert"),
    "outcome synonym": _replace("event.outcome", "succeeded"),
    "transport number": _replace("network.transport", "6"),
    "two categories": _replace("event.category", ["web", "network"]),
    "two addresses": _replace("destination.ip", ["192.0.2.1", "192.0.2.2"]),
    "object value": _replace("url.original", {"full": "/a"}),
    "text like an array": _replace("message", "[1, 2]"),
    "text like an object": _replace("message", '{"a": 1}'),
    "fraction in a count": _replace("http.response.body.bytes", 1.5),
    "port zero": _replace("source.port", 0),
    "leading zero": _replace("http.response.status_code", "0200"),
    "empty tag": _replace("tags", ["a", ""]),
    "spaced tags": _replace("tags", "a, b"),
    "nested tags": _replace("tags", [["a"]]),
    "flat and nested": _flat_and_nested,
    "repeated key": _repeated_key,
    "second time key": _timestamp_too,
    "escaped colon": _escaped_colon,
}


def _corpus(seed: int, clean: int) -> tuple[list[str], list[str], list[str]]:
    """Clean documents, then each flaw applied to clean documents; with their labels."""
    rng = np.random.default_rng(seed)
    docs, labels = [], []
    for _ in range(clean):
        pairs, flat = _clean_doc(rng)
        docs.append(_dumps(_nested(pairs, flat), rng))
        labels.append("clean")
    for name, flaw in _FLAWS.items():
        for _ in range(4):
            pairs, flat = _clean_doc(rng)
            docs.append(flaw(pairs, flat))
            labels.append(name)
    order = rng.permutation(len(docs))
    shuffled = [docs[i] for i in order]
    clean_docs = [d for d, lab in zip(docs, labels, strict=True) if lab == "clean"]
    return shuffled, [labels[i] for i in order], clean_docs


def _pairs_hook(pairs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    return pairs  # keeps repeated keys, which a dict would fold


def _leaves(node: list[tuple[str, Any]], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for key, value in node:
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, list) and value and all(isinstance(p, tuple) for p in value):
            out += _leaves(value, path)  # an object (as pairs)
        elif value == []:
            out.append((path, value))  # an empty array (an empty object has no leaf)
        else:
            out.append((path, value))
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _unheld(record: str, row: dict[str, Any]) -> list[str]:
    """What of ``record`` the row does not hold (the oracle; empty: the row holds it all)."""
    problems = []
    claimed: set[str] = set()
    extras = extra(row)
    for path, value in _leaves(json.loads(record, object_pairs_hook=_pairs_hook)):
        target = "@timestamp" if path in ("timestamp", "utc_time") else path
        if target in claimed:
            problems.append(f"{path}: a second value for {target}")
            continue
        claimed.add(target)
        if isinstance(value, list) and target != "tags":
            if len(value) != 1:
                problems.append(f"{path}: {len(value)} values")
                continue
            value = value[0]
        if value is None or (isinstance(value, list) and value and isinstance(value[0], tuple)):
            problems.append(f"{path}: {value!r} is not a value a column holds")
            continue
        if target in _ECS_EXTRA:
            if extras.get(target) != _text(value):
                problems.append(f"{path}: extra has {extras.get(target)!r}")
            continue
        if target not in FIELD_BY_NAME or target not in mappable_fields():
            problems.append(f"{path}: no column")
            continue
        column, kind = row[target], FIELD_BY_NAME[target].kind.value
        if kind == "date":
            written = isinstance(value, str) and re.fullmatch(
                r"[\d-]+T[\d:]+(\.\d{1,6})?(Z|\+00:00)", value
            )
            if not written or column != datetime.fromisoformat(value):
                problems.append(f"{path}: {value!r} came back as {column!r}")
        elif kind == "long":
            if isinstance(value, float) or _text(value) != _text(column):
                problems.append(f"{path}: {value!r} came back as {column!r}")
        elif kind == "keyword_list":
            texts = [_text(v) for v in value] if isinstance(value, list) else None
            expected = texts if texts is not None else _text(value).split(",")
            if column != expected or "" in expected:
                problems.append(f"{path}: {value!r} came back as {column!r}")
        elif column != _text(value):
            problems.append(f"{path}: {value!r} came back as {column!r}")
    return problems


@pytest.mark.parametrize("planned", [True, False], ids=["plan", "full"])
def test_complete_exactly_when_the_columns_hold_the_document(planned: bool) -> None:
    docs, labels, clean = _corpus(seed=11, clean=200)
    ctx = replace(CTX, sample=tuple(clean[:40])) if planned else CTX
    rows = run_parser(ECS, docs, ctx)
    complete = [r["_complete"] for r in rows]
    # By construction: every clean document is complete, every flawed one is not.
    wrong = [
        (lab, d) for d, lab, c in zip(docs, labels, complete, strict=True) if c != (lab == "clean")
    ]
    assert not wrong, wrong[:5]
    assert complete.count(True) == 200 and len(complete) - 200 == 4 * len(_FLAWS)
    # The oracle: a complete record's columns hold every value of the document as written.
    for doc, row, is_complete in zip(docs, rows, complete, strict=True):
        if is_complete:
            assert _unheld(doc, row) == [], doc


def test_the_oracle_sees_the_flaws() -> None:
    """The oracle is not vacuous: it finds what each flawed document loses."""
    docs, labels, _ = _corpus(seed=12, clean=0)
    rows = run_parser(ECS, docs, CTX)
    caught: dict[str, int] = defaultdict(int)
    for doc, label, row in zip(docs, labels, rows, strict=True):
        caught[label] += bool(_unheld(doc, row))
    # An escaped colon loses nothing (the text comes back as "a:b"): the parser only cannot
    # count it without parsing, so it keeps the raw text to be safe.
    assert caught == {name: 0 if name == "escaped colon" else 4 for name in _FLAWS}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(_ECS_DOCS, min_size=1, max_size=16))
def test_complete_records_hold_arbitrary_documents(records: list[str]) -> None:
    for row, record in zip(run_parser(ECS, records, CTX), records, strict=True):
        if row["_complete"]:
            assert _unheld(record, row) == [], record


def test_not_complete_kibana_broken_and_empty() -> None:
    records = [*lines("kibana_sample_web_logs.ndjson")[:3], *BROKEN]
    assert [r["_complete"] for r in run_parser(ECS, records, CTX)] == [False] * len(records)


def test_complete_with_and_without_a_plan_on_the_test_files() -> None:
    records = lines("ecs_documents.ndjson")
    planned, full = planned_and_full(ECS, records, records[:2])
    assert [r["_complete"] for r in planned] == [r["_complete"] for r in full]
    # The metadata Filebeat and Elastic Agent add (agent.*, ecs.version) is held in extra:
    # the second and third documents are whole. The first has keys no column holds
    # (user_agent.name, its own event.original); the alert has an epoch time and two
    # categories.
    assert [r["_complete"] for r in full] == [False, True, True, True, False]


_PLAIN = {"@timestamp": "2024-05-20T14:02:11Z", "event": {"dataset": "a.b"}}


@pytest.mark.parametrize(
    ("field", "value", "whole"),
    [
        ("tags", "x,y", True),
        ("message", "{not json", True),
        ("tags", {"a": 1}, False),
        ("message", {"a": 1}, False),
        ("message", '{"a": 1}', False),
        ("event.provider", {"a": 1}, False),
        ("event.provider", '{"a": 1}', False),
        ("user.name", {}, False),
    ],
)
def test_objects_where_values_go_without_any_bracket(field: str, value: Any, whole: bool) -> None:
    """A record with no ``[`` is never looked at for JSON types: objects must still show."""
    doc = json.dumps({**_PLAIN, field: value})
    assert "[" not in doc
    (row,) = run_parser(ECS, [doc], CTX)
    assert row["_complete"] is whole
    assert (_unheld(doc, row) == []) is whole
