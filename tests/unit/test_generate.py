"""Tests of the synthetic traffic generator: formats, determinism, incidents, seasonality."""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from loglens.errors import GenerateError
from loglens.sources.generate import (
    FILE_LAYOUT,
    HOST_FROM_PATH,
    INCIDENT_KINDS,
    GenerateResult,
    Incident,
    generate,
    write_web_access,
)

# Thursday: five days cover Thu, Fri, Sat, Sun, Mon
START = datetime(2024, 3, 7, tzinfo=UTC)
DAYS = 5
RATE = 0.25
SEED = 7

APACHE = re.compile(
    r"^(?P<ip>\d{1,3}(?:\.\d{1,3}){3}) - (?P<user>\S+) "
    r"\[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000)\] "
    r'"(?P<method>[A-Z]+) (?P<target>/\S*) (?P<proto>HTTP/\d\.\d)" (?P<status>\d{3}) '
    r'(?P<bytes>\d+|-) "(?P<referer>[^"]*)" "(?P<agent>[^"]*)"$'
)
SYSLOG = re.compile(
    r"^(?P<time>[A-Z][a-z]{2} [ \d]\d \d{2}:\d{2}:\d{2}) (?P<host>[\w-]+) "
    r"(?P<program>[\w-]+)(?:\[(?P<pid>\d+)\])?: (?P<message>.+)$"
)
ZEEK_HEADER = (
    "#separator \\x09",
    "#set_separator\t,",
    "#empty_field\t(empty)",
    "#unset_field\t-",
)
CONN_FIELDS = [
    "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service",
    "duration", "orig_bytes", "resp_bytes", "conn_state", "local_orig", "local_resp",
    "missed_bytes", "history", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes",
    "tunnel_parents",
]  # fmt: skip
DNS_FIELDS = [
    "ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "trans_id", "rtt",
    "query", "qclass", "qclass_name", "qtype", "qtype_name", "rcode", "rcode_name", "AA", "TC",
    "RD", "RA", "Z", "answers", "TTLs", "rejected",
]  # fmt: skip
EVE_KEYS = {
    "timestamp",
    "flow_id",
    "event_type",
    "src_ip",
    "src_port",
    "dest_ip",
    "dest_port",
    "proto",
    "alert",
}
ALERT_KEYS = {"action", "gid", "signature_id", "rev", "signature", "category", "severity"}
DATASETS = {"apache.access", "system.auth", "zeek.conn", "zeek.dns", "suricata.eve"}


# --- readers -----------------------------------------------------------------------------------


def apache_records(path: Path) -> list[dict[str, Any]]:
    records = []
    for line in path.read_text().splitlines():
        match = APACHE.match(line)
        assert match, f"not an Apache combined line: {line!r}"
        record: dict[str, Any] = match.groupdict()
        record["ts"] = datetime.strptime(record["time"], "%d/%b/%Y:%H:%M:%S %z")
        records.append(record)
    return records


def syslog_records(path: Path, year: int) -> list[dict[str, Any]]:
    records = []
    for line in path.read_text().splitlines():
        match = SYSLOG.match(line)
        assert match, f"not an RFC 3164 line: {line!r}"
        record: dict[str, Any] = match.groupdict()
        moment = datetime.strptime(f"{year} {record['time']}", "%Y %b %d %H:%M:%S")
        record["ts"] = moment.replace(tzinfo=UTC)
        records.append(record)
    return records


def zeek_records(path: Path, log: str, fields: list[str]) -> list[dict[str, Any]]:
    lines = path.read_text().split("\n")
    assert lines[-1] == ""
    assert tuple(lines[:4]) == ZEEK_HEADER
    assert lines[4] == f"#path\t{log}"
    assert re.fullmatch(r"#open\t\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}", lines[5])
    assert lines[6].split("\t") == ["#fields", *fields]
    types = lines[7].split("\t")
    assert types[0] == "#types" and len(types) == len(fields) + 1
    assert re.fullmatch(r"#close\t\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}", lines[-2])
    records = []
    for row in lines[8:-2]:
        values = row.split("\t")
        assert len(values) == len(fields), f"wrong column count: {row!r}"
        assert "" not in values, f"empty field instead of '-': {row!r}"
        record: dict[str, Any] = dict(zip(fields, values, strict=True))
        assert re.fullmatch(r"\d{10}\.\d{6}", record["ts"])
        record["ts"] = datetime.fromtimestamp(float(record["ts"]), UTC)
        records.append(record)
    return records


