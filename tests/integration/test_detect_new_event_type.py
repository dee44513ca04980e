"""The generator's "new event type" incident is reported with the new templates' text."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from loglens.analyze import DetectSettings, run_detection
from loglens.config import load_config
from loglens.evaluate import evaluate_incidents, load_incidents
from loglens.pipeline import Pipeline
from loglens.sources.generate import HOST_FROM_PATH, generate
from loglens.store.duckdb import DuckDBStore

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("new-event-type")
    generate(
        root / "logs",
        days=5,
        seed=11,
        rate=0.25,
        start=datetime(2026, 4, 6, tzinfo=UTC),
        incidents=["new_event_type"],
    )
    config = load_config(
        env={},
        overrides={
            "store.url": f"duckdb:{root / 's.duckdb'}",
            "ingest.host_from_path": HOST_FROM_PATH,
        },
    )
    with Pipeline(config) as pipeline:
        report = pipeline.ingest([str(root / "logs")])
    assert report.templates is not None and report.templates.events > 0
    return root, root / "s.duckdb"


def test_new_event_type_is_reported_with_its_templates_text(generated: tuple[Path, Path]) -> None:
    root, path = generated
    (incident,) = load_incidents(root / "logs" / "labels.json")
    with DuckDBStore(str(path)) as store:
        report = run_detection(store, DetectSettings())
        stored = store.anomalies().to_pylist()
    findings = [
        a
        for a in [*report.anomalies, *report.related]
        if a.kind == "new_template" and a.start < incident.end and incident.start < a.end
    ]
    assert findings, [a.explanation for a in report.anomalies]
    sentences = " ".join(a.explanation for a in findings)
    # The account the incident creates shows in the templates useradd and usermod wrote.
    assert "to group 'sudo'" in sentences, sentences
    texts = [t for a in findings for t in a.details.get("templates") or [a.details["template"]]]
    assert any(t.startswith("new user: name=") for t in texts), texts
    host = incident.entities["host.name"][0]
    assert any(f"host {host}" in a.explanation for a in findings), sentences
    scored = evaluate_incidents(report.anomalies, [incident])
    assert scored.recall == 1.0 and scored.precision == 1.0, scored.to_json()
    # Written back like every anomaly: its sentence with the text is in the store.
    kept = {row["id"]: row for row in stored}
    assert any("to group 'sudo'" in kept[a.id]["explanation"] for a in findings)
    assert all(json.loads(kept[a.id]["series_key"])[0].startswith("T") for a in findings)


def test_demo_lists_the_new_templates_of_the_week(tmp_path: Path) -> None:
    import io

    from loglens.demo import run_demo

    config = load_config(env={}, overrides={"store.url": f"duckdb:{tmp_path / 's.duckdb'}"})
    out = io.StringIO()
    run_demo(config, tmp_path / "out", days=5, seed=42, rate=0.2, out=out)
    text = out.getvalue()
    section = text.split("7. log templates new this week", 1)[1].split("\n8. ", 1)[0]
    labels = json.loads((tmp_path / "out" / "labels.json").read_text(encoding="utf-8"))
    kinds = {incident["kind"] for incident in labels["incidents"]}
    assert "new_event_type" in kinds, kinds
    assert "new user: name=" in section and "ET CHAT IRC JOIN command" in section, section
    # The demo asks one question in plain words: the incident's own messages answer it.
    answer = text.split("7b. asked in plain words", 1)[1].split("\n8. ", 1)[0]
    first = answer.splitlines()[1]
    assert first.startswith("   1. add '") and "to group 'sudo'" in first, answer
