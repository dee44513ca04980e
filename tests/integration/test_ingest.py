"""Ingestion end to end into a real DuckDB file: accounting, idempotency, crash safety."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

import loglens.sources.files as files_module
from loglens.config import Config, load_config
from loglens.errors import StoreError
from loglens.parse.base import ParseContext
from loglens.parse.text import PlainTextParser
from loglens.pipeline import Pipeline
from loglens.schema import PARSE_FAILURE_TAG
from loglens.store import open_store
from loglens.store.base import Query, StagedCounts
from loglens.store.duckdb import DuckDBStore

DATA = Path(__file__).resolve().parents[1] / "data"
APACHE = DATA / "apache" / "access_excerpt.log"
MALFORMED_LINE = 1399  # the cut-off user agent (line 8,899 of the upstream file)


def make_config(tmp_path: Path, **overrides: object) -> Config:
    return load_config(
        env={}, overrides={"store.url": f"duckdb:{tmp_path / 's.duckdb'}", **overrides}
    )


def ingest(config: Config, *paths: Path | str, **kwargs: object) -> list:  # type: ignore[type-arg]
    with Pipeline(config) as pipeline:
        return pipeline.ingest([str(p) for p in paths], **kwargs).inputs  # type: ignore[arg-type]


def test_apache_excerpt_accounting_and_failure_record(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    (record,) = ingest(config, APACHE)
    assert record.format == "apache"
    assert record.records == 1500
    assert (record.parsed, record.failed, record.duplicates, record.blank) == (1499, 1, 0, 0)
    assert record.balanced
    with open_store(config.store.url) as store:
        failures = store.search(Query(text=f"tags:{PARSE_FAILURE_TAG}", fields=None)).to_pylist()
    assert len(failures) == 1
    failure = failures[0]
    assert failure["log.file.line"] == MALFORMED_LINE
    assert failure["event.kind"] == "pipeline_error"
    assert "cut off" in failure["error.message"]
    assert failure["event.original"].startswith("46.118.127.106 - - [20/May/2015:12:05:17")
    assert failure["@timestamp"] is not None  # salvaged for the timeline
    assert failure["source.ip"] is None  # nothing else is trusted from a broken line


def test_raw_text_is_kept_where_the_columns_cannot_hold_it(tmp_path: Path) -> None:
    lines = [
        '10.0.0.1 - - [20/May/2015:12:05:17 +0000] "GET /wp-login.php HTTP/1.1" 404 12 "-" "x"',
        '10.0.0.2 identd bob [20/May/2015:12:05:18 +0000] "GET / HTTP/1.1" 200 5',
        '10.0.0.3 - - [20/May/2015:12:05:19 +0000] "GET / HTTP/1.1" 200 5 "-" "cut off',
    ]
    path = tmp_path / "access.log"
    path.write_text("\n".join(lines) + "\n")
    fields = ["log.file.line", "event.original", "extra", "user.name"]
    for keep, kept_lines in (("auto", {3}), ("failures", {3}), ("all", {1, 2, 3})):
        config = make_config(tmp_path / keep, **{"ingest.keep_original": keep})
        (record,) = ingest(config, path)
        assert (record.parsed, record.failed) == (2, 1)
        with open_store(config.store.url) as store:
            rows = store.search(Query(size=None, fields=fields)).to_pylist()
            # Free text still finds a parsed line whose raw text is not stored.
            assert store.count(Query(text="wp-login")) == 1
        by_line = {r["log.file.line"]: r for r in rows}
        assert {n for n, r in by_line.items() if r["event.original"]} == kept_lines, keep
        assert by_line[2]["user.name"] == "bob"
        assert json.loads(by_line[2]["extra"]) == {"apache.access.ident": "identd"}
        assert by_line[3]["event.original"] == lines[2]


def test_json_documents_keep_their_raw_text_where_the_columns_cannot_hold_it(
    tmp_path: Path,
) -> None:
    doc = DATA / "json" / "ecs_documents.ndjson"
    lines = doc.read_text().splitlines()
    config = make_config(tmp_path)
    (record,) = ingest(config, doc)
    with open_store(config.store.url) as store:
        rows = store.search(Query(size=None, fields=["log.file.line", "event.original"]))
    by_line = {r["log.file.line"]: r["event.original"] for r in rows.to_pylist()}
    assert record.parsed and len(by_line) == record.parsed + record.failed
    # Documents held whole by the columns and extra keep no raw text: two Filebeat-style ones
    # (their agent and ecs keys go to extra) and the flat Zeek document (line 4). The first
    # and the alert carry keys no column reads (user_agent.name, ...): kept raw.
    assert {n for n, raw in by_line.items() if raw is None} == {2, 3, 4}
    assert all(by_line[n] == lines[n - 1] for n in by_line if n not in (2, 3, 4))


def test_a_rotated_copy_in_the_same_run_as_its_original_adds_nothing(tmp_path: Path) -> None:
    # The first input meets an empty store (no duplicate check); the second must still be
    # checked against what the first stored.
    copy = tmp_path / "access.log.1"
    copy.write_bytes(APACHE.read_bytes())
    config = make_config(tmp_path)
    first, second = ingest(config, APACHE, copy)
    assert (first.parsed, first.duplicates) == (1499, 0)
    assert (second.parsed, second.failed, second.duplicates) == (0, 0, 1500)


def test_reingest_adds_nothing_and_counts_duplicates(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    ingest(config, APACHE)
    (again,) = ingest(config, APACHE)
    assert (again.parsed, again.failed, again.duplicates) == (0, 0, 1500)
    assert again.balanced
    with open_store(config.store.url) as store:
        assert store.count(Query()) == 1500


def test_identical_lines_stay_distinct_events(tmp_path: Path) -> None:
    line = '1.2.3.4 - - [17/May/2015:10:05:03 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8"\n'
    path = tmp_path / "dup.log"
    path.write_text(line * 3 + "\n" + line)
    config = make_config(tmp_path)
    (record,) = ingest(config, path)
    assert (record.records, record.parsed, record.blank) == (5, 4, 1)
    # the same file under another name and compressed: the same events
    copy = tmp_path / "rotated.log.1.gz"
    copy.write_bytes(gzip.compress(path.read_bytes()))
    (rotated,) = ingest(config, copy)
    assert (rotated.parsed, rotated.duplicates) == (0, 4)


def test_growing_file_adds_only_the_new_lines(tmp_path: Path) -> None:
    lines = APACHE.read_text().splitlines(keepends=True)
    path = tmp_path / "access.log"
    path.write_text("".join(lines[:500]))
    config = make_config(tmp_path)
    ingest(config, path)
    path.write_text("".join(lines))
    (record,) = ingest(config, path)
    assert (record.duplicates, record.parsed + record.failed) == (500, 1000)


def test_source_key_separates_identical_sources(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    ingest(config, APACHE)
    (other,) = ingest(make_config(tmp_path, **{"ingest.source_key": "web02"}), APACHE)
    assert other.duplicates == 0 and other.parsed == 1499


def test_stdin(tmp_path: Path) -> None:
    config_path = tmp_path / "loglens.toml"
    config_path.write_text(f'[store]\nurl = "duckdb:{tmp_path / "s.duckdb"}"\n')
    result = subprocess.run(
        [sys.executable, "-m", "loglens", "--config", str(config_path), "ingest", "-"],
        input=APACHE.read_bytes()[:20_000],
        capture_output=True,
        check=True,
    )
    out = result.stdout.decode()
    assert "[apache/lines]" in out and " ok" in out


_KILLABLE = r"""
import sys
from loglens.config import load_config
from loglens.pipeline import Pipeline
import loglens.store.duckdb as store_module

