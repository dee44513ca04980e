"""Acceptance: ``loglens detect --store es://...`` finds what it finds on the embedded store.

Eight days of generated traffic with every incident kind (about 20,000 events) are ingested with
the command line into a DuckDB file and, through each official client, into osmem-server; then
``loglens detect -o json`` runs on both and writes back. The cluster must give the same ranked
anomalies (ids, kinds, windows, series keys, entities, related findings, explanations), store
the same anomaly documents and tag the same events, and both must be found by a plain
``query_string`` search.

The traffic and the DuckDB run are made once per test run, even when the two clients' runs go to
two pytest-xdist workers (:mod:`tests.made_once`). Each client's run ingests into its own empty
clone: osmem-server answers every write to a clone of a loaded base in about a second, and
detection writes back in dozens of requests.

Log template mining is off on both sides, to keep the run short: tests/cluster/test_templates.py
compares the templates and the template detector's findings.

Tolerance: scores, observed and expected values are compared at a relative 1e-6, which allows
for sums added up in another order, nothing more. Distinct counts are ``cardinality``
aggregations in the cluster, near-exact below their precision threshold (40,000 values per
bucket; these buckets hold at most a few thousand): osmem-server counts exactly, and a real
cluster can differ in a rare bucket, which would move a distinct-count anomaly's score.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from loglens.cluster import connect
from loglens.config import load_config
from loglens.sources.generate import HOST_FROM_PATH, generate
from loglens.store import open_store
from loglens.store.base import Query, Store
from tests.cluster.conftest import Cluster
from tests.made_once import made_once

ANOMALY_TAG = "loglens.anomaly"
NUMBERS = ("score", "observed", "expected")
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    def build(out: Path) -> None:
        generate(out, days=8, seed=7, rate=0.01, start=datetime(2024, 5, 1, tzinfo=UTC))

    out = made_once(tmp_path_factory, "detect-parity-traffic", build)
    return sorted(p for p in out.rglob("*") if p.is_file() and p.name != "labels.json")


def loglens(store: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LOGLENS_")}
    environ.update(
        {
            "LOGLENS_TEMPLATES__ENABLED": "false",
            "LOGLENS_CLUSTER__RETRY_BACKOFF": "0.01",
            "LOGLENS_CLUSTER__RETRY_BACKOFF_MAX": "0.05",
        }
    )
    result = subprocess.run(
        [sys.executable, "-m", "loglens", "--store", store, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environ,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    return result


def ingest_and_detect(store: str, inputs: list[Path], cwd: Path) -> list[dict[str, Any]]:
    """The ranked anomalies ``loglens detect -o json`` prints (all of them, written back)."""
    ingested = loglens(store, "ingest", "--host-from-path", HOST_FROM_PATH, *map(str, inputs),
                       cwd=cwd)  # fmt: skip
    assert "raw 0," in ingested.stdout
    detected = loglens(store, "detect", "-o", "json", "--top", "1000", cwd=cwd)
    return [json.loads(line) for line in detected.stdout.splitlines() if line.strip()]


@dataclass
class Outcome:
    """What a detection run left behind, as the tests compare it."""

    printed: list[dict[str, Any]]
    events: int  # events in the store
    stored: list[dict[str, Any]]  # every anomaly written back, related findings too
    tagged: int  # events found by tags:loglens.anomaly
    tags: dict[str, int]  # events per anomaly tag


def outcome(store: Store, printed: list[dict[str, Any]]) -> Outcome:
    tagged = Query(f"tags:{ANOMALY_TAG}")
    terms = store.terms("tags", tagged, size=1000)
    return Outcome(
        printed=printed,
        events=store.count(Query()),
        stored=stored_anomalies(store.anomalies()),
        tagged=store.count(tagged),
        tags={str(b.value): b.count for b in terms.buckets},
    )


def stored_anomalies(table: pa.Table) -> list[dict[str, Any]]:
    rows = []
    for row in table.to_pylist():
        row.pop("created")
        for name in ("series_key", "entities", "details"):
            row[name] = json.loads(row[name]) if row[name] is not None else None
        rows.append(row)
    return sorted(rows, key=lambda r: str(r["id"]))


def config(url: str) -> Any:
    return load_config(env={"LOGLENS_TEMPLATES__ENABLED": "false"}, overrides={"store.url": url})


@pytest.fixture(scope="module")
def reference(traffic: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """The embedded store's run: what the cluster must give."""

    def build(out: Path) -> None:
        printed = ingest_and_detect(f"duckdb:{out / 'loglens.duckdb'}", traffic, out)
        (out / "printed.json").write_text(json.dumps(printed))

    made = made_once(tmp_path_factory, "detect-parity-duckdb", build)
    # A copy of its own: DuckDB lets one process at a time open a file for writing.
    copy = tmp_path_factory.mktemp("detect-duckdb") / "loglens.duckdb"
    shutil.copy(made / "loglens.duckdb", copy)
    url = f"duckdb:{copy}"
    with open_store(url, config=config(url)) as store:
        return outcome(store, json.loads((made / "printed.json").read_text()))


