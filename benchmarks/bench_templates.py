"""Template mining: accuracy on loghub_2k beside drain3 and published figures, and throughput.

    python benchmarks/bench_templates.py [--loghub PATH] [--out benchmarks/results/templates.json]
                                         [--lines 1000000] [--no-drain3] [--no-throughput]

Accuracy: grouping accuracy (GA) and parsing accuracy (PA, after whitespace and adjacent-wildcard
normalisation; see ``loglens.evaluate.templates``) on the 12 loghub_2k systems
(``../shared/datasets/loghub_2k`` from the project's root), with the original and the corrected
ground truth. Every parser runs with one configuration for all systems, through the same harness:

- ``loglens``: ``TemplateMiner()`` defaults.
- ``drain3_default``: drain3's ``TemplateMiner`` with its default configuration (no masking).
- ``drain3_masked``: drain3 with masking instructions for IPs, hex and numbers (the kinds of
  drain3's own example configuration), masks written as ``<*>``.

Each line's template is its cluster's template after the whole file was read. Published figures
(per-dataset-tuned Drain and Brain, logparser's READMEs on loghub_2k, original ground truth) are
read from ``loghub_2k/_published_results`` and shown beside.

Throughput: 1,000,000 generated lines (``loglens generate``'s auth.log plus web access lines),
each parser in its own process; lines/s of assigning every line its template (loglens also with
parameters), and peak RSS of the process (lines already loaded as a Python list in both).

drain3 is not a loglens dependency: install it in the virtualenv for this benchmark only
(``pip install drain3``); without it the drain3 columns are skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Hashable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loglens.evaluate.templates import Parser, evaluate_loghub, loglens_parser

HERE = Path(__file__).resolve().parent
DEFAULT_LOGHUB = HERE.parent.parent / "shared" / "datasets" / "loghub_2k"


# -- drain3 adapters ------------------------------------------------------------------------------


def _drain3_miner(masked: bool) -> Any:
    from drain3 import TemplateMiner as Drain3Miner  # type: ignore[import-not-found]
    from drain3.masking import MaskingInstruction  # type: ignore[import-not-found]
    from drain3.template_miner_config import (  # type: ignore[import-not-found]
        TemplateMinerConfig,
    )

    config = TemplateMinerConfig()
    config.profiling_enabled = False
    if masked:
        config.mask_prefix, config.mask_suffix = "<", ">"
        config.masking_instructions = [
            MaskingInstruction(
                r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.){3}\d{1,3}(:\d+)?((?=[^A-Za-z0-9])|$)", "*"
            ),
            MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)(0x[a-fA-F0-9]+)((?=[^A-Za-z0-9])|$)", "*"),
            MaskingInstruction(
                r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+(\.\d+)?)((?=[^A-Za-z0-9])|$)", "*"
            ),
        ]
    return Drain3Miner(config=config)


def drain3_parser(masked: bool) -> Parser:
    def parse(messages: list[str]) -> tuple[Sequence[Hashable], Sequence[str]]:
        miner = _drain3_miner(masked)
        clusters = [miner.add_log_message(m)["cluster_id"] for m in messages]
        final = {c.cluster_id: c.get_template() for c in miner.drain.clusters}
        return clusters, [final[c] for c in clusters]

    return parse


def drain3_available() -> bool:
    try:
        import drain3  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True


# -- published figures ----------------------------------------------------------------------------


def published_figures(loghub: Path) -> dict[str, dict[str, float]]:
    """Drain's and Brain's loghub_2k accuracy (GA) from logparser's READMEs."""
    source = loghub / "_published_results" / "logparser_readme_benchmarks.md"
    if not source.is_file():
        return {}
    figures: dict[str, dict[str, float]] = {}
    current: str | None = None
    for line in source.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"## (\w+) ", line)
        if heading:
            current = heading.group(1) if heading.group(1) in ("Drain", "Brain") else None
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if current and len(cells) == 3 and re.fullmatch(r"[0-9.]+", cells[2]):
            figures.setdefault(current, {})[cells[0]] = float(cells[2])
    return figures


# -- accuracy -------------------------------------------------------------------------------------


