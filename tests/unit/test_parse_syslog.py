"""Syslog parser: the project's auth.log / rsyslog / RFC 5424 samples, auth message analysis,
header edge cases, failures, year and zone rules, sniffing, fuzzing, and loghub (optional)."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loglens.parse.base import ParseContext
from loglens.parse.syslog import _RULES, SyslogParser
from tests.parser_harness import run_parser, sample

DATA = Path(__file__).resolve().parent.parent / "data" / "syslog"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "datasets"
REFERENCE = datetime(2024, 6, 1, tzinfo=UTC)
PARSER = SyslogParser()
NO_TIMESTAMP = "not a syslog line: no 'Mmm dd HH:MM:SS' or RFC 3339 timestamp at the start"

OTHER_FORMATS = {
    "apache": '203.0.113.9 - - [10/Oct/2023:13:55:36 +0000] "GET /a HTTP/1.1" 200 512 "-" "curl/8"',
    "zeek_tsv": "1603272000.123456\tCHhAvVGS1DHFjwGM9\t10.0.0.5\t49723\t10.0.0.1\t53\tudp\tdns"
    "\t0.001\t40\t56\tSF\t-\t-\t0\tDd\t1\t68\t1\t84\t-",
    "eve": '{"timestamp":"2024-03-11T09:14:33.958203+0000","flow_id":1,"event_type":"flow",'
    '"src_ip":"10.0.0.1","src_port":1,"dest_ip":"10.0.0.2","dest_port":2,"proto":"TCP"}',
    "windows": '{"SourceName":"Microsoft-Windows-Security-Auditing","TimeCreated":'
    '"2020-10-21 12:19:04.411","Hostname":"WS5","EventID":4688,"Channel":"Security"}',
    "json": '{"time":"2024-03-05T06:25:01Z","level":"info","msg":"user login","user":"alice"}',
    "text": "the quick brown fox jumps over the lazy dog",
    "app_log": "2024-03-05 06:25:01,123 INFO [main] org.example.App - started in 2.1 s",
}


def lines_of(name: str) -> list[str]:
    """A sample's lines, split on newlines only (str.splitlines also splits on other controls)."""
    return (DATA / name).read_text(encoding="utf-8").split("\n")[:-1]


def parse(records: list[str], **ctx: Any) -> list[dict[str, Any]]:
    context = ParseContext(source="test.log", reference_time=REFERENCE, **ctx)
    return run_parser(PARSER, records, context)


def one(record: str, **ctx: Any) -> dict[str, Any]:
    return parse([record], **ctx)[0]


