"""Hostile log content: CSV formula injection, terminal escapes; ECS nesting for JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime

from loglens.output import (
    neutralise_csv_cell,
    safe_terminal_text,
    to_ecs_document,
    write_csv,
    write_jsonl,
    write_table,
)


def test_formula_cells_are_neutralised() -> None:
    for payload in ('=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert neutralise_csv_cell(payload) == "'" + payload
    assert neutralise_csv_cell("GET /index.html") == "GET /index.html"
    assert neutralise_csv_cell(-5) == -5  # numbers are data, not formulas


def test_csv_output_round_trips_with_neutralised_cells() -> None:
    rows = [{"url.path": "=cmd|' /C calc'!A0", "n": 3}, {"url.path": "/ok", "n": None}]
    out = io.StringIO()
    write_csv(rows, ["url.path", "n"], out)
    read = list(csv.reader(io.StringIO(out.getvalue())))
    assert read == [["url.path", "n"], ["'=cmd|' /C calc'!A0", "3"], ["/ok", ""]]


def test_terminal_escapes_are_shown_not_run() -> None:
    hostile = "user\x1b]0;pwned\x07\x1b[2J\nnext"
    shown = safe_terminal_text(hostile)
    assert "\x1b" not in shown and "\x07" not in shown and "\n" not in shown
    assert "\\x1b" in shown
    out = io.StringIO()
    write_table([{"message": hostile}], ["message"], out)
    assert "\x1b" not in out.getvalue()


def test_ecs_document_nests_and_merges_extra() -> None:
    row = {
        "@timestamp": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        "source.ip": "10.0.0.1",
        "source.port": 22,
        "user.name": None,
        "tags": [],
        "extra": json.dumps({"zeek.conn_state": "REJ"}),
    }
    assert to_ecs_document(row) == {
        "@timestamp": "2024-01-02T03:04:05Z",
        "source": {"ip": "10.0.0.1", "port": 22},
        "zeek": {"conn_state": "REJ"},
    }
    out = io.StringIO()
    write_jsonl([row], out)
    assert json.loads(out.getvalue())["source"]["port"] == 22
