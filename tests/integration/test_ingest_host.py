"""The host an input came from (``--host``, ``--host-from-path``) fills ``host.name``."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from loglens.cli import cli, main
from loglens.config import Config, load_config
from loglens.pipeline import IngestReport, Pipeline
from loglens.store import open_store
from loglens.store.base import Query

ACCESS = [
    '10.0.0.5 - - [06/Apr/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 123 "-" "curl/8.5"',
    '10.0.0.6 - - [06/Apr/2026:10:00:01 +0000] "GET /x HTTP/1.1" 404 12 "-" "curl/8.5"',
    "not an access log line",
]
AUTH = [
    "Apr  6 10:00:00 db01 sshd[12]: Accepted password for bob from 10.0.0.9 port 2222 ssh2",
    "Apr  6 10:00:01 db01 sshd[12]: Failed password for bob from 10.0.0.9 port 2222 ssh2",
]
REMOTE = "remote/(?P<host>[^/]+)/"


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _config(store: Path, **overrides: object) -> Config:
    return load_config(
        env={}, overrides={"store.url": f"duckdb:{store}", "ingest.year": 2026, **overrides}
    )


def _ingest(config: Config, *paths: Path) -> IngestReport:
    with Pipeline(config) as pipeline:
        return pipeline.ingest([str(p) for p in paths])


def _rows(config: Config, text: str = "*") -> list[dict[str, object]]:
    fields = ["event.dataset", "event.kind", "host.name", "event.id", "log.file.line"]
    with open_store(config.store.url) as store:
        rows = store.search(Query(text=text, size=None, fields=fields)).to_pylist()
    return sorted(rows, key=lambda r: (str(r["event.dataset"]), int(str(r["log.file.line"]))))


def test_host_option_fills_host_name_of_every_access_line(tmp_path: Path) -> None:
    log = _write(tmp_path / "access.log", ACCESS)
    config = _config(tmp_path / "s.duckdb", **{"ingest.host": "web01"})
    _ingest(config, log)
    rows = _rows(config)
    assert [r["host.name"] for r in rows] == ["web01", "web01", "web01"]
    # A line no parser understood still came from that machine (provenance, like the path).
    assert rows[2]["event.kind"] == "pipeline_error"


def test_host_from_path_and_the_records_own_host_wins(tmp_path: Path) -> None:
    web = _write(tmp_path / "remote" / "web01" / "access.log", ACCESS[:2])
    auth = _write(tmp_path / "remote" / "web01" / "auth.log", AUTH)
    other = _write(tmp_path / "local" / "access.log", ACCESS[:1])
    config = _config(tmp_path / "s.duckdb", **{"ingest.host_from_path": REMOTE})
    report = _ingest(config, web, auth, other)
    assert report.hostless == [str(other)]
    hosts = {(r["event.dataset"], r["host.name"]) for r in _rows(config)}
    # The syslog lines name db01 themselves: the folder's web01 does not overwrite it.
    assert hosts == {("apache.access", "web01"), ("system.auth", "db01"), ("apache.access", None)}


def test_host_from_path_wins_over_host_which_is_the_fallback(tmp_path: Path) -> None:
    web = _write(tmp_path / "remote" / "web02" / "access.log", ACCESS[:1])
    other = _write(tmp_path / "elsewhere" / "access.log", ACCESS[1:2])
    config = _config(
        tmp_path / "s.duckdb", **{"ingest.host_from_path": REMOTE, "ingest.host": "edge01"}
    )
    report = _ingest(config, web, other)
    assert report.hostless == []
    assert [r["host.name"] for r in _rows(config)] == ["web02", "edge01"]


def test_event_ids_with_and_without_a_host(tmp_path: Path) -> None:
    """Ids stay deterministic; a filled-in host is part of what an access-log event says."""
    web = _write(tmp_path / "access.log", ACCESS[:2])
    auth = _write(tmp_path / "auth.log", AUTH)
    plain = _config(tmp_path / "plain.duckdb")
    hosted = _config(tmp_path / "hosted.duckdb", **{"ingest.host": "web01"})
    _ingest(plain, web, auth)
    _ingest(hosted, web, auth)
    ids = {name: [r["event.id"] for r in _rows(c)] for name, c in (("p", plain), ("h", hosted))}
    again = _config(tmp_path / "again.duckdb", **{"ingest.host": "web01"})
    _ingest(again, web, auth)
    assert [r["event.id"] for r in _rows(again)] == ids["h"]  # deterministic
    # Access lines name no host: hashed with the one given, so their ids differ ...
    assert ids["p"][:2] != ids["h"][:2]
    # ... while syslog lines name their own host, and keep their ids.
    assert ids["p"][2:] == ids["h"][2:]
    # Ingesting again without the host stores the access lines once more, the syslog ones not.
    (web_record, auth_record) = _ingest(
        hosted.with_overrides({"ingest.host": ""}), web, auth
    ).inputs
    assert (web_record.parsed, web_record.duplicates) == (2, 0)
    assert (auth_record.parsed, auth_record.duplicates) == (0, 2)


def test_a_given_host_is_pseudonymised_like_a_parsed_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOGLENS_PSEUDONYM_KEY", "k" * 32)
    web = _write(tmp_path / "remote" / "web01" / "access.log", ACCESS[:2])
    auth = _write(tmp_path / "remote" / "web01" / "auth.log", AUTH)
    config = _config(
        tmp_path / "s.duckdb",
        **{"ingest.host_from_path": REMOTE, "pseudonymize.enabled": True},
    )
    _ingest(config, web, auth)
    hosts = {(r["event.dataset"], r["host.name"]) for r in _rows(config)}
    assert len(hosts) == 2
    assert not {h for _, h in hosts} & {"web01", "db01", None}


def test_cli_host_options(tmp_path: Path) -> None:
    web = _write(tmp_path / "remote" / "web01" / "access.log", ACCESS[:2])
    url = f"duckdb:{tmp_path / 's.duckdb'}"
    runner = CliRunner()
    result = runner.invoke(cli, ["--store", url, "ingest", "--host-from-path", REMOTE, str(web)])
    assert result.exit_code == 0, result.output
    assert "no host" not in result.output
    unmatched = runner.invoke(
        cli, ["--store", url, "ingest", "--host-from-path", "nowhere/(?P<host>x)", str(web)]
    )
    assert unmatched.exit_code == 0, unmatched.output
    assert "no host" in unmatched.output and "host_from_path does not match" in unmatched.output
    given = runner.invoke(
        cli, ["--store", f"duckdb:{tmp_path / 'h.duckdb'}", "ingest", "--host", "web07", str(web)]
    )
    assert given.exit_code == 0, given.output
    with open_store(url) as store:
        assert store.count(Query(text="host.name:web01")) == 2
    with open_store(f"duckdb:{tmp_path / 'h.duckdb'}") as store:
        assert store.count(Query(text="host.name:web07")) == 2


@pytest.mark.parametrize(
    ("pattern", "message"),
    [("web(?P<host>\\d+", "not a valid regular expression"), ("web\\d+", "(?P<host>...)")],
)
def test_cli_bad_host_pattern_is_a_message_naming_the_key(
    tmp_path: Path, pattern: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    web = _write(tmp_path / "access.log", ACCESS[:1])
    with pytest.raises(SystemExit) as exited:
        main(["--store", f"duckdb:{tmp_path / 's.duckdb'}", "ingest", "--host-from-path", pattern,
              str(web)])  # fmt: skip
    assert exited.value.code != 0
    err = capsys.readouterr().err
    assert "ingest.host_from_path" in err and message in err and "Traceback" not in err


def test_generate_prints_the_ingest_command_that_names_the_web_server(tmp_path: Path) -> None:
    out = tmp_path / "gen"
    generated = CliRunner().invoke(
        cli, ["generate", "--days", "1", "--seed", "3", "--rate", "0.01", "--out", str(out)]
    )
    assert generated.exit_code == 0, generated.output
    hint = [line for line in generated.output.splitlines() if line.startswith("ingest with: ")]
    assert len(hint) == 1
    command = shlex.split(hint[0].removeprefix("ingest with: "))
    assert command[:3] == ["loglens", "ingest", str(out)]
    store = f"duckdb:{tmp_path / 'store.duckdb'}"
    ingested = CliRunner().invoke(cli, ["--store", store, *command[1:]])
    assert ingested.exit_code == 0, ingested.output
    with open_store(store) as opened:
        web = opened.terms("host.name", Query(text="event.dataset:apache.access"))
    assert [b.value for b in web.buckets] == ["web01"]
