"""Cluster URLs, as ``--store`` and ``loglens ingest`` accept them.

- ``es://INDEX`` (or ``opensearch://INDEX``): the hosts from ``cluster.hosts``; INDEX may be a
  pattern (``logs-*``) where reading. ``es://`` alone uses ``cluster.index``.
- ``es://HOST[:PORT]/INDEX``: that host over HTTPS; ``es+http://HOST:PORT/INDEX`` over plain
  HTTP. ``https://HOST:PORT/INDEX`` and ``http://...`` are accepted as they are.
- A user name may be given (``es://analyst@HOST:9200/logs-*``); a password never: it comes from
  the variable ``cluster.password_env`` names, so that it stays out of shell histories and logs.

``es`` and ``opensearch`` mean the same: which client is used follows what the server reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from loglens.config import ClusterConfig
from loglens.errors import ConfigError

_SCHEMES = {
    "es": "https",
    "elasticsearch": "https",
    "opensearch": "https",
    "es+https": "https",
    "opensearch+https": "https",
    "es+http": "http",
    "opensearch+http": "http",
    "https": "https",
    "http": "http",
}


@dataclass(frozen=True)
class ClusterTarget:
    """Where a cluster URL points: the hosts (None: the config's), an index, a user name."""

    hosts: tuple[str, ...] | None
    index: str
    username: str | None = None

    def display(self) -> str:
        """The URL without secrets, for messages and provenance."""
        where = ",".join(self.hosts) if self.hosts else "(cluster.hosts)"
        return f"{where}/{self.index}"


def is_cluster_url(url: str) -> bool:
    scheme, sep, _ = url.partition("://")
    return bool(sep) and scheme.lower() in _SCHEMES


def parse_cluster_url(url: str, config: ClusterConfig) -> ClusterTarget:
    """Split a cluster URL into hosts, index and user.

    Raises:
        ConfigError: not a cluster URL, a password in it, or no index where one is needed.
    """
    scheme, sep, rest = url.partition("://")
    http_scheme = _SCHEMES.get(scheme.lower()) if sep else None
    if http_scheme is None:
        raise ConfigError("not a cluster URL (expected es://INDEX or es://HOST:PORT/INDEX)",
                          location=url)  # fmt: skip
    bare = scheme.lower() in ("es", "elasticsearch", "opensearch")
    if bare and "/" not in rest:
        return ClusterTarget(None, unquote(rest) or config.index)
    parts = urlsplit(f"{http_scheme}://{rest}")
    if parts.password is not None:
        raise ConfigError(
            f"put the password in the environment variable {config.password_env}, not in the URL",
            location=_redacted(url),
        )
    if not parts.hostname:
        raise ConfigError("no host in the cluster URL", location=url)
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    port = f":{parts.port}" if parts.port else ""
    index = unquote(parts.path.strip("/")) or config.index
    if "/" in index:
        raise ConfigError("an index name cannot contain '/'", location=url)
    user = unquote(parts.username) if parts.username else None
    return ClusterTarget((f"{http_scheme}://{host}{port}",), index, user)


def _redacted(url: str) -> str:
    scheme, _, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return url
    return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
