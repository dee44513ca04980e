"""One typed configuration: defaults < file (TOML, YAML or JSON) < ``LOGLENS_*`` env < CLI flags.

Every value is validated once, here, and an invalid one gives a single ``ConfigError`` that names
the key (``ingest.year: expected an integer between 1970 and 2100, got 'soon'``). Secrets (the
pseudonymisation key, cluster passwords and API keys) are read from the environment only: the config
names the variable, never holds the secret.

Environment overrides use the dotted key in upper case with ``__`` between levels:
``LOGLENS_STORE__URL=duckdb:/tmp/x.duckdb``, ``LOGLENS_INGEST__YEAR=2024``. Two shortcuts exist
for the commonest ones: ``LOGLENS_STORE`` (store.url) and ``LOGLENS_CONFIG`` (the file).
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from loglens.errors import ConfigError

DEFAULT_STORE_URL = "duckdb:.loglens/loglens.duckdb"
DEFAULT_CONFIG_FILES = ("loglens.toml", "loglens.yaml", "loglens.yml", "loglens.json")

# Private and special-purpose ranges (RFC 1918, 6598, 3927, 4193, loopback, link-local).
DEFAULT_INTERNAL_CIDRS = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "::1/128",
    "fc00::/7",
    "fe80::/10",
)


@dataclass(frozen=True)
class StoreConfig:
    url: str = DEFAULT_STORE_URL


@dataclass(frozen=True)
class IngestConfig:
    format: str = "auto"
    year: int | None = None
    """Year for year-less timestamps (RFC 3164 syslog). None: resolve from the file's time."""
    timezone: str = "UTC"
    """Zone of timestamps that carry no offset (syslog RFC 3164, some CSVs)."""
    batch_lines: int = 1_000_000
    max_line_bytes: int = 1_048_576
    source_key: str = ""
    """Mixed into event ids; give two sources with identical lines different keys."""
    host: str = ""
    """The machine the inputs came from (Filebeat's ``host.name``): fills ``host.name`` where a
    record names no host. Empty: none."""
    host_from_path: str = ""
    """A regular expression with a named group ``host``, searched in each input's path (as
    named, then absolute), e.g. ``/var/log/remote/(?P<host>[^/]+)/``; its match wins over
    ``host``. Empty: none."""
    memory_limit: str = "1GB"
    """DuckDB's memory limit while ingesting: bounds the process's size on big inputs (batches
    of up to ``batch_lines`` records; DuckDB spills to disk beyond the limit)."""
    keep_original: str = "auto"
    """When the raw record is stored as ``event.original``: ``all``; ``failures`` (only records
    no parser understood); ``auto`` (failures, plus every record of formats whose parser does not
    capture everything, e.g. JSON documents with keys the schema lacks)."""


@dataclass(frozen=True)
class NetworkConfig:
    internal_cidrs: tuple[str, ...] = DEFAULT_INTERNAL_CIDRS


@dataclass(frozen=True)
class PseudonymizeConfig:
    enabled: bool = False
    key_env: str = "LOGLENS_PSEUDONYM_KEY"
    ip_fields: tuple[str, ...] = ("source.ip", "destination.ip", "host.ip")
    name_fields: tuple[str, ...] = ("user.name", "host.name")


@dataclass(frozen=True)
class ClusterConfig:
    """How to reach Elasticsearch/OpenSearch. Secrets come from the variables named here."""

    hosts: tuple[str, ...] = ("https://localhost:9200",)
    """Used when a store or source URL names only an index (``es://logs-*``)."""
    username: str = ""
    password_env: str = "LOGLENS_CLUSTER_PASSWORD"
    api_key_env: str = "LOGLENS_CLUSTER_API_KEY"
    ca_certs: str = ""
    """A CA bundle (PEM) to verify the cluster's certificate with; empty: the system's."""
    verify_certs: bool = True
    """Off only on the user's word, with a warning on every connection."""
    request_timeout: float = 30.0
    max_retries: int = 5
    """Retries of a request answered 429/502/503/504 or cut off, with exponential backoff."""
    retry_backoff: float = 0.5
    """The first wait in seconds, doubled each retry (with jitter) up to ``retry_backoff_max``."""
    retry_backoff_max: float = 30.0
    index: str = "loglens-events"
    """The index events are written to when a store URL names none."""
    bulk_docs: int = 2000
    bulk_bytes: int = 5_000_000


