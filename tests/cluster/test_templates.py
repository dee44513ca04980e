"""Log templates on the cluster store: mined at ingest, listed, searched, as on DuckDB.

Two days of generated auth and IDS traffic (about 2,600 events with a message, plus DNS queries
without one) are ingested with the command line in two steps, the second after the second half of
the auth log was appended, into a DuckDB file and through each official client into osmem-server.
After each step the cluster must hold the same template id on every event and list the same
templates (ids, texts, counts, first and last seen, examples) as DuckDB; then ``loglens detect
--method templates`` must find the same new templates, and ``loglens search`` rank the same
templates.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from click.testing import CliRunner

from loglens.cli import cli
from loglens.config import load_config
from loglens.errors import StoreError
from loglens.schema import TEMPLATE_ID
from loglens.sources.generate import generate
from loglens.store import open_store
from loglens.store.base import Query
from loglens.store.elastic import ElasticStore
from loglens.store.elastic_templates import KEYWORD_CHARS
from loglens.templates.stored import list_templates, load_miner, mine_store
from tests.cluster.conftest import Cluster
from tests.semantic_model import needs_model

QUESTION = "failed login"


@dataclass(frozen=True)
class Traffic:
    auth_first: str  # the first part of the auth log
    auth_rest: str  # what is appended before the second ingest
    others: list[Path]  # ingested whole in the first step


@dataclass(frozen=True)
class Step:
    """What a store holds after an ingest step."""

    templates: list[dict[str, Any]]  # ``loglens templates -o json``
    event_templates: dict[str, str | None]  # event.id → template id
    aliases: dict[str, str]  # old template id → current (from the miner's state)


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> Traffic:
    out = tmp_path_factory.mktemp("templates-traffic")
    # Two quiet days; the new account and its IRC traffic come on the second evening, in the
    # appended part of the auth log.
    generate(out, days=2, seed=11, rate=0.005, start=datetime(2024, 5, 1, tzinfo=UTC),
             incidents=["new_event_type"])  # fmt: skip
    lines = (out / "auth" / "auth.log").read_text(encoding="utf-8").splitlines(keepends=True)
    cut = len(lines) // 2  # the second day: a sudo template generalised, the incident
    return Traffic(
        "".join(lines[:cut]),
        "".join(lines[cut:]),
        [out / "suricata" / "eve.json", out / "zeek" / "dns.log"],
    )


def run(store: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--store", store, *args])
    assert result.exit_code == 0, result.output
    return result.output


def ingest_in_two_steps(store: str, traffic: Traffic, work: Path) -> Iterator[Step]:
    """Ingest the first part (and the other files), then the appended auth log; a Step after
    each."""
    auth = work / "auth.log"
    auth.write_text(traffic.auth_first, encoding="utf-8")
    run(store, "ingest", "--year", "2024", str(auth), *map(str, traffic.others))
    yield step(store)
    with auth.open("a", encoding="utf-8") as appended:
        appended.write(traffic.auth_rest)
    run(store, "ingest", "--year", "2024", str(auth))
    yield step(store)


def step(store: str) -> Step:
    listed = run(store, "templates", "-o", "json")
    templates = [to_milliseconds(json.loads(line)) for line in listed.splitlines() if line.strip()]
    with open_store(store, config=load_config(overrides={"store.url": store})) as opened:
        events = opened.search(Query(fields=["event.id", TEMPLATE_ID], size=None))
        miner = load_miner(opened)
    ids = events.column("event.id").to_pylist()
    return Step(
        templates,
        dict(zip(ids, events.column(TEMPLATE_ID).to_pylist(), strict=True)),
        {old: miner.resolve(old) for old in miner.aliases_},
    )


def to_milliseconds(row: dict[str, Any]) -> dict[str, Any]:
    """First and last seen to the millisecond, the precision a cluster keeps."""
    for name in ("first_seen", "last_seen"):
        if row.get(name):
            instant = datetime.fromisoformat(row[name].replace("Z", "+00:00"))
            row[name] = instant.replace(microsecond=instant.microsecond // 1000 * 1000)
    return row


@dataclass(frozen=True)
class Reference:
    url: str
    steps: list[Step]
    detected: list[dict[str, Any]]  # ``loglens detect --method templates -o json``


@pytest.fixture(scope="module")
def reference(traffic: Traffic, tmp_path_factory: pytest.TempPathFactory) -> Reference:
    """The embedded store's two steps: what the cluster must give."""
    work = tmp_path_factory.mktemp("templates-duckdb")
    url = f"duckdb:{work / 'loglens.duckdb'}"
    steps = list(ingest_in_two_steps(url, traffic, work))
    return Reference(url, steps, detect_templates(url))