def extra(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(row["extra"]) if row["extra"] else {}


def assert_fields(row: dict[str, Any], expected: dict[str, Any]) -> None:
    assert {key: row[key] for key in expected} == expected


@pytest.fixture(scope="module")
def auth() -> list[tuple[str, dict[str, Any]]]:
    records = lines_of("auth.log")
    return list(zip(records, parse(records), strict=True))


def find(rows: list[tuple[str, dict[str, Any]]], text: str) -> dict[str, Any]:
    """The parsed row of the first record containing ``text``."""
    return next(row for record, row in rows if text in record)


# --- auth.log ----------------------------------------------------------------------------------


def test_auth_log_fails_exactly_the_malformed_lines_with_reasons(auth: list[Any]) -> None:
    failed = {number: row["_error"] for number, (_, row) in enumerate(auth, 1) if row["_error"]}
    assert failed == {
        62: NO_TIMESTAMP,
        141: "syslog line has nothing after the timestamp",
        171: NO_TIMESTAMP,
        191: "syslog timestamp 'Mar 10 28:37:36' is not a valid date",
    }
    # a failed record keeps only what the contract allows (its time, when it could be read)
    row = auth[140][1]
    assert row["@timestamp"] == datetime(2024, 3, 10, 8, 20, 40, tzinfo=UTC)
    assert {k for k, v in row.items() if v is not None} == {
        "record_no", "@timestamp", "event.module", "event.dataset", "_error",
    }  # fmt: skip


def test_auth_log_every_parsed_line_is_system_auth_with_host_and_time(auth: list[Any]) -> None:
    parsed = [row for _, row in auth if row["_error"] is None]
    assert len(parsed) == 204
    assert {row["event.dataset"] for row in parsed} == {"system.auth"}
    assert {row["host.name"] for row in parsed} == {"web-01"}
    assert all(row["@timestamp"].year == 2024 for row in parsed)
    assert all(row["event.module"] == "system" and row["event.kind"] == "event" for row in parsed)


def test_auth_log_action_counts(auth: list[Any]) -> None:
    counts = Counter((row["event.action"], row["event.outcome"]) for _, row in auth)
    assert counts[("ssh_login", "success")] == 5
    # 10 invalid users, 10 root lines (one "message repeated"), a 6-account spray, one typo
    assert counts[("ssh_login", "failure")] == 27
    assert counts[("ssh_invalid_user", "failure")] == 10
    assert counts[("ssh_too_many_failures", "failure")] == 3
    assert counts[("ssh_protocol_error", "failure")] == 5
    assert counts[("pam_auth_failure", "failure")] == 25
    assert counts[("sudo", "success")] == 3
    assert counts[("sudo", "failure")] == 2
    assert counts[("su", "success")] == 2
    assert counts[("su", "failure")] == 1
    assert counts[("user_created", "success")] == 1
    assert counts[("group_created", "success")] == 2
    assert counts[("user_deleted", "success")] == 1
    assert counts[("user_added_to_group", "success")] == 1
    assert counts[("password_changed", "success")] == 2
    assert counts[("cron_session_opened", "success")] == counts[("cron_session_closed", "success")]
    # every ssh_login failure names the address it came from
    failures = [r for _, r in auth if r["event.action"] == "ssh_login" and r["event.outcome"]]
    assert all(r["source.ip"] and r["source.port"] and r["user.name"] for r in failures)


def test_accepted_publickey(auth: list[Any]) -> None:
    row = find(auth, "Accepted publickey for alice from 10.20.0.15 port 51514")
    assert_fields(row, {
        "@timestamp": datetime(2024, 3, 9, 23, 28, 24, tzinfo=UTC),
        "event.category": "authentication", "event.type": "start", "event.action": "ssh_login",
        "event.outcome": "success", "user.name": "alice", "source.ip": "10.20.0.15",
        "source.port": 51514, "process.name": "sshd", "process.pid": 20867, "log.level": None,
    })  # fmt: skip
    assert extra(row) == {
        "ssh.method": "publickey",
        "ssh.key_type": "ED25519",
        "ssh.key_fingerprint": "SHA256:q7mJ0mXoY2v8c3kR0xH1wQeW4dVbN9sTzLgP5uA6fYc",
    }
    assert row["message"].startswith("Accepted publickey for alice")


def test_failed_password_for_invalid_user(auth: list[Any]) -> None:
    row = find(auth, "Failed password for invalid user oracle")
    assert_fields(
        row,
        {
            "event.action": "ssh_login",
            "event.outcome": "failure",
            "user.name": "oracle",
        },
    )
    assert (row["source.ip"], row["source.domain"]) == ("203.0.113.45", None)
    assert extra(row) == {"ssh.method": "password", "ssh.invalid_user": True}


def test_brute_force_summaries_have_their_own_action(auth: list[Any]) -> None:
    exceeded = find(auth, "maximum authentication attempts exceeded for root")
    disconnecting = find(auth, "Disconnecting authenticating user root")
    pam_more = find(auth, "PAM 5 more authentication failures")
    for row in (exceeded, disconnecting, pam_more):
        assert (row["event.action"], row["event.outcome"]) == ("ssh_too_many_failures", "failure")
        assert (row["user.name"], row["source.ip"]) == ("root", "198.51.100.23")
    assert exceeded["source.port"] == disconnecting["source.port"] == 48822
    assert extra(pam_more)["pam.more_failures"] == 5
    assert extra(exceeded)["ssh.preauth"] is True


def test_message_repeated_is_analysed_as_its_inner_message(auth: list[Any]) -> None:
    row = find(auth, "message repeated 3 times")
    assert_fields(
        row,
        {
            "event.action": "ssh_login",
            "event.outcome": "failure",
            "user.name": "root",
            "source.ip": "198.51.100.23",
        },
    )
    assert extra(row)["syslog.repeated"] == 3
    assert row["message"].startswith("message repeated 3 times: [ Failed password")


def test_pam_auth_failure_user_is_the_requester_when_pam_names_one(auth: list[Any]) -> None:
    sshd = find(auth, "rhost=198.51.100.23  user=root")
    assert (sshd["event.action"], sshd["user.name"], sshd["source.ip"]) == (
        "pam_auth_failure", "root", "198.51.100.23",
    )  # fmt: skip
    assert extra(sshd) == {
        "pam.module": "pam_unix", "pam.service": "sshd", "pam.type": "auth",
        "pam.user": "root", "pam.tty": "ssh",
    }  # fmt: skip
    su = find(auth, "pam_unix(su:auth): authentication failure")
    assert (su["event.action"], su["user.name"], su["source.ip"]) == (
        "pam_auth_failure",
        "bob",
        None,
    )
    assert extra(su)["pam.user"] == "root"
    assert extra(su)["pam.ruser"] == "bob"


def test_ssh_disconnects_and_protocol_errors(auth: list[Any]) -> None:
    received = find(auth, "Received disconnect from 10.20.0.15 port 51514:11")
    assert_fields(
        received,
        {
            "event.action": "ssh_disconnect",
            "event.outcome": None,
            "source.port": 51514,
        },
    )
    assert extra(received) == {
        "ssh.disconnect_code": 11,
        "ssh.disconnect_reason": "disconnected by user",
    }
    closed = find(auth, "Connection closed by authenticating user www-data")
    assert (closed["user.name"], closed["source.ip"]) == ("www-data", "203.0.113.99")
    negotiate = find(auth, "Unable to negotiate with 192.0.2.80")
    assert (negotiate["event.action"], negotiate["event.category"], negotiate["source.port"]) == (
        "ssh_protocol_error", "network", 41234,
    )  # fmt: skip
    assert extra(negotiate)["ssh.error"].startswith("no matching key exchange method found")
    banner = find(auth, "Bad protocol version identification")
    assert extra(banner)["ssh.client_version"] == "\\026\\003\\001"


def test_sudo_success_and_failures(auth: list[Any]) -> None:
    ok = find(auth, "COMMAND=/usr/bin/apt update")
    assert_fields(ok, {
        "event.action": "sudo", "event.outcome": "success", "event.category": "process",
        "user.name": "alice", "process.command_line": "/usr/bin/apt update", "process.pid": None,
    })  # fmt: skip
    assert extra(ok) == {"sudo.target_user": "root", "sudo.tty": "pts/0", "sudo.pwd": "/home/alice"}
    wrong = find(auth, "3 incorrect password attempts")
    assert (wrong["event.outcome"], wrong["user.name"]) == ("failure", "bob")
    assert extra(wrong)["sudo.reason"] == "3 incorrect password attempts"
    assert wrong["process.command_line"] == "/usr/bin/cat /etc/shadow"
    denied = find(auth, "user NOT in sudoers")
    assert (denied["event.outcome"], denied["user.name"]) == ("failure", "carol")
    session = find(auth, "pam_unix(sudo:session): session opened for user root(uid=0) by alice")
    assert (session["event.action"], session["user.name"]) == ("session_opened", "root")
    assert extra(session) == {
        "pam.module": "pam_unix", "pam.service": "sudo", "pam.type": "session",
        "user.id": "0", "pam.opened_by": "alice", "pam.opened_by_uid": "1000",
    }  # fmt: skip


def test_su(auth: list[Any]) -> None:
    ok = find(auth, "(to postgres) alice on pts/3")
    assert (ok["event.action"], ok["event.outcome"], ok["user.name"]) == ("su", "success", "alice")
    assert extra(ok) == {"su.target_user": "postgres", "su.tty": "pts/3"}
    failed = find(auth, "FAILED SU (to root) bob on pts/1")
    assert (failed["event.outcome"], failed["user.name"]) == ("failure", "bob")


def test_account_management(auth: list[Any]) -> None:
    created = find(auth, "new user: name=backup2")
    assert_fields(
        created,
        {
            "event.action": "user_created",
            "event.category": "iam",
            "event.type": "creation",
            "user.name": "backup2",
        },
    )
    assert extra(created) == {
        "user.id": "1003", "group.id": "1003", "useradd.home": "/home/backup2",
        "useradd.shell": "/bin/bash", "useradd.from": "/dev/pts/4",
    }  # fmt: skip
    group = find(auth, "new group: name=deploy, GID=1004")
    assert (group["event.action"], extra(group)) == (
        "group_created", {"group.name": "deploy", "group.id": "1004"},
    )  # fmt: skip
    assert find(auth, "delete user 'olddev'")["event.type"] == "deletion"
    assert find(auth, "removed group 'olddev' owned")["event.action"] == "group_deleted"
    added = find(auth, "add 'backup2' to group 'sudo'")
    assert (added["event.action"], added["user.name"], extra(added)) == (
        "user_added_to_group", "backup2", {"group.name": "sudo"},
    )  # fmt: skip
    assert find(auth, "add 'backup2' to shadow group")["event.action"] is None  # same change
    passwd = find(auth, "password changed for backup2")
    assert (passwd["event.action"], passwd["user.name"]) == ("password_changed", "backup2")


def test_cron_and_logind_sessions(auth: list[Any]) -> None:
    opened = find(auth, "pam_unix(cron:session): session opened")
    assert_fields(
        opened,
        {
            "event.action": "cron_session_opened",
            "event.category": "session",
            "event.type": "start",
            "user.name": "root",
        },
    )
    new = find(auth, "New session 44 of user bob.")
    assert (new["event.action"], new["user.name"], extra(new)) == (
        "session_started", "bob", {"session.id": "44"},
    )  # fmt: skip
    removed = find(auth, "Removed session 44.")
    assert (removed["event.action"], removed["event.type"]) == ("session_removed", "end")
    other = find(auth, "Session 44 logged out")
    assert other["event.action"] is None and other["_error"] is None


# --- rsyslog high precision (Debian 12) ----------------------------------------------------------


def test_debian12_high_precision_lines() -> None:
    records = lines_of("debian12-syslog.log")
    rows = parse(records)
    assert all(row["_error"] is None for row in rows)
    first = rows[0]
    assert first["@timestamp"] == datetime(2024, 3, 10, 6, 0, 1, 118273, tzinfo=UTC)
    assert_fields(first, {
        "event.action": "cron_command", "event.dataset": "system.syslog", "user.name": "root",
        "process.name": "CRON", "process.pid": 40107, "host.name": "db-02",
        "process.command_line": "   cd / && run-parts --report /etc/cron.hourly",
    })  # fmt: skip
    assert rows[1]["event.dataset"] == "system.auth"  # cron's PAM session
    datasets = Counter(row["event.dataset"] for row in rows)
    assert datasets == {"system.syslog": 17, "system.auth": 19}
    kernel = rows[7]
    assert (kernel["process.name"], kernel["process.pid"], kernel["event.action"]) == (
        "kernel", None, None,
    )  # fmt: skip
    assert kernel["message"].startswith("[2198837.201123] [UFW BLOCK]")
    rsyslogd = next(row for row in rows if row["process.name"] == "rsyslogd")
    assert rsyslogd["message"].startswith('[origin software="rsyslogd"')
    sudo = next(row for row in rows if row["event.action"] == "sudo")
    assert sudo["process.pid"] == 40231
    assert extra(sudo)["sudo.target_user"] == "postgres"


# --- RFC 5424 ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rfc5424() -> list[dict[str, Any]]:
    return parse(lines_of("rfc5424.log"))


def test_rfc5424_failures(rfc5424: list[dict[str, Any]]) -> None:
    failed = {n: row["_error"] for n, row in enumerate(rfc5424, 1) if row["_error"]}
    assert failed == {
        26: "RFC 5424 header has 4 of its 7 fields "
        "(<PRI>VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID)",
        27: "RFC 5424 structured data is neither '-' nor [SD-ID name=\"value\" ...]",
        28: "syslog PRI <200> is out of range 0-191",
        29: "syslog timestamp '2024-02-30T08:54:00Z' is not a valid date",
    }
    assert rfc5424[26]["@timestamp"] == datetime(2024, 3, 10, 8, 52, tzinfo=UTC)


def test_rfc5424_auth_record(rfc5424: list[dict[str, Any]]) -> None:
    row = rfc5424[0]
    assert_fields(row, {
        "@timestamp": datetime(2024, 3, 10, 8, 2, 11, 512934, tzinfo=UTC),
        "event.action": "ssh_login", "event.outcome": "success", "log.level": "info",
        "event.severity": 6, "host.name": "web-01", "process.name": "sshd", "process.pid": 21477,
        "user.name": "bob", "source.ip": "10.20.0.22", "source.port": 50022,
        "event.dataset": "system.auth",
    })  # fmt: skip
    assert extra(row) == {
        "log.syslog.priority": 86,
        "log.syslog.facility.code": 10,
        "log.syslog.facility.name": "authpriv",
        "log.syslog.severity.code": 6,
        "log.syslog.severity.name": "info",
        "log.syslog.version": 1,
        "ssh.method": "password",
    }


def test_rfc5424_structured_data_and_bom(rfc5424: list[dict[str, Any]]) -> None:
    row = rfc5424[9]
    assert row["message"] == "An application event log entry..."  # BOM dropped
    assert (row["host.name"], row["process.name"], row["process.pid"]) == (
        "mymachine.example.com", "evntslog", None,
    )  # fmt: skip
    assert row["log.level"] == "notice"
    fields = extra(row)
    assert fields["log.syslog.msgid"] == "ID47"
    assert fields["log.syslog.facility.name"] == "local4"
    assert fields["syslog.structured_data"] == (
        '[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'
    )
    assert {k: v for k, v in fields.items() if k.startswith("log.syslog.structured_data.")} == {
        "log.syslog.structured_data.exampleSDID@32473.iut": "3",
        "log.syslog.structured_data.exampleSDID@32473.eventSource": "Application",
        "log.syslog.structured_data.exampleSDID@32473.eventID": "1011",
    }
    no_msg = rfc5424[10]
    assert no_msg["message"] is None
    assert extra(no_msg)["log.syslog.structured_data.examplePriority@32473.class"] == "high"


def test_rfc5424_escaped_param_values_and_procid(rfc5424: list[dict[str, Any]]) -> None:
    backup = extra(rfc5424[15])
    assert backup["log.syslog.structured_data.job@32473.name"] == 'nightly "full"'
    assert backup["log.syslog.structured_data.job@32473.path"] == "C:\\backup\\"
    assert backup["log.syslog.structured_data.job@32473.note"] == "closed ]"
    assert rfc5424[15]["message"] == "job finished"
    worker = rfc5424[12]
    assert worker["process.pid"] is None
    assert extra(worker)["log.syslog.procid"] == "worker-3"
    assert extra(worker)["log.syslog.msgid"] == "TXN"
    assert extra(worker)["log.syslog.structured_data.origin.ip"] == "10.20.0.53"


def test_rfc5424_nil_values_ipv6_host_and_offsets(rfc5424: list[dict[str, Any]]) -> None:
    nil = rfc5424[23]
    assert nil["_error"] is None
    assert (nil["@timestamp"], nil["host.name"], nil["process.name"]) == (None, None, None)
    assert nil["message"] == "a record with every header field nil"
    ipv6 = rfc5424[16]
    assert (ipv6["host.name"], ipv6["host.ip"]) == ("2001:db8::15", "2001:db8::15")
    assert rfc5424[11]["@timestamp"] == datetime(2024, 3, 10, 13, 41, 0, 3, tzinfo=UTC)
    assert rfc5424[29]["@timestamp"] == datetime(2024, 3, 10, 7, 55, 0, 500000, tzinfo=UTC)
    kern = rfc5424[7]
    assert (kern["log.level"], extra(kern)["log.syslog.facility.name"]) == ("warning", "kern")


# --- header shapes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pri", "facility", "severity"),
    [(0, "kern", "emerg"), (38, "auth", "info"), (86, "authpriv", "info"), (191, "local7", "debug"),
     (13, "user", "notice"), (27, "daemon", "err"), (74, "cron", "crit"), (44, "syslog", "warning"),
     (97, "ntp", "alert")],
)  # fmt: skip
def test_pri_gives_facility_and_severity(pri: int, facility: str, severity: str) -> None:
    row = one(f"<{pri}>Mar  5 06:25:01 web-01 app[7]: hello")
    assert row["_error"] is None
    assert (row["log.level"], row["event.severity"]) == (severity, pri % 8)
    assert extra(row) == {
        "log.syslog.priority": pri,
        "log.syslog.facility.code": pri // 8,
        "log.syslog.facility.name": facility,
        "log.syslog.severity.code": pri % 8,
        "log.syslog.severity.name": severity,
    }
    expected = "system.auth" if facility in ("auth", "authpriv") else "system.syslog"
    assert row["event.dataset"] == expected


