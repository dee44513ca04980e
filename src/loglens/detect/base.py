"""The detector contract and the ``Anomaly`` record every detector returns.

Detectors follow scikit-learn conventions: ``__init__`` only stores parameters; ``fit(history)``
learns from a training ``Series`` and returns ``self``; learned state ends in ``_``;
``score(series)`` gives one anomaly score per bucket (higher = more anomalous, NaN where nothing
can be said); ``detect(series)`` returns ``Anomaly`` records with an explanation to act on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from loglens.errors import LoglensError
from loglens.series import Series

SEVERITIES = ("low", "medium", "high", "critical")


class DetectError(LoglensError):
    """A detector cannot work with what it was given (unfitted, a missing column, bad input)."""


class NotEnoughHistoryError(DetectError):
    """The training history is too short (or too empty) for the detector to learn from.

    Callers that run many series (a pipeline) catch this per series and report it as skipped.
    """


@dataclass(frozen=True)
class Contributor:
    """A field value that explains a change (attribution): observed vs expected events."""

    field: str
    value: str
    observed: float
    expected: float

    @property
    def change(self) -> float:
        return self.observed - self.expected


@dataclass
class Anomaly:
    """What is unusual, when, how much, and why.

    ``start``/``end`` bound the window (end exclusive, UTC). ``observed`` and ``expected`` are the
    metric's totals over the window (or the peak bucket's, as ``explanation`` says). ``reasons``
    keeps one line per detector that agreed; ``explanation`` is the sentence a person reads.
    """

    series_key: tuple[str | None, ...]
    series_name: str
    start: datetime
    end: datetime
    detector: str
    score: float
    severity: str
    observed: float
    expected: float
    explanation: str
    kind: str = "spike"  # spike, dip, level_shift, silence, new_category, outlier, day_shape
    reasons: list[str] = field(default_factory=list)
    entities: list[Contributor] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    id: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")


class Detector(Protocol):
    """What every series detector offers."""

    name: str

    def fit(self, history: Series) -> Detector: ...

    def score(self, series: Series) -> NDArray[np.float64]: ...

    def detect(self, series: Series) -> list[Anomaly]: ...


def severity_for(score: float) -> str:
    """Map a robust z-like score to a severity (shared by detectors so they agree)."""
    if not np.isfinite(score):
        return "critical"
    if score >= 12:
        return "critical"
    if score >= 8:
        return "high"
    if score >= 5:
        return "medium"
    return "low"
