"""Ingest throughput and memory: 1,000,000 generated web events, as JSON lines and as Apache text.

Each measurement runs in its own process against a fresh DuckDB store, so peak RSS is that of one
ingest. A second run over the same file measures the idempotent path (all duplicates).

    python benchmarks/bench_ingest.py [--events N] [--out benchmarks/results/ingest.json]

Targets (2-core machine): ≥ 200,000 events/s for both formats, peak RSS < 1.5 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGET_EVENTS_PER_S = 200_000
TARGET_PEAK_RSS_MB = 1536

_CHILD = r"""
import json, resource, sys, time
from loglens.config import load_config
from loglens.pipeline import Pipeline
store, path = sys.argv[1], sys.argv[2]
config = load_config(env={}, overrides={"store.url": store})
start = time.perf_counter()
with Pipeline(config) as pipeline:
    report = pipeline.ingest([path])
elapsed = time.perf_counter() - start
record = report.inputs[0]
print(json.dumps({
    "seconds": elapsed,
    "records": record.records, "parsed": record.parsed, "failed": record.failed,
    "duplicates": record.duplicates, "format": record.format,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def run_ingest(store: Path, path: Path) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, f"duckdb:{store}", str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    measured: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    seconds = float(measured["seconds"])  # type: ignore[arg-type]
    measured["events_per_s"] = round(int(measured["records"]) / seconds)  # type: ignore[call-overload]
    return measured


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "ingest.json")
    parser.add_argument("--work", type=Path, default=HERE / "scratch")
    parser.add_argument(
        "--formats", default="apache,ecs-json", help="comma-separated: apache, ecs-json"
    )
    args = parser.parse_args()

    from loglens.sources.generate import write_web_access

    args.work.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    results: dict[str, object] = {
        "benchmark": "ingest",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "events": args.events,
        "targets": {"events_per_s": TARGET_EVENTS_PER_S, "peak_rss_mb": TARGET_PEAK_RSS_MB},
        "runs": {},
    }
    runs: dict[str, object] = {}
    chosen = {f.strip() for f in args.formats.split(",")}
    for fmt, name in (("apache", "access.log"), ("ecs-json", "events.ndjson")):
        if fmt not in chosen:
            continue
        path = args.work / name
        started = time.perf_counter()
        write_web_access(path, args.events, seed=7, fmt=fmt)
        generated = time.perf_counter() - started
        # The file is written back to disk before the ingest is timed: otherwise the kernel
        # writes its half a gigabyte out during the ingest, which a log already on disk
        # never costs.
        os.sync()
        store = args.work / f"bench-{fmt}.duckdb"
        for leftover in (store, store.with_suffix(".duckdb.wal")):
            leftover.unlink(missing_ok=True)
        first = run_ingest(store, path)
        again = run_ingest(store, path)
        runs[fmt] = {
            "file_mb": round(path.stat().st_size / 1e6, 1),
            "generate_seconds": round(generated, 2),
            "fresh_store": first,
            "reingest_same_file": again,
            "meets_targets": float(first["events_per_s"]) >= TARGET_EVENTS_PER_S  # type: ignore[arg-type]
            and float(first["peak_rss_mb"]) < TARGET_PEAK_RSS_MB,  # type: ignore[arg-type]
        }
        print(f"{fmt:>9}: {first['events_per_s']:>9,} events/s, peak RSS "
              f"{first['peak_rss_mb']:.0f} MB; re-ingest {again['events_per_s']:,} events/s, "
              f"{again['duplicates']:,} duplicates")  # fmt: skip
    results["runs"] = runs
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
