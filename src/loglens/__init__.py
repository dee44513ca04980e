"""loglens: network and security log analysis for the Elasticsearch world.

The public Python API::

    from loglens import Pipeline, load_config, open_store, Query
"""

from __future__ import annotations

from loglens.config import Config, load_config
from loglens.errors import (
    ConfigError,
    LoglensError,
    ParseError,
    QueryError,
    SourceError,
    StoreError,
)
from loglens.pipeline import IngestReport, Pipeline
from loglens.store import open_store
from loglens.store.base import Query, RangeFilter, WriteSummary

__version__ = "0.1.0"

__all__ = [
    "Config",
    "ConfigError",
    "IngestReport",
    "LoglensError",
    "ParseError",
    "Pipeline",
    "Query",
    "QueryError",
    "RangeFilter",
    "SourceError",
    "StoreError",
    "WriteSummary",
    "__version__",
    "load_config",
    "open_store",
]
