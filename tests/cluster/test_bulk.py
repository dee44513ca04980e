"""The bulk writer: create ops by event id, chunks, busy items re-sent, and an exact accounting."""

from __future__ import annotations

from typing import Any

import pytest

from loglens.cluster import ClusterClient, connect
from loglens.cluster.bulk import BulkResult, BulkWriter
from tests.cluster.conftest import Cluster

INDEX = "bulk-test"


def _docs(n: int, start: int = 0) -> list[tuple[str, dict[str, Any]]]:
    return [(f"id-{i:05d}", {"n": i, "text": f"document {i}"}) for i in range(start, start + n)]


def _stored(client: ClusterClient) -> int:
    client.request("POST", f"/{INDEX}/_refresh")
    return int(client.request("GET", f"/{INDEX}/_count")["count"])


def _new_index(client: ClusterClient) -> None:
    mappings = {"properties": {"n": {"type": "long"}, "text": {"type": "keyword"}}}
    client.request("PUT", f"/{INDEX}", body={"mappings": mappings})


def _write(
    client: ClusterClient, items: list[tuple[str, dict[str, Any]]], **options: Any
) -> BulkResult:
    writer = BulkWriter(client, INDEX, sleep=lambda _: None, **options)
    result = writer.write(items)
    assert result.balanced, result
    return result


def test_a_rerun_adds_nothing_and_sends_no_documents(cluster: Cluster) -> None:
    with connect(cluster.settings()) as client:
        _new_index(client)
        first = _write(client, _docs(50), docs=7)
        assert (first.sent, first.created, first.duplicates, first.requests) == (50, 50, 0, 8)
        bytes_before = cluster.proxy.traffic.bytes_sent
        again = _write(client, _docs(60), docs=7)
        assert (again.created, again.duplicates) == (10, 50)
        assert again.requests == 2  # only the chunks that held new ids were sent
        # The duplicates cost their ids (the _mget), not their documents.
        assert cluster.proxy.traffic.bytes_sent - bytes_before < first.bytes
        assert _stored(client) == 60


def test_chunks_are_cut_by_bytes(cluster: Cluster) -> None:
    with connect(cluster.settings()) as client:
        _new_index(client)
        result = _write(client, _docs(40), docs=1000, bytes=1000)
        assert result.requests >= result.bytes // 1000
        assert result.requests > 1 and result.created == 40


def test_busy_items_are_sent_again_until_stored(cluster: Cluster) -> None:
    with connect(cluster.settings()) as client:
        _new_index(client)
        fault = cluster.proxy.inject(path="/_bulk", bulk_item_status=429, bulk_item_every=3,
                                     times=3)  # fmt: skip
        result = _write(client, _docs(30), docs=10)
        assert fault.used == 3
        # Items 0, 3, 6, 9 of the first request are busy; of their re-send, items 0 and 3 (the
        # first and the fourth); of the next re-send, the first.
        assert result.retried == 4 + 2 + 1
        assert (result.created, result.duplicates, result.rejected) == (30, 0, 0)
        assert _stored(client) == 30


def test_items_still_busy_after_the_retries_are_rejected_with_the_reason(
    cluster: Cluster,
) -> None:
    with connect(cluster.settings()) as client:
        _new_index(client)
        cluster.proxy.inject(path="/_bulk", bulk_item_status=429, bulk_item_every=5, times=100)
        result = _write(client, _docs(10), docs=10, max_retries=2)
        # Items 0 and 5 are busy; of their re-send, the first again, and again: given up.
        assert (result.created, result.rejected, result.retried) == (9, 1, 2 + 1)
        assert {r.kind for r in result.rejections} == {"es_rejected_execution_exception"}
        assert all("still busy" in r.reason for r in result.rejections)
        assert _stored(client) == 9


def test_a_whole_request_refused_is_retried(cluster: Cluster) -> None:
    with connect(cluster.settings()) as client:
        _new_index(client)
        cluster.proxy.inject(path="/_bulk", status=429, times=2)
        result = _write(client, _docs(20), docs=10)
        assert client.retries == 2
        assert (result.created, result.duplicates, result.recovered) == (20, 0, 0)


@pytest.mark.parametrize("known_new", [True, False])
def test_a_connection_dropped_after_the_work_counts_the_documents_as_created(
    cluster: Cluster, known_new: bool
) -> None:
    with connect(cluster.settings()) as client:
        _new_index(client)
        _write(client, _docs(10), docs=10, known_new=True)
        # The server stores the next request's documents; the client never hears and re-sends
        # it, and the cluster answers 409 for each of them.
        cluster.proxy.inject(path="/_bulk", drop=True, after_forward=True, times=1)
        result = _write(client, _docs(20, start=10), docs=10, known_new=known_new)
        assert client.retries == 1
        assert (result.sent, result.created, result.duplicates) == (20, 20, 0)
        assert result.recovered == 10
        assert _stored(client) == 30


def test_an_item_busy_in_a_re_sent_request_is_still_counted_as_created(cluster: Cluster) -> None:
    with connect(cluster.settings()) as client:
        _new_index(client)
        # The server stores the request but the answer is lost; in the client's re-send, items
        # 0, 4 and 8 are answered busy, and their own re-send later finds them stored (409):
        # the writer's first attempt, not someone else's copies.
        cluster.proxy.inject(path="/_bulk", drop=True, after_forward=True, times=1)
        cluster.proxy.inject(path="/_bulk", bulk_item_status=429, bulk_item_every=4, times=1)
        result = _write(client, _docs(10), docs=10, known_new=True)
        assert client.retries == 1 and result.retried == 3
        assert (result.created, result.duplicates, result.recovered) == (10, 0, 10)
        assert _stored(client) == 10


def test_a_conflict_in_a_request_sent_once_is_a_duplicate(cluster: Cluster) -> None:
    with connect(cluster.settings()) as client:
        _new_index(client)
        _write(client, _docs(5), known_new=True)
        # The caller was wrong about the index being new: the cluster still refuses the copies.
        result = _write(client, _docs(8), known_new=True)
        assert (result.created, result.duplicates, result.recovered) == (3, 5, 0)


def test_documents_the_mapping_refuses_are_rejected_with_their_reason(cluster: Cluster) -> None:
    with connect(cluster.settings()) as client:
        _new_index(client)
        docs = _docs(6)
        docs[2] = ("bad-1", {"n": "not a number"})
        docs[4] = ("bad-2", {"n": {"an": "object"}})
        writer = BulkWriter(client, INDEX)
        for doc_id, doc in docs:
            writer.add(doc_id, doc, flagged=doc_id.startswith("id-0000"))
        writer.flush()
        result = writer.result
        assert result.balanced
        assert (result.created, result.rejected) == (4, 2)
        assert result.created_flagged == 4  # id-00000 .. id-00005 less the two replaced
        assert sorted(r.id for r in result.rejections) == ["bad-1", "bad-2"]
        assert all(r.status == 400 and "pars" in r.kind for r in result.rejections)
        assert all(r.reason for r in result.rejections)
        assert _stored(client) == 4
