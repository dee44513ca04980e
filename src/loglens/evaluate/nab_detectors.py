"""The detectors ``loglens eval nab`` and the NAB benchmark know by name.

Each entry builds a NAB detector factory (``(timestamps, values) -> scores in [0, 1]``): NAB's
windowed Gaussian as the reference, and loglens' own detectors through ``DetectorScorer``,
alerting on anomaly starts and refitted every day on the past only, as a deployed daily job would.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from loglens.evaluate.detector_adapter import DetectorScorer
from loglens.evaluate.errors import EvaluationError
from loglens.evaluate.nab import DetectorFactory
from loglens.evaluate.windowed_gaussian import WindowedGaussian


def windowed_gaussian() -> DetectorFactory:
    """NAB's windowed Gaussian baseline with NAB's parameters (6,400-point window, step 100)."""
    return WindowedGaussian


def seasonal_baseline() -> DetectorFactory:
    """loglens' seasonal baseline (robust time-of-day profile)."""
    from loglens.detect.baseline import SeasonalBaseline

    return _scorer(SeasonalBaseline)


def spectral() -> DetectorFactory:
    """loglens' spectral detector (dominant frequencies of the history)."""
    from loglens.detect.spectral import Spectral

    return _scorer(Spectral)


def ensemble() -> DetectorFactory:
    """loglens' ensemble of the series detectors, findings merged."""
    from loglens.detect.ensemble import Ensemble

    return _scorer(Ensemble)


def _scorer(make: Callable[[], object]) -> DetectorFactory:
    def factory() -> DetectorScorer:
        return DetectorScorer(make, alerts=True, refit_every=timedelta(days=1))  # type: ignore[arg-type]

    return factory


NAB_DETECTORS: dict[str, Callable[[], DetectorFactory]] = {
    "windowed_gaussian": windowed_gaussian,
    "seasonal_baseline": seasonal_baseline,
    "spectral": spectral,
    "ensemble": ensemble,
}


def nab_detector(name: str) -> DetectorFactory:
    """The factory of a named detector.

    Raises:
        EvaluationError: an unknown name.
    """
    try:
        return NAB_DETECTORS[name]()
    except KeyError:
        raise EvaluationError(
            f"unknown detector {name!r}; known: {', '.join(NAB_DETECTORS)}"
        ) from None
