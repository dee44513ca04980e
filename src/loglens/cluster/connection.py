"""One connection to Elasticsearch or OpenSearch, whichever the server says it is.

``connect`` asks the server what it is (``GET /``) with a plain HTTP request, then opens the
matching official client: ``elasticsearch`` for Elasticsearch 8.x/9.x, ``opensearch-py`` for
OpenSearch. The rest of loglens talks to :class:`ClusterClient` only: JSON requests by method
and path, retried with exponential backoff on 429/502/503/504 and on connections that fail or
time out, and every failure turned into one clear line (a :class:`ClusterError`).

Secrets (password, API key) are read from the environment variables the config names, and never
appear in a message.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import urllib3

from loglens.config import ClusterConfig
from loglens.errors import ClusterError

if TYPE_CHECKING:
    from loglens.cluster.clients import Classify, Send

log = logging.getLogger("loglens.cluster")

Flavour = Literal["elasticsearch", "opensearch"]
RETRY_STATUSES = frozenset({429, 502, 503, 504})
NDJSON = "application/x-ndjson"


@dataclass(frozen=True)
class ClusterSettings:
    """Everything needed to reach a cluster, secrets already read from the environment."""

    hosts: tuple[str, ...]
    username: str = ""
    password: str = ""
    api_key: str = ""
    ca_certs: str = ""
    verify_certs: bool = True
    request_timeout: float = 30.0
    max_retries: int = 5
    retry_backoff: float = 0.5
    retry_backoff_max: float = 30.0

    @classmethod
    def from_config(
        cls,
        config: ClusterConfig,
        environ: Mapping[str, str],
        hosts: tuple[str, ...] | None = None,
        username: str | None = None,
    ) -> ClusterSettings:
        return cls(
            hosts=hosts or config.hosts,
            username=username if username is not None else config.username,
            password=environ.get(config.password_env, ""),
            api_key=environ.get(config.api_key_env, ""),
            ca_certs=config.ca_certs,
            verify_certs=config.verify_certs,
            request_timeout=config.request_timeout,
            max_retries=config.max_retries,
            retry_backoff=config.retry_backoff,
            retry_backoff_max=config.retry_backoff_max,
        )

    @property
    def where(self) -> str:
        """The hosts, as error messages name them."""
        return ",".join(self.hosts)

    def auth_header(self) -> dict[str, str]:
        if self.api_key:
            return {"authorization": f"ApiKey {self.api_key}"}
        if self.username:
            token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
            return {"authorization": f"Basic {token}"}
        return {}


@dataclass(frozen=True)
class ServerInfo:
    flavour: Flavour
    version: str
    name: str

    @property
    def major(self) -> int:
        head = self.version.split(".", 1)[0]
        return int(head) if head.isdigit() else 0

    def __str__(self) -> str:
        product = "Elasticsearch" if self.flavour == "elasticsearch" else "OpenSearch"
        return f"{product} {self.version}"


class ClusterClient:
    """Requests to one cluster through its official client, with retries and clear errors."""

    def __init__(
        self,
        settings: ClusterSettings,
        info: ServerInfo,
        send: Send,
        classify: Classify,
        closer: Callable[[], None],
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.info = info
        self._send = send
        self._classify = classify
        self._close = closer
        self._sleep = sleep
        self.requests = 0
        self.retries = 0

    @property
    def flavour(self) -> Flavour:
        return self.info.flavour

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        ndjson: bool = False,
        location: str | None = None,
        ok_statuses: frozenset[int] = frozenset(),
    ) -> Any:
        """Send one request; the decoded JSON answer.

        ``body`` is a JSON value, or for ``ndjson`` the newline-delimited text (bulk). Statuses in
        ``ok_statuses`` return their body instead of raising (e.g. 404 on a delete).

        Raises:
            ClusterError: one line naming the cluster (or ``location``) and what went wrong,
                after the retries when the failure is transient.
        """
        headers = {"content-type": NDJSON} if ndjson else {}
        attempt = 0
        while True:
            self.requests += 1
            try:
                return self._send(method, path, params, body, headers)
            except Exception as exc:  # each client has its own tree; classify() knows both
                failure = self._classify(exc)
                if failure.status is not None and failure.status in ok_statuses:
                    return _error_body(exc)
                if failure.transient and attempt < self.settings.max_retries:
                    self._sleep(self._backoff(attempt))
                    attempt += 1
                    self.retries += 1
                    continue
                where = location or self.settings.where
                raise ClusterError(
                    _one_line(failure.detail), location=where, status=failure.status
                ) from None

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.settings.retry_backoff_max, self.settings.retry_backoff * 2.0**attempt)
        return ceiling * (0.5 + random.random() / 2)  # jitter: retries of many clients spread

    def close(self) -> None:
        self._close()

    def __enter__(self) -> ClusterClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _retryable(detail: str) -> bool:
    # A certificate, a refused port or an unknown name will not fix itself within seconds.
    return not detail.startswith(("TLS", "connection refused", "cannot resolve"))


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


def _error_body(exc: Exception) -> Any:
    for name in ("body", "info"):
        value = getattr(exc, name, None)
        if isinstance(value, dict):
            return value
    return {}


def connect(settings: ClusterSettings) -> ClusterClient:
    """Ask the server what it is and open the matching client.

    Raises:
        ClusterError: the server cannot be reached, refuses the credentials, has an untrusted
            certificate, or is neither Elasticsearch 8+/OpenSearch.
    """
    if not settings.verify_certs:
        log.warning(
            "TLS certificate verification is off for %s (cluster.verify_certs=false): "
            "anyone on the path can read and alter what loglens sends and receives",
            settings.where,
        )
    info = probe(settings)
    if info.flavour == "elasticsearch":
        if info.major < 8:
            raise ClusterError(
                f"{info} is not supported (Elasticsearch 8.x or 9.x, or OpenSearch)",
                location=settings.where,
            )
        from loglens.cluster.clients import elasticsearch_client

        send, classify, closer = elasticsearch_client(settings)
    else:
        from loglens.cluster.clients import opensearch_client

        send, classify, closer = opensearch_client(settings)
    return ClusterClient(settings, info, send, classify, closer)


def probe(settings: ClusterSettings) -> ServerInfo:
    """``GET /`` on the first host that answers, with the same TLS and credentials."""
    failures: list[ClusterError] = []
    for host in settings.hosts:
        try:
            return _probe_host(host, settings)
        except ClusterError as exc:
            if exc.status in (401, 403):
                raise  # the credentials are wrong everywhere; no point trying other hosts
            failures.append(exc)
    raise failures[-1]


def _probe_host(host: str, settings: ClusterSettings) -> ServerInfo:
    pool = urllib3.PoolManager(
        cert_reqs="CERT_REQUIRED" if settings.verify_certs else "CERT_NONE",
        ca_certs=settings.ca_certs or None,
        timeout=urllib3.Timeout(total=settings.request_timeout),
        retries=False,
    )
    headers = {"accept": "application/json", **settings.auth_header()}
    if not settings.verify_certs:
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    attempt = 0
    while True:
        try:
            response = pool.request("GET", host.rstrip("/") + "/", headers=headers)
        except urllib3.exceptions.HTTPError as exc:
            detail = describe_connection_failure(exc)
            if attempt < settings.max_retries and _retryable(detail):
                time.sleep(min(settings.retry_backoff_max, settings.retry_backoff * 2.0**attempt))
                attempt += 1
                continue
            raise ClusterError(detail, location=host) from None
        finally:
            pool.clear()
        if response.status in RETRY_STATUSES and attempt < settings.max_retries:
            time.sleep(min(settings.retry_backoff_max, settings.retry_backoff * 2.0**attempt))
            attempt += 1
            continue
        break
    if response.status >= 400:
        raise ClusterError(
            describe_status(response.status, _json_or_none(response.data), settings),
            location=host,
            status=response.status,
        )
    body = _json_or_none(response.data)
    if not isinstance(body, dict) or not isinstance(body.get("version"), dict):
        raise ClusterError(
            "answered, but not as Elasticsearch or OpenSearch do (no version in GET /)",
            location=host,
        )
    version = body["version"]
    flavour: Flavour = (
        "opensearch" if version.get("distribution") == "opensearch" else "elasticsearch"
    )
    return ServerInfo(flavour, str(version.get("number", "")), str(body.get("cluster_name", "")))


def _json_or_none(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None


def describe_connection_failure(exc: BaseException) -> str:
    """One line for a failed connection, whichever library raised it (walks the causes)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__ or getattr(current, "reason", None)
        if not isinstance(current, BaseException):
            current = None
    text = " ".join(str(e) for e in seen).lower()
    names = " ".join(type(e).__name__ for e in seen)
    if "certificate" in text or "ssl" in names.lower() or "tls" in names.lower():
        return (
            "TLS handshake failed (the certificate is not trusted or does not match): "
            "set cluster.ca_certs to the cluster's CA, or cluster.verify_certs=false at your risk"
        )
    if "refused" in text:
        return "connection refused (is the cluster running, and is this the right port?)"
    if (
        "name or service not known" in text
        or "nodename nor servname" in text
        or ("name resolution" in text)
    ):
        return "cannot resolve the host name"
    if "timed out" in text or "timeout" in names.lower():
        return "no answer within cluster.request_timeout"
    return "connection failed: " + _one_line(str(exc))[:200]


def describe_status(status: int, body: Any, settings: ClusterSettings | None = None) -> str:
    """One line for an error answer: what the status means here, and the server's reason."""
    reason = _reason(body)
    if status == 401:
        who = (
            "the API key"
            if settings and settings.api_key
            else (
                f"user {settings.username!r}"
                if settings and settings.username
                else "no credentials"
            )
        )
        return (
            f"authentication failed (401) with {who}: check cluster.username and the password "
            "or API key variable (cluster.password_env, cluster.api_key_env)"
        )
    if status == 403:
        return f"permission denied (403): {reason or 'the user lacks a privilege'}"
    if status == 404:
        return reason or "not found (404)"
    if status == 429:
        return f"the cluster is overloaded (429 too many requests){': ' + reason if reason else ''}"
    return f"HTTP {status}{': ' + reason if reason else ''}"


def _reason(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    error = body.get("error")
    if isinstance(error, dict):
        causes = error.get("root_cause")
        first = causes[0] if isinstance(causes, list) and causes else error
        if isinstance(first, dict):
            kind, why = first.get("type", ""), first.get("reason", "")
            return _one_line(f"{why} ({kind})" if kind and why else why or kind)
    if isinstance(error, str):
        return _one_line(error)
    return ""
