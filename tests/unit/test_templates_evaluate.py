"""GA and PA against hand-computed cases, and the loghub CSV loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from loglens.errors import SourceError
from loglens.evaluate.errors import EvaluationError
from loglens.evaluate.templates import (
    evaluate_loghub,
    grouping_accuracy,
    load_structured,
    normalise_template,
    parsing_accuracy,
)


def test_ga_perfect_grouping_with_other_labels() -> None:
    assert grouping_accuracy(["x", "x", "y"], ["E1", "E1", "E2"]) == 1.0


def test_ga_split_group_loses_all_its_lines() -> None:
    # E1 = lines 0-2 split into {0,1} and {2}: none of E1 counts; E2 (line 3) is exact.
    assert grouping_accuracy(["a", "a", "b", "c"], ["E1", "E1", "E1", "E2"]) == pytest.approx(1 / 4)


def test_ga_merged_group_loses_both() -> None:
    # a = E1 + E2 mixed: wrong; b = E3 alone and complete: right (2 of 5 lines).
    assert grouping_accuracy(["a", "a", "a", "b", "b"], ["E1", "E1", "E2", "E3", "E3"]) == 0.4


def test_ga_hand_case_from_zhu_et_al() -> None:
    # Ten lines; truth groups sizes 4,3,2,1. Predicted: first group exact (4), second split
    # (0), third merged with the single line (0): 4/10.
    truth = ["A"] * 4 + ["B"] * 3 + ["C"] * 2 + ["D"]
    predicted = [1] * 4 + [2, 2, 3] + [4, 4, 4]
    assert grouping_accuracy(predicted, truth) == 0.4


def test_pa_counts_lines_with_the_exact_normalised_template() -> None:
    truth = ["Took <*> seconds", "Took <*> seconds", "user <*>:<*> in", "a  b"]
    predicted = ["Took <*> seconds", "Took <*> <*>", "user <*>:<*> in", "a b "]
    assert parsing_accuracy(predicted, truth) == 0.75


def test_pa_normalisation() -> None:
    assert normalise_template("  id <*><*>  end ") == "id <*> end"
    assert normalise_template("blk_<*>") != normalise_template("<*>")


def test_lengths_must_agree() -> None:
    with pytest.raises(EvaluationError):
        grouping_accuracy(["a"], ["E1", "E2"])
    with pytest.raises(EvaluationError):
        parsing_accuracy([], ["x"])


def _write_system(root: Path, name: str, rows: list[tuple[str, str, str]]) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    lines = ["LineId,Content,EventId,EventTemplate"]
    lines += [f'{i + 1},"{c}",{e},"{t}"' for i, (c, e, t) in enumerate(rows)]
    (folder / f"{name}_2k.log_structured.csv").write_text("\n".join(lines) + "\n")


def test_evaluate_loghub_layout(tmp_path: Path) -> None:
    rows = [(f"Served block {i} to 10.0.0.{i}", "E1", "Served block <*> to <*>") for i in range(5)]
    rows += [("Shutting down, bye", "E2", "Shutting down, bye")]
    _write_system(tmp_path, "Tiny", rows)
    report = evaluate_loghub(tmp_path)
    [score] = report.systems
    assert (score.system, score.lines) == ("Tiny", 6)
    assert score.grouping_accuracy == 1.0
    assert score.parsing_accuracy == 1.0
    assert report.mean_grouping_accuracy == 1.0


def test_bad_files_are_clear_errors(tmp_path: Path) -> None:
    bad = tmp_path / "x.csv"
    bad.write_text("LineId,Message\n1,hello\n")
    with pytest.raises(SourceError, match="missing columns"):
        load_structured(bad)
    with pytest.raises(SourceError, match="cannot read"):
        load_structured(tmp_path / "absent.csv")
    with pytest.raises(SourceError, match="no loghub"):
        evaluate_loghub(tmp_path)
