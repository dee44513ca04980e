"""Acceptance: ``loglens ingest`` of 20,000 generated events into a cluster under faults.

Through each client, with whole bulk requests refused (429), bulk items answered 429, and one
connection dropped after the server stored a bulk request: the cluster ends with exactly 20,000
documents, the printed accounting says so, and a re-run adds none.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from loglens.cluster import connect
from loglens.sources.generate import generate
from tests.cluster.conftest import Cluster

EVENTS = 20_000


@pytest.fixture(scope="module")
def twenty_thousand(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Generated Zeek conn and DNS logs, topped up with Apache lines to exactly 20,000 events."""
    out = tmp_path_factory.mktemp("acceptance")
    generate(out / "gen", days=2, seed=3, rate=0.05, start=datetime(2024, 5, 1, tzinfo=UTC))
    zeek = [out / "gen" / "zeek" / "conn.log", out / "gen" / "zeek" / "dns.log"]
    events = sum(
        1 for path in zeek for line in path.read_text().splitlines() if not line.startswith("#")
    )
    web_lines = (out / "gen" / "web" / "web01" / "access.log").read_text().splitlines()
    assert 0 < EVENTS - events <= len(web_lines)
    web = out / "access.log"
    web.write_text("\n".join(web_lines[: EVENTS - events]) + "\n")
    return [*zeek, web]


def ingest(store: str, inputs: list[Path], cwd: Path) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LOGLENS_")}
    environ.update(
        {
            "LOGLENS_CLUSTER__RETRY_BACKOFF": "0.01",
            "LOGLENS_CLUSTER__RETRY_BACKOFF_MAX": "0.05",
            "LOGLENS_CLUSTER__BULK_DOCS": "1000",
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "loglens", "--store", store, "ingest", *map(str, inputs)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environ,
        timeout=900,
    )


def totals(output: str) -> str:
    (line,) = [line for line in output.splitlines() if line.startswith("total: ")]
    return line


def test_twenty_thousand_events_under_faults_end_as_twenty_thousand_documents(
    cluster: Cluster, twenty_thousand: list[Path], tmp_path: Path
) -> None:
    refused = cluster.proxy.inject(path="/_bulk", status=429, times=2)
    busy = cluster.proxy.inject(path="/_bulk", bulk_item_status=429, bulk_item_every=7, times=3)
    dropped = cluster.proxy.inject(path="/_bulk", drop=True, after_forward=True, times=1)
    store = cluster.url.replace("http://", "es+http://") + "/events"

    first = ingest(store, twenty_thousand, tmp_path)
    assert first.returncode == 0, first.stderr
    assert (refused.used, busy.used, dropped.used) == (2, 3, 1)  # every fault was met
    line = totals(first.stdout)
    assert "parsed 20,000, raw 0, duplicates 0," in line and "rejected" not in line
    assert first.stdout.count(" ok\n") == 3  # every input balances
    with connect(cluster.settings()) as client:
        assert client.request("GET", "/events/_count")["count"] == EVENTS

    again = ingest(store, twenty_thousand, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "parsed 0, raw 0, duplicates 20,000," in totals(again.stdout)
    with connect(cluster.settings()) as client:
        assert client.request("GET", "/events/_count")["count"] == EVENTS
