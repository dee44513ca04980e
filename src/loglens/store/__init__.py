"""Stores: where events live. ``open_store(url)`` picks the backend from the URL scheme."""

from __future__ import annotations

from loglens.errors import StoreError
from loglens.store.base import Query, RangeFilter, Store, WriteSummary
from loglens.store.duckdb import DuckDBStore

__all__ = ["DuckDBStore", "Query", "RangeFilter", "Store", "WriteSummary", "open_store"]


def open_store(url: str, *, read_only: bool = False) -> DuckDBStore:
    """Open the store a URL names: ``duckdb:PATH`` (``duckdb::memory:`` for a throwaway one).

    A bare path ending in ``.duckdb`` or ``.db`` is accepted as a DuckDB file.

    Raises:
        StoreError: an unknown scheme, or a store that cannot be opened.
    """
    scheme, sep, rest = url.partition(":")
    if sep and scheme.lower() == "duckdb":
        path = rest or ":memory:"
        return DuckDBStore(path, url=url, read_only=read_only)
    if url.endswith((".duckdb", ".db")):
        return DuckDBStore(url, url=f"duckdb:{url}", read_only=read_only)
    if sep and scheme.lower() in ("http", "https", "es", "elasticsearch", "opensearch"):
        raise StoreError(
            "cluster stores (Elasticsearch/OpenSearch) are not available in this version; "
            "use duckdb:PATH",
            location=url,
        )
    raise StoreError("unknown store URL; expected duckdb:PATH", location=url)
