"""Where events come from: files (``files``), Elasticsearch/OpenSearch (``elastic``), and the
synthetic traffic generator (``generate``)."""

from __future__ import annotations

from loglens.sources.elastic import ClusterPull, ClusterScan, ScanOptions, Watermark

__all__ = ["ClusterPull", "ClusterScan", "ScanOptions", "Watermark"]
