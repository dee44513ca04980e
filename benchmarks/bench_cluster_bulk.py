"""Bulk indexing into a cluster: ``loglens ingest`` throughput and its accounting under faults.

N generated events (Zeek conn and DNS logs, topped up with Apache access lines to exactly N;
20,000 by default) are ingested as ``loglens ingest FILES --store es://...`` does it (the
pipeline: parse, normalise, bulk-index), into an osmem-server clone behind a counting proxy, per
client (``opensearch``; ``elasticsearch`` with the proxy answering as Elasticsearch 9):

- **clean**: an empty index, no faults;
- **faults**: an empty index, with one connection dropped after the server stored the first
  bulk request (the client never hears and sends it again), two bulk requests answered 429, and
  three bulk requests whose every 7th item is answered 429 (a busy node's write queue);
- **rerun**: the same inputs again into the faulted index: nothing new, so the writer asks which
  ids are stored (``_mget``, no sources) and sends no documents.

The client's retry backoff is the default (0.5 s doubling, with jitter): the faulted run's
seconds include those waits, as a user's would.

Each run reports seconds and events per second, the requests as the proxy saw them (bulk,
``_mget``, all), the client's retries, the writer's accounting summed over the run (``sent`` =
``created`` + ``duplicates`` + ``rejected``; ``retried`` item re-sends; ``recovered``: created
items confirmed by a 409 after a re-sent request) and the cluster's own ``_count``. A run whose
accounting does not balance, or whose index does not end with exactly N documents, stops the
benchmark.

    python benchmarks/bench_cluster_bulk.py [--events N] [--out FILE] [--flavours opensearch,...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests.cluster.proxy injects faults and counts traffic

from osmem_server import OsmemClone, OsmemServer  # noqa: E402
from tests.cluster.proxy import ClusterProxy  # noqa: E402

from loglens.cluster.bulk import BulkResult  # noqa: E402
from loglens.config import load_config  # noqa: E402
from loglens.pipeline import Pipeline  # noqa: E402
from loglens.sources.generate import generate  # noqa: E402
from loglens.store import open_store  # noqa: E402
from loglens.store.elastic import ElasticStore  # noqa: E402

INDEX = "bench-bulk"
# Met in this order: the first bulk request is stored but its answer lost (so a whole request's
# documents come back as 409 when it is re-sent), then two requests refused, then busy items.
FAULTS: tuple[dict[str, Any], ...] = (
    {"path": "/_bulk", "drop": True, "after_forward": True, "times": 1},
    {"path": "/_bulk", "status": 429, "times": 2},
    {"path": "/_bulk", "bulk_item_status": 429, "bulk_item_every": 7, "times": 3},
)
WRITER_COUNTS = ("sent", "created", "duplicates", "rejected", "retried", "recovered", "requests")


def inputs(out: Path, events: int) -> list[Path]:
    """Generated Zeek conn and DNS logs, topped up with Apache lines to exactly ``events``."""
    generate(out / "gen", days=2, seed=3, rate=0.05, start=datetime(2024, 5, 1, tzinfo=UTC))
    zeek = [out / "gen" / "zeek" / "conn.log", out / "gen" / "zeek" / "dns.log"]
    lines = sum(1 for p in zeek for line in p.read_text().splitlines() if not line.startswith("#"))
    web_lines = (out / "gen" / "web" / "web01" / "access.log").read_text().splitlines()
    if not 0 < events - lines <= len(web_lines):
        raise SystemExit(f"cannot make {events} events from {lines} Zeek and "
                         f"{len(web_lines)} web lines")  # fmt: skip
    web = out / "access.log"
    web.write_text("\n".join(web_lines[: events - lines]) + "\n")
    return [*zeek, web]


def ingest(url: str, files: list[Path]) -> dict[str, Any]:
    """One ``loglens ingest`` run in this process; its seconds, accounting and client counts."""
    config = load_config(env={}, overrides={"store.url": url})
    bulks: list[BulkResult] = []
    with open_store(url, config=config) as store:
        assert isinstance(store, ElasticStore)
        write_staged: Callable[..., Any] = store.write_staged

        def counted(*args: Any, **kwargs: Any) -> Any:
            summary = write_staged(*args, **kwargs)
            if store.last_bulk is not None:
                bulks.append(store.last_bulk)
            return summary

        store.write_staged = counted  # type: ignore[method-assign]
        started = time.perf_counter()
        with Pipeline(config, store=store) as pipeline:
            report = pipeline.ingest([str(p) for p in files])
        seconds = time.perf_counter() - started
        client = {"requests": store.client.requests, "retries": store.client.retries}
    writer = {name: sum(getattr(b, name) for b in bulks) for name in WRITER_COUNTS}
    writer["balanced"] = all(b.balanced for b in bulks)
    return {
        "seconds": round(seconds, 2),
        "accounting": {
            "records": report.total("records"),  # input lines, Zeek header lines too
            "events": sum(report.total(k) for k in ("parsed", "failed", "duplicates", "rejected")),
            "stored": report.total("parsed") + report.total("failed"),
            "duplicates": report.total("duplicates"),
            "rejected": report.total("rejected"),
            "balanced": report.balanced,
        },
        "writer": writer,
        "client": client,
    }


def count(clone: OsmemClone) -> int:
    from loglens.cluster import ClusterSettings, connect

    with connect(ClusterSettings(hosts=(clone.url,))) as client:
        return int(client.request("GET", f"/{INDEX}/_count")["count"])


def run(
    clone: OsmemClone, flavour: str, files: list[Path], faults: tuple[dict[str, Any], ...]
) -> dict[str, Any]:
    with ClusterProxy(clone.url, pretend_elasticsearch=flavour == "elasticsearch") as proxy:
        injected = [proxy.inject(**fault) for fault in faults]
        url = proxy.url.replace("http://", "es+http://") + f"/{INDEX}"
        result = ingest(url, files)
        requests = proxy.traffic.requests
        result["proxy"] = {
            "requests": len(requests),
            "bulk_requests": sum(1 for _, path, _ in requests if path.startswith("/_bulk")),
            "mget_requests": sum(1 for _, path, _ in requests if "/_mget" in path),
            "bytes_sent": proxy.traffic.bytes_sent,
            "faults_met": [fault.used for fault in injected],
        }
    result["cluster_count"] = count(clone)
    stored = result["accounting"]["stored"]
    result["docs_per_s"] = round(stored / result["seconds"]) if stored else 0
    result["events_per_s"] = round(result["accounting"]["events"] / result["seconds"])
    return result


def check(name: str, result: dict[str, Any], events: int, stored: int) -> None:
    writer, accounting = result["writer"], result["accounting"]
    problems = []
    if not (writer["balanced"] and accounting["balanced"]):
        problems.append("the accounting does not balance")
    if writer["sent"] != writer["created"] + writer["duplicates"] + writer["rejected"]:
        problems.append("sent != created + duplicates + rejected")
    if accounting["events"] != events or accounting["stored"] != stored:
        problems.append(f"expected {stored} of {events} stored")
    if result["cluster_count"] != events:
        problems.append(f"the cluster holds {result['cluster_count']} documents, not {events}")
    if problems:
        raise SystemExit(f"{name}: {'; '.join(problems)}: {json.dumps(result)}")


def measure(server: OsmemServer, flavour: str, files: list[Path], events: int) -> dict[str, Any]:
    runs: dict[str, Any] = {}
    with server.clone() as clone:
        runs["clean"] = run(clone, flavour, files, ())
        check(f"{flavour} clean", runs["clean"], events, events)
    with server.clone() as clone:
        runs["faults"] = run(clone, flavour, files, FAULTS)
        check(f"{flavour} faults", runs["faults"], events, events)
        if runs["faults"]["proxy"]["faults_met"] != [f["times"] for f in FAULTS]:
            raise SystemExit(f"{flavour}: not every fault was met: {runs['faults']['proxy']}")
        runs["rerun"] = run(clone, flavour, files, ())
        check(f"{flavour} rerun", runs["rerun"], events, 0)
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "cluster_bulk.json")
    parser.add_argument("--flavours", default="opensearch,elasticsearch")
    args = parser.parse_args()

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, OsmemServer.start(japanese=False) as server:
        files = inputs(Path(tmp), args.events)
        for flavour in args.flavours.split(","):
            results[flavour] = measure(server, flavour, files, args.events)
            summary = {k: (v["seconds"], v["docs_per_s"]) for k, v in results[flavour].items()}
            print(flavour, json.dumps(summary), flush=True)
        server_version = server.version

    defaults = load_config(env={}).cluster
    report = {
        "benchmark": "cluster bulk: loglens ingest into a cluster, clean and under faults",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "server": f"osmem-server {server_version} (through a counting proxy)",
        "events": args.events,
        "settings": {
            "bulk_docs": defaults.bulk_docs,
            "bulk_bytes": defaults.bulk_bytes,
            "max_retries": defaults.max_retries,
            "retry_backoff": defaults.retry_backoff,
        },
        "faults": list(FAULTS),
        "results": results,
        "notes": [
            "seconds: the whole ingest (read, parse, normalise, bulk, refresh), wall-clock on a "
            "shared 2-core machine: noisy; osmem-server indexes far slower than a real cluster",
            "docs_per_s: documents created per second; events_per_s: events read per second",
            "writer: BulkWriter accounting summed over the run; requests counts first attempts",
            "client.retries: whole requests re-sent after 429 or a dropped connection",
            "proxy.bulk_requests counts every attempt, answered or not",
            "faults: the first request's 2,000 documents are stored but the answer lost; its "
            "re-send meets the two 429s, then busy items; every one of them counts as created "
            "(recovered), none as a duplicate",
            "rerun: the faulted index again; the writer asks _mget which ids exist, sends none",
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