def test_line_without_host() -> None:
    row = one("Mar  5 06:25:01 sshd[12]: error: kex_exchange_identification: banner line too long")
    assert (row["host.name"], row["process.name"], row["process.pid"]) == (None, "sshd", 12)
    assert row["message"] == "error: kex_exchange_identification: banner line too long"
    kernel = one("Mar  5 06:25:01 kernel: usb 1-1: new high-speed USB device")
    assert (kernel["host.name"], kernel["process.name"]) == (None, "kernel")
    assert kernel["message"] == "usb 1-1: new high-speed USB device"


def test_line_without_tag_keeps_the_rest_as_message() -> None:
    mark = one("Mar  5 06:40:01 web-01 -- MARK --")
    assert (mark["_error"], mark["host.name"], mark["process.name"]) == (None, "web-01", None)
    assert mark["message"] == "-- MARK --"
    root = one("Jul  7 08:06:15 combo  -- root[2421]: ROOT LOGIN ON tty2")
    assert (root["host.name"], root["message"]) == ("combo", "-- root[2421]: ROOT LOGIN ON tty2")


def test_tag_shapes() -> None:
    path = one("Mar  5 06:25:01 web-01 /usr/sbin/cron[99]: (root) CMD (run-parts /etc/cron.hourly)")
    assert (path["process.name"], path["process.executable"], path["event.action"]) == (
        "cron", "/usr/sbin/cron", "cron_command",
    )  # fmt: skip
    assert extra(path) == {"log.syslog.appname": "/usr/sbin/cron"}
    redhat = one(
        "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0 "
        "euid=0 tty=NODEVssh ruser= rhost=218.188.2.4 "
    )
    assert (redhat["process.name"], redhat["event.action"], redhat["source.ip"]) == (
        "sshd", "pam_auth_failure", "218.188.2.4",
    )  # fmt: skip
    assert extra(redhat)["pam.module"] == "pam_unix"
    old_su = one(
        "Jun 15 04:06:18 combo su(pam_unix)[21416]: session opened for user news by (uid=0)"
    )
    assert (old_su["event.action"], old_su["user.name"]) == ("session_opened", "news")
    sysklogd = one("Jul  3 04:08:03 combo syslogd 1.4.1: restart.")
    assert (sysklogd["process.name"], sysklogd["message"]) == ("syslogd", "restart.")