def eve_records(path: Path) -> list[dict[str, Any]]:
    records = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        assert set(record) >= EVE_KEYS, line
        assert set(record["alert"]) >= ALERT_KEYS, line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+0000", record["timestamp"])
        record["ts"] = datetime.strptime(record["timestamp"], "%Y-%m-%dT%H:%M:%S.%f%z")
        records.append(record)
    return records


class Logs:
    """All generated files of one run, parsed."""

    def __init__(self, result: GenerateResult) -> None:
        root = result.out_dir
        self.result = result
        self.web = apache_records(root / "web" / "web01" / "access.log")
        self.auth = syslog_records(root / "auth" / "auth.log", result.start.year)
        self.conn = zeek_records(root / "zeek" / "conn.log", "conn", CONN_FIELDS)
        self.dns = zeek_records(root / "zeek" / "dns.log", "dns", DNS_FIELDS)
        self.eve = eve_records(root / "suricata" / "eve.json")
        self.labels = json.loads((root / "labels.json").read_text())

    def incident(self, kind: str) -> Incident:
        return next(i for i in self.result.incidents if i.kind == kind)


def inside(record: dict[str, Any], incident: Incident) -> bool:
    return bool(incident.start <= record["ts"] < incident.end)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> GenerateResult:
    out = tmp_path_factory.mktemp("generated")
    return generate(out, days=DAYS, seed=SEED, rate=RATE, start=START)


@pytest.fixture(scope="module")
def logs(run: GenerateResult) -> Logs:
    return Logs(run)


# --- result, determinism -------------------------------------------------------------------------


def test_result_describes_the_files(run: GenerateResult, logs: Logs) -> None:
    assert run.start == START and run.end == START + timedelta(days=DAYS)
    counts = {f.dataset: f.events for f in run.files}
    assert set(counts) == DATASETS
    assert counts["apache.access"] == len(logs.web)
    assert counts["system.auth"] == len(logs.auth)
    assert counts["zeek.conn"] == len(logs.conn)
    assert counts["zeek.dns"] == len(logs.dns)
    assert counts["suricata.eve"] == len(logs.eve)
    assert run.total_events == sum(counts.values())
    assert all(f.path.is_file() and f.path.is_relative_to(run.out_dir) for f in run.files)


