"""`loglens templates` (listing and --assign) and `loglens eval templates` through the CLI."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from loglens.cli import cli
from loglens.errors import SourceError

AUTH = Path(__file__).parents[1] / "data" / "syslog" / "auth.log"
LOGHUB = Path(__file__).parents[3] / "shared" / "datasets" / "loghub_2k"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("templates-cli")
    hostile = root / "app.log"
    # A message a spreadsheet would run as a formula, several times so it has a template.
    hostile.write_text(
        "".join(f'=HYPERLINK("http://x/{i}") clicked by user{i}\n' for i in range(3)),
        encoding="utf-8",
    )
    url = f"duckdb:{root / 's.duckdb'}"
    runner = CliRunner()
    for args in (["--year", "2024", str(AUTH)], ["--format", "text", str(hostile)]):
        result = runner.invoke(cli, ["--store", url, "ingest", *args])
        assert result.exit_code == 0, result.output
    return url


def test_list_as_json_table_and_csv(store: str) -> None:
    runner = CliRunner()
    listed = runner.invoke(cli, ["--store", store, "templates", "-o", "json"])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert len(rows) > 10
    assert set(rows[0]) == {"id", "events", "first_seen", "last_seen", "template", "example"}
    counts = [r["events"] for r in rows]
    assert counts == sorted(counts, reverse=True)
    failed = [r for r in rows if r["template"].startswith("Failed password for ")]
    assert failed and "<*>" in failed[0]["template"]
    assert failed[0]["example"].startswith("Failed password for ")

    top = runner.invoke(cli, ["--store", store, "templates", "--top", "3"])
    assert top.exit_code == 0 and top.output.rstrip().endswith("3 template(s)")

    as_csv = runner.invoke(cli, ["--store", store, "templates", "-o", "csv"])
    table = list(csv.DictReader(io.StringIO(as_csv.output)))
    assert len(table) == len(rows)
    formula = [r for r in table if "HYPERLINK" in r["template"]]
    assert formula and all(r["template"].startswith("'=") for r in formula)
    assert all(r["example"].startswith("'=") for r in formula)


def test_new_since(store: str) -> None:
    runner = CliRunner()
    everything = runner.invoke(cli, ["--store", store, "templates", "-o", "json"])
    rows = [json.loads(line) for line in everything.output.splitlines()]
    latest = max(r["first_seen"] for r in rows if r["first_seen"])  # text lines have none
    new = runner.invoke(cli, ["--store", store, "templates", "--new-since", latest, "-o", "json"])
    assert new.exit_code == 0, new.output
    newer = [json.loads(line) for line in new.output.splitlines()]
    assert 0 < len(newer) < len(rows)
    assert all(r["first_seen"] >= latest for r in newer)
    bad = runner.invoke(cli, ["--store", store, "templates", "--new-since", "last week"])
    assert bad.exit_code != 0 and "ISO date" in bad.output


def test_assign_writes_every_line_without_a_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "app.log"
    log.write_text(
        "job 17 done in 3 ms\n\njob 18 done in 5 ms\r\ncache miss for key alpha\n", "utf-8"
    )
    runner = CliRunner()
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli, ["templates", "--assign", str(log), "-o", "csv"])
    assert not (tmp_path / ".loglens").exists()  # the store is not touched
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["line"] for r in rows] == ["1", "2", "3", "4"]
    assert rows[0]["template"] == rows[2]["template"] == "job <*> done in <*>"
    assert rows[0]["template_id"] == rows[2]["template_id"] != rows[3]["template_id"]
    assert rows[1]["template_id"] == "" and rows[1]["template"] == ""  # a blank line

    with_values = runner.invoke(
        cli, ["templates", "--assign", str(log), "--parameters", "-o", "json"]
    )
    first = json.loads(with_values.output.splitlines()[0])
    assert json.loads(first["parameters"]) == ["17", "3 ms"]


def test_assign_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["templates", "--assign", str(tmp_path / "nope.log")])
    assert isinstance(result.exception, SourceError)
    assert "nope.log" in str(result.exception)


def test_eval_templates_on_a_structured_csv(tmp_path: Path) -> None:
    path = tmp_path / "Tiny_2k.log_structured.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["LineId", "Content", "EventId", "EventTemplate"])
        for i in range(6):
            writer.writerow([i, f"Receiving block blk_{i}77 src /10.0.0.{i}", "E1", "x"])
        writer.writerow([7, "Served block to client", "E2", "Served block to client"])
    result = CliRunner().invoke(cli, ["eval", "templates", str(path), "-o", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    (system,) = report["systems"]
    assert system["system"] == "Tiny" and system["lines"] == 7
    assert system["grouping_accuracy"] == 1.0
    assert abs(system["parsing_accuracy"] - 1 / 7) < 1e-9  # only the constant line's text
    table = CliRunner().invoke(cli, ["eval", "templates", str(path)])
    assert "mean over 1 system(s): GA 1.000" in table.output


@pytest.mark.skipif(not LOGHUB.is_dir(), reason="../shared/datasets/loghub_2k not present")
def test_eval_templates_on_loghub() -> None:
    result = CliRunner().invoke(cli, ["eval", "templates", str(LOGHUB), "-o", "json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert len(report["systems"]) >= 10
    assert report["mean_grouping_accuracy"] >= 0.9  # the benchmark measures 0.96
