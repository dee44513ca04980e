"""The two official clients behind one small interface: send a request, classify a failure.

Both clients' own retries are off: :class:`~loglens.cluster.connection.ClusterClient` retries
with backoff, the same way for both, and knows which failures are worth a retry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from loglens.cluster.connection import (
    ClusterSettings,
    describe_connection_failure,
    describe_status,
)


@dataclass(frozen=True)
class Failure:
    """What went wrong: the HTTP status when there was an answer, a line, whether to retry."""

    status: int | None
    detail: str
    transient: bool


Send = Callable[[str, str, Mapping[str, Any] | None, Any, Mapping[str, str]], Any]
Classify = Callable[[Exception], Failure]
Adapter = tuple[Send, Classify, Callable[[], None]]

_TRANSIENT_STATUSES = frozenset({429, 502, 503, 504})


def _http_failure(status: int, body: Any, settings: ClusterSettings) -> Failure:
    return Failure(status, describe_status(status, body, settings), status in _TRANSIENT_STATUSES)


def _connection_failure(exc: Exception, settings: ClusterSettings) -> Failure:
    detail = describe_connection_failure(exc)
    # A certificate, a refused port or an unknown name will not fix itself within seconds.
    permanent = detail.startswith(("TLS", "connection refused", "cannot resolve"))
    return Failure(None, detail, not permanent)


def elasticsearch_client(settings: ClusterSettings) -> Adapter:
    from elastic_transport import ConnectionError as TransportConnectionError
    from elasticsearch import ApiError, Elasticsearch, UnsupportedProductError

    options: dict[str, Any] = {
        "verify_certs": settings.verify_certs,
        "ssl_show_warn": False,  # connect() warns once, in words
        "request_timeout": settings.request_timeout,
        "max_retries": 0,
        "retry_on_status": (),
        "retry_on_timeout": False,
    }
    if settings.ca_certs:
        options["ca_certs"] = settings.ca_certs
    if settings.api_key:
        options["api_key"] = settings.api_key
    elif settings.username:
        options["basic_auth"] = (settings.username, settings.password)
    client = Elasticsearch(list(settings.hosts), **options)

    def send(
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Any,
        headers: Mapping[str, str],
    ) -> Any:
        request_headers = {"accept": "application/json", **headers}
        if body is not None:
            request_headers.setdefault("content-type", "application/json")
        query = {k: _param(v) for k, v in (params or {}).items()}
        response = client.perform_request(
            method, path, params=query or None, headers=request_headers, body=body
        )
        return response.body

    def classify(exc: Exception) -> Failure:
        if isinstance(exc, UnsupportedProductError):
            return Failure(None, "the server does not identify itself as Elasticsearch", False)
        if isinstance(exc, ApiError):
            return _http_failure(int(exc.meta.status), exc.body, settings)
        if isinstance(exc, TransportConnectionError):
            return _connection_failure(exc, settings)
        return Failure(None, f"{type(exc).__name__}: {exc}", False)

    return send, classify, client.close


def opensearch_client(settings: ClusterSettings) -> Adapter:
    from opensearchpy import OpenSearch
    from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError
    from opensearchpy.exceptions import TransportError

    options: dict[str, Any] = {
        "verify_certs": settings.verify_certs,
        "ssl_show_warn": False,
        "timeout": settings.request_timeout,
        "max_retries": 0,
        "retry_on_status": (),
        "retry_on_timeout": False,
    }
    if settings.ca_certs:
        options["ca_certs"] = settings.ca_certs
    if settings.api_key:
        options["headers"] = settings.auth_header()
    elif settings.username:
        options["http_auth"] = (settings.username, settings.password)
    client = OpenSearch(list(settings.hosts), **options)

    def send(
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Any,
        headers: Mapping[str, str],
    ) -> Any:
        query = {k: _param(v) for k, v in (params or {}).items()}
        return client.transport.perform_request(
            method, path, params=query or None, body=body, headers=dict(headers) or None
        )

    def classify(exc: Exception) -> Failure:
        if isinstance(exc, OpenSearchConnectionError):  # includes SSL errors and timeouts
            return _connection_failure(exc, settings)
        if isinstance(exc, TransportError) and isinstance(exc.status_code, int):
            return _http_failure(exc.status_code, exc.info, settings)
        return Failure(None, f"{type(exc).__name__}: {exc}", False)

    return send, classify, client.close


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
