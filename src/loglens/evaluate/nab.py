"""Benchmark a detector on a NAB-layout corpus: run it, choose thresholds, score, report.

A NAB detector is any callable mapping ``(timestamps, values)`` to one score in [0, 1] per point
(NaN: no opinion, never fires); ``run_nab`` builds a fresh one per file from a factory, so
detectors may keep state. Wrap a loglens ``Detector`` with
:class:`~loglens.evaluate.detector_adapter.DetectorScorer`.

    report = run_nab("nab", WindowedGaussian)
    report.score("standard")          # normalised corpus score, 0 = null detector, 100 = perfect
    report.profiles["standard"].threshold
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from loglens.evaluate.errors import EvaluationError
from loglens.evaluate.nab_corpus import NabCorpus, load_corpus
from loglens.evaluate.nab_scoring import (
    PROBATION_PERCENT,
    PROFILES,
    FileScore,
    Profile,
    WindowLayout,
    get_profile,
    optimise_threshold,
    score_file,
    window_layout,
)

ScoreFn = Callable[[NDArray[np.datetime64], NDArray[np.float64]], ArrayLike]
DetectorFactory = Callable[[], ScoreFn]


def _normalised(raw: float, null: float, perfect: float) -> float | None:
    span = perfect - null
    return 100.0 * (raw - null) / span if span > 0 else None


@dataclass
class ProfileResult:
    """A detector's corpus score under one profile, at the profile's threshold.

    ``score`` is normalised (0 = the null detector, 100 = perfect); ``raw``, ``null`` and
    ``perfect`` are the corpus sums it comes from. ``by_category`` normalises the sums of each
    folder under ``data/`` alike (None for a folder without windows).
    """

    profile: Profile
    threshold: float
    threshold_optimised: bool
    raw: float
    null: float
    perfect: float
    files: list[FileScore]
    by_category: dict[str, float | None] = field(default_factory=dict)

    @property
    def score(self) -> float | None:
        return _normalised(self.raw, self.null, self.perfect)

    @property
    def detected(self) -> int:
        return sum(f.detected for f in self.files)

    @property
    def missed(self) -> int:
        return sum(f.missed for f in self.files)

    @property
    def false_positives(self) -> int:
        return sum(f.false_positives for f in self.files)

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``json.dumps``."""
        return {
            "profile": self.profile.name,
            "weights": {"tp": self.profile.tp, "fp": self.profile.fp, "fn": self.profile.fn},
            "threshold": self.threshold,
            "threshold_optimised": self.threshold_optimised,
            "score": _round(self.score),
            "raw": round(self.raw, 4),
            "null": self.null,
            "perfect": self.perfect,
            "windows_detected": self.detected,
            "windows_missed": self.missed,
            "false_positives": self.false_positives,
            "by_category": {k: _round(v) for k, v in self.by_category.items()},
            "files": {
                f.name: {
                    "score": _round(f.normalized),
                    "raw": round(f.raw, 4),
                    "windows": f.windows,
                    "detected": f.detected,
                    "false_positives": f.false_positives,
                }
                for f in self.files
            },
        }