def _contents(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_arguments_give_identical_bytes(run: GenerateResult, tmp_path: Path) -> None:
    again = generate(tmp_path, days=DAYS, seed=SEED, rate=RATE, start=START)
    first, second = _contents(run.out_dir), _contents(again.out_dir)
    assert set(first) == {
        "web/web01/access.log",
        "auth/auth.log",
        "zeek/conn.log",
        "zeek/dns.log",
        "suricata/eve.json",
        "labels.json",
    }
    assert first == second


def test_another_seed_gives_other_bytes(tmp_path: Path) -> None:
    a = generate(tmp_path / "a", days=1, seed=1, rate=0.1, start=START, incidents=[])
    b = generate(tmp_path / "b", days=1, seed=2, rate=0.1, start=START, incidents=[])
    for fa, fb in zip(a.files, b.files, strict=True):
        assert fa.path.read_bytes() != fb.path.read_bytes(), fa.dataset


# --- formats --------------------------------------------------------------------------------------


def test_every_file_is_in_time_order_and_inside_the_period(logs: Logs) -> None:
    for name in ("web", "auth", "conn", "dns", "eve"):
        times = [r["ts"] for r in getattr(logs, name)]
        assert times, name
        assert times == sorted(times), name
        assert times[0] >= START and times[-1] < logs.result.end, name


def test_web_log_looks_like_a_real_site(logs: Logs) -> None:
    status = Counter(r["status"] for r in logs.web)
    total = len(logs.web)
    assert (status["200"] + status["304"]) / total > 0.85
    assert status["301"] and status["404"]
    assert all(r["bytes"] == "-" for r in logs.web if r["status"] == "304")
    methods = {r["method"] for r in logs.web}
    assert {"GET", "POST"} <= methods
    targets = {r["target"] for r in logs.web}
    assert any(t.startswith("/static/") for t in targets)
    assert any(t.startswith("/api/") for t in targets)
    assert any("Googlebot" in r["agent"] for r in logs.web)
    clients = {r["ip"] for r in logs.web}
    internal = {c for c in clients if c.startswith("10.")}
    assert internal and len(clients - internal) > 10 * len(internal)
    assert not any(re.match(r"(192\.168|172\.(1[6-9]|2\d|3[01]))\.", c) for c in clients)


def test_auth_log_has_the_usual_programs(logs: Logs) -> None:
    programs = Counter(r["program"] for r in logs.auth)
    assert {"sshd", "sudo", "CRON", "systemd-logind"} <= set(programs)
    messages = [r["message"] for r in logs.auth]
    assert any(
        re.match(r"Accepted (publickey|password) for \w+ from [\d.]+ port \d+ ssh2", m)
        for m in messages
    )
    assert any(
        re.match(r" *\w+ : TTY=pts/\d ; PWD=\S+ ; USER=root ; COMMAND=/", m) for m in messages
    )
    assert any(
        m.startswith("pam_unix(cron:session): session opened for user root(uid=0)")
        for m in messages
    )
    assert any(re.match(r"\(root\) CMD \(.+\)$", m) for m in messages)
    # sudo logs without a pid, sshd with one
    assert all(r["pid"] is None for r in logs.auth if r["program"] == "sudo")
    assert all(r["pid"] for r in logs.auth if r["program"] == "sshd")


def test_auth_log_mtime_is_the_end_of_the_period(run: GenerateResult) -> None:
    mtime = os.stat(run.out_dir / "auth" / "auth.log").st_mtime
    assert mtime == run.end.timestamp()


def test_zeek_conn_services_ports_and_unset_fields(logs: Logs) -> None:
    by_service = Counter((r["proto"], r["service"], r["id.resp_p"]) for r in logs.conn)
    for expected in [
        ("udp", "dns", "53"),
        ("udp", "dhcp", "67"),
        ("tcp", "http", "80"),
        ("tcp", "ssl", "443"),
        ("tcp", "ssh", "22"),
        ("tcp", "smtp", "25"),
        ("udp", "ntp", "123"),
    ]:
        assert by_service[expected] > 0, expected
    s0 = [r for r in logs.conn if r["conn_state"] == "S0"]
    assert s0 and all(r["duration"] == r["orig_bytes"] == "-" for r in s0)
    for r in logs.conn:
        assert r["local_orig"] == ("T" if r["id.orig_h"].startswith("10.") else "F")
        assert r["missed_bytes"] == "0"
        if r["orig_bytes"] != "-":
            assert int(r["orig_ip_bytes"]) >= int(r["orig_bytes"])


def test_zeek_dns_rows_match_their_conn_rows(logs: Logs) -> None:
    conn_uids = {r["uid"]: r for r in logs.conn}
    for r in logs.dns[:500]:
        twin = conn_uids[r["uid"]]
        assert (twin["service"], twin["id.orig_h"], twin["ts"]) == ("dns", r["id.orig_h"], r["ts"])
    rcodes = Counter(r["rcode_name"] for r in logs.dns)
    assert rcodes["NOERROR"] > rcodes["NXDOMAIN"] > 0
    assert {"A", "AAAA", "PTR"} <= {r["qtype_name"] for r in logs.dns}
    # multi-label public suffixes exercise registered-domain extraction
    queries = {r["query"] for r in logs.dns}
    assert any(q.endswith(".co.uk") for q in queries)
    assert any(q.endswith(".com.au") for q in queries)


# --- labels ---------------------------------------------------------------------------------------


def test_labels_schema_and_windows(logs: Logs, run: GenerateResult) -> None:
    generator = logs.labels["generator"]
    assert generator == {
        "version": 1,
        "days": DAYS,
        "seed": SEED,
        "rate": RATE,
        "start": "2024-03-07T00:00:00Z",
        "end": "2024-03-12T00:00:00Z",
    }
    labelled = logs.labels["incidents"]
    assert sorted(i["kind"] for i in labelled) == sorted(INCIDENT_KINDS)
    assert [i["id"] for i in labelled] == [f"inc-{n:02d}" for n in range(1, 8)]
    assert labelled == [i.to_json() for i in run.incidents]
    previous_end = START + timedelta(days=1)  # the first day is a clean baseline
    for item in labelled:
        assert set(item) == {"id", "kind", "start", "end", "entities", "datasets", "description"}
        start = datetime.fromisoformat(item["start"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(item["end"].replace("Z", "+00:00"))
        assert item["start"].endswith("Z") and item["end"].endswith("Z")
        assert previous_end <= start < end <= run.end, item
        previous_end = end
        assert item["datasets"] and set(item["datasets"]) <= DATASETS
        assert item["entities"] and all(
            re.fullmatch(r"[a-z_]+(\.[a-z_]+)+", key)
            and values
            and all(isinstance(v, str) for v in values)
            for key, values in item["entities"].items()
        )
        assert len(item["description"]) > 30 and item["description"].endswith(".")


def test_alerting_incidents_have_alerts_in_their_window(logs: Logs, run: GenerateResult) -> None:
    for incident in run.incidents:
        if "suricata.eve" not in incident.datasets:
            continue
        sources = set(incident.entities["source.ip"])
        hits = [e for e in logs.eve if inside(e, incident) and e["src_ip"] in sources]
        assert hits, incident.kind


# --- incidents are visible ------------------------------------------------------------------------


def test_port_scan_hits_hundreds_of_ports(logs: Logs) -> None:
    incident = logs.incident("port_scan")
    scanner = incident.entities["source.ip"][0]
    rows = [r for r in logs.conn if r["id.orig_h"] == scanner]
    during = {(r["id.resp_h"], r["id.resp_p"]) for r in rows if inside(r, incident)}
    outside = {r["id.resp_p"] for r in rows if not inside(r, incident)}
    assert len({port for _, port in during}) >= 100
    assert len(outside) < 20  # an internal scanner also has its usual dozen services
    ports_per_host = Counter(host for host, _ in during)
    assert {h for h, n in ports_per_host.items() if n >= 100} == set(
        incident.entities["destination.ip"]
    )
    states = Counter(r["conn_state"] for r in rows if inside(r, incident))
    assert states["REJ"] + states["S0"] > 0.9 * sum(states.values())
    scans = [e for e in logs.eve if e["src_ip"] == scanner and "ET SCAN" in e["alert"]["signature"]]
    assert scans and all(inside(e, incident) for e in scans)


def test_ssh_brute_force_is_hundreds_of_failures(logs: Logs) -> None:
    incident = logs.incident("ssh_brute_force")
    attacker = incident.entities["source.ip"][0]
    failed = re.compile(rf"^Failed password for .+ from {re.escape(attacker)} port \d+ ssh2$")
    failures = [r for r in logs.auth if failed.match(r["message"])]
    assert sum(inside(r, incident) for r in failures) >= 100
    assert all(inside(r, incident) for r in failures)
    assert any(r["message"].startswith("Invalid user ") for r in logs.auth if inside(r, incident))
    ssh = [r for r in logs.conn if r["id.orig_h"] == attacker and inside(r, incident)]
    assert len(ssh) >= 50 and {r["id.resp_p"] for r in ssh} == {"22"}
    alerts = [e for e in logs.eve if e["src_ip"] == attacker]
    assert alerts and {e["alert"]["signature"] for e in alerts} == {"ET SCAN Potential SSH Scan"}


def test_exfiltration_dwarfs_the_hosts_normal_volume(logs: Logs) -> None:
    incident = logs.incident("exfiltration")
    host, sink = incident.entities["source.ip"][0], incident.entities["destination.ip"][0]
    mine = [r for r in logs.conn if r["id.orig_h"] == host and r["orig_bytes"] != "-"]
    sent = sum(int(r["orig_bytes"]) for r in mine if inside(r, incident))
    assert sent >= 3e8
    assert all(r["id.resp_p"] == "443" for r in mine if r["id.resp_h"] == sink)
    hourly: Counter[datetime] = Counter()
    for r in mine:
        if not inside(r, incident):
            hourly[r["ts"].replace(minute=0, second=0, microsecond=0)] += int(r["orig_bytes"])
    assert max(hourly.values()) * 20 < sent


def test_dns_tunnelling_is_thousands_of_long_queries(logs: Logs) -> None:
    incident = logs.incident("dns_tunnelling")
    host = incident.entities["source.ip"][0]
    domain = incident.entities["dns.question.registered_domain"][0]
    tunnel = [r for r in logs.dns if r["query"].endswith("." + domain)]
    assert len(tunnel) >= 500
    assert all(inside(r, incident) and r["id.orig_h"] == host for r in tunnel)
    assert min(len(r["query"]) for r in tunnel) > 60
    assert Counter(r["qtype_name"] for r in tunnel).most_common(1)[0][0] == "TXT"


def test_web_scan_is_a_404_storm(logs: Logs) -> None:
    incident = logs.incident("web_scan")
    scanner = incident.entities["source.ip"][0]
    requests = [r for r in logs.web if r["ip"] == scanner]
    assert requests and all(inside(r, incident) for r in requests)
    assert len({r["target"] for r in requests}) >= 250
    missing = sum(r["status"] in ("404", "403") for r in requests)
    assert missing > 0.9 * len(requests)
    assert set(incident.entities["url.path"]) <= {r["target"] for r in requests}
    signatures = {e["alert"]["signature"] for e in logs.eve if e["src_ip"] == scanner}
    assert any("Nikto" in s for s in signatures)
    assert any("WEB_SERVER" in s for s in signatures)


def test_outage_is_a_gap_with_traffic_around_it(logs: Logs) -> None:
    incident = logs.incident("outage")
    hour = timedelta(hours=1)
    assert not any(inside(r, incident) for r in logs.web)
    assert any(incident.start - hour <= r["ts"] < incident.start for r in logs.web)
    assert any(incident.end <= r["ts"] < incident.end + hour for r in logs.web)
    assert incident.start.hour >= 9 and incident.end.hour <= 18
    # the network still carries the web server's traffic: only its log is silent
    assert any(inside(r, incident) and r["id.resp_h"] == "10.0.2.10" for r in logs.conn)


def test_the_web_log_lies_in_a_folder_named_after_the_labelled_host(
    run: GenerateResult, logs: Logs
) -> None:
    """Access-log lines do not name their server: the path does, as labels.json names it."""
    web = next(f.path for f in run.files if f.dataset == "apache.access")
    found = re.search(HOST_FROM_PATH, web.as_posix())
    assert found is not None and found.group("host") == "web01"
    assert {k: v["host.name"] for k, v in _labelled_hosts(logs).items()} == {
        "outage": ["web01"],
        "web_scan": ["web01"],
    }
    # Only the web log's path names a host; the others are not misread as one.
    others = [path for dataset, path in FILE_LAYOUT.items() if dataset != "apache.access"]
    assert all(re.search(HOST_FROM_PATH, f"out/{path}") is None for path in others)


def _labelled_hosts(logs: Logs) -> dict[str, dict[str, list[str]]]:
    kinds = ("outage", "web_scan")
    return {i["kind"]: i["entities"] for i in logs.labels["incidents"] if i["kind"] in kinds}


def test_new_event_type_never_appears_before(logs: Logs) -> None:
    incident = logs.incident("new_event_type")
    user = incident.entities["user.name"][0]
    new_programs = [r for r in logs.auth if r["program"] in ("useradd", "usermod", "su")]
    assert new_programs and all(inside(r, incident) for r in new_programs)
    assert any(f"new user: name={user}," in r["message"] for r in new_programs)
    assert any(
        r["program"] == "sudo" and r["message"].lstrip().startswith(f"{user} :")
        for r in logs.auth
        if inside(r, incident)
    )
    irc = [r for r in logs.conn if r["service"] == "irc"]
    assert irc and all(inside(r, incident) and r["id.resp_p"] == "6667" for r in irc)
    assert {r["id.orig_h"] for r in irc} == set(incident.entities["source.ip"])


# --- seasonality ----------------------------------------------------------------------------------


def _incident_hosts(run: GenerateResult) -> set[str]:
    return {v for i in run.incidents for values in i.entities.values() for v in values}


def test_daily_profile_peaks_in_the_afternoon(logs: Logs, run: GenerateResult) -> None:
    weekdays = {
        START.date(),
        (START + timedelta(days=1)).date(),
        (START + timedelta(days=4)).date(),
    }
    excluded = _incident_hosts(run)
    busy = quiet = 0
    for r in logs.web + logs.dns:
        client = r.get("ip") or r["id.orig_h"]
        if r["ts"].date() in weekdays and client not in excluded:
            busy += 14 <= r["ts"].hour < 16
            quiet += 3 <= r["ts"].hour < 5
    assert busy > 3 * quiet


def test_weekends_are_quieter(logs: Logs, run: GenerateResult) -> None:
    excluded = _incident_hosts(run)
    per_day: Counter[int] = Counter()
    for r in logs.dns:
        if r["id.orig_h"] not in excluded:
            per_day[r["ts"].weekday()] += 1
    weekday = (per_day[0] + per_day[3] + per_day[4]) / 3
    weekend = (per_day[5] + per_day[6]) / 2
    assert weekend < 0.5 * weekday


# --- options --------------------------------------------------------------------------------------


def test_default_start_ends_today(tmp_path: Path) -> None:
    result = generate(tmp_path, days=1, rate=0.02, incidents=[])
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    assert result.end in (today, today + timedelta(days=1))  # allow a run across midnight
    assert result.start == result.end - timedelta(days=1) and result.incidents == []


def test_aware_start_in_another_zone_is_converted(tmp_path: Path) -> None:
    start = datetime(2024, 3, 7, 1, tzinfo=timezone(timedelta(hours=1)))
    result = generate(tmp_path, days=1, rate=0.02, start=start, incidents=["port_scan"] * 2)
    assert result.start == START and result.start.tzinfo == UTC
    assert [i.kind for i in result.incidents] == ["port_scan", "port_scan"]


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"days": 0}, "days"),
        ({"days": 367}, "days"),
        ({"days": 2.5}, "days"),
        ({"rate": 0}, "rate"),
        ({"rate": -1.0}, "rate"),
        ({"rate": float("nan")}, "rate"),
        ({"rate": 1000}, "rate"),
        ({"seed": -3}, "seed"),
        ({"start": datetime(2024, 3, 7)}, "start"),
        ({"incidents": ["port_scan", "alien_invasion"]}, "alien_invasion"),
        ({"incidents": "port_scan"}, "incidents"),
        ({"days": 1, "incidents": ["exfiltration"] * 40}, "incident"),
    ],
)
def test_bad_options_raise_generate_error(
    tmp_path: Path, options: dict[str, Any], named: str
) -> None:
    with pytest.raises(GenerateError, match=named):
        generate(tmp_path, **{"start": START, "rate": 0.02, **options})


