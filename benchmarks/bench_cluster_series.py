"""Series in the cluster: aggregations pushed down vs the raw documents pulled and aggregated here.

The frame: 30 days × 15-minute buckets (2,880) × 20 groups (``event.dataset``), event counts.
The documents are synthetic: each group's count per bucket is Poisson around a daily and weekly
cycle (quiet nights and weekends), ~200,000 documents in all by default, written once into an
osmem-server index with loglens' index template and bulk writer.

Each client (``opensearch`` and ``elasticsearch``; for the latter a proxy makes the server answer
as Elasticsearch 9) then computes the same frame two ways, through a proxy that counts requests
and bytes:

- **push-down**: :func:`loglens.store.elastic_series.series` (composite + date_histogram
  aggregations, every page);
- **raw pull**: every document's ``@timestamp`` and ``event.dataset`` (the fields the frame
  needs) by ``search_after`` pages of 10,000 sorted on ``@timestamp`` and ``event.id`` (the index
  does not change during the run, so no point-in-time is needed), trimmed by ``filter_path`` to
  each hit's source and sort values, then the frame computed locally in an in-memory DuckDB
  store.

osmem-server reads every document again for each aggregation request, so its push-down seconds
follow the number of requests (``one_aggregation_pass_seconds`` is one such pass); a real
cluster aggregates over doc values. The bytes and requests are the comparison that carries over.

Both frames are checked to be equal before anything is reported.

    python benchmarks/bench_cluster_series.py [--docs N] [--out FILE] [--flavours opensearch,...]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # tests.cluster.proxy counts the traffic

from osmem_server import OsmemServer  # noqa: E402
from tests.cluster.proxy import ClusterProxy  # noqa: E402

from loglens.cluster import ClusterClient, ClusterSettings, connect  # noqa: E402
from loglens.cluster.bulk import BulkWriter  # noqa: E402
from loglens.cluster.documents import documents, index_template, table  # noqa: E402
from loglens.series import SeriesFrame, SeriesSpec  # noqa: E402
from loglens.store import open_store  # noqa: E402
from loglens.store.elastic_series import series  # noqa: E402

INDEX = "bench-events"
START = datetime(2024, 4, 1, tzinfo=UTC)  # a Monday
DAYS = 30
GROUPS = 20
STEP = timedelta(minutes=15)
PULL_PAGE = 10_000
PULLED_FIELDS = ["@timestamp", "event.dataset"]
# The raw pull at its leanest: only each hit's source and sort values come back.
TRIMMED = {"filter_path": "hits.hits._source,hits.hits.sort"}


def synthetic_events(total: int, seed: int = 5) -> pa.Table:
    """``total`` events (about) over 30 days for 20 datasets with daily and weekly cycles."""
    rng = np.random.default_rng(seed)
    buckets = DAYS * 96
    starts = np.datetime64(START.replace(tzinfo=None), "us") + np.arange(buckets) * np.timedelta64(
        15, "m"
    )
    hours = (np.arange(buckets) % 96) / 4.0
    weekday = (np.arange(buckets) // 96) % 7
    shape = (1 + 0.8 * np.sin((hours - 8) / 24 * 2 * np.pi)) * np.where(weekday >= 5, 0.5, 1.0)
    sizes = rng.uniform(0.3, 1.7, GROUPS)  # groups of different volumes
    mean = total / (shape.sum() * sizes.sum())
    counts = rng.poisson(mean * sizes[:, None] * shape[None, :])
    group_of = np.repeat(np.arange(GROUPS), counts.sum(axis=1))
    bucket_of = np.concatenate([np.repeat(np.arange(buckets), row) for row in counts])
    step_us = int(STEP.total_seconds() * 1_000_000)
    # Whole milliseconds: what a cluster's date field holds.
    offsets = rng.integers(0, step_us // 1000, len(group_of)) * 1000
    stamps = starts[bucket_of] + offsets.astype("timedelta64[us]")
    n = len(group_of)
    return pa.table(
        {
            "@timestamp": pa.array(stamps, pa.timestamp("us", tz="UTC")),
            "event.id": pa.array([f"e{i:08d}" for i in range(n)]),
            "event.dataset": pa.array([f"bench.g{g:02d}" for g in group_of.tolist()]),
            "network.bytes": pa.array(rng.integers(40, 9000, n)),
        }
    )


def load(url: str, events: pa.Table) -> dict[str, Any]:
    with connect(ClusterSettings(hosts=(url,), request_timeout=120.0)) as client:
        client.request("PUT", "/_index_template/bench", body=index_template(["bench-*"]))
        client.request("PUT", f"/{INDEX}", body={"settings": {"number_of_shards": 1}})
        started = time.perf_counter()
        result = BulkWriter(client, INDEX, docs=5000, known_new=True).write(documents(events))
        client.request("POST", f"/{INDEX}/_refresh")
        seconds = time.perf_counter() - started
        stored = client.request("GET", f"/{INDEX}/_count")["count"]
    if stored != events.num_rows:
        raise SystemExit(f"loaded {stored} of {events.num_rows} documents: {result}")
    return {
        "documents": stored,
        "seconds": round(seconds, 1),
        "docs_per_s": round(stored / seconds),
    }


def spec() -> SeriesSpec:
    end = START + timedelta(days=DAYS)
    return SeriesSpec.of("event.dataset", STEP, start=START, end=end, max_groups=GROUPS)


def push_down(client: ClusterClient) -> SeriesFrame:
    return series(client, INDEX, spec())


def raw_pull(client: ClusterClient) -> tuple[SeriesFrame, float]:
    """Every document's needed fields, then the frame computed locally; and the pull's seconds."""
    sources: list[dict[str, Any]] = []
    body: dict[str, Any] = {
        "size": PULL_PAGE,
        "_source": PULLED_FIELDS,
        "sort": [{"@timestamp": "asc"}, {"event.id": "asc"}],
        "track_total_hits": False,
    }
    started = time.perf_counter()
    while True:
        answer = client.request("POST", f"/{INDEX}/_search", body=body, params=TRIMMED)
        hits = answer.get("hits", {}).get("hits", [])
        sources.extend(hit["_source"] for hit in hits)
        if len(hits) < PULL_PAGE:
            break
        body["search_after"] = hits[-1]["sort"]
    pulled = time.perf_counter() - started
    with open_store("duckdb::memory:") as local:
        local.write(table(sources, ["event.id", *PULLED_FIELDS]))
        return local.series(spec()), pulled


def one_pass(client: ClusterClient) -> float:
    """Seconds of the simplest aggregation over every document: what any search costs here."""
    started = time.perf_counter()
    body = {"size": 0, "aggs": {"n": {"terms": {"field": "event.dataset", "size": GROUPS}}}}
    client.request("POST", f"/{INDEX}/_search", body=body)
    return time.perf_counter() - started


def same(a: SeriesFrame, b: SeriesFrame) -> bool:
    return (
        np.array_equal(a.buckets, b.buckets)
        and [s.key for s in a.series] == [s.key for s in b.series]
        and all(
            np.array_equal(x.values, y.values, equal_nan=True)
            and np.array_equal(x.silent, y.silent)
            and np.array_equal(x.active, y.active)
            for x, y in zip(a.series, b.series, strict=True)
        )
    )


def measure(upstream: str, flavour: str) -> dict[str, Any]:
    with ClusterProxy(upstream, pretend_elasticsearch=flavour == "elasticsearch") as proxy:
        runs: dict[str, Any] = {}
        frames: dict[str, SeriesFrame] = {}
        for way in ("push_down", "raw_pull"):
            with connect(ClusterSettings(hosts=(proxy.url,), request_timeout=120.0)) as client:
                assert client.flavour == flavour
                before_requests = len(proxy.traffic.requests)
                before_sent = proxy.traffic.bytes_sent
                before_received = proxy.traffic.bytes_received
                started = time.perf_counter()
                if way == "push_down":
                    frames[way] = push_down(client)
                    extra: dict[str, Any] = {}
                else:
                    frames[way], pulled = raw_pull(client)
                    extra = {"pull_seconds": round(pulled, 2)}
                seconds = time.perf_counter() - started
                runs[way] = {
                    "requests": len(proxy.traffic.requests) - before_requests,
                    "bytes_sent": proxy.traffic.bytes_sent - before_sent,
                    "bytes_received": proxy.traffic.bytes_received - before_received,
                    "seconds": round(seconds, 2),
                    **extra,
                }
        with connect(ClusterSettings(hosts=(proxy.url,), request_timeout=120.0)) as client:
            runs["one_aggregation_pass_seconds"] = round(one_pass(client), 2)
    if not same(frames["push_down"], frames["raw_pull"]):
        raise SystemExit(f"{flavour}: the pushed-down frame differs from the local one")
    frame = frames["push_down"]
    runs["frame"] = {"groups": len(frame.series), "buckets": len(frame.buckets)}
    down, raw = runs["push_down"], runs["raw_pull"]
    runs["raw_over_push_down"] = {
        "requests": round(raw["requests"] / down["requests"], 1),
        "bytes_received": round(raw["bytes_received"] / down["bytes_received"], 1),
        "bytes_total": round(
            (raw["bytes_received"] + raw["bytes_sent"])
            / (down["bytes_received"] + down["bytes_sent"]),
            1,
        ),
        "seconds": round(raw["seconds"] / down["seconds"], 1),
    }
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--docs", type=int, default=200_000, help="about this many documents")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "cluster_series.json")
    parser.add_argument("--flavours", default="opensearch,elasticsearch")
    args = parser.parse_args()

    events = synthetic_events(args.docs)
    with OsmemServer.start() as server, server.clone() as clone:
        loaded = load(clone.url, events)
        print(f"loaded {loaded}", flush=True)
        results = {}
        for flavour in args.flavours.split(","):
            results[flavour] = measure(clone.url, flavour)
            print(flavour, json.dumps(results[flavour]), flush=True)
        server_version = server.version

    report = {
        "benchmark": "cluster series: push-down vs raw pull",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        "server": f"osmem-server {server_version} (through a counting proxy)",
        "frame": {"days": DAYS, "interval": "15m", "groups": GROUPS, "metric": "count"},
        "load": loaded,
        "results": results,
        "notes": [
            "push-down: composite + date_histogram aggregations read to the last page",
            f"raw pull: search_after pages of {PULL_PAGE}, _source {PULLED_FIELDS}, "
            "filter_path to sources and sort values, then DuckDB locally",
            "one_aggregation_pass_seconds: a terms aggregation over every document; osmem-server "
            "reads every document again for each aggregation request, so push-down seconds "
            "there are about requests x that, unlike a real cluster's doc values",
            "seconds are wall-clock on a shared 2-core machine: noisy",
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