@dataclass
class NabReport:
    """Per-profile, per-file and corpus scores of one detector on one corpus.

    ``abstained`` names the files on which the detector gave no score at all (all NaN, e.g. a
    history too short for it), which count as every window missed.
    """

    detector: str
    corpus: str
    files: int
    points: int
    windows: int
    seconds: float
    probation_percent: float
    profiles: dict[str, ProfileResult]
    abstained: list[str] = field(default_factory=list)

    def score(self, profile: str = "standard") -> float | None:
        """The normalised corpus score under a profile (None when the corpus has no windows)."""
        return self.profiles[get_profile(profile).name].score

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``json.dumps``."""
        return {
            "detector": self.detector,
            "corpus": self.corpus,
            "files": self.files,
            "points": self.points,
            "windows": self.windows,
            "detector_seconds": round(self.seconds, 3),
            "probation_percent": self.probation_percent,
            "abstained": self.abstained,
            "profiles": {name: result.to_json() for name, result in self.profiles.items()},
        }

    def summary(self) -> str:
        """A few lines a person reads: score and threshold per profile."""
        lines = [f"{self.detector} on {self.corpus}: {self.files} files, {self.windows} windows"]
        if self.abstained:
            lines.append(f"  no scores (NaN) on {len(self.abstained)} files: every window missed")
        for name, result in self.profiles.items():
            score = "n/a" if result.score is None else f"{result.score:6.2f}"
            lines.append(
                f"  {name:<20} {score}  threshold {result.threshold!r}  "
                f"windows {result.detected}/{result.detected + result.missed}  "
                f"false positives {result.false_positives}"
            )
        return "\n".join(lines)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def detector_scores(
    corpus: NabCorpus, detector_factory: DetectorFactory
) -> dict[str, NDArray[np.float64]]:
    """Run a fresh detector on every file; check and return its scores by file name.

    Raises:
        EvaluationError: a detector returned the wrong number of scores, or scores outside
            [0, 1] (NaN is allowed and never fires).
    """
    result: dict[str, NDArray[np.float64]] = {}
    for data in corpus.files:
        detector = detector_factory()
        try:
            scores = np.asarray(detector(data.timestamps, data.values), dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise EvaluationError(f"detector failed: {exc}", location=data.name) from exc
        if scores.shape != data.values.shape:
            raise EvaluationError(
                f"detector gave {scores.size} scores for {data.values.size} points",
                location=data.name,
            )
        finite = scores[~np.isnan(scores)]
        if finite.size and (finite.min() < 0.0 or finite.max() > 1.0):
            raise EvaluationError(
                f"scores must lie in [0, 1], got [{finite.min():.4g}, {finite.max():.4g}]",
                location=data.name,
            )
        result[data.name] = scores
    return result


def score_corpus(
    layouts: Sequence[WindowLayout],
    scores: Mapping[str, NDArray[np.float64]],
    profile: str | Profile = "standard",
    *,
    threshold: float | None = None,
) -> ProfileResult:
    """Score a corpus under one profile, optimising the threshold unless one is given.

    Args:
        layouts: the files' window layouts (see :func:`window_layout`).
        scores: each file's scores by name.
        profile: the application profile.
        threshold: fire on ``score >= threshold``; None chooses the best for the corpus.

    Raises:
        EvaluationError: a file has no scores.
    """
    chosen = get_profile(profile)
    missing = [layout.name for layout in layouts if layout.name not in scores]
    if missing:
        raise EvaluationError(f"no scores for {', '.join(missing[:3])}", location="scores")
    pairs = [(layout, scores[layout.name]) for layout in layouts]
    optimised = threshold is None
    if threshold is None:
        threshold = optimise_threshold(pairs, chosen).threshold
    files = [score_file(layout, values, threshold, chosen) for layout, values in pairs]
    categories: dict[str, list[FileScore]] = {}
    for f in files:
        categories.setdefault(f.name.split("/", 1)[0] if "/" in f.name else "", []).append(f)
    return ProfileResult(
        profile=chosen,
        threshold=float(threshold),
        threshold_optimised=optimised,
        raw=sum(f.raw for f in files),
        null=sum(f.null for f in files),
        perfect=sum(f.perfect for f in files),
        files=files,
        by_category={
            name: _normalised(
                sum(f.raw for f in group), sum(f.null for f in group), sum(f.perfect for f in group)
            )
            for name, group in sorted(categories.items())
        },
    )


def run_nab(
    corpus_dir: str | Path | NabCorpus,
    detector_factory: DetectorFactory,
    profile: str | Sequence[str] | None = None,
    *,
    threshold: float | Mapping[str, float] | None = None,
    name: str | None = None,
    probation_percent: float = PROBATION_PERCENT,
) -> NabReport:
    """Run a detector on every file of a NAB corpus and score it.

    Args:
        corpus_dir: a NAB-layout folder (``data/``, ``labels/combined_windows.json``) or a
            loaded corpus.
        detector_factory: builds a fresh detector per file, e.g. ``WindowedGaussian``.
        profile: one profile name, several, or None for NAB's three.
        threshold: a fixed threshold for every profile, one per profile name, or None to choose
            the best per profile over the whole corpus (as NAB does).
        name: the detector's name in the report (default: its ``name`` attribute, else the
            factory's name).
        probation_percent: share of each file left unscored.

    Returns:
        Per-profile corpus, per-category and per-file scores with the thresholds used.

    Raises:
        SourceError: the corpus cannot be read.
        EvaluationError: an unknown profile, or a detector's scores are unusable.
    """
    corpus = corpus_dir if isinstance(corpus_dir, NabCorpus) else load_corpus(corpus_dir)
    if profile is None:
        chosen = list(PROFILES.values())
    elif isinstance(profile, str):
        chosen = [get_profile(profile)]
    else:
        chosen = [get_profile(p) for p in profile]
    layouts = [
        window_layout(f.timestamps, f.windows, name=f.name, probation_percent=probation_percent)
        for f in corpus.files
    ]
    started = time.perf_counter()
    scores = detector_scores(corpus, detector_factory)
    seconds = time.perf_counter() - started
    results: dict[str, ProfileResult] = {}
    for weights in chosen:
        fixed = threshold.get(weights.name) if isinstance(threshold, Mapping) else threshold
        results[weights.name] = score_corpus(layouts, scores, weights, threshold=fixed)
    label = name or str(
        getattr(detector_factory, "name", None) or getattr(detector_factory, "__name__", "detector")
    )
    return NabReport(
        detector=label,
        corpus=corpus.root.name,
        files=len(corpus.files),
        points=sum(layout.points for layout in layouts),
        windows=sum(layout.windows for layout in layouts),
        seconds=seconds,
        probation_percent=probation_percent,
        profiles=results,
        abstained=[name for name, values in scores.items() if np.isnan(values).all()],
    )