def test_out_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x")
    with pytest.raises(GenerateError, match="not a directory"):
        generate(target, days=1, start=START, incidents=[])


# --- write_web_access -----------------------------------------------------------------------------


def test_write_web_access_apache(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    assert write_web_access(path, 5000, seed=3, start=START) == 5000
    records = apache_records(path)
    assert len(records) == 5000
    times = [r["ts"] for r in records]
    assert times == sorted(times) and times[0] >= START
    again = tmp_path / "again.log"
    write_web_access(again, 5000, seed=3, start=START)
    assert again.read_bytes() == path.read_bytes()


def test_write_web_access_ecs_json(tmp_path: Path) -> None:
    path = tmp_path / "access.ndjson"
    assert write_web_access(path, 3000, seed=3, fmt="ecs-json", start=START) == 3000
    docs = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(docs) == 3000
    for doc in docs:
        assert doc["event"]["dataset"] == "apache.access"
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", doc["@timestamp"])
        assert re.fullmatch(r"[\d.]+", doc["source"]["ip"])
        assert doc["http"]["request"]["method"] in {"GET", "POST", "HEAD"}
        assert isinstance(doc["http"]["response"]["status_code"], int)
        assert doc["url"]["original"].startswith(doc["url"]["path"])
        assert doc["user_agent"]["original"]
    assert any(d["http"]["response"].get("body", {}).get("bytes", 0) > 0 for d in docs)
    assert any("query" in d["url"] for d in docs)


def test_write_web_access_edge_cases(tmp_path: Path) -> None:
    empty = tmp_path / "empty.log"
    assert write_web_access(empty, 0) == 0
    assert empty.read_bytes() == b""
    with pytest.raises(GenerateError, match="fmt"):
        write_web_access(tmp_path / "x.log", 10, fmt="nginx")
    with pytest.raises(GenerateError, match="n_events"):
        write_web_access(tmp_path / "x.log", -1)