def detect_templates(store: str) -> list[dict[str, Any]]:
    printed = run(store, "detect", "--method", "templates", "-o", "json")
    return [json.loads(line) for line in printed.splitlines() if line.strip()]


def cluster_store(cluster: Cluster, index: str = "events") -> str:
    return cluster.url.replace("http://", "es+http://") + f"/{index}"


def test_ingest_on_the_cluster_templates_every_message_as_duckdb_does(
    cluster: Cluster, traffic: Traffic, reference: Reference, tmp_path: Path
) -> None:
    first, second = reference.steps
    # The data exercises what is compared: many templates, events without a message, new
    # templates in the appended part, and one of the first step's generalised (its events
    # renamed).
    assert len(first.templates) >= 10
    assert None in first.event_templates.values()
    assert len(second.event_templates) > len(first.event_templates)
    assert {t["id"] for t in second.templates} - {t["id"] for t in first.templates}
    assert set(second.aliases) & {t["id"] for t in first.templates}

    url = cluster_store(cluster)
    for got, want in zip(ingest_in_two_steps(url, traffic, tmp_path), reference.steps,
                         strict=True):  # fmt: skip
        assert got.event_templates == want.event_templates
        assert got.templates == want.templates
        assert got.aliases == want.aliases

    # Stable ids: an event templated by the first step keeps its id, or its template's
    # generalisation (the old id is then an alias of the new one).
    for event_id, old in first.event_templates.items():
        new = second.event_templates[event_id]
        assert new == (second.aliases.get(old, old) if old is not None else None)

    # The template detectors see the cluster's templates as DuckDB's.
    detected = detect_templates(url)
    assert len(reference.detected) >= 2
    assert [(a["id"], a["explanation"]) for a in detected] == [
        (a["id"], a["explanation"]) for a in reference.detected
    ]


@needs_model
def test_search_on_the_cluster_ranks_as_on_duckdb(
    cluster: Cluster, traffic: Traffic, reference: Reference, tmp_path: Path
) -> None:
    url = cluster_store(cluster)
    for _ in ingest_in_two_steps(url, traffic, tmp_path):
        pass

    def hits(store: str) -> list[dict[str, Any]]:
        printed = run(store, "search", QUESTION, "-n", "3", "-o", "json")
        return [json.loads(line) for line in printed.splitlines() if line.strip()]

    got, want = hits(url), hits(reference.url)
    assert want and "Failed password" in want[0]["template"]
    assert [(h["template_id"], h["template"], h["events"]) for h in got] == [
        (h["template_id"], h["template"], h["events"]) for h in want
    ]
    assert got[0]["entities"] == want[0]["entities"]
    assert got[0]["examples"] == want[0]["examples"]


def elastic(cluster: Cluster, index: str = "events") -> ElasticStore:
    url = cluster_store(cluster, index)
    config = load_config(
        env={
            "LOGLENS_CLUSTER__RETRY_BACKOFF": "0.01",
            "LOGLENS_CLUSTER__RETRY_BACKOFF_MAX": "0.05",
        },
        overrides={"store.url": url},
    )
    store = open_store(url, config=config)
    assert isinstance(store, ElasticStore)
    return store


def events(messages: list[str | None]) -> pa.Table:
    return pa.table(
        {
            "event.id": [f"e{i:04d}" for i in range(len(messages))],
            "@timestamp": pa.array(
                [1_714_521_600 + i for i in range(len(messages))], pa.timestamp("s", tz="UTC")
            ),
            "message": pa.array(messages, pa.string()),
        }
    )


