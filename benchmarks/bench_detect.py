"""Detection speed and quality: series + detectors, end to end on stored events, and incidents.

Three parts, each writing into one JSON results file:

1. ``speed_series``: 30 days × 15-minute buckets × 50 groups (about 1,000,000 events in a fresh
   store): building the frame, then every series detector on every group. Target < 5 s.
2. ``speed_end_to_end``: ``run_detection`` (all specs, detectors, merge, attribution, write-back)
   on about 1,000,000 generated events, in its own process for peak RSS. Targets < 10 s and
   peak RSS < 1.5 GB.
3. ``quality``: a generated dataset (28 days, every incident kind twice) scored at incident level
   for the ensemble and for each detector alone, plus the four wavelet variants (raw, cA, cD,
   cA+cD) on the per-dataset event counts.

    python benchmarks/bench_detect.py [--days 28] [--seed 7] [--parts speed,e2e,quality]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

HERE = Path(__file__).resolve().parent
SCRATCH = HERE / "scratch"
KINDS_TWICE = 2
WAVELET_VARIANTS = ("raw", "cA", "cD", "cA+cD")

_E2E_CHILD = r"""
import json, resource, sys, time
from loglens.analyze import DetectSettings, run_detection
from loglens.store.duckdb import DuckDBStore
start = time.perf_counter()
with DuckDBStore(sys.argv[1]) as store:
    report = run_detection(store, DetectSettings(limit=50))