def same_numbers(got: dict[str, Any], want: dict[str, Any], names: tuple[str, ...]) -> None:
    for name in names:
        if want.get(name) is None:
            assert got.get(name) is None, name
        else:
            assert got.get(name) == pytest.approx(want[name], rel=TOLERANCE), (name, want)


def same_entities(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    assert [(e["field"], e["value"]) for e in got] == [(e["field"], e["value"]) for e in want]
    for mine, theirs in zip(got, want, strict=True):
        same_numbers(mine, theirs, ("observed", "expected"))


def same_anomaly(got: dict[str, Any], want: dict[str, Any], exact: tuple[str, ...]) -> None:
    # JSON lines leave out empty values: a missing key is an empty one on both sides.
    assert {k: got.get(k) for k in exact} == {k: want.get(k) for k in exact}
    same_numbers(got, want, NUMBERS)
    same_entities(got.get("entities") or [], want.get("entities") or [])


def test_detect_on_the_cluster_finds_the_same_anomalies_as_on_duckdb(
    cluster: Cluster, traffic: list[Path], reference: Outcome, tmp_path: Path
) -> None:
    # The incidents are there to be found: a run that finds nothing would compare trivially.
    assert len(reference.printed) >= 5 and reference.tagged > 0
    assert {"silence", "new_category"} <= {row["kind"] for row in reference.printed}
    url = cluster.url.replace("http://", "es+http://") + "/events"

    printed = ingest_and_detect(url, traffic, tmp_path)

    # The ranked list, as printed: same ids in the same order, then each one's content.
    assert [row["id"] for row in printed] == [row["id"] for row in reference.printed]
    exact = ("rank", "start", "end", "series", "series_key", "detector", "kind", "severity",
             "explanation", "related")  # fmt: skip
    for got, want in zip(printed, reference.printed, strict=True):
        same_anomaly(got, want, exact)

    with open_store(url, config=config(url)) as store:
        written = outcome(store, printed)
    # Every finding written back (related ones too), with its details and sample events.
    assert [a["id"] for a in written.stored] == [a["id"] for a in reference.stored]
    exact = ("start", "end", "series_name", "series_key", "detector", "kind", "severity",
             "explanation", "reasons", "details")  # fmt: skip
    for got, want in zip(written.stored, reference.stored, strict=True):
        same_anomaly(got, want, exact)
    # The same events tagged, anomaly by anomaly, and no event added or lost by the write-back.
    assert written.events == reference.events
    assert written.tagged == reference.tagged
    assert written.tags == reference.tags

    # Both visible to anyone with a plain query_string search.
    with connect(cluster.settings()) as client:

        def found(index: str, query: str, **extra: Any) -> dict[str, Any]:
            body = {"query": {"query_string": {"query": query}}, "track_total_hits": True}
            answer = client.request("POST", f"/{index}/_search", body={**body, **extra})
            assert isinstance(answer, dict)
            return answer

        events = found("events", f"tags:{ANOMALY_TAG}", size=0)
        assert events["hits"]["total"]["value"] == reference.tagged
        lead = printed[0]["id"]
        one = found("events", f'tags:"{ANOMALY_TAG}.{lead}"', size=0)
        assert one["hits"]["total"]["value"] == reference.tags[f"{ANOMALY_TAG}.{lead}"] > 0

        alerts = found("loglens-anomalies", f"event.kind:alert AND tags:{ANOMALY_TAG}", size=1000)
        ids = sorted(hit["_source"]["event"]["id"] for hit in alerts["hits"]["hits"])
        assert ids == [a["id"] for a in reference.stored]
        silences = found("loglens-anomalies", "loglens.anomaly.kind:silence", size=1000)
        assert {hit["_id"] for hit in silences["hits"]["hits"]} == {
            a["id"] for a in reference.stored if a["kind"] == "silence"
        }
