"""The demo job: generate a week of synthetic traffic, ingest it, show what is in the store.

It is the quick start's first command and a smoke test of the whole path a user's data takes.
It now also detects anomalies (ranked, explained, written back) and scores them against the
generated ground truth, lists the new and rare log templates of the week, and answers a
question in plain words with the store's templates (semantic search); later stages
(report) join it as they are built.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TextIO

from loglens.analyze import DetectSettings, run_detection
from loglens.config import Config
from loglens.detect.base import Anomaly
from loglens.detect.templates import RARE_TEMPLATE
from loglens.errors import SemanticError
from loglens.evaluate import evaluate_incidents
from loglens.output import describe_ingest, format_count, safe_terminal_text, write_table
from loglens.pipeline import Pipeline
from loglens.semantic.store_search import search_templates
from loglens.sources.generate import HOST_FROM_PATH, generate
from loglens.store.base import Query, Store
from loglens.templates.stored import list_templates

SAMPLE_QUERIES: tuple[tuple[str, str], ...] = (
    ("Failed SSH logins", "event.action:ssh_login AND event.outcome:failure"),
    ("Web requests that hit a missing page", "http.response.status_code:404"),
    ("WordPress login probes", "url.path:*wp-login*"),
    ("IDS alerts", "event.kind:alert"),
    ("Connections rejected by the target", "zeek.conn.conn_state:REJ"),
)
SAMPLE_QUESTION = "user added to the sudo group"


def run_demo(
    config: Config,
    out_dir: Path,
    *,
    days: int,
    seed: int,
    rate: float,
    out: TextIO,
    top_anomalies: int = 10,
) -> None:
    """Generate → ingest → summarise, printing as it goes."""
    started = time.perf_counter()
    result = generate(out_dir, days=days, seed=seed, rate=rate)
    out.write(
        f"1. generated {format_count(result.total_events)} events over {days} days "
        f"({result.start:%Y-%m-%d} .. {result.end:%Y-%m-%d}) into {out_dir} "
        f"with {len(result.incidents)} labelled incidents "
        f"[{time.perf_counter() - started:.1f}s]\n"
    )
    step = time.perf_counter()
    # The generated web log lies in a folder named after its server (lines do not name it).
    config = config.with_overrides({"ingest.host_from_path": HOST_FROM_PATH})
    with Pipeline(config) as pipeline:
        report = pipeline.ingest([str(f.path) for f in result.files])
        out.write(
            f"2. ingested into {config.store.url}: read {format_count(report.total('records'))}, "
            f"parsed {format_count(report.total('parsed'))}, "
            f"stored raw {format_count(report.total('failed'))}, "
            f"duplicates {format_count(report.total('duplicates'))} "
            f"[{time.perf_counter() - step:.1f}s]\n"
        )
        for record in report.inputs:
            out.write(f"   {describe_ingest(record)}\n")
        if report.templates is not None:
            mined = report.templates
            out.write(
                f"   log templates: {format_count(mined.events)} messages "
                f"({format_count(mined.messages)} distinct) in {mined.templates} templates "
                f"[{mined.seconds:.1f}s]\n"
            )
        store = pipeline.store
        out.write("\n3. events per dataset\n")
        rows = [
            {"dataset": d.dataset, "events": d.events, "parse failures": d.failures,
             "first": d.first, "last": d.last}
            for d in store.datasets()
        ]  # fmt: skip
        write_table(rows, ["dataset", "events", "parse failures", "first", "last"], out,
                    right_align=["events", "parse failures"])  # fmt: skip
        out.write("\n4. events per network protocol\n")
        protocols = store.terms("network.protocol", Query(), size=20)
        write_table(
            [{"network.protocol": b.value, "events": b.count} for b in protocols.buckets],
            ["network.protocol", "events"],
            out,
            right_align=["events"],
        )
        out.write("\n5. sample queries (loglens query '...' --count)\n")
        for title, lucene in SAMPLE_QUERIES:
            count = store.count(Query(text=lucene))
            out.write(f"   {format_count(count):>9}  {title}: {lucene}\n")
        top = store.terms(
            "source.ip", Query(text="event.action:ssh_login AND event.outcome:failure"), 3
        )
        if top.buckets:
            names = ", ".join(f"{b.value} ({b.count:,})" for b in top.buckets)
            out.write(f"   top sources of failed SSH logins: {names}\n")
        step = time.perf_counter()
        detection = run_detection(store, DetectSettings(limit=top_anomalies))
        out.write(
            f"\n6. anomalies, ranked and explained (loglens detect) "
            f"[{time.perf_counter() - step:.1f}s]\n"
        )
        for rank, anomaly in enumerate(detection.anomalies, start=1):
            text = safe_terminal_text(anomaly.explanation)
            out.write(f"   {rank:>2}. [{anomaly.severity}] {text}\n")
            related = anomaly.details.get("related") or []
            if related:
                names = ", ".join(sorted({str(r["series"]) for r in related}))
                out.write(f"       also seen in {safe_terminal_text(names)}\n")
        if detection.tagged_events:
            out.write(
                f"   {format_count(detection.tagged_events)} events tagged loglens.anomaly "
                "(loglens query tags:loglens.anomaly)\n"
            )
        if detection.first is not None:
            since = detection.first + timedelta(days=DetectSettings().warmup_days)
            _write_new_templates(store, [*detection.anomalies, *detection.related], since, out)
        _write_search(store, SAMPLE_QUESTION, out)
    labels = json.loads((out_dir / "labels.json").read_text(encoding="utf-8"))
    out.write("\n8. ground truth in labels.json, and how the ranked list above scores on it\n")
    for incident in labels.get("incidents", []):
        out.write(f"   {incident['kind']:<16} {incident['start']} .. {incident['end']}\n")
    scored = evaluate_incidents(detection.anomalies, out_dir / "labels.json")
    out.write(
        f"   found {scored.matched_incidents} of {scored.incidents} incidents; "
        f"{scored.matching_anomalies} of {scored.anomalies} listed anomalies are incidents "
        f"(recall {scored.recall:.0%}, precision {scored.precision:.0%})\n"
    )
    out.write(f"\ndone in {time.perf_counter() - started:.1f}s\n")


def _write_search(store: Store, question: str, out: TextIO) -> None:
    """One question in plain words, answered with the store's templates (offline model)."""
    out.write(f'\n7b. asked in plain words (loglens search "{question}")\n')
    try:
        result = search_templates(store, question, top=3, examples=0)
    except SemanticError as exc:
        out.write(f"   (semantic search unavailable: {safe_terminal_text(str(exc))})\n")
        return
    for rank, hit in enumerate(result.hits, start=1):
        hosts = ", ".join(str(v) for v, _ in hit.entities.get("host.name", []))
        where = f" on {safe_terminal_text(hosts)}" if hosts else ""
        out.write(
            f"   {rank}. {safe_terminal_text(hit.template.text)}  "
            f"({_events(hit.template.events)}{where})\n"
        )
    out.write(
        f"   {len(result.hits)} of {result.templates_searched} templates, ranked in "
        f"{result.rank_seconds * 1000:.0f} ms\n"
    )


def _events(count: int) -> str:
    return f"{format_count(count)} event{'s' if count != 1 else ''}"


def _write_new_templates(
    store: Store, anomalies: Sequence[Anomaly], since: datetime, out: TextIO
) -> None:
    """Templates first seen after the first day, and rare ones the detectors found back."""
    out.write(
        f"\n7. log templates new this week (loglens templates --new-since "
        f"{since:%Y-%m-%d}), and rare ones back\n"
    )
    new = list_templates(store, new_since=since)
    rows = [
        {"first seen": t.first_seen, "events": t.events, "template": t.text}
        for t in sorted(new, key=lambda t: (t.first_seen or since, t.text))
    ]
    write_table(rows, ["first seen", "events", "template"], out, max_width=100,
                right_align=["events"])  # fmt: skip
    for anomaly in sorted((a for a in anomalies if a.kind == RARE_TEMPLATE), key=lambda a: a.start):
        out.write(f"   rare: {safe_terminal_text(anomaly.explanation)}\n")
