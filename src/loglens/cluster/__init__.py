"""Elasticsearch and OpenSearch: the connection, and (in their own modules) reading, writing and
the store backend that pushes work into the cluster."""

from __future__ import annotations

from loglens.cluster.connection import ClusterClient, ClusterSettings, ServerInfo, connect

__all__ = ["ClusterClient", "ClusterSettings", "ServerInfo", "connect"]
