"""Configuration: layering, validation messages that name the key, secrets from env only."""

from __future__ import annotations

from pathlib import Path

import pytest

from loglens.config import DEFAULT_STORE_URL, Config, load_config
from loglens.errors import ConfigError


def test_defaults_without_any_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = load_config(env={})
    assert config == Config()
    assert config.store.url == DEFAULT_STORE_URL
    assert "10.0.0.0/8" in config.network.internal_cidrs


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("c.toml", '[store]\nurl = "duckdb:x.duckdb"\n[ingest]\nyear = 2023\n'),
        ("c.yaml", "store:\n  url: duckdb:x.duckdb\ningest:\n  year: 2023\n"),
        ("c.json", '{"store": {"url": "duckdb:x.duckdb"}, "ingest": {"year": 2023}}'),
    ],
)
def test_file_formats(tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    config = load_config(path, env={})
    assert config.store.url == "duckdb:x.duckdb"
    assert config.ingest.year == 2023


def test_layering_file_then_env_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "loglens.toml"
    path.write_text('[ingest]\ntimezone = "Europe/Paris"\nyear = 2020\n')
    env = {"LOGLENS_INGEST__YEAR": "2021", "LOGLENS_STORE": "duckdb:env.duckdb"}
    config = load_config(path, env=env, overrides={"ingest.year": 2022, "store.url": None})
    assert config.ingest.timezone == "Europe/Paris"  # file
    assert config.store.url == "duckdb:env.duckdb"  # env (flag was not given)
    assert config.ingest.year == 2022  # flag wins


@pytest.mark.parametrize(
    ("text", "key", "fragment"),
    [
        ("[ingest]\nyear = 'soon'\n", "ingest.year", "integer between 1970 and 2100"),
        ("[ingest]\ntimezone = 'Mars/Olympus'\n", "ingest.timezone", "IANA time zone"),
        ("[network]\ninternal_cidrs = ['10.0.0.0/33']\n", "network.internal_cidrs", "CIDR"),
        ("[ingest]\nbatchlines = 5\n", "ingest.batchlines", "unknown config key"),
        ("[nosuch]\nx = 1\n", "nosuch.x", "unknown config key"),
        ("[pseudonymize]\nenabled = 'maybe'\n", "pseudonymize.enabled", "true or false"),
        ("[ingest]\nkeep_original = 'some'\n", "ingest.keep_original", "auto, all, failures"),
        ("[ingest]\nmemory_limit = 'lots'\n", "ingest.memory_limit", "512MB or 2GB"),
        ("[ingest]\nhost_from_path = 'web/([^/]+)/'\n", "ingest.host_from_path", "(?P<host>"),
        ("[ingest]\nhost_from_path = 'web/(?P<host>'\n", "ingest.host_from_path", "regular"),
        ('[ingest]\nhost = "web\\u000001"\n', "ingest.host", "control characters"),
    ],
)
def test_invalid_values_name_the_key(tmp_path: Path, text: str, key: str, fragment: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert info.value.location == key
    assert fragment in str(info.value)


def test_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[store\nurl = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    assert str(path) in str(info.value)


def test_env_value_is_validated_too() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={"LOGLENS_INGEST__BATCH_LINES": "many"})
    assert info.value.location == "ingest.batch_lines"
    assert "environment" in str(info.value)


def test_secret_variables_are_not_config_keys() -> None:
    config = load_config(env={"LOGLENS_PSEUDONYM_KEY": "x" * 32})
    assert config.pseudonymize.key_env == "LOGLENS_PSEUDONYM_KEY"


def test_missing_explicit_file() -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config("/nonexistent/loglens.toml", env={})


def test_host_settings_from_file_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "loglens.toml"
    path.write_text("[ingest]\nhost = ' web01 '\nhost_from_path = 'remote/(?P<host>[^/]+)/'\n")
    config = load_config(path, env={})
    assert config.ingest.host == "web01"
    assert config.ingest.host_from_path == "remote/(?P<host>[^/]+)/"
    # An empty value switches a file's setting off again.
    cleared = load_config(path, env={}, overrides={"ingest.host_from_path": ""})
    assert cleared.ingest.host_from_path == ""
