"""WindowsEventParser on OTRF flat exports, Winlogbeat, evtx_dump and Get-WinEvent JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loglens.parse.base import ParseContext
from loglens.parse.json_docs import ENUMERATED
from loglens.parse.windows import EVENTS, WindowsEventParser
from tests.parser_harness import extra, run_parser, sample, utc

DATA = Path(__file__).parent.parent / "data" / "windows"
PARSER = WindowsEventParser()
CTX = ParseContext(source="events.json", reference_time=datetime(2024, 6, 1, tzinfo=UTC))

OTHER_FORMATS = {
    "apache": '127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326 '
    '"http://www.example.com/start.html" "Mozilla/4.08"',
    "syslog": "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8",
    "zeek_tsv": "1692161622.036086\tCmJ5Rv1yJ0c0fVXaDb\t10.0.0.5\t52345\t10.0.0.1\t53\tudp\tdns",
    "eve": '{"timestamp":"2018-03-10T09:12:34.567890+0000","flow_id":1,"event_type":"alert",'
    '"src_ip":"10.0.0.1","src_port":1234,"dest_ip":"10.0.0.2","dest_port":80,"proto":"TCP"}',
    "text": "Starting up the service on port 8080",
    "generic_json": '{"ts": 1716213600.25, "level": "INFO", "msg": "login ok", "user": "alice"}',
    "ecs": '{"@timestamp":"2024-05-20T14:02:11Z","event":{"dataset":"nginx.access"},'
    '"source":{"ip":"198.51.100.77"},"host":{"name":"web-01"}}',
}


def lines(name: str) -> list[str]:
    return [line for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line]


def parse(records: list[str], ctx: ParseContext = CTX) -> list[dict[str, Any]]:
    return run_parser(PARSER, records, ctx)


# --- OTRF flat exports -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def empire() -> list[dict[str, Any]]:
    return parse(lines("otrf_empire_shell_net_local_users.json"))


def test_otrf_logon_takes_target_user_and_loopback_address(empire: list[dict[str, Any]]) -> None:
    row = empire[29]
    assert row["event.code"] == "4624"
    assert row["@timestamp"] == utc(2020, 9, 21, 23, 26, 50, 694000)  # @timestamp, not EventTime
    assert (row["event.module"], row["event.dataset"]) == ("windows", "windows.security")
    assert (row["event.action"], row["event.category"], row["event.type"]) == (
        "logged-in", "authentication", "start",
    )  # fmt: skip
    assert row["event.outcome"] == "success"
    assert (row["user.name"], row["user.domain"]) == ("MORDORDC$", "THESHIRE.LOCAL")
    assert (row["source.ip"], row["source.port"]) == ("::1", 50570)
    assert row["host.name"] == "MORDORDC.theshire.local"  # Hostname, not the collector's "host"
    assert row["log.level"] == "information"
    assert row["tags"] == ["mordorDataset"]
    assert extra(row)["winlog.event_data.LogonType"] == "3"
    assert extra(row)["winlog.record_id"] == "1902004"
    assert row["_error"] is None


def test_otrf_kerberos_and_share_access(empire: list[dict[str, Any]]) -> None:
    kerberos, share = empire[38], empire[40]
    assert kerberos["event.action"] == "kerberos-service-ticket-requested"
    assert kerberos["event.outcome"] == "success"  # Status 0x0
    assert kerberos["user.name"] == "WORKSTATION6$@THESHIRE.LOCAL"
    assert kerberos["source.ip"] == "172.18.39.6"  # ::ffff:172.18.39.6
    assert extra(kerberos)["winlog.event_data.ServiceName"] == "MORDORDC$"
    assert share["event.code"] == "5145"
    assert (share["event.category"], share["event.type"]) == ("network", "access")
    assert share["user.name"] == "WORKSTATION6$"  # the subject: not a logon event
    assert extra(share)["winlog.event_data.ShareName"] == "\\\\*\\IPC$"
    assert extra(share)["winlog.event_data.RelativeTargetName"] == "samr"


def test_otrf_sysmon_network_dns_and_process(empire: list[dict[str, Any]]) -> None:
    network, dns, created = empire[17], empire[18], empire[24]
    assert (network["event.module"], network["event.dataset"]) == (
        "sysmon", "windows.sysmon_operational",
    )  # fmt: skip
    assert network["event.action"] == "network-connection"
    assert (network["source.ip"], network["source.port"]) == ("172.18.39.5", 50661)
    assert (network["destination.ip"], network["destination.port"]) == ("52.114.158.53", 443)
    assert network["network.transport"] == "tcp"
    assert (network["user.name"], network["user.domain"]) == ("SYSTEM", "NT AUTHORITY")
    assert network["source.domain"] is None  # "-"
    assert dns["dns.question.name"] == "v10.events.data.microsoft.com"
    assert (dns["dns.response_code"], dns["network.protocol"]) == ("NOERROR", "dns")
    assert dns["process.name"] == "svchost.exe"
    assert created["event.action"] == "process-created"
    assert created["process.executable"] == "C:\\Windows\\System32\\net.exe"
    assert created["process.command_line"] == '"C:\\windows\\system32\\net.exe" user'
    assert (created["user.name"], created["user.domain"]) == ("pgustavo", "THESHIRE")
    assert extra(created)["process.parent.executable"].endswith("powershell.exe")


def test_otrf_powershell_channels(empire: list[dict[str, Any]]) -> None:
    module_log, pipeline = empire[1], empire[19]
    assert (module_log["event.module"], module_log["event.dataset"]) == (
        "powershell", "windows.powershell_operational",
    )  # fmt: skip
    assert module_log["event.action"] == "pipeline-executed"
    assert module_log["message"].startswith('CommandInvocation(ForEach-Object): "ForEach-Object"')
    assert (module_log["user.name"], module_log["user.domain"]) == ("pgustavo", "THESHIRE")
    assert pipeline["event.dataset"] == "windows.powershell"  # the "Windows PowerShell" channel
    assert pipeline["event.code"] == "800"


def test_otrf_lowercase_channel_and_unknown_channel(empire: list[dict[str, Any]]) -> None:
    assert empire[26]["event.dataset"] == "windows.security"  # Channel "security"
    assert empire[26]["process.pid"] == 5416  # NewProcessId 0x1528
    wmi = empire[32]
    assert wmi["event.dataset"] == "windows.wmi_activity_operational"
    assert wmi["event.action"] is None and wmi["event.code"] == "5857"


def test_otrf_scheduled_task_and_wfp() -> None:
    rows = parse(lines("otrf_schtask_create.json"))
    task = rows[30]
    assert task["event.code"] == "4698"
    assert (task["event.action"], task["event.category"], task["event.type"]) == (
        "scheduled-task-created", "configuration", "creation",
    )  # fmt: skip
    assert (task["user.name"], task["user.domain"]) == ("pgustavo", "THESHIRE")
    assert extra(task)["winlog.event_data.TaskName"] == (
        "\\Microsoft\\Windows\\SoftwareProtectionPlatform\\EventCacheManager"
    )
    bind = rows[0]
    assert bind["event.action"] == "wfp-bind-permitted"
    assert bind["source.ip"] is None  # 0.0.0.0: any interface, no address
    assert (bind["source.port"], bind["network.transport"]) == (56581, "tcp")
    assert bind["process.pid"] == 3108
    assert rows[32]["event.dataset"] == "windows.taskscheduler_operational"


def test_otrf_lsass_dump_records() -> None:
    rows = parse(lines("otrf_psh_lsass_memory_dump_comsvcs.json"))
    created = rows[10]
    assert created["@timestamp"] == utc(2020, 10, 18, 7, 50, 5, 910000)  # TimeCreated, no offset
    assert created["process.command_line"].endswith("comsvcs.dll MiniDump 756 "
                                                   "C:\\Users\\wardog\\AppData\\Local\\Temp\\"
                                                   "lsass-comsvcs.dmp full")  # fmt: skip
    assert created["process.pid"] == 4824  # 0x12d8
    assert extra(created)["process.parent.pid"] == 6100  # the creator's ProcessId 0x17d4
    wfp = rows[11]
    assert (wfp["source.ip"], wfp["destination.ip"], wfp["destination.port"]) == (
        "192.168.2.5", "168.63.129.16", 80,
    )  # fmt: skip
    assert wfp["process.pid"] == 3428  # WFP spells it ProcessID
    assert rows[13]["event.action"] == "audit-log-cleared"


@pytest.mark.parametrize(
    "name",
    ["otrf_empire_shell_net_local_users.json", "otrf_schtask_create.json",
     "otrf_psh_lsass_memory_dump_comsvcs.json", "winlogbeat_security_sysmon.ndjson",
     "evtx_dump_fs01.jsonl"],
)  # fmt: skip
def test_every_sample_record_parses(name: str) -> None:
    rows = parse(lines(name))
    assert all(r["_error"] is None for r in rows)
    assert all(r["@timestamp"] is not None and r["event.code"] for r in rows)
    assert all(r["event.dataset"].startswith("windows.") for r in rows)
    assert all(r["host.name"] for r in rows)


# --- Winlogbeat, evtx_dump, Get-WinEvent ------------------------------------------------------


@pytest.fixture(scope="module")
def winlogbeat() -> list[dict[str, Any]]:
    return parse(lines("winlogbeat_security_sysmon.ndjson"))


def test_winlogbeat_failed_logon(winlogbeat: list[dict[str, Any]]) -> None:
    row = winlogbeat[0]
    assert row["@timestamp"] == utc(2024, 3, 4, 9, 15, 22, 123000)
    assert (row["event.code"], row["event.action"], row["event.outcome"]) == (
        "4625", "logon-failed", "failure",
    )  # fmt: skip
    assert (row["user.name"], row["user.domain"]) == ("administrator", "CORP")
    assert (row["source.ip"], row["source.port"], row["source.domain"]) == (
        "203.0.113.50", 49832, "KALI",
    )  # fmt: skip
    assert row["host.name"] == "DC01.corp.example"
    assert extra(row)["winlog.event_data.SubStatus"] == "0xc000006a"


def test_winlogbeat_kerberos_status_and_account_creation(winlogbeat: list[dict[str, Any]]) -> None:
    created, tgt = winlogbeat[2], winlogbeat[3]
    assert created["event.action"] == "added-user-account"
    assert created["user.name"] == "alice"  # who created it; the new account is in extra
    assert extra(created)["winlog.event_data.TargetUserName"] == "svc_backup2"
    assert (tgt["event.action"], tgt["event.outcome"]) == ("kerberos-tgt-requested", "failure")
    assert (tgt["user.name"], tgt["source.ip"]) == ("bob", "10.20.1.77")


def test_winlogbeat_sysmon_reads_ecs_fields(winlogbeat: list[dict[str, Any]]) -> None:
    created, connection, dns = winlogbeat[4], winlogbeat[5], winlogbeat[6]
    assert created["process.executable"].endswith("\\powershell.exe")
    assert created["process.pid"] == 6120
    assert created["process.command_line"].startswith("powershell.exe -nop -w hidden -enc")
    assert created["rule.name"] == "technique_id=T1059.001,technique_name=PowerShell"
    assert extra(created)["process.parent.executable"].endswith("WINWORD.EXE")
    assert extra(created)["process.parent.pid"] == 4388
    assert (connection["destination.ip"], connection["destination.port"]) == ("198.51.100.23", 443)
    assert connection["network.transport"] == "tcp"
    assert dns["dns.question.name"] == "cdn.update-check.example"


def test_winlogbeat_script_block_and_service(winlogbeat: list[dict[str, Any]]) -> None:
    script, service = winlogbeat[7], winlogbeat[8]
    assert script["event.action"] == "script-block-logged"
    assert script["log.level"] == "warning"
    assert extra(script)["winlog.event_data.ScriptBlockText"].startswith("IEX (New-Object")
    assert (service["event.action"], service["event.dataset"]) == (
        "service-installed", "windows.system",
    )  # fmt: skip
    assert extra(service)["winlog.event_data.ImagePath"] == "%SystemRoot%\\Temp\\svc.exe"


def test_evtx_dump_records() -> None:
    logon, created, service, access, cleared, failed = parse(lines("evtx_dump_fs01.jsonl"))
    assert logon["@timestamp"] == utc(2023, 11, 7, 18, 42, 9, 651832)
    assert (logon["user.name"], logon["source.ip"], logon["source.port"]) == (
        "jsmith", "192.168.56.21", 50331,
    )  # fmt: skip
    assert extra(logon)["winlog.event_data.LogonType"] == "3"
    assert created["process.pid"] == 0x1A3C
    assert created["process.command_line"] == "vssadmin.exe delete shadows /all /quiet"
    assert service["event.code"] == "7045"  # EventID given as {"#text": 7045, ...}
    assert service["user.name"] is None  # AccountName is the service's account
    assert extra(service)["winlog.event_data.AccountName"] == "LocalSystem"
    assert access["process.name"] == "m64.exe"
    assert extra(access)["winlog.event_data.TargetImage"] == "C:\\Windows\\system32\\lsass.exe"
    assert extra(access)["winlog.event_data.GrantedAccess"] == "0x1010"
    assert (cleared["event.action"], cleared["user.name"]) == ("audit-log-cleared", "jsmith")
    assert (failed["event.outcome"], failed["user.name"], failed["source.ip"]) == (
        "failure", "backup", None,
    )  # fmt: skip


def test_get_winevent_json() -> None:
    records = [json.dumps(e) for e in json.loads((DATA / "get_winevent_laptop.json").read_text())]
    logoff, started = parse(records)
    assert logoff["@timestamp"] == utc(2024, 6, 1, 12, 5, 12, 345000)  # /Date(1717243512345)/
    assert (logoff["event.action"], logoff["event.outcome"]) == ("logged-out", "success")
    assert logoff["process.pid"] is None  # ProcessId is the logging process here
    assert logoff["host.name"] == "LAPTOP-7Q2M.home.example"
    assert (started["event.dataset"], started["event.action"]) == (
        "windows.system", "eventlog-started",
    )  # fmt: skip


def test_audit_failure_keyword_and_unlisted_id() -> None:
    records = [
        json.dumps({"EventID": 4656, "Channel": "Security", "Hostname": "h",
                    "TimeCreated": "2024-01-01 00:00:00", "Keywords": "0x8010000000000000"}),
        json.dumps({"EventID": 9999, "Channel": "Security", "Hostname": "h",
                    "TimeCreated": "2024-01-01 00:00:00", "EventType": "AUDIT_SUCCESS"}),
        json.dumps({"EventID": 13, "Channel": "Microsoft-Windows-Sysmon/Operational",
                    "Hostname": "h", "UtcTime": "2024-01-01 10:00:00.5", "EventType": "SetValue",
                    "TargetObject": "HKLM\\Software\\Run\\x"}),
    ]  # fmt: skip
    failed, unlisted, registry = parse(records)
    assert failed["event.outcome"] == "failure"
    assert (unlisted["event.outcome"], unlisted["event.action"]) == ("success", None)
    assert registry["@timestamp"] == utc(2024, 1, 1, 10, 0, 0, 500000)  # UtcTime: UTC
    assert registry["event.outcome"] is None
    assert extra(registry)["winlog.event_data.EventType"] == "SetValue"


# --- failures, time zones, detection -----------------------------------------------------------


def test_broken_records_fail_with_reasons() -> None:
    records = [
        '{"EventID": 4624, "Channel": "Security", "Hostname": "dc1", "TargetUserName": "al',
        "[4624, 4625]",
        '{"Channel": "Security", "Hostname": "dc1"}',
        "not json at all",
        '"a string"',
    ]
    reasons = [r["_error"] for r in parse(records)]
    assert reasons == [
        "invalid JSON: the record looks cut off",
        "not a JSON object (an array)",
        "no Windows event id (EventID, winlog.event_id or Event.System.EventID)",
        "invalid JSON",
        "not a JSON object (a string)",
    ]


def test_timezone_applies_to_local_times_only() -> None:
    ctx = ParseContext(source="x.json", timezone="America/New_York")
    local = lines("otrf_psh_lsass_memory_dump_comsvcs.json")[10]  # TimeCreated, no offset
    zoned = lines("otrf_empire_shell_net_local_users.json")[29]  # @timestamp ...Z
    sysmon = json.dumps({"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational",
                         "Hostname": "h", "UtcTime": "2024-01-01 10:00:00"})  # fmt: skip
    rows = parse([local, zoned, sysmon], ctx)
    assert rows[0]["@timestamp"] == utc(2020, 10, 18, 11, 50, 5, 910000)  # EDT, UTC-4
    assert rows[1]["@timestamp"] == utc(2020, 9, 21, 23, 26, 50, 694000)
    assert rows[2]["@timestamp"] == utc(2024, 1, 1, 10, 0, 0)


@pytest.mark.parametrize(
    "name",
    ["otrf_empire_shell_net_local_users.json", "otrf_schtask_create.json",
     "otrf_psh_lsass_memory_dump_comsvcs.json", "winlogbeat_security_sysmon.ndjson",
     "evtx_dump_fs01.jsonl"],
)  # fmt: skip
def test_sniff_recognises_every_shape(name: str) -> None:
    assert PARSER.sniff(sample(lines(name), name)) >= 0.8


def test_sniff_get_winevent_array_elements() -> None:
    records = [json.dumps(e) for e in json.loads((DATA / "get_winevent_laptop.json").read_text())]
    assert PARSER.sniff(sample(records, "events.json", "json")) >= 0.8


@pytest.mark.parametrize("fmt", sorted(OTHER_FORMATS))
def test_sniff_rejects_other_formats(fmt: str) -> None:
    assert PARSER.sniff(sample([OTHER_FORMATS[fmt]] * 5)) < 0.5


def test_sniff_rejects_azure_linux_syslog() -> None:
    path = DATA.parent / "json" / "otrf_log4shell_auoms_auditd.json"
    records = path.read_text(encoding="utf-8").splitlines()
    assert PARSER.sniff(sample(records, path.name)) < 0.5


def test_event_table_uses_ecs_allowed_values() -> None:
    for events in EVENTS.values():
        for info in events.values():
            assert info.category is None or info.category in ENUMERATED["event.category"]
            assert info.type is None or info.type in ENUMERATED["event.type"]
            assert info.outcome is None or info.outcome in ENUMERATED["event.outcome"]


# --- robustness --------------------------------------------------------------------------------

_KEYS = ["EventID", "Channel", "Hostname", "TimeCreated", "@timestamp", "UtcTime",
         "IpAddress", "IpPort", "ProcessId", "NewProcessId", "User", "TargetUserName",
         "Keywords", "winlog", "Event", "System", "EventData", "event_id", "channel", "#text",
         "Level", "tags"]  # fmt: skip
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
    st.text(max_size=20), st.sampled_from(["-", "", "0x1f", "::ffff:1.2.3.4", "999999", "Security",
                                           "Microsoft-Windows-Sysmon/Operational", "1e400"]),
)  # fmt: skip
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(_KEYS), inner, max_size=4)
    ),
    max_leaves=8,
)
_DOCS = st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=8).map(json.dumps)
_SAMPLE_LINES = lines("otrf_schtask_create.json")[:5] + lines("evtx_dump_fs01.jsonl")[:3]


@st.composite
def _mutated(draw: st.DrawFn) -> str:
    line = draw(st.sampled_from(_SAMPLE_LINES))
    cut = draw(st.integers(0, len(line)))
    return line[:cut] + draw(st.text(max_size=5)) + line[cut + draw(st.integers(0, 5)) :]


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.text(max_size=40), _DOCS, _mutated()), min_size=1, max_size=12))
def test_arbitrary_records_never_raise(records: list[str]) -> None:
    rows = parse(records)
    assert len(rows) == len(records)
    assert all(r["_error"] is not None or r["event.code"] for r in rows)
