"""The detectors ``loglens eval nab`` and the NAB benchmark know by name.

Each entry builds a NAB detector factory (``(timestamps, values) -> scores in [0, 1]``): NAB's
windowed Gaussian as the reference, and loglens' own detectors through ``DetectorScorer``,
scored on what a user is alerted on (the start of each anomaly ``detect`` reports).

One configuration serves the whole corpus, as NAB requires; only NAB's threshold sweep adapts,
and it is corpus-wide too:

- Detectors that learn daily or weekly shapes (the seasonal baseline, the spectral model, the
  ensemble holding them) are refitted every day on the past only, as a deployed daily job would.
  The rolling detector carries its reference forward by itself and is strictly causal, so it is
  fitted once, on the probationary period, where it only learns its noise floor and tail
  calibration.
- An alert within ``QUIET`` after an earlier alert at least as strong on the same series is a
  repeat and is dropped (see ``drop_repeats``): a lasting change, or a burst of related spikes,
  pages once, and again only if it gets worse.
- loglens' detectors report findings from a robust z of ``CANDIDATE_Z`` up here (below their
  default alerting threshold of 4), so that the sweep, not the detector, chooses the cut.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from loglens.detect.base import Detector
from loglens.evaluate.detector_adapter import DetectorScorer
from loglens.evaluate.errors import EvaluationError
from loglens.evaluate.nab import DetectorFactory
from loglens.evaluate.windowed_gaussian import WindowedGaussian

QUIET = timedelta(days=2)
REFIT_EVERY = timedelta(days=1)
CANDIDATE_Z = 3.0


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


def rolling() -> DetectorFactory:
    """loglens' rolling detector (robust z against the previous 72 hours), fitted once."""
    from loglens.detect.rolling import RollingRobust

    return _scorer(lambda: RollingRobust(threshold=CANDIDATE_Z), refit_every=None)


def ensemble() -> DetectorFactory:
    """loglens' ensemble for series of any shape: the rolling detector and the seasonal baseline.

    The rolling detector catches spikes, dips and level shifts against the recent past; the
    baseline catches what is only unusual for the time of day (a missing daily peak, a changed
    daily shape) once it has a week of history. The spectral model is left out: on series
    without stable cycles it adds false alarms the other two do not (see the benchmark).
    """
    from loglens.detect.baseline import SeasonalBaseline
    from loglens.detect.ensemble import Ensemble
    from loglens.detect.rolling import RollingRobust

    def make() -> Detector:
        return Ensemble([RollingRobust(threshold=CANDIDATE_Z), SeasonalBaseline()])

    return _scorer(make)


def _scorer(
    make: Callable[[], Detector], refit_every: timedelta | None = REFIT_EVERY
) -> DetectorFactory:
    def factory() -> DetectorScorer:
        return DetectorScorer(make, alerts=True, refit_every=refit_every, quiet=QUIET)

    return factory


NAB_DETECTORS: dict[str, Callable[[], DetectorFactory]] = {
    "windowed_gaussian": windowed_gaussian,
    "seasonal_baseline": seasonal_baseline,
    "spectral": spectral,
    "rolling": rolling,
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
