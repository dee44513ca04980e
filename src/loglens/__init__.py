"""loglens: network and security log analysis for the Elasticsearch world.

The public Python API::

    from loglens import Pipeline, load_config, open_store, Query
    from loglens import SeriesSpec, Metric, run_detection, DetectSettings

    with open_store("duckdb:.loglens/loglens.duckdb") as store:
        frame = store.series(SeriesSpec.of("network.protocol", "1h"))
        report = run_detection(store, DetectSettings(write_back=False))
        for anomaly in report.anomalies[:5]:
            print(anomaly.severity, anomaly.explanation)
"""

from __future__ import annotations

from loglens.analyze import DetectionReport, DetectSettings, NamedSpec, default_specs, run_detection
from loglens.config import Config, load_config
from loglens.detect.base import Anomaly, Contributor
from loglens.errors import (
    ConfigError,
    LoglensError,
    ParseError,
    QueryError,
    SourceError,
    StoreError,
)
from loglens.pipeline import IngestReport, Pipeline
from loglens.series import Metric, Series, SeriesFrame, SeriesSpec
from loglens.store import open_store
from loglens.store.base import Query, RangeFilter, WriteSummary

__version__ = "0.1.0"

__all__ = [
    "Anomaly",
    "Config",
    "ConfigError",
    "Contributor",
    "DetectSettings",
    "DetectionReport",
    "IngestReport",
    "LoglensError",
    "Metric",
    "NamedSpec",
    "ParseError",
    "Pipeline",
    "Query",
    "QueryError",
    "RangeFilter",
    "Series",
    "SeriesFrame",
    "SeriesSpec",
    "SourceError",
    "StoreError",
    "WriteSummary",
    "__version__",
    "default_specs",
    "load_config",
    "open_store",
    "run_detection",
]
