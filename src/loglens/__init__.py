"""loglens: network and security log analysis for the Elasticsearch world."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
