from __future__ import annotations

import pytest

from loglens.cluster.urls import ClusterTarget, is_cluster_url, parse_cluster_url
from loglens.config import ClusterConfig
from loglens.errors import ConfigError

CONFIG = ClusterConfig()
ES1 = "https://es1.example.org:9200"


@pytest.mark.parametrize(
    ("url", "target"),
    [
        ("es://logs-*", ClusterTarget(None, "logs-*")),
        ("opensearch://logs-web", ClusterTarget(None, "logs-web")),
        ("es://", ClusterTarget(None, "loglens-events")),
        ("es://es1.example.org:9200/logs-*", ClusterTarget((ES1,), "logs-*")),
        ("es+http://127.0.0.1:9200/x", ClusterTarget(("http://127.0.0.1:9200",), "x")),
        ("http://127.0.0.1:9200/x", ClusterTarget(("http://127.0.0.1:9200",), "x")),
        ("https://es1.example.org/", ClusterTarget(("https://es1.example.org",), "loglens-events")),
        ("es://analyst@es1.example.org:9200/a", ClusterTarget((ES1,), "a", "analyst")),
        ("es://[::1]:9200/a", ClusterTarget(("https://[::1]:9200",), "a")),
    ],
)  # fmt: skip
def test_cluster_urls(url: str, target: ClusterTarget) -> None:
    assert is_cluster_url(url)
    assert parse_cluster_url(url, CONFIG) == target


def test_a_password_in_the_url_is_refused_and_not_repeated() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_cluster_url("es://analyst:s3cret@es1.example.org:9200/a", CONFIG)
    assert "s3cret" not in str(caught.value)
    assert "LOGLENS_CLUSTER_PASSWORD" in str(caught.value)


@pytest.mark.parametrize("url", ["duckdb:x.duckdb", "file.duckdb", "ftp://h/x", "es+http:///x"])
def test_not_cluster_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        parse_cluster_url(url, CONFIG)