def test_pam_rhost_name_goes_to_source_domain() -> None:
    row = one(
        "Jun 15 02:04:59 combo sshd(pam_unix)[20882]: authentication failure; logname= uid=0 "
        "euid=0 tty=NODEVssh ruser= rhost=220-135-151-1.hinet-ip.hinet.net  user=root"
    )
    assert (row["source.ip"], row["source.domain"], row["user.name"]) == (
        None, "220-135-151-1.hinet-ip.hinet.net", "root",
    )  # fmt: skip


def test_reverse_mapping_keeps_address_and_name() -> None:
    row = one(
        "Dec 10 06:55:46 LabSZ sshd[24200]: reverse mapping checking getaddrinfo for "
        "ns.example.com [173.234.31.186] failed - POSSIBLE BREAK-IN ATTEMPT!"
    )
    assert (row["event.action"], row["source.ip"], row["source.domain"]) == (
        "ssh_reverse_mapping_failed", "173.234.31.186", "ns.example.com",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("message", "action", "outcome", "user", "source"),
    [
        ("Invalid user  from 192.0.2.4 port 4711", "ssh_invalid_user", "failure", None,
         "192.0.2.4"),
        ("Received disconnect from 52.80.34.196: 11: Bye Bye [preauth]", "ssh_disconnect", None,
         None, "52.80.34.196"),
        ("Connection closed by 173.234.31.186 [preauth]", "ssh_disconnect", None, None,
         "173.234.31.186"),
        ("Disconnecting: Too many authentication failures for admin [preauth]",
         "ssh_too_many_failures", "failure", "admin", None),
        ("Failed none for invalid user x from 192.0.2.9 port 1022 ssh2", "ssh_login", "failure",
         "x", "192.0.2.9"),
        ("Accepted gssapi-with-mic for carol from 2001:db8::7 port 40022 ssh2", "ssh_login",
         "success", "carol", "2001:db8::7"),
        ("Protocol major versions differ for 192.0.2.5: SSH-2.0-OpenSSH_8.9 vs. SSH-1.5-x",
         "ssh_protocol_error", "failure", None, "192.0.2.5"),
        ("input_userauth_request: invalid user test9 [preauth]", None, None, None, None),
    ],
)  # fmt: skip
def test_sshd_message_shapes(
    message: str, action: str | None, outcome: str | None, user: str | None, source: str | None
) -> None:
    row = one(f"Dec 10 07:07:38 LabSZ sshd[24206]: {message}")
    assert (row["event.action"], row["event.outcome"], row["user.name"], row["source.ip"]) == (
        action, outcome, user, source,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("tag", "message", "action", "outcome", "user", "extras"),
    [
        ("login[811]", "FAILED LOGIN (1) on '/dev/tty2' FOR 'root', Authentication failure",
         "login", "failure", "root",
         {"login.tty": "/dev/tty2", "login.failures": 1, "login.reason": "Authentication failure"}),
        ("login[811]", "ROOT LOGIN  on '/dev/tty1'", "login", "success", "root",
         {"login.tty": "/dev/tty1"}),
        ("su[90]", "Successful su for postgres by root", "su", "success", "root",
         {"su.target_user": "postgres"}),
        ("su[90]", "FAILED su for root by mallory", "su", "failure", "mallory",
         {"su.target_user": "root"}),
        ("su[90]", "+ /dev/pts/0 alice:root", "su", "success", "alice",
         {"su.target_user": "root", "su.tty": "/dev/pts/0"}),
        ("su[90]", "- /dev/pts/0 bob:root", "su", "failure", "bob",
         {"su.target_user": "root", "su.tty": "/dev/pts/0"}),
        ("groupdel[5]", "group 'deploy' removed", "group_deleted", "success", None,
         {"group.name": "deploy"}),
        ("usermod[5]", "change user 'bob' shell from '/bin/sh' to '/bin/bash'", "user_changed",
         "success", "bob", {"usermod.change": "shell from '/bin/sh' to '/bin/bash'"}),
        ("usermod[5]", "lock user 'carol' password", "user_changed", "success", "carol",
         {"usermod.change": "lock password"}),
        ("passwd[5]", "password for 'alice' changed by 'root'", "password_changed", "success",
         "alice", {"passwd.changed_by": "root"}),
        ("sshd[5]", "Address 192.0.2.8 maps to x.example.net, but this does not map back to the "
         "address - POSSIBLE BREAK-IN ATTEMPT!", "ssh_reverse_mapping_failed", None, None, {}),
        ("sshd[5]", "ssh_dispatch_run_fatal: Connection from invalid user x 192.0.2.8 port 1: "
         "message authentication code incorrect [preauth]", "ssh_protocol_error", "failure", "x",
         {"ssh.error": "message authentication code incorrect", "ssh.preauth": True}),
    ],
)  # fmt: skip
def test_other_message_shapes(
    tag: str,
    message: str,
    action: str,
    outcome: str | None,
    user: str | None,
    extras: dict[str, Any],
) -> None:
    row = one(f"Mar  5 06:25:01 web-01 {tag}: {message}")
    assert (row["event.action"], row["event.outcome"], row["user.name"]) == (action, outcome, user)
    assert row["event.dataset"] == "system.auth"
    assert extra(row) == extras


