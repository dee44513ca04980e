"""Inputs: expansion, decompression, containers, and the records each container yields."""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import sys
from pathlib import Path

import numpy as np
import pytest

from loglens.errors import SourceError
from loglens.sources.files import (
    HEAD_BYTES,
    SCAN_ROWS,
    InputSource,
    OpenedInput,
    RecordBatch,
    expand_inputs,
)


def records(path: Path, batch_records: int = 1000) -> tuple[str, list[RecordBatch]]:
    inputs, _ = expand_inputs([str(path)])
    with OpenedInput(inputs[0]) as opened:
        batches = list(opened.batches(max_line_bytes=1 << 20, batch_records=batch_records))
        return opened.container, batches


def flat(batches: list[RecordBatch]) -> tuple[list[int], list[int], list[str], dict[int, str]]:
    numbers: list[int] = []
    lines: list[int] = []
    raws: list[str] = []
    errors: dict[int, str] = {}
    for batch in batches:
        numbers += batch.record_no.to_pylist()
        lines += batch.line_no.to_pylist()
        raws += batch.raw.to_pylist()
        errors.update(batch.errors)
    return numbers, lines, raws, errors


@pytest.mark.parametrize(
    ("suffix", "opener"),
    [(".gz", gzip.open), (".bz2", bz2.open), (".xz", lzma.open)],
)
def test_compressed_files_by_magic(tmp_path: Path, suffix: str, opener: object) -> None:
    path = tmp_path / f"app{suffix}"
    with opener(path, "wb") as fh:  # type: ignore[operator]
        fh.write(b"one\ntwo\n")
    container, batches = records(path)
    assert container == "lines"
    assert flat(batches)[2] == ["one", "two"]
    # the magic decides, not the name
    renamed = tmp_path / "renamed.log"
    path.rename(renamed)
    assert flat(records(renamed)[1])[2] == ["one", "two"]


def test_json_array_records_keep_text_and_start_line(tmp_path: Path) -> None:
    path = tmp_path / "alerts.json"
    path.write_text('[\n  {"a": 1,\n   "b": [1, 2]},\n  {"a": 2}\n]\n')
    container, batches = records(path)
    assert container == "json"
    numbers, lines, raws, errors = flat(batches)
    assert numbers == [1, 2]
    assert lines == [2, 4]
    assert [json.loads(r) for r in raws] == [{"a": 1, "b": [1, 2]}, {"a": 2}]
    assert errors == {}


def test_concatenated_pretty_json_and_broken_tail(tmp_path: Path) -> None:
    path = tmp_path / "docs.json"
    path.write_text('{\n "a": 1\n}\n{\n "a": 2\n}\n{\n "a": \n')
    container, batches = records(path)
    assert container == "json"
    numbers, lines, raws, errors = flat(batches)
    assert numbers == [1, 2, 3]
    assert lines == [1, 4, 7]
    assert json.loads(raws[1]) == {"a": 2}
    assert 3 in errors and "invalid JSON" in errors[3]


def test_search_response_yields_sources(tmp_path: Path) -> None:
    path = tmp_path / "response.json"
    body = {"took": 3, "hits": {"total": 2, "hits": [{"_source": {"x": 1}}, {"_source": {"x": 2}}]}}
    path.write_text(json.dumps(body, indent=2))
    _, batches = records(path)
    assert [json.loads(r) for r in flat(batches)[2]] == [{"x": 1}, {"x": 2}]


def test_ndjson_is_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.json"
    path.write_text('{"a": 1}\n{"a": 2}\n')
    assert records(path)[0] == "lines"


def test_csv_rows_become_json_objects_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    path.write_text(
        'source.ip,message\n10.0.0.1,"hello, world"\n\n10.0.0.2,"two\nlines"\n10.0.0.3\n'
    )
    container, batches = records(path)
    assert container == "csv"
    numbers, lines, raws, errors = flat(batches)
    assert numbers == [1, 2, 3]
    assert lines == [2, 4, 6]
    assert json.loads(raws[0]) == {"source.ip": "10.0.0.1", "message": "hello, world"}
    assert json.loads(raws[1])["message"] == "two\nlines"
    assert errors == {3: "expected 2 columns, found 1"}


def test_parquet_rows(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"source.ip": ["1.2.3.4", "5.6.7.8"], "n": [1, 2]}), path)
    container, batches = records(path, batch_records=1)
    assert container == "parquet"
    numbers, _, raws, _ = flat(batches)
    assert numbers == [1, 2]
    assert json.loads(raws[1]) == {"source.ip": "5.6.7.8", "n": 2}


def test_xlsx_rows(tmp_path: Path) -> None:
    import openpyxl

    path = tmp_path / "t.xlsx"
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["user.name", "count"])
    sheet.append(["alice", 3])
    sheet.append([None, None])
    sheet.append(["bob", 4])
    book.save(path)
    container, batches = records(path)
    assert container == "xlsx"
    numbers, lines, raws, _ = flat(batches)
    assert numbers == [1, 2]
    assert lines == [2, 4]
    assert json.loads(raws[1]) == {"user.name": "bob", "count": 4}


