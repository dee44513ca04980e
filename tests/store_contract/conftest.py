"""The same events in every backend: DuckDB, and a cluster through each official client.

Two days of generated traffic plus real samples from tests/data are ingested once per session
into a DuckDB file (the reference) and into an osmem-server per client flavour (``opensearch``:
opensearch-py against the server as it is; ``elasticsearch``: the Elasticsearch client, the
proxy making the server answer as Elasticsearch 9). Each test then gets its own copy of every
backend: a copy of the DuckDB file, a clone of the loaded cluster (milliseconds), so tests that
tag or write anomalies never disturb the others.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from osmem_server import OsmemServer

from loglens.config import Config, load_config
from loglens.pipeline import Pipeline
from loglens.sources.generate import generate
from loglens.store import open_store
from loglens.store.base import IngestRecord, Store
from loglens.store.duckdb import DuckDBStore
from tests.cluster.proxy import ClusterProxy

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLES = (
    DATA / "apache" / "access_excerpt.log",  # one parse failure among 1,500 lines
    DATA / "syslog" / "auth.log",
    DATA / "zeek" / "json" / "conn.log",  # keys the schema lacks go to extra
    DATA / "suricata" / "eve-sample.json",
    DATA / "windows" / "otrf_schtask_create.json",
)
INDEX = "contract-events"
BACKENDS = ("duckdb", "opensearch", "elasticsearch")
CLUSTERS = BACKENDS[1:]


@pytest.fixture(scope="session")
def contract_inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("contract-logs")
    generate(
        out, days=2, seed=7, rate=0.008, start=datetime(2024, 5, 1, tzinfo=UTC),
        incidents=["web_scan"],
    )  # fmt: skip
    generated = sorted(p for p in out.rglob("*") if p.is_file() and p.name != "labels.json")
    return [*generated, *SAMPLES]


def _config(url: str) -> Config:
    return load_config(env={}, overrides={"store.url": url})


def _ingest(store: Store, inputs: list[Path], url: str) -> list[IngestRecord]:
    with Pipeline(_config(url), store=store) as pipeline:
        report = pipeline.ingest([str(p) for p in inputs])
    assert report.balanced
    return report.inputs


@pytest.fixture(scope="session")
def reference_file(contract_inputs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("contract-duckdb") / "reference.duckdb"
    url = f"duckdb:{path}"
    with DuckDBStore(str(path), url=url) as store:
        _ingest(store, contract_inputs, url)
    return path


@pytest.fixture(scope="session")
def reference(reference_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The DuckDB answers every backend must give (a read-only session copy)."""
    copy = tmp_path_factory.mktemp("contract-ref") / "reference.duckdb"
    shutil.copy(reference_file, copy)
    with DuckDBStore(str(copy), read_only=True) as store:
        yield store


@dataclass
class LoadedCluster:
    server: OsmemServer
    flavour: str
    records: list[IngestRecord]


@pytest.fixture(scope="session")
def loaded_clusters(contract_inputs: list[Path]) -> Iterator[dict[str, LoadedCluster]]:
    """One osmem-server per flavour, loaded on first use (through that flavour's client)."""
    loaded: dict[str, LoadedCluster] = {}
    servers: list[OsmemServer] = []

    class Lazy(dict[str, LoadedCluster]):
        def __missing__(self, flavour: str) -> LoadedCluster:
            server = OsmemServer.start(japanese=False)
            servers.append(server)
            with ClusterProxy(server.url, pretend_elasticsearch=flavour == "elasticsearch") as p:
                url = p.url.replace("http://", "es+http://") + f"/{INDEX}"
                with open_store(url, config=_config(url)) as store:
                    records = _ingest(store, contract_inputs, url)
            self[flavour] = LoadedCluster(server, flavour, records)
            return self[flavour]

    lazy = Lazy(loaded)
    yield lazy
    for server in servers:
        server.close()


@pytest.fixture(params=BACKENDS)
def backend(
    request: pytest.FixtureRequest,
    reference_file: Path,
    loaded_clusters: dict[str, LoadedCluster],
    tmp_path: Path,
) -> Iterator[Store]:
    """A fresh copy of the loaded events in one backend."""
    flavour = request.param
    if flavour == "duckdb":
        copy = tmp_path / "copy.duckdb"
        shutil.copy(reference_file, copy)
        with DuckDBStore(str(copy)) as store:
            yield store
        return
    loaded = loaded_clusters[flavour]
    clone = loaded.server.clone()
    try:
        with ClusterProxy(clone.url, pretend_elasticsearch=flavour == "elasticsearch") as proxy:
            url = proxy.url.replace("http://", "es+http://") + f"/{INDEX}"
            with open_store(url, config=_config(url)) as store:
                yield store
    finally:
        clone.close()
