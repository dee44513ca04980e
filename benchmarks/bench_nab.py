"""NAB scores (standard, reward_low_FP_rate, reward_low_FN_rate) of detectors on a NAB corpus.

Runs every detector of ``DETECTORS`` on the corpus (by default the shared NAB subset,
``../shared/datasets/nab`` from the project's root), chooses each profile's threshold over the
whole corpus as NAB does, and writes per-profile, per-category and per-file scores:

    python benchmarks/bench_nab.py [--corpus PATH] [--out benchmarks/results/nab.json]
                                   [--detectors windowed_gaussian,rolling,ensemble]

Scores are normalised: 0 is the null detector (never fires), 100 the perfect one. NAB's own
scoreboard (the full 58-file corpus, not this subset) lists the windowed Gaussian at 39.6
standard, 20.9 reward-low-FP and 47.4 reward-low-FN.

loglens' detectors run with one configuration for the whole corpus (see
``loglens.evaluate.nab_detectors``): scored on their alerts (anomaly starts), repeats within two
days of a stronger alert dropped, refitted daily on the past only where they learn daily shapes.
On the shared subset (44 files, 83 windows) the standard scores were: windowed Gaussian 44.6,
seasonal baseline 50.0, spectral 42.9, rolling 55.1, ensemble (rolling + baseline) 57.8.

To add a detector, add an entry to ``DETECTORS``: a name and a function returning a detector
factory (``() -> (timestamps, values) -> scores in [0, 1]``). loglens ``Detector`` classes go
through ``DetectorScorer``; import them inside the function, so that a detector that is missing
is reported as skipped instead of stopping the benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loglens.evaluate import load_corpus, run_nab
from loglens.evaluate.nab_detectors import NAB_DETECTORS

HERE = Path(__file__).resolve().parent
DEFAULT_CORPUS = HERE.parent.parent / "shared" / "datasets" / "nab"


DETECTORS = NAB_DETECTORS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "nab.json")
    parser.add_argument("--detectors", default=",".join(DETECTORS), help="comma-separated names")
    args = parser.parse_args()

    names = [n.strip() for n in args.detectors.split(",") if n.strip()]
    unknown = [n for n in names if n not in DETECTORS]
    if unknown:
        parser.error(f"unknown detectors {unknown}; known: {', '.join(DETECTORS)}")
    if not args.corpus.is_dir():
        print(f"no NAB corpus at {args.corpus}; pass --corpus", file=sys.stderr)
        return 2

    corpus = load_corpus(args.corpus)
    results: dict[str, Any] = {
        "benchmark": "nab",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "corpus": {
            "name": args.corpus.name,
            "files": len(corpus.files),
            "points": sum(len(f.values) for f in corpus.files),
            "windows": corpus.windows,
            "categories": sorted({f.category for f in corpus.files}),
        },
        "detectors": {},
        "skipped": {},
    }
    for name in names:
        try:
            factory = DETECTORS[name]()
        except ImportError as exc:
            results["skipped"][name] = f"not available: {exc}"
            print(f"{name}: skipped ({exc})")
            continue
        report = run_nab(corpus, factory, name=name)
        results["detectors"][name] = report.to_json()
        print(report.summary())

    results["standard_scores"] = {
        name: data["profiles"]["standard"]["score"] for name, data in results["detectors"].items()
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