def accuracy(loghub: Path, parsers: dict[str, Parser]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for truth in ("original", "corrected"):
        per_parser: dict[str, Any] = {}
        for name, parser in parsers.items():
            started = time.perf_counter()
            report = evaluate_loghub(loghub, corrected=truth == "corrected", parser=parser)
            per_parser[name] = {
                "mean_ga": round(report.mean_grouping_accuracy, 4),
                "mean_pa": round(report.mean_parsing_accuracy, 4),
                "min_ga": round(report.min_grouping_accuracy, 4),
                "seconds": round(time.perf_counter() - started, 2),
                "systems": {
                    s.system: {
                        "ga": round(s.grouping_accuracy, 4),
                        "pa": round(s.parsing_accuracy, 4),
                        "templates": s.templates_found,
                        "truth_templates": s.templates_truth,
                    }
                    for s in report.systems
                },
            }
            print(
                f"{truth:9s} {name:15s} GA {per_parser[name]['mean_ga']:.3f}"
                f" (min {per_parser[name]['min_ga']:.3f}) PA {per_parser[name]['mean_pa']:.3f}"
            )
        results[truth] = per_parser
    return results


# -- throughput -----------------------------------------------------------------------------------


def generated_lines(folder: Path, total: int) -> Path:
    """``total`` lines: a generated auth.log, then web access lines up to the total."""
    from loglens.sources.generate import generate, write_web_access

    result = generate(folder / "traffic", days=14, seed=5, rate=2.0)
    auth = next(f.path for f in result.files if f.dataset == "system.auth")
    auth_lines = auth.read_text(encoding="utf-8").splitlines()[:total]
    web = folder / "web.log"
    write_web_access(web, total - len(auth_lines), seed=5)
    out = folder / "lines.txt"
    with out.open("w", encoding="utf-8") as handle:
        handle.write("\n".join(auth_lines) + "\n")
        handle.write(web.read_text(encoding="utf-8"))
    return out


def throughput_worker(kind: str, path: Path) -> dict[str, Any]:
    """Run in a fresh process: assign every line of ``path`` a template."""
    lines = path.read_text(encoding="utf-8").splitlines()
    loaded_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if kind.startswith("loglens"):
        import pyarrow as pa

        from loglens.templates import TemplateMiner

        table = TemplateMiner().assign(pa.array(lines), parameters=kind == "loglens+parameters")
        templates = len(table.column("template_id").unique())
    else:
        miner = _drain3_miner(masked=kind == "drain3_masked")
        for line in lines:
            miner.add_log_message(line)
        templates = len(miner.drain.clusters)
    seconds = time.perf_counter() - started
    return {
        "lines": len(lines),
        "seconds": round(seconds, 3),
        "lines_per_second": round(len(lines) / seconds),
        "templates": templates,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_after_loading_lines_mb": round(loaded_rss / 1024, 1),
    }


def throughput(total: int, kinds: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = generated_lines(Path(tmp), total)
        for kind in kinds:
            done = subprocess.run(
                [sys.executable, __file__, "--throughput-worker", kind, str(path)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                results[kind] = {"error": done.stderr.strip().splitlines()[-1:]}
            else:
                results[kind] = json.loads(done.stdout)
            print(f"throughput {kind:20s} {results[kind]}")
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loghub", type=Path, default=DEFAULT_LOGHUB)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "templates.json")
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--no-drain3", action="store_true")
    parser.add_argument("--no-throughput", action="store_true")
    parser.add_argument("--throughput-worker", nargs=2, metavar=("KIND", "FILE"))
    args = parser.parse_args()

    if args.throughput_worker:
        kind, path = args.throughput_worker
        print(json.dumps(throughput_worker(kind, Path(path))))
        return 0

    results: dict[str, Any] = {
        "benchmark": "templates",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "notes": [],
    }
    use_drain3 = not args.no_drain3 and drain3_available()
    if not use_drain3:
        results["notes"].append("drain3 not installed (or --no-drain3): drain3 columns skipped")
    parsers: dict[str, Parser] = {"loglens": loglens_parser}
    if use_drain3:
        parsers["drain3_default"] = drain3_parser(masked=False)
        parsers["drain3_masked"] = drain3_parser(masked=True)

    if (args.loghub / "HDFS").is_dir():
        results["accuracy"] = accuracy(args.loghub, parsers)
        results["published_ga_original_truth"] = published_figures(args.loghub)
    else:
        results["notes"].append(f"no loghub_2k at {args.loghub.name}: accuracy skipped")

    if not args.no_throughput:
        kinds = ["loglens", "loglens+parameters"]
        if use_drain3:
            kinds += ["drain3_default", "drain3_masked"]
        results["throughput"] = throughput(args.lines, kinds)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