original = store_module.DuckDBStore.write_staged
def slow_write(self, sql, **kwargs):
    summary = original(self, sql, **kwargs)
    print("batch", flush=True)
    import time; time.sleep(0.5)
    return summary
store_module.DuckDBStore.write_staged = slow_write
config = load_config(env={}, overrides={"store.url": sys.argv[1], "ingest.batch_lines": 200})
with Pipeline(config) as pipeline:
    pipeline.ingest([sys.argv[2]])
"""


def test_killed_midway_then_rerun_gives_exact_count(tmp_path: Path) -> None:
    store_url = f"duckdb:{tmp_path / 'k.duckdb'}"
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLABLE, store_url, str(APACHE)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    committed = 0
    while committed < 3:
        line = child.stdout.readline()
        assert line, "the child ended before it was killed"
        committed += line.startswith("batch")
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    with open_store(store_url) as store:
        partial = store.count(Query())
    assert 600 <= partial < 1500
    config = load_config(env={}, overrides={"store.url": store_url})
    (record,) = ingest(config, APACHE)
    assert record.duplicates == partial
    with open_store(store_url) as store:
        assert store.count(Query()) == 1500


def test_query_answers_match_an_independent_count(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    ingest(config, APACHE)
    lines = APACHE.read_text().splitlines()
    expected_wp = sum(1 for line in lines if '" 404 ' in line and "wp-login" in line.split('"')[1])
    ips = Counter(line.split(" ", 1)[0] for i, line in enumerate(lines, 1) if i != MALFORMED_LINE)
    with open_store(config.store.url) as store:
        count = store.count(Query("http.response.status_code:404 AND url.path:*wp-login*"))
        terms = store.terms("source.ip", Query(), size=10)
    assert expected_wp > 0  # the excerpt does hold WordPress probes
    assert count == expected_wp
    top = sorted(ips.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [(b.value, b.count) for b in terms.buckets] == top


def test_bad_inputs_give_clear_errors(tmp_path: Path) -> None:
    env = {**os.environ, "LOGLENS_STORE": f"duckdb:{tmp_path / 'e.duckdb'}"}
    missing = subprocess.run(
        [sys.executable, "-m", "loglens", "ingest", str(tmp_path / "nope.log")],
        capture_output=True,
        text=True,
        env=env,
    )
    assert missing.returncode == 2
    assert "no such file or directory" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad_format = subprocess.run(
        [sys.executable, "-m", "loglens", "ingest", "--format", "klingon", str(APACHE)],
        capture_output=True,
        text=True,
        env=env,
    )
    assert bad_format.returncode == 2 and "unknown format 'klingon'" in bad_format.stderr


@pytest.mark.slow
def test_pseudonymised_store_keeps_no_real_addresses(tmp_path: Path) -> None:
    # Keep every raw line, so the scrubbing of free text is checked on all of them.
    config = make_config(tmp_path, **{"pseudonymize.enabled": True, "ingest.keep_original": "all"})
    key = {"LOGLENS_PSEUDONYM_KEY": "a key that is long enough 123"}
    with Pipeline(config, env=key) as pipeline:
        (record,) = pipeline.ingest([str(APACHE)]).inputs
    assert record.parsed == 1499
    real_ips = {line.split(" ", 1)[0] for line in APACHE.read_text().splitlines()}
    with open_store(config.store.url) as store:
        rows = store.search(Query(size=None, fields=["source.ip", "event.original"])).to_pylist()
    stored_ips = {r["source.ip"] for r in rows}
    assert not stored_ips & real_ips
    assert not any(r["event.original"].split(" ", 1)[0] in real_ips for r in rows)
    # one pseudonym per address: distinct clients stay distinct (the failed line has no ip)
    parsed_ips = {
        line.split(" ", 1)[0]
        for i, line in enumerate(APACHE.read_text().splitlines(), 1)
        if i != MALFORMED_LINE
    }
    assert len(stored_ips - {None}) == len(parsed_ips)


def test_addresses_are_canonical_and_classified(tmp_path: Path) -> None:
    docs = [
        ("2001:DB8:0:0::1", "10.0.0.5", "inbound"),
        ("::ffff:10.1.1.1", "8.8.8.8", "outbound"),
        ("10.2.2.2", "fd00::0:1", "internal"),
        ("203.0.113.7", "198.51.100.9", "external"),
    ]
    path = tmp_path / "net.ndjson"
    path.write_text(
        "".join(
            f'{{"@timestamp": "2024-05-01T10:00:0{i}Z", "event": {{"dataset": "fw.log"}}, '
            f'"source": {{"ip": "{src}"}}, "destination": {{"ip": "{dst}"}}}}\n'
            for i, (src, dst, _) in enumerate(docs)
        )
    )
    config = make_config(tmp_path)
    (record,) = ingest(config, path)
    assert record.parsed == 4
    with open_store(config.store.url) as store:
        rows = store.search(
            Query(fields=["source.ip", "destination.ip", "network.direction"], size=None)
        ).to_pylist()
        by_ipv6_query = store.count(Query('source.ip:"2001:db8::1"'))
    assert [r["source.ip"] for r in rows] == ["2001:db8::1", "10.1.1.1", "10.2.2.2", "203.0.113.7"]
    assert rows[2]["destination.ip"] == "fd00::1"
    assert [r["network.direction"] for r in rows] == [d for _, _, d in docs]
    assert by_ipv6_query == 1


def test_generated_folder_skips_its_labels(tmp_path: Path) -> None:
    from loglens.pipeline import LABELS_SKIP_REASON
    from loglens.sources.generate import generate

    generate(tmp_path / "gen", days=1, seed=3, rate=0.05, incidents=["port_scan"])
    config = make_config(tmp_path)
    with Pipeline(config) as pipeline:
        report = pipeline.ingest([str(tmp_path / "gen")])
    assert [s.reason for s in report.skipped if s.display.endswith("labels.json")] == [
        LABELS_SKIP_REASON
    ]
    with open_store(config.store.url) as store:
        assert store.count(Query(text="event.dataset:json.generic")) == 0
    # Named on purpose, the file is read like any other JSON.
    (record,) = ingest(make_config(tmp_path / "named"), tmp_path / "gen" / "labels.json")
    assert record.parsed == 1


@pytest.mark.parametrize("known_new", [True, False])
def test_a_batch_that_repeats_a_record_writes_nothing(tmp_path: Path, known_new: bool) -> None:
    """Counted or not, a SELECT giving more rows than records (a join gone wrong) is refused."""
    with DuckDBStore(str(tmp_path / "s.duckdb")) as store:
        store.con.execute(
            "CREATE TEMP TABLE _rows AS SELECT *, false AS _failed, 1 AS _record_no FROM events"
        )
        for event_id in ("a", "b"):  # two rows for record 1
            store.con.execute(
                'INSERT INTO _rows BY NAME SELECT ? AS "event.id", false AS _failed, '
                "1 AS _record_no",
                [event_id],
            )
        counted = StagedCounts(rows=1, failures=0) if known_new else None
        with pytest.raises(StoreError, match="nothing was written"):
            store.write_staged("SELECT * FROM _rows", known_new=known_new, counted=counted)
        assert store.count(Query()) == 0


class _RepeatingParser(PlainTextParser):
    """A broken parser (a fault no real parser shows on purpose): record 2 twice, record 3
    not at all, so its row count still looks right."""

    def sql(self, ctx: ParseContext) -> str:
        return (
            "SELECT CASE WHEN record_no = 3 THEN 2 ELSE record_no END AS record_no, "
            "raw AS message, CAST(NULL AS VARCHAR) AS _error FROM batch"
        )


@pytest.mark.parametrize("first_load", [True, False])
def test_a_parser_that_repeats_a_record_stores_nothing_of_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first_load: bool
) -> None:
    path = tmp_path / "app.log"
    path.write_text("one\ntwo\nthree\nfour\n")
    config = load_config(env={}, overrides={"store.url": f"duckdb:{tmp_path / 's.duckdb'}"})
    if not first_load:
        with open_store(config.store.url) as store:
            store.write(pa.table({"message": ["already there"], "event.id": ["x"]}))
    monkeypatch.setattr("loglens.pipeline.get_parser", lambda name: _RepeatingParser())
    with Pipeline(config) as pipeline, pytest.raises(StoreError, match="nothing was written"):
        pipeline.ingest([str(path)], fmt="text")
    with open_store(config.store.url) as store:
        assert store.count(Query()) == (0 if first_load else 1)


def test_empty_and_blank_text_inputs(tmp_path: Path) -> None:
    """Text is detected from its head while its first chunk is read: an empty or blank-only
    file is skipped with its reason, a forced format on an empty file counts nothing, and a
    file with blank lines before its first record counts them."""
    empty, blank, late = tmp_path / "empty.log", tmp_path / "blank.log", tmp_path / "late.log"
    empty.write_text("")
    blank.write_text("\n\n   \n")
    late.write_text("\n\n" + APACHE.read_text().splitlines()[0] + "\n")
    with Pipeline(make_config(tmp_path)) as pipeline:
        report = pipeline.ingest([str(empty), str(blank), str(late)])
    assert {s.display for s in report.skipped} == {str(empty), str(blank)}
    assert all("no known log format" in s.reason for s in report.skipped)
    (record,) = report.inputs
    assert (record.format, record.records, record.parsed, record.blank) == ("apache", 3, 1, 2)
    with Pipeline(make_config(tmp_path)) as pipeline:
        (forced,) = pipeline.ingest([str(empty)], fmt="apache").inputs
    assert (forced.records, forced.parsed) == (0, 0) and forced.balanced


def test_a_skipped_text_input_is_not_read_past_its_head(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A text input's reading starts once its format is known: one the walk skips (not a
    log) starts none, a recognised one starts one."""
    started: list[int] = []
    real = files_module.ReadAhead

    def counting(items: object) -> object:
        started.append(1)
        return real(items)  # type: ignore[arg-type]

    monkeypatch.setattr(files_module, "ReadAhead", counting)
    folder = tmp_path / "logs"
    folder.mkdir()
    (folder / "notes.txt").write_text("just some words\nand more words\n" * 50)
    (folder / "access.log").write_text(APACHE.read_text())
    with Pipeline(make_config(tmp_path)) as pipeline:
        report = pipeline.ingest([str(folder)])
    assert [r.format for r in report.inputs] == ["apache"]
    assert [s.display for s in report.skipped] == [str(folder / "notes.txt")]
    assert started == [1]