def test_directory_walk_skips_documentation_and_hidden(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "a.log").write_text("x\n")
    (tmp_path / "logs" / "README.md").write_text("# doc\n")
    (tmp_path / "logs" / "LICENSE").write_text("text\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "b.log").write_text("x\n")
    inputs, skipped = expand_inputs([str(tmp_path)])
    assert [i.path.name for i in inputs if i.path] == ["a.log"]
    assert {Path(s.display).name for s in skipped} == {"README.md", "LICENSE"}


def test_glob_and_missing(tmp_path: Path) -> None:
    (tmp_path / "x1.log").write_text("a\n")
    (tmp_path / "x2.log").write_text("b\n")
    inputs, _ = expand_inputs([str(tmp_path / "x*.log")])
    assert len(inputs) == 2
    with pytest.raises(SourceError, match="no such file"):
        expand_inputs([str(tmp_path / "nope.log")])
    with pytest.raises(SourceError, match="no file matches"):
        expand_inputs([str(tmp_path / "nope*.log")])


def test_binary_and_evtx_are_refused_with_a_reason(tmp_path: Path) -> None:
    evtx = tmp_path / "Security.evtx"
    evtx.write_bytes(b"ElfFile\x00" + b"\x00" * 100)
    with pytest.raises(SourceError, match="export it to JSON"):
        OpenedInput(expand_inputs([str(evtx)])[0][0])
    blob = tmp_path / "blob.bin"
    blob.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(SourceError, match="binary"):
        OpenedInput(expand_inputs([str(blob)])[0][0])


def test_truncated_gzip_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "cut.log.gz"
    data = gzip.compress(b"line\n" * 10_000)
    path.write_bytes(data[: len(data) // 2])
    inputs, _ = expand_inputs([str(path)])
    with pytest.raises(SourceError), OpenedInput(inputs[0]) as opened:
        list(opened.batches(max_line_bytes=1 << 20, batch_records=100))


def test_nul_runs_in_a_text_log_do_not_make_it_binary(tmp_path: Path) -> None:
    path = tmp_path / "auth.log"
    path.write_bytes(
        b"Mar  1 10:00:00 h sshd[1]: ok\n" + b"\x00" * 900 + b"\nMar  1 10:00:01 h x: y\n"
    )
    container, batches = records(path)
    assert container == "lines"
    assert len(flat(batches)[2]) == 3


# --- text lines: zero-copy batches ---------------------------------------------------------


def log_lines(count: int, seed: int) -> list[bytes]:
    rng = np.random.default_rng(seed)
    words = [b"GET", b"/index.html", b"200", b"caf\xc3\xa9", b"10.0.0.7", b"", b"x" * 40]
    return [b" ".join(rng.choice(words, size=int(rng.integers(0, 12)))) for _ in range(count)]


def test_lines_beyond_the_sample_head_are_read_whole(tmp_path: Path) -> None:
    # The first HEAD_BYTES come from the detection sample, the rest straight from the file.
    lines = log_lines(20_000, seed=3)
    data = b"\r\n".join(lines) + b"\r\n"
    assert len(data) > 3 * HEAD_BYTES
    path = tmp_path / "app.log"
    path.write_bytes(data)
    container, batches = records(path, batch_records=777)
    assert container == "lines"
    numbers, line_numbers, raws, _ = flat(batches)
    assert raws == [line.decode() for line in lines]
    assert numbers == line_numbers == list(range(1, len(lines) + 1))
    assert all(len(b) <= 777 for b in batches)


def test_compressed_lines_and_stdin_use_the_same_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = log_lines(5_000, seed=4)
    data = b"\n".join(lines)  # no line end after the last line
    path = tmp_path / "app.log.gz"
    path.write_bytes(gzip.compress(data))
    assert flat(records(path)[1])[2] == [line.decode() for line in lines]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    with OpenedInput(InputSource("-", None)) as opened:
        raws = flat(list(opened.batches(max_line_bytes=1 << 20, batch_records=1000)))[2]
    assert raws == [line.decode() for line in lines]


def test_line_batches_register_in_duckdb(tmp_path: Path) -> None:
    import duckdb

    lines = [*log_lines(3_000, seed=5), b"bad \xff byte", b"y" * 3000, b"short", b""]
    path = tmp_path / "app.log"
    path.write_bytes(b"\n".join(lines) + b"\n")
    inputs, _ = expand_inputs([str(path)])
    con = duckdb.connect()
    stored: list[tuple[int, str, int]] = []
    truncated: set[int] = set()
    with OpenedInput(inputs[0]) as opened:
        for batch in opened.batches(max_line_bytes=2048, batch_records=500):
            truncated |= batch.truncated
            con.register("batch", batch.table())
            stored += con.sql("SELECT record_no, raw, strlen(raw) FROM batch").fetchall()
            con.unregister("batch")
    expected = [line[:2048].decode("utf-8", "replace") for line in lines]
    assert [raw for _, raw, _ in stored] == expected
    assert [n for n, _, _ in stored] == list(range(1, len(lines) + 1))
    assert [size for _, _, size in stored] == [len(e.encode()) for e in expected]
    assert truncated == {len(lines) - 2}


def test_a_batch_is_registered_as_slices_every_thread_can_scan(tmp_path: Path) -> None:
    """DuckDB scans a lone record batch under two row groups on one thread: the table a
    batch registers is cut into record batches of at most SCAN_ROWS rows, in order."""
    path = tmp_path / "many.log"
    count = SCAN_ROWS * 2 + 123
    path.write_text("".join(f"line {n}\n" for n in range(count)))
    _, (batch,) = records(path, batch_records=count)
    table = batch.table()
    sizes = [piece.num_rows for piece in table.to_batches()]
    assert sizes == [SCAN_ROWS, SCAN_ROWS, 123]
    assert table.column("raw").to_pylist() == [f"line {n}" for n in range(count)]
    assert table.column("line_no").to_pylist() == list(range(1, count + 1))