print(json.dumps({
    "seconds": time.perf_counter() - start,
    "anomalies": len(report.anomalies),
    "series": report.series_analysed,
    "tagged_events": report.tagged_events,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def _machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def _events_for_speed(groups: int, days: int, seed: int) -> pa.Table:
    """About 1M events: ``groups`` protocols with daily shapes of different sizes."""
    rng = np.random.default_rng(seed)
    start = datetime(2026, 1, 5, tzinfo=UTC)
    per_day = 96
    slots = np.arange(days * per_day)
    shape = 1.0 + 0.8 * np.sin(2 * np.pi * (slots % per_day) / per_day - np.pi / 2)
    scale = rng.uniform(0.5, 1.5, groups)
    scale *= 1_000_000 / (shape.sum() * scale.sum())
    counts = rng.poisson(np.outer(scale, shape))
    group_index = np.repeat(np.repeat(np.arange(groups), len(slots)), counts.ravel())
    slot_index = np.repeat(np.tile(slots, groups), counts.ravel())
    micros = (
        int(start.timestamp() * 1_000_000)
        + slot_index.astype(np.int64) * 900_000_000
        + rng.integers(0, 900_000_000, len(slot_index))
    )
    names = np.array([f"proto{g:02d}" for g in range(groups)])
    return pa.table(
        {
            "@timestamp": pa.array(micros, pa.timestamp("us", tz="UTC")),
            "event.dataset": pa.array(np.full(len(micros), "bench.flow")),
            "network.protocol": pa.array(names[group_index]),
        }
    )


def speed_series(groups: int = 50, days: int = 30) -> dict[str, Any]:
    from loglens.detect.base import DetectError
    from loglens.detect.baseline import SeasonalBaseline
    from loglens.detect.spectral import Spectral
    from loglens.detect.wavelet import WaveletDayClusters
    from loglens.series import SeriesSpec
    from loglens.store.duckdb import DuckDBStore

    events = _events_for_speed(groups, days, seed=1)
    with DuckDBStore(":memory:") as store:
        store.write(events)
        started = time.perf_counter()
        frame = store.series(SeriesSpec.of("network.protocol", "15m"))
        framed = time.perf_counter()
        found = 0
        for series in frame.series:
            for detector in (SeasonalBaseline(), Spectral(), WaveletDayClusters()):
                with contextlib.suppress(DetectError):  # too little history: nothing to say
                    found += len(detector.fit(series).detect(series))  # type: ignore[attr-defined]
        done = time.perf_counter()
    return {
        "events": events.num_rows,
        "groups": len(frame.series),
        "buckets": len(frame.buckets),
        "series_seconds": round(framed - started, 3),
        "detectors_seconds": round(done - framed, 3),
        "seconds": round(done - started, 3),
        "anomalies_on_clean_data": found,
        "target_seconds": 5,
    }


def _dataset(days: int, seed: int, rate: float = 1.0) -> tuple[Path, Path]:
    from loglens.config import load_config
    from loglens.pipeline import Pipeline
    from loglens.sources.generate import FILE_LAYOUT, HOST_FROM_PATH, INCIDENT_KINDS, generate

    root = SCRATCH / f"detect-{days}d-seed{seed}-rate{rate:g}"
    logs, store = root / "logs", root / "store.duckdb"
    current_layout = all((logs / relative).exists() for relative in FILE_LAYOUT.values())
    if store.exists() and (logs / "labels.json").exists() and current_layout:
        return logs, store
    shutil.rmtree(root, ignore_errors=True)
    kinds = [k for k in INCIDENT_KINDS for _ in range(KINDS_TWICE)]
    start = datetime(2026, 10, 1, tzinfo=UTC)
    generate(logs, days=days, seed=seed, rate=rate, start=start, incidents=kinds)
    config = load_config(
        env={}, overrides={"store.url": f"duckdb:{store}", "ingest.host_from_path": HOST_FROM_PATH}
    )
    with Pipeline(config) as pipeline:
        pipeline.ingest([str(logs)])
    return logs, store


def speed_end_to_end(seed: int) -> dict[str, Any]:
    from loglens.store.duckdb import DuckDBStore

    _, store = _dataset(14, seed)  # about 1M events
    with DuckDBStore(str(store), read_only=True) as opened:
        events = sum(d.events for d in opened.datasets())
    work = store.with_name("e2e.duckdb")
    shutil.copyfile(store, work)  # the run writes anomalies and tags
    result = subprocess.run(
        [sys.executable, "-c", _E2E_CHILD, str(work)], check=True, capture_output=True, text=True
    )
    measured: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    measured["events"] = events
    measured["events_per_s"] = round(events / measured["seconds"])
    measured["targets"] = {"seconds": 10, "peak_rss_mb": 1536}
    work.unlink()
    return measured


def _score(anomalies: list[Any], labels: Path) -> dict[str, Any]:
    from loglens.evaluate import evaluate_incidents

    report = evaluate_incidents(anomalies, labels)
    data = report.to_json()
    return {
        k: data[k]
        for k in (
            "incidents",
            "anomalies",
            "recall",
            "precision",
            "f1",
            "entity_named_rate",
            "time_to_detect_median_s",
            "missed",
        )
    }


def quality(days: int, seed: int) -> dict[str, Any]:
    from loglens.analyze import METHODS, DetectSettings, default_specs, run_detection
    from loglens.detect.wavelet import WaveletDayClusters
    from loglens.store.duckdb import DuckDBStore

    logs, store = _dataset(days, seed)
    labels = logs / "labels.json"
    results: dict[str, Any] = {"days": days, "seed": seed}
    with DuckDBStore(str(store), read_only=True) as opened:
        results["events"] = sum(d.events for d in opened.datasets())
        runs: dict[str, Any] = {}
        for name, methods in [("ensemble", METHODS), *[(m, (m,)) for m in METHODS]]:
            started = time.perf_counter()
            # Alone, a detector's findings stand on their own (no agreement asked).
            agreement = DetectSettings().needs_agreement if name == "ensemble" else ()
            report = run_detection(
                opened,
                DetectSettings(
                    methods=methods,
                    write_back=False,
                    attribute_top=400,
                    needs_agreement=agreement,
                ),
            )
            runs[name] = {
                **_score(report.anomalies, labels),
                "seconds": round(time.perf_counter() - started, 2),
            }
        results["detectors"] = runs
        spec = default_specs()[0].spec  # events per dataset
        frame = opened.series(spec)
        variants: dict[str, Any] = {}
        for variant in WAVELET_VARIANTS:
            anomalies = []
            for series in frame.series:
                detector = WaveletDayClusters(variant=variant)
                try:
                    anomalies += detector.fit(series).detect(series)
                except Exception as exc:  # recorded in the results, not hidden
                    variants.setdefault("skipped", []).append(f"{series.name}: {exc}")
            variants[variant] = _score(anomalies, labels)
        results["wavelet_variants"] = variants
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=28)
    # 7 is the seed the detectors were tuned on; 3 was never looked at while tuning.
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--parts", default="speed,e2e,quality")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "detect.json")
    args = parser.parse_args()
    parts = {p.strip() for p in args.parts.split(",")}
    SCRATCH.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {
        "benchmark": "detect",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
    }
    if "speed" in parts:
        results["speed_series"] = speed_series()
        print("series + detectors:", json.dumps(results["speed_series"]))
    if "e2e" in parts:
        results["speed_end_to_end"] = speed_end_to_end(args.seed)
        print("end to end:", json.dumps(results["speed_end_to_end"]))
    if "quality" in parts:
        results["quality"] = quality(args.days, args.seed)
        for name, run in results["quality"]["detectors"].items():
            print(
                f"{name:>14}: recall {run['recall']:.2f} precision {run['precision']:.2f} "
                f"F1 {run['f1']:.2f} ({run['anomalies']} anomalies, {run['seconds']} s)"
            )
        for name, run in results["quality"]["wavelet_variants"].items():
            if name != "skipped":
                print(f"  wavelet {name:>5}: recall {run['recall']:.2f} "
                      f"precision {run['precision']:.2f}")  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
