"""Stores: where events live. ``open_store(url)`` picks the backend from the URL scheme."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from loglens.errors import StoreError
from loglens.store.base import Query, RangeFilter, Store, WriteSummary
from loglens.store.duckdb import DuckDBStore

if TYPE_CHECKING:
    from loglens.config import Config
    from loglens.store.elastic import ElasticStore

__all__ = ["DuckDBStore", "Query", "RangeFilter", "Store", "WriteSummary", "open_store"]


def open_store(
    url: str,
    *,
    read_only: bool = False,
    config: Config | None = None,
    environ: Mapping[str, str] | None = None,
) -> DuckDBStore | ElasticStore:
    """Open the store a URL names.

    - ``duckdb:PATH`` (``duckdb::memory:`` for a throwaway one); a bare path ending in
      ``.duckdb`` or ``.db`` is a DuckDB file too.
    - A cluster URL (``es://INDEX``, ``es://HOST:PORT/INDEX``, ``es+http://...``, see
      :mod:`loglens.cluster.urls`): Elasticsearch or OpenSearch, reached with ``config.cluster``
      (hosts, user, TLS, retries, bulk sizes) and the secrets in ``environ`` (the process
      environment by default) under the variable names the config gives.

    Raises:
        StoreError: an unknown scheme, or a store that cannot be opened (for a cluster: a
            :class:`~loglens.errors.ClusterError` naming the cluster and what went wrong).
    """
    from loglens.cluster.urls import is_cluster_url

    if is_cluster_url(url):
        return _open_cluster(url, config, os.environ if environ is None else environ)
    scheme, sep, rest = url.partition(":")
    if sep and scheme.lower() == "duckdb":
        path = rest or ":memory:"
        return DuckDBStore(path, url=url, read_only=read_only)
    if url.endswith((".duckdb", ".db")):
        return DuckDBStore(url, url=f"duckdb:{url}", read_only=read_only)
    raise StoreError(
        "unknown store URL; expected duckdb:PATH or a cluster URL (es://INDEX, "
        "es://HOST:PORT/INDEX, es+http://HOST:PORT/INDEX)",
        location=url,
    )


def _open_cluster(url: str, config: Config | None, environ: Mapping[str, str]) -> ElasticStore:
    from loglens.cluster.connection import ClusterSettings, connect
    from loglens.cluster.urls import parse_cluster_url
    from loglens.config import Config
    from loglens.store.elastic import ElasticStore

    cluster = (config or Config()).cluster
    target = parse_cluster_url(url, cluster)
    settings = ClusterSettings.from_config(
        cluster, environ, hosts=target.hosts, username=target.username
    )
    client = connect(settings)
    return ElasticStore(
        client,
        target.index,
        url=target.display(),
        bulk_docs=cluster.bulk_docs,
        bulk_bytes=cluster.bulk_bytes,
    )
