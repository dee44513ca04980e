"""Template accuracy on the shared loghub_2k samples (skipped when ../shared is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loglens.evaluate.templates import evaluate_loghub, load_structured, structured_path
from loglens.templates import TemplateMiner

LOGHUB = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "loghub_2k"

pytestmark = pytest.mark.shared_data


@pytest.fixture
def loghub() -> Path:
    if not structured_path(LOGHUB, "HDFS").is_file():
        pytest.skip("loghub_2k not available under ../shared/datasets")
    return LOGHUB


def test_one_configuration_meets_the_accuracy_bar(loghub: Path) -> None:
    report = evaluate_loghub(loghub)
    assert len(report.systems) == 12
    assert report.mean_grouping_accuracy >= 0.95
    assert report.min_grouping_accuracy >= 0.85, [
        (s.system, s.grouping_accuracy) for s in report.systems
    ]
    assert 0.3 <= report.mean_parsing_accuracy <= 1.0


def test_hdfs_state_round_trip_and_stable_ids(loghub: Path) -> None:
    log = load_structured(structured_path(loghub, "HDFS"))
    half = len(log.messages) // 2
    miner = TemplateMiner().fit(log.messages[:half])
    first = miner.assign(log.messages[:half], learn=False).column("template_id").to_pylist()
    restored = TemplateMiner.from_json(miner.to_json())
    later = restored.assign(log.messages).column("template_id").to_pylist()
    assert [restored.resolve(i) for i in first] == later[:half]
    fresh = TemplateMiner().assign(log.messages).column("template_id").to_pylist()
    assert len(set(fresh)) <= 20
