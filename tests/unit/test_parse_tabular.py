"""TableParser on CSV/TSV files, and on Parquet and Excel files built at run time."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loglens.parse.base import ParseContext, Sample
from loglens.parse.json_docs import INVALID_FIELDS_KEY
from loglens.parse.tabular import TableParser, table_dataset
from loglens.sources.files import InputSource, OpenedInput
from tests.parser_harness import run_parser

DATA = Path(__file__).parent.parent / "data" / "tables"
PARSER = TableParser()
REFERENCE = datetime(2024, 6, 1, tzinfo=UTC)


def read_rows(path: Path) -> tuple[str, list[str]]:
    """The container and the raw records the file reader gives the parser."""
    with OpenedInput(InputSource(str(path), path)) as opened:
        batches = list(opened.batches(max_line_bytes=1 << 20, batch_records=1000))
        return opened.container, [r for b in batches for r in b.raw.to_pylist()]


def parse(path: Path, **ctx: Any) -> list[dict[str, Any]]:
    _, records = read_rows(path)
    context = ParseContext(source=str(path), reference_time=REFERENCE, **ctx)
    return run_parser(PARSER, records, context)


def extra(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(row["extra"]) if row["extra"] else {}


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# --- CSV / TSV ---------------------------------------------------------------------------------


def test_csv_with_ecs_column_names() -> None:
    rows = parse(DATA / "firewall_ecs.csv")
    first, denied, ipv6, no_port = rows[0], rows[1], rows[4], rows[5]
    assert first["@timestamp"] == utc(2024, 4, 2, 8, 0, 1)
    assert (first["event.module"], first["event.dataset"], first["event.kind"]) == (
        "table", "table.firewall_ecs", "event",
    )  # fmt: skip
    assert (first["event.action"], first["event.outcome"]) == ("allow", "success")
    assert (first["source.ip"], first["source.port"]) == ("10.10.1.20", 52114)
    assert (first["destination.ip"], first["destination.port"]) == ("172.16.0.10", 443)
    assert (first["network.transport"], first["network.bytes"]) == ("tcp", 18211)
    assert (first["host.name"], first["rule.name"]) == ("fw-edge-1", "allow-web-out")
    assert extra(first) == {"observer.serial": "FGT60F0000001"}  # a column the schema lacks
    assert (denied["event.outcome"], denied["destination.port"]) == ("failure", 3389)
    assert rows[2]["@timestamp"] == utc(2024, 4, 2, 8, 0, 3, 250000)
    assert (ipv6["source.ip"], ipv6["destination.ip"]) == ("fe80::1ff:fe23:4567:890a", "ff02::1:2")
    assert (no_port["source.port"], no_port["network.bytes"]) == (None, None)  # "-" and ""
    assert INVALID_FIELDS_KEY not in extra(no_port)
    assert all(r["_error"] is None for r in rows)


def test_tsv_with_aliases_and_a_mapping() -> None:
    rows = parse(DATA / "vpn_sessions.tsv", column_map={"Gateway": "host.name"},
                 timezone="Europe/Berlin")  # fmt: skip
    alice, bob, carol, dave = rows
    assert alice["@timestamp"] == utc(2024, 4, 2, 5, 58, 10)  # 07:58:10 AM CEST
    assert carol["@timestamp"] == utc(2024, 4, 2, 18, 3, 2)  # 08:03:02 PM CEST
    assert (alice["user.name"], alice["source.ip"], alice["host.name"]) == (
        "CORP\\alice", "198.51.100.31", "vpn-gw-2",
    )  # fmt: skip
    assert (alice["event.outcome"], bob["event.outcome"]) == ("success", "failure")
    assert extra(alice) == {
        "Assigned Address": "10.250.0.12",
        "Session Seconds": "3600",
        "Bytes In": "1048576",
        "Bytes Out": "52428800",
    }
    assert "Assigned Address" not in extra(bob)  # an empty cell is no value
    assert dave["source.ip"] is None
    assert extra(dave)["Client IP"] == "unknown"
    assert extra(dave)[INVALID_FIELDS_KEY] == "source.ip"
    assert extra(dave)["Session Seconds"] == "n/a"


def test_without_the_mapping_the_column_stays_in_extra() -> None:
    rows = parse(DATA / "vpn_sessions.tsv")
    assert rows[0]["host.name"] is None
    assert extra(rows[0])["Gateway"] == "vpn-gw-2"
    assert rows[0]["@timestamp"] == utc(2024, 4, 2, 7, 58, 10)  # UTC by default


def test_column_map_wins_and_may_name_fields_the_schema_lacks(tmp_path: Path) -> None:
    path = tmp_path / "peers.csv"
    path.write_text("source.ip,peer,nat\n10.0.0.1,192.0.2.7,10.99.0.1\n", encoding="utf-8")
    (row,) = parse(path, column_map={"peer": "source.ip", "nat": "source.nat.ip"})
    assert row["source.ip"] == "192.0.2.7"
    assert extra(row) == {"source.ip": "10.0.0.1", "source.nat.ip": "10.99.0.1"}


def test_dataset_column_and_ecs_outcome_words(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        "Timestamp,Event Dataset,Outcome,Status\n2024-01-01T00:00:00Z,vpn.sessions,denied,200\n",
        encoding="utf-8",
    )
    (row,) = parse(path)
    assert (row["event.dataset"], row["event.outcome"]) == ("vpn.sessions", "failure")
    assert row["http.response.status_code"] == 200


# --- Parquet and Excel, built at run time ----------------------------------------------------


def test_parquet_rows(tmp_path: Path) -> None:
    path = tmp_path / "flows.parquet"
    table = pa.table(
        {
            "timestamp": pa.array(
                [
                    datetime(2024, 1, 1, 10, 0, tzinfo=UTC),
                    datetime(2024, 1, 1, 10, 0, 5, 250000, tzinfo=UTC),
                ],
                type=pa.timestamp("us", tz="UTC"),
            ),
            "src_ip": ["10.0.0.1", "10.0.0.2"],
            "dst_port": pa.array([443, None], type=pa.int64()),
            "proto": ["6", "udp"],
            "bytes_total": pa.array([1200, 80], type=pa.int64()),
            "tags": [["vpn", "office"], []],
            "geo": [{"country": "DE"}, {"country": "FR"}],
        }
    )
    pq.write_table(table, path)
    container, records = read_rows(path)
    assert container == "parquet"
    assert json.loads(records[0])["timestamp"] == "2024-01-01 10:00:00+00"
    rows = run_parser(PARSER, records, ParseContext(source=str(path), timezone="Asia/Tokyo"))
    first, second = rows
    assert first["@timestamp"] == utc(2024, 1, 1, 10, 0)  # "+00" is an offset, not local time
    assert second["@timestamp"] == utc(2024, 1, 1, 10, 0, 5, 250000)
    assert (first["source.ip"], first["destination.port"], first["network.transport"]) == (
        "10.0.0.1", 443, "tcp",
    )  # fmt: skip
    assert (second["destination.port"], second["network.transport"]) == (None, "udp")
    assert first["network.bytes"] == 1200
    assert first["tags"] == ["vpn", "office"]
    assert extra(first) == {"geo": {"country": "DE"}}
    assert first["event.dataset"] == "table.flows"


def test_excel_workbook_with_two_sheets(tmp_path: Path) -> None:
    path = tmp_path / "Incident Review.xlsx"
    book = openpyxl.Workbook()
    logons = book.active
    logons.title = "Logons"
    logons.append(["Time", "User", "Source IP", "Event ID", "Logon Type"])
    logons.append([datetime(2024, 2, 3, 4, 5, 6), "alice", "10.1.1.1", 4624, 10])
    logons.append([datetime(2024, 2, 3, 4, 6, 0), "bob", "10.1.1.2", 4625, 3])
    dns = book.create_sheet("DNS")
    dns.append(["timestamp", "qname", "rcode", "client_ip"])
    dns.append(["2024-02-03T04:07:00Z", "example.org", "NXDOMAIN", "10.1.1.3"])
    book.save(path)
    container, records = read_rows(path)
    assert container == "xlsx"
    ctx = ParseContext(source=str(path), timezone="America/New_York")
    alice, bob, query = run_parser(PARSER, records, ctx)
    assert alice["@timestamp"] == utc(2024, 2, 3, 9, 5, 6)  # Excel times have no zone: EST
    assert (alice["user.name"], alice["source.ip"], alice["event.code"]) == (
        "alice", "10.1.1.1", "4624",
    )  # fmt: skip
    assert extra(alice) == {"Logon Type": 10, "log.sheet": "Logons"}
    assert bob["event.code"] == "4625"
    assert query["@timestamp"] == utc(2024, 2, 3, 4, 7)
    assert (query["dns.question.name"], query["dns.response_code"], query["source.ip"]) == (
        "example.org", "NXDOMAIN", "10.1.1.3",
    )  # fmt: skip
    assert extra(query) == {"log.sheet": "DNS"}
    assert {r["event.dataset"] for r in (alice, bob, query)} == {"table.incident_review"}


# --- dataset names, failures, detection ---------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "dataset"),
    [
        ("/data/Firewall Export 2024.csv.gz", "table.firewall_export_2024"),
        ("flows.parquet", "table.flows"),
        ("C:/x/Incident-Review.XLSX", "table.incident_review"),
        ("-", "table.stdin"),
        ("___.csv", "table.table"),
    ],
)
def test_table_dataset(source: str, dataset: str) -> None:
    assert table_dataset(source) == dataset


def test_records_that_are_not_objects_fail() -> None:
    rows = run_parser(PARSER, ['["a", "b"]', '{"a": "x"', '{"message": "ok"}'],
                      ParseContext(source="t.csv"))  # fmt: skip
    assert [r["_error"] for r in rows] == [
        "not a JSON object (an array)",
        "invalid JSON: the record looks cut off",
        None,
    ]
    assert rows[2]["message"] == "ok"


@pytest.mark.parametrize("container", ["csv", "parquet", "xlsx"])
def test_sniff_trusts_table_containers(container: str) -> None:
    assert PARSER.sniff(Sample(['{"a": "1"}'], "t", container)) == 1.0


@pytest.mark.parametrize("container", ["lines", "json"])
def test_sniff_rejects_other_containers(container: str) -> None:
    assert PARSER.sniff(Sample(['{"a": "1"}', "127.0.0.1 - - [x]"], "t", container)) == 0.0


# --- robustness --------------------------------------------------------------------------------

_HEADERS = st.sampled_from(
    ["@timestamp", "Timestamp", "time", "Source IP", "src_port", "dst", "User", "bytes", "x",
     "event.kind", "event.outcome", "tags", "log.sheet", "Event ID", "level", "", "-", "a b"]
)  # fmt: skip
_CELLS = st.one_of(
    st.text(max_size=12), st.integers(), st.floats(allow_nan=False), st.none(),
    st.sampled_from(["-", "", "0x10", "2024-02-30", "1e999", "::1", "a,b,,c", "[1,2]"]),
)  # fmt: skip
_ROWS = st.dictionaries(_HEADERS, _CELLS, max_size=8).map(lambda d: json.dumps(d))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_ROWS, st.text(max_size=20)), min_size=1, max_size=12))
def test_arbitrary_rows_never_raise(records: list[str]) -> None:
    rows = run_parser(PARSER, records, ParseContext(source="fuzz.csv"))
    assert len(rows) == len(records)
    for row in rows:
        assert row["event.dataset"] == "table.fuzz"
        if row["extra"] is not None:
            assert isinstance(json.loads(row["extra"]), dict)
