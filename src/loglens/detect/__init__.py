"""Anomaly detectors over series and events (estimator contract in ``detect.base``).

- ``SeasonalBaseline``, ``NewCategories`` (baseline.py): time-of-day/weekday profile; new keys.
- ``Spectral`` (spectral.py): the series rebuilt from its dominant frequencies.
- ``RollingRobust`` (rolling.py): each bucket against the recent past (no cycle needed).
- ``WaveletDayClusters`` (wavelet.py): whole days by wavelet shape, clustered.
- ``EventOutliers`` (outliers.py): per-event outliers of a numeric field within groups.
- ``Ensemble``, ``merge_anomalies`` (ensemble.py): findings merged into ranked anomalies.
- ``attribute`` (attribution.py): the field values that carry an anomaly's change.
"""

from loglens.detect.attribution import attribute
from loglens.detect.base import Anomaly, Contributor, DetectError, Detector, NotEnoughHistoryError
from loglens.detect.baseline import NewCategories, SeasonalBaseline
from loglens.detect.ensemble import Ensemble, merge_anomalies
from loglens.detect.outliers import EventOutliers
from loglens.detect.rolling import RollingRobust
from loglens.detect.spectral import Spectral
from loglens.detect.wavelet import WaveletDayClusters

__all__ = [
    "Anomaly",
    "Contributor",
    "DetectError",
    "Detector",
    "Ensemble",
    "EventOutliers",
    "NewCategories",
    "NotEnoughHistoryError",
    "RollingRobust",
    "SeasonalBaseline",
    "Spectral",
    "WaveletDayClusters",
    "attribute",
    "merge_anomalies",
]