def test_every_rule_is_exercised() -> None:
    records = [
        *lines_of("auth.log"),
        *lines_of("debian12-syslog.log"),
        *lines_of("rfc5424.log"),
        "Dec 10 07:07:38 LabSZ sshd[24206]: Disconnecting: Too many authentication failures",
        "Mar  5 06:25:01 h sshd[5]: Protocol major versions differ for 192.0.2.5",
        "Mar  5 06:25:01 h sshd[5]: Address 192.0.2.8 maps to x.example.net, but this does not "
        "map back to the address",
        "Mar  5 06:25:01 h login[1]: FAILED LOGIN (1) on '/dev/tty2' FOR 'root', x",
        "Mar  5 06:25:01 h login[1]: ROOT LOGIN ON tty1",
        "Mar  5 06:25:01 h su[1]: Successful su for postgres by root",
        "Mar  5 06:25:01 h su[1]: + /dev/pts/0 alice:root",
        "Mar  5 06:25:01 h usermod[1]: change user 'bob' password",
        "Mar  5 06:25:01 h passwd[1]: password for 'alice' changed by 'root'",
        "Mar  5 06:25:01 h sshd[5]: ssh_dispatch_run_fatal: Connection from 192.0.2.8 port 1: x",
    ]
    actions = {row["event.action"] for row in parse(records)}
    assert {rule.action for rule in _RULES} <= actions


