"""Accuracy of template mining on loghub-format ``*_structured.csv`` files.

Metrics, as defined in the log-parsing literature:

- **Grouping accuracy** (GA; Zhu et al., "Tools and Benchmarks for Automated Log Parsing",
  ICSE-SEIP 2019): the fraction of lines whose predicted group holds exactly the lines of their
  ground-truth group — a line counts only if its group is neither split nor mixed.
- **Parsing accuracy** (PA; Khan et al., "Guidelines for Assessing the Accuracy of Log Message
  Template Identification Techniques", ICSE 2022; also Dai et al. 2020): the fraction of lines
  whose predicted template text equals the ground-truth template. Both texts are normalised
  first: whitespace runs become one space, ends are stripped, and directly adjacent wildcards
  (``<*><*>``) become one. Nothing else is forgiven (``blk_<*>`` is not ``<*>``).

The message of a line is the ``Content`` column (loghub's header fields are already split off).
Every system is parsed with the same parser: no per-dataset settings.
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from loglens.errors import SourceError
from loglens.evaluate.errors import EvaluationError

#: A parser: messages -> (a group key per message, a template text per message).
Parser = Callable[[list[str]], tuple[Sequence[Hashable], Sequence[str]]]

_ADJACENT_WILDCARDS = re.compile(r"(?:<\*>){2,}")
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class StructuredLog:
    """One loghub ``*_structured.csv``: per line its message and ground truth."""

    system: str
    path: Path
    messages: list[str]
    event_ids: list[str]
    templates: list[str]


@dataclass(frozen=True)
class SystemScore:
    system: str
    lines: int
    grouping_accuracy: float
    parsing_accuracy: float
    templates_found: int
    templates_truth: int


@dataclass(frozen=True)
class TemplateAccuracyReport:
    ground_truth: str  # "original" or "corrected"
    systems: list[SystemScore] = field(default_factory=list)

    @property
    def mean_grouping_accuracy(self) -> float:
        return _mean([s.grouping_accuracy for s in self.systems])

    @property
    def mean_parsing_accuracy(self) -> float:
        return _mean([s.parsing_accuracy for s in self.systems])

    @property
    def min_grouping_accuracy(self) -> float:
        return min((s.grouping_accuracy for s in self.systems), default=0.0)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def grouping_accuracy(predicted: Sequence[Hashable], truth: Sequence[Hashable]) -> float:
    """GA: the share of lines whose predicted group equals their ground-truth group."""
    _same_length(predicted, truth)
    if not truth:
        return 0.0
    truth_sizes = Counter(truth)
    members: dict[Hashable, list[int]] = defaultdict(list)
    for line, group in enumerate(predicted):
        members[group].append(line)
    correct = 0
    for lines in members.values():
        truths = {truth[line] for line in lines}
        if len(truths) == 1 and truth_sizes[truth[lines[0]]] == len(lines):
            correct += len(lines)
    return correct / len(truth)


def normalise_template(text: str) -> str:
    """The form both template texts take before PA compares them."""
    return _ADJACENT_WILDCARDS.sub("<*>", _SPACES.sub(" ", text.strip()))


def parsing_accuracy(predicted: Sequence[str], truth: Sequence[str]) -> float:
    """PA: the share of lines whose normalised predicted template equals the ground truth."""
    _same_length(predicted, truth)
    if not truth:
        return 0.0
    correct = sum(
        normalise_template(p) == normalise_template(t)
        for p, t in zip(predicted, truth, strict=True)
    )
    return correct / len(truth)


def _same_length(predicted: Sequence[object], truth: Sequence[object]) -> None:
    if len(predicted) != len(truth):
        raise EvaluationError(f"{len(predicted)} predictions for {len(truth)} ground-truth lines")


def structured_path(root: Path, system: str, *, corrected: bool = False) -> Path:
    suffix = "_structured_corrected.csv" if corrected else "_structured.csv"
    return root / system / f"{system}_2k.log{suffix}"


def find_systems(root: Path) -> list[str]:
    """Systems under a loghub_2k folder: sub-folders holding ``<name>_2k.log_structured.csv``."""
    if not root.is_dir():
        raise SourceError("not a folder", location=str(root))
    return sorted(
        d.name for d in root.iterdir() if d.is_dir() and structured_path(root, d.name).is_file()
    )


def load_structured(path: Path, system: str | None = None) -> StructuredLog:
    """Read a loghub ``*_structured.csv`` (columns ``Content``, ``EventId``, ``EventTemplate``)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = {"Content", "EventId", "EventTemplate"} - set(reader.fieldnames or ())
            if missing:
                raise SourceError(f"missing columns {sorted(missing)}", location=str(path))
            messages, event_ids, templates = [], [], []
            for row in reader:
                if row["Content"] is None or row["EventId"] is None:
                    raise SourceError("short row", location=f"{path}:{reader.line_num}")
                messages.append(row["Content"])
                event_ids.append(row["EventId"])
                templates.append(row["EventTemplate"] or "")
    except OSError as exc:
        raise SourceError(f"cannot read: {exc.strerror or exc}", location=str(path)) from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(f"not a loghub structured CSV: {exc}", location=str(path)) from None
    name = system or path.name.split("_")[0]
    return StructuredLog(name, path, messages, event_ids, templates)


def loglens_parser(messages: list[str]) -> tuple[Sequence[Hashable], Sequence[str]]:
    """loglens' miner with its default (and only) configuration, fresh for each system."""
    from loglens.templates import TemplateMiner

    table = TemplateMiner().assign(messages)
    ids = table.column("template_id").to_pylist()
    texts = table.column("template").to_pylist()
    return ids, [t or "" for t in texts]


def score_system(log: StructuredLog, parser: Parser = loglens_parser) -> SystemScore:
    groups, texts = parser(log.messages)
    return SystemScore(
        system=log.system,
        lines=len(log.messages),
        grouping_accuracy=grouping_accuracy(groups, log.event_ids),
        parsing_accuracy=parsing_accuracy(texts, log.templates),
        templates_found=len(set(groups)),
        templates_truth=len(set(log.event_ids)),
    )


def evaluate_loghub(
    root: Path,
    *,
    corrected: bool = False,
    systems: Sequence[str] | None = None,
    parser: Parser = loglens_parser,
) -> TemplateAccuracyReport:
    """GA and PA per system and their means, on the original or the corrected ground truth."""
    names = list(systems) if systems is not None else find_systems(root)
    if not names:
        raise SourceError("no loghub *_structured.csv files found", location=str(root))
    scores = [
        score_system(
            load_structured(structured_path(root, name, corrected=corrected), name), parser
        )
        for name in names
    ]
    return TemplateAccuracyReport("corrected" if corrected else "original", scores)
