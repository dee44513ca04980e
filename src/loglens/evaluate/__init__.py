"""Backtesting detectors on labelled data.

- NAB: score any ``(timestamps, values) -> scores in [0, 1]`` detector on a corpus in the Numenta
  Anomaly Benchmark layout with NAB's scoring method (:func:`run_nab`), beside NAB's windowed
  Gaussian baseline (:class:`WindowedGaussian`); loglens detectors run through
  :class:`DetectorScorer`.
- Generated traffic: match ``Anomaly`` records to the incidents of ``labels.json``
  (:func:`evaluate_incidents`) for precision, recall, F1, time to detect and entity naming.
"""

from loglens.evaluate.detector_adapter import DetectorScorer, as_series, squash
from loglens.evaluate.errors import EvaluationError
from loglens.evaluate.incidents import (
    DEFAULT_TOLERANCE,
    IncidentMatch,
    IncidentReport,
    KindSummary,
    evaluate_incidents,
    load_incidents,
)
from loglens.evaluate.nab import (
    DetectorFactory,
    NabReport,
    ProfileResult,
    ScoreFn,
    detector_scores,
    run_nab,
    score_corpus,
)
from loglens.evaluate.nab_corpus import NabCorpus, NabFile, load_corpus, load_windows
from loglens.evaluate.nab_scoring import (
    PROFILES,
    FileScore,
    Profile,
    ThresholdChoice,
    WindowLayout,
    get_profile,
    optimise_threshold,
    probation_length,
    scaled_sigmoid,
    score_detections,
    score_file,
    window_layout,
)
from loglens.evaluate.windowed_gaussian import WindowedGaussian, windowed_gaussian_scores

__all__ = [
    "DEFAULT_TOLERANCE",
    "PROFILES",
    "DetectorFactory",
    "DetectorScorer",
    "EvaluationError",
    "FileScore",
    "IncidentMatch",
    "IncidentReport",
    "KindSummary",
    "NabCorpus",
    "NabFile",
    "NabReport",
    "Profile",
    "ProfileResult",
    "ScoreFn",
    "ThresholdChoice",
    "WindowLayout",
    "WindowedGaussian",
    "as_series",
    "detector_scores",
    "evaluate_incidents",
    "get_profile",
    "load_corpus",
    "load_incidents",
    "load_windows",
    "optimise_threshold",
    "probation_length",
    "run_nab",
    "scaled_sigmoid",
    "score_corpus",
    "score_detections",
    "score_file",
    "squash",
    "window_layout",
    "windowed_gaussian_scores",
]