def test_other_programs_do_not_trigger_auth_rules() -> None:
    row = one(
        "Mar  5 06:25:01 web-01 myapp[1]: Accepted password for bob from 10.0.0.1 port 22 ssh2"
    )
    assert (row["event.action"], row["event.dataset"], row["user.name"]) == (
        None, "system.syslog", None,
    )  # fmt: skip


def test_multiline_record_keeps_the_newline_in_the_message() -> None:
    row = one("Mar  5 06:25:01 web-01 app[1]: first line\n  second line")
    assert (row["_error"], row["message"]) == (None, "first line\n  second line")


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ("", NO_TIMESTAMP),
        ("hello world", NO_TIMESTAMP),
        ("<13>", NO_TIMESTAMP),
        ("Mar  5 06:25:01", "syslog line has nothing after the timestamp"),
        ("Mar  5 06:25:01   ", "syslog line has nothing after the timestamp"),
        ("<192>Mar  5 06:25:01 h app: x", "syslog PRI <192> is out of range 0-191"),
        ("Feb 29 06:25:01 h app: x", "syslog timestamp 'Feb 29 06:25:01' is not a valid date"),
        ("Foo  5 06:25:01 h app: x", "syslog timestamp 'Foo  5 06:25:01' is not a valid date"),
        ("2024-03-05T25:00:00Z h app: x",
         "syslog timestamp '2024-03-05T25:00:00Z' is not a valid date"),
        ("<13>1 2024-03-05T06:25:01Z  h app - - - x",
         "RFC 5424 header fields must be separated by single spaces"),
        ("<13>1 2024-03-05T06:25:01Z h app - - [a b=c] x",
         "RFC 5424 structured data is neither '-' nor [SD-ID name=\"value\" ...]"),
    ],
)  # fmt: skip
def test_failure_reasons(record: str, reason: str) -> None:
    row = one(record, year=2023)  # 2023: no 29 February
    assert row["_error"] == reason
    kept = {key for key, value in row.items() if value is not None}
    assert kept <= {"record_no", "@timestamp", "event.module", "event.dataset", "_error"}


