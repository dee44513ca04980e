"""Connecting: the client follows what the server reports; transient failures are retried."""

from __future__ import annotations

import pytest

from loglens.cluster import connect
from loglens.errors import ClusterError
from tests.cluster.conftest import Cluster


def test_the_client_follows_what_the_server_reports(cluster: Cluster) -> None:
    with connect(cluster.settings()) as client:
        assert client.flavour == cluster.flavour
        assert client.info.major in ((3,) if cluster.flavour == "opensearch" else (9,))
        client.request("PUT", "/t1", body={"mappings": {"properties": {"a": {"type": "keyword"}}}})
        bulk = '{"index":{"_index":"t1","_id":"1"}}\n{"a":"x"}\n'
        answer = client.request("POST", "/_bulk", body=bulk, ndjson=True, params={"refresh": True})
        assert answer["errors"] is False
        assert client.request("GET", "/t1/_count")["count"] == 1


def test_transient_statuses_are_retried_until_they_pass(cluster: Cluster) -> None:
    with connect(cluster.settings(max_retries=3)) as client:
        cluster.proxy.inject(path="/_cluster/health", status=429, times=2)
        cluster.proxy.inject(path="/_cluster/health", status=503, times=1)
        assert "status" in client.request("GET", "/_cluster/health")
        assert client.retries == 3


def test_retries_give_up_with_one_line(cluster: Cluster) -> None:
    with connect(cluster.settings(max_retries=2)) as client:
        cluster.proxy.inject(path="/_cluster/health", status=429, times=10)
        with pytest.raises(ClusterError) as caught:
            client.request("GET", "/_cluster/health")
        assert caught.value.status == 429
        assert "overloaded (429" in str(caught.value) and "\n" not in str(caught.value)
        assert client.retries == 2


def test_a_dropped_connection_is_retried(cluster: Cluster) -> None:
    with connect(cluster.settings()) as client:
        cluster.proxy.inject(path="/_cluster/health", drop=True, times=2)
        assert "status" in client.request("GET", "/_cluster/health")
        assert client.retries == 2


def test_a_missing_index_is_named(cluster: Cluster) -> None:
    with connect(cluster.settings()) as client, pytest.raises(ClusterError) as caught:
        client.request("GET", "/no-such-index/_search", location="no-such-index")
    assert caught.value.status == 404
    assert str(caught.value).startswith("no-such-index: ")
    assert "no such index" in str(caught.value)