def test_messages_longer_than_the_keyword_are_templated_too(cluster: Cluster) -> None:
    long = ["trace " + " ".join(f"frame{i}-{n}" for i in range(1200)) for n in range(2)]
    assert all(len(m) > KEYWORD_CHARS for m in long)
    messages = [*long, long[0], "disk sda1 full", "disk sdb2 full", None]
    with elastic(cluster) as store:
        store.write(events(messages))
        untemplated = pa.concat_tables(store.untemplated_messages(2)).to_pylist()
        # Keyword order first, then the long ones; every distinct message once, with its count.
        assert untemplated == [
            {"message": "disk sda1 full", "events": 1},
            {"message": "disk sdb2 full", "events": 1},
            {"message": long[0], "events": 2},
            {"message": long[1], "events": 1},
        ]
        report = mine_store(store, batch_messages=3)
        assert (report.messages, report.events) == (4, 5)
        assert list(store.untemplated_messages()) == []
        ids = store.search(Query(fields=[TEMPLATE_ID], size=None, sort="event.id"))
        assert ids.column(TEMPLATE_ID).null_count == 1  # the event without a message
        listed = {t.text: (t.events, t.example) for t in list_templates(store)}
    with open_store("duckdb::memory:") as duck:
        duck.write(events(messages))
        mine_store(duck, batch_messages=3)
        assert {t.text: (t.events, t.example) for t in list_templates(duck)} == listed


def test_busy_items_and_a_lost_answer_still_give_exact_counts(cluster: Cluster) -> None:
    messages = [f"job {n} finished in {n * 3} ms" for n in range(40)]
    with elastic(cluster) as store:
        store.write(events(messages))
        mapping = pa.table({"message": messages[:30], "template_id": ["Tjob"] * 30})
        # Every third item answered busy; then a request whose answer is lost after the work.
        cluster.proxy.inject(path="/_bulk", bulk_item_status=429, bulk_item_every=3)
        cluster.proxy.inject(path="/_bulk", drop=True, after_forward=True)
        assert store.assign_templates(mapping) == 30
        assert store.assign_templates(mapping) == 0  # already templated: nothing to do
        cluster.proxy.inject(path="/_bulk", bulk_item_status=503, bulk_item_every=4)
        assert store.rename_templates({"Tjob": "Tjob2", "Tnone": "Tother"}) == 30
        stats = store.template_stats().to_pylist()
        assert [(r["template_id"], r["events"]) for r in stats] == [("Tjob2", 30)]
        assert stats[0]["example"] == messages[0]
        assert stats[0]["first_seen"] == datetime(2024, 5, 1, tzinfo=UTC)
        assert stats[0]["last_seen"] == datetime(2024, 5, 1, 0, 0, 29, tzinfo=UTC)
        since = store.template_stats(datetime(2024, 5, 1, 0, 0, 1, tzinfo=UTC))
        assert since.num_rows == 0


def test_updates_the_cluster_keeps_refusing_end_in_one_clear_error(cluster: Cluster) -> None:
    with elastic(cluster) as store:
        store.write(events(["service started"]))
        store._templates._sleep = lambda seconds: None  # the rounds, without their waits
        cluster.proxy.inject(path="/_bulk", bulk_item_status=429, bulk_item_every=1, times=10)
        mapping = pa.table({"message": ["service started"], "template_id": ["Tsvc"]})
        with pytest.raises(StoreError, match="gave up"):
            store.assign_templates(mapping)


def test_an_index_without_the_template_field_gets_it_mapped(cluster: Cluster) -> None:
    with elastic(cluster, "bare") as store:
        # An index created outside loglens: no mapping for the template id (and no dynamic one).
        store.client.request("PUT", "/bare", body={"mappings": {"dynamic": False, "properties": {
            "message": {"type": "text", "fields": {"keyword": {"type": "keyword"}}},
            "event": {"properties": {"id": {"type": "keyword"}}},
            "@timestamp": {"type": "date"}}}})  # fmt: skip
        for n in range(3):
            store.client.request("PUT", f"/bare/_doc/d{n}", params={"refresh": "true"},
                                 body={"message": f"user u{n} logged out", "event": {"id": f"d{n}"},
                                       "@timestamp": f"2024-05-01T00:00:0{n}Z"})  # fmt: skip
        report = mine_store(store)
        assert (report.messages, report.events, report.templates) == (3, 3, 1)
        mapped = store.client.request("GET", "/bare/_mapping")["bare"]["mappings"]
        assert mapped["properties"]["loglens"]["properties"]["template"]["properties"]["id"][
            "type"] == "keyword"  # fmt: skip
        (row,) = list_templates(store)
        assert (row.text, row.events) == ("user u<*> logged out", 3)