# --- years and zones -----------------------------------------------------------------------------


def test_year_rule_uses_the_reference_time() -> None:
    january = datetime(2024, 1, 5, 12, 0, tzinfo=UTC)
    context = ParseContext(source="auth.log", reference_time=january)
    rows = run_parser(
        PARSER,
        ["Dec 31 23:59:59 h app: old year", "Jan  5 11:00:00 h app: this year",
         "Jan  6 11:00:00 h app: within a day of the reference"],
        context,
    )  # fmt: skip
    assert [row["@timestamp"] for row in rows] == [
        datetime(2023, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2024, 1, 5, 11, 0, tzinfo=UTC),
        datetime(2024, 1, 6, 11, 0, tzinfo=UTC),
    ]


def test_configured_year_wins() -> None:
    row = one("Dec 31 23:59:59 h app: x", year=2021)
    assert row["@timestamp"] == datetime(2021, 12, 31, 23, 59, 59, tzinfo=UTC)
    leap = one("Feb 29 06:25:01.250 h app: x", year=2024)
    assert leap["@timestamp"] == datetime(2024, 2, 29, 6, 25, 1, 250000, tzinfo=UTC)


def test_timezone_applies_to_zoneless_times_only() -> None:
    rows = parse(
        ["Mar  5 06:25:01 h app: bsd", "2024-03-05T06:25:01.5 h app: iso without offset",
         "2024-03-05T06:25:01+00:00 h app: iso with offset",
         "<13>1 2024-03-05T06:25:01-05:00 h app - - - rfc5424"],
        timezone="Europe/Berlin",
    )  # fmt: skip
    assert [row["@timestamp"] for row in rows] == [
        datetime(2024, 3, 5, 5, 25, 1, tzinfo=UTC),
        datetime(2024, 3, 5, 5, 25, 1, 500000, tzinfo=UTC),
        datetime(2024, 3, 5, 6, 25, 1, tzinfo=UTC),
        datetime(2024, 3, 5, 11, 25, 1, tzinfo=UTC),
    ]