@dataclass(frozen=True)
class TemplatesConfig:
    """Log template mining after each ingest (``loglens.template.id`` on events with a message)."""

    enabled: bool = True
    batch_messages: int = 200_000
    """Distinct messages mined at a time: bounds the memory of a big first ingest."""


@dataclass(frozen=True)
class Config:
    store: StoreConfig = field(default_factory=StoreConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    pseudonymize: PseudonymizeConfig = field(default_factory=PseudonymizeConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    templates: TemplatesConfig = field(default_factory=TemplatesConfig)

    def with_overrides(self, overrides: Mapping[str, object]) -> Config:
        """A copy with dotted-key overrides applied (CLI flags); None values are ignored."""
        return _apply(self, {k: v for k, v in overrides.items() if v is not None}, "flag")


T = TypeVar("T")


def load_config(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> Config:
    """Load and validate the configuration.

    Args:
        path: a TOML/YAML/JSON file; None looks for ``LOGLENS_CONFIG`` then ``loglens.toml`` (or
            .yaml/.yml/.json) in the working directory, and uses defaults when none exists.
        env: the environment to read ``LOGLENS_*`` overrides from (default ``os.environ``).
        overrides: dotted keys from CLI flags, applied last.

    Raises:
        ConfigError: a file that cannot be read or parsed, an unknown key, or an invalid value.
    """
    environ = os.environ if env is None else env
    config = Config()
    file = _find_config_file(path, environ)
    if file is not None:
        config = _apply(config, _flatten(_read_file(file)), str(file))
    config = _apply(config, _env_overrides(environ), "environment")
    if overrides:
        config = config.with_overrides(overrides)
    return config


def _find_config_file(path: str | Path | None, environ: Mapping[str, str]) -> Path | None:
    if path is not None:
        chosen = Path(path)
        if not chosen.is_file():
            raise ConfigError("config file not found", location=str(chosen))
        return chosen
    if environ.get("LOGLENS_CONFIG"):
        return _find_config_file(environ["LOGLENS_CONFIG"], {})
    for name in DEFAULT_CONFIG_FILES:
        if Path(name).is_file():
            return Path(name)
    return None


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file: {exc}", location=str(path)) from exc
    suffix = path.suffix.lower()
    try:
        if suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        elif suffix == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except Exception as exc:  # each parser has its own error type; all mean "not valid syntax"
        kind = suffix.lstrip(".") or "toml"
        raise ConfigError(f"invalid {kind}: {exc}", location=str(path)) from exc
    if not isinstance(data, dict):
        raise ConfigError("the config file must hold a table of sections", location=str(path))
    return data


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat


def _env_overrides(environ: Mapping[str, str]) -> dict[str, object]:
    overrides: dict[str, object] = {}
    for name, value in environ.items():
        if not name.startswith("LOGLENS_") or name in ("LOGLENS_CONFIG",):
            continue
        if name == "LOGLENS_STORE":
            overrides["store.url"] = value
            continue
        key = name[len("LOGLENS_") :]
        if "__" not in key:
            continue  # secrets and other variables (LOGLENS_PSEUDONYM_KEY) are not config keys
        overrides[key.lower().replace("__", ".")] = value
    return overrides


def _apply(config: Config, flat: Mapping[str, object], origin: str) -> Config:
    sections: dict[str, dict[str, object]] = {}
    for key, value in flat.items():
        section, _, name = key.partition(".")
        if not name or section not in _SECTIONS:
            raise ConfigError(f"unknown config key (from {origin})", location=key)
        sections.setdefault(section, {})[name] = value
    for section, values in sections.items():
        current = getattr(config, section)
        config = replace(config, **{section: _apply_section(current, section, values, origin)})
    return config


def _apply_section(current: T, section: str, values: Mapping[str, object], origin: str) -> T:
    assert is_dataclass(current)
    known = {f.name for f in fields(current)}
    changes: dict[str, object] = {}
    for name, value in values.items():
        key = f"{section}.{name}"
        if name not in known:
            raise ConfigError(f"unknown config key (from {origin})", location=key)
        validator = _VALIDATORS[key]
        try:
            changes[name] = validator(value)
        except ValueError as exc:
            raise ConfigError(f"{exc} (from {origin}, got {value!r})", location=key) from None
    return replace(current, **changes)  # type: ignore[type-var]


def _as_int(low: int, high: int) -> Callable[[object], int]:
    def check(value: object) -> int:
        try:
            number = int(str(value).strip()) if not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None or not low <= number <= high:
            raise ValueError(f"expected an integer between {low} and {high}")
        return number

    return check


def _as_optional_year(value: object) -> int | None:
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "auto")):
        return None
    return _as_int(1970, 2100)(value)


def _as_str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("expected a string")
    return value


def _as_bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _as_str_tuple(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, list | tuple):
        items = [str(part) for part in value]
    else:
        raise ValueError("expected a list of strings")
    return tuple(items)


def _as_cidrs(value: object) -> tuple[str, ...]:
    cidrs = _as_str_tuple(value)
    for cidr in cidrs:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ValueError(f"{cidr!r} is not a CIDR network such as 10.0.0.0/8") from None
    return cidrs


def _as_timezone(value: object) -> str:
    name = _as_str(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("expected an IANA time zone such as UTC or Europe/Paris") from None
    return name


def _as_store_url(value: object) -> str:
    url = _as_str(value).strip()
    if not url:
        raise ValueError("expected a store URL such as duckdb:PATH")
    return url


KEEP_ORIGINAL_CHOICES = ("auto", "all", "failures")


def _as_keep_original(value: object) -> str:
    choice = _as_str(value).strip().lower()
    if choice not in KEEP_ORIGINAL_CHOICES:
        raise ValueError(f"expected one of {', '.join(KEEP_ORIGINAL_CHOICES)}")
    return choice


def _as_memory_size(value: object) -> str:
    text = _as_str(value).strip()
    if not re.fullmatch(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", text, re.IGNORECASE):
        raise ValueError("expected a size such as 512MB or 2GB")
    return text


def _as_float(low: float, high: float) -> Callable[[object], float]:
    def check(value: object) -> float:
        try:
            number = float(str(value).strip()) if not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None or not low <= number <= high:
            raise ValueError(f"expected a number between {low:g} and {high:g}")
        return number

    return check


def _as_hosts(value: object) -> tuple[str, ...]:
    hosts = _as_str_tuple(value)
    if not hosts:
        raise ValueError("expected at least one host such as https://localhost:9200")
    for host in hosts:
        if not re.match(r"https?://[^/\s]+/?$", host):
            raise ValueError(f"{host!r} is not a host URL such as https://es1.example.org:9200")
    return hosts


def _as_host(value: object) -> str:
    host = _as_str(value).strip()
    if any(ord(char) < 32 or ord(char) == 127 for char in host):
        raise ValueError("expected a host name without control characters")
    return host


def _as_host_pattern(value: object) -> str:
    pattern = _as_str(value)
    if not pattern.strip():
        return ""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a valid regular expression ({exc})") from None
    if "host" not in compiled.groupindex:
        raise ValueError("the regular expression needs a named group (?P<host>...)")
    return pattern


def _as_format(value: object) -> str:
    return _as_str(value).strip().lower() or "auto"


_SECTIONS = {"store", "ingest", "network", "pseudonymize", "cluster", "templates"}

_VALIDATORS: dict[str, Callable[[object], object]] = {
    "store.url": _as_store_url,
    "ingest.format": _as_format,
    "ingest.year": _as_optional_year,
    "ingest.timezone": _as_timezone,
    "ingest.batch_lines": _as_int(100, 10_000_000),
    "ingest.max_line_bytes": _as_int(1024, 256 * 1024 * 1024),
    "ingest.source_key": _as_str,
    "ingest.host": _as_host,
    "ingest.host_from_path": _as_host_pattern,
    "ingest.keep_original": _as_keep_original,
    "ingest.memory_limit": _as_memory_size,
    "network.internal_cidrs": _as_cidrs,
    "pseudonymize.enabled": _as_bool,
    "pseudonymize.key_env": _as_str,
    "pseudonymize.ip_fields": _as_str_tuple,
    "pseudonymize.name_fields": _as_str_tuple,
    "cluster.hosts": _as_hosts,
    "cluster.username": _as_str,
    "cluster.password_env": _as_str,
    "cluster.api_key_env": _as_str,
    "cluster.ca_certs": _as_str,
    "cluster.verify_certs": _as_bool,
    "cluster.request_timeout": _as_float(0.1, 3600),
    "cluster.max_retries": _as_int(0, 100),
    "cluster.retry_backoff": _as_float(0.0, 600),
    "cluster.retry_backoff_max": _as_float(0.0, 3600),
    "cluster.index": _as_str,
    "cluster.bulk_docs": _as_int(1, 100_000),
    "cluster.bulk_bytes": _as_int(10_000, 1_000_000_000),
    "templates.enabled": _as_bool,
    "templates.batch_messages": _as_int(1_000, 100_000_000),
}
