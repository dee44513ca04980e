"""Fixtures for the cluster tests: osmem-server behind a proxy, spoken to by either client.

``cluster`` runs a test once per official client: ``opensearch`` (opensearch-py, the server as it
is) and ``elasticsearch`` (the elasticsearch client; the proxy makes the server answer as
Elasticsearch 9). Both go through the proxy so that faults can be injected in either.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from osmem_server import OsmemClone

from loglens.cluster import ClusterSettings
from tests.cluster.proxy import ClusterProxy

FLAVOURS = ("opensearch", "elasticsearch")


@dataclass
class Cluster:
    flavour: str
    proxy: ClusterProxy
    clone: OsmemClone

    @property
    def url(self) -> str:
        return self.proxy.url

    def settings(self, **changes: object) -> ClusterSettings:
        base: dict[str, object] = {
            "hosts": (self.url,),
            "request_timeout": 10.0,
            "max_retries": 4,
            "retry_backoff": 0.01,
            "retry_backoff_max": 0.05,
        }
        base.update(changes)
        return ClusterSettings(**base)  # type: ignore[arg-type]


@pytest.fixture(params=FLAVOURS)
def cluster(request: pytest.FixtureRequest, osmem_clone: OsmemClone) -> Iterator[Cluster]:
    flavour = request.param
    with ClusterProxy(osmem_clone.url, pretend_elasticsearch=flavour == "elasticsearch") as proxy:
        yield Cluster(flavour, proxy, osmem_clone)