# --- sniffing ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["auth.log", "debian12-syslog.log", "rfc5424.log"])
def test_sniff_recognises_the_samples(name: str) -> None:
    assert PARSER.sniff(sample(lines_of(name), name)) >= 0.8


def test_sniff_recognises_a_single_rfc3164_line() -> None:
    line = "Mar  5 06:25:01 web01 sshd[2412]: Failed password for root from 192.0.2.7 port 22"
    assert PARSER.sniff(sample([line] * 5)) == 1.0


@pytest.mark.parametrize("fmt", sorted(OTHER_FORMATS))
def test_sniff_rejects_other_formats(fmt: str) -> None:
    assert PARSER.sniff(sample([OTHER_FORMATS[fmt]] * 10)) < 0.5


def test_sniff_of_nothing_is_zero() -> None:
    assert PARSER.sniff(sample([])) == 0.0


# --- rules and fuzzing ---------------------------------------------------------------------------


@pytest.mark.parametrize("rule", _RULES, ids=lambda rule: rule.action)
def test_rule_templates_name_groups_of_their_pattern(rule: Any) -> None:
    groups = set(re.compile(rule.pattern).groupindex)
    used = set()
    for template in [*rule.fields.values(), rule.outcome_sql or ""]:
        used |= set(re.findall(r"\{(\w+)\}", template))
    # shared field maps may name groups a shape lacks, but every group a rule captures is used
    assert groups <= used, f"captured but unused: {groups - used}"
    assert rule.pattern.startswith("^")  # anchored: a cheap miss on every other message
    assert rule.fields, "a rule that extracts nothing should not capture"


_SEEDS = [
    line for name in ("auth.log", "debian12-syslog.log", "rfc5424.log") for line in lines_of(name)
]


@st.composite
def mutated(draw: st.DrawFn) -> str:
    line = draw(st.sampled_from(_SEEDS))
    start = draw(st.integers(0, len(line)))
    end = draw(st.integers(start, len(line)))
    junk = draw(st.text(alphabet=st.sampled_from('[]<>:"\\= -\n\ufeff0123456789aZ'), max_size=8))
    return line[:start] + junk + line[end:]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(mutated(), st.text(max_size=80)), min_size=1, max_size=25))
def test_never_raises_and_keeps_one_row_per_record(records: list[str]) -> None:
    rows = parse(records)  # run_parser checks one row per record, in order
    for row in rows:
        assert row["event.module"] == "system"
        assert row["_error"] is None or row["_error"] != ""
        if row["_error"] is None:
            assert row["event.dataset"] in ("system.auth", "system.syslog")
            if row["extra"] is not None:
                assert isinstance(json.loads(row["extra"]), dict)


# --- loghub (optional) ---------------------------------------------------------------------------


def _loghub(relative: str) -> list[str]:
    path = SHARED / "loghub_2k" / relative
    if not path.exists():
        pytest.skip(f"shared datasets not available ({relative} under ../shared/datasets)")
    return path.read_text(encoding="utf-8", errors="replace").split("\n")[:-1]


@pytest.mark.shared_data
@pytest.mark.parametrize("relative", ["Linux/Linux_2k.log", "OpenSSH/OpenSSH_2k.log"])
def test_loghub_lines_parse(relative: str) -> None:
    records = _loghub(relative)
    rows = parse(records)
    parsed = sum(row["_error"] is None for row in rows)
    assert parsed >= 0.99 * len(records)


@pytest.mark.shared_data
def test_loghub_openssh_action_coverage() -> None:
    records = _loghub("OpenSSH/OpenSSH_2k.log")
    pairs = list(zip(records, parse(records), strict=True))
    failed_password = [row for record, row in pairs if "Failed password" in record]
    good = [
        row
        for row in failed_password
        if (row["event.action"], row["event.outcome"]) == ("ssh_login", "failure")
        and row["source.ip"]
    ]
    assert len(failed_password) > 100
    assert len(good) >= 0.9 * len(failed_password)
    invalid = [row for record, row in pairs if re.search(r"\bInvalid user \S+ from", record)]
    assert all(row["event.action"] == "ssh_invalid_user" and row["source.ip"] for row in invalid)
    sshd = [row for _, row in pairs if row["process.name"] == "sshd"]
    with_action = sum(row["event.action"] is not None for row in sshd)
    assert with_action >= 0.8 * len(sshd)
