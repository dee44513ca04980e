"""Templates of the messages in a store: incremental mining, the saved state, the listing.

Which text is templated: an event's ``message`` — the human-written part of a syslog or auth
line, a Windows event's message, a Suricata alert's signature, a Zeek notice's ``msg``, a text
line. Records without one (web access lines, Zeek connections and DNS queries) are structured
already: their fields are the "template" and the series of ``loglens detect`` watch them, so
they get no template id.

Mining runs after each ingest on the distinct messages that have no template id yet, with their
event counts, in slices; the miner's state is the store's ``templates`` checkpoint (JSON, never
a pickle), saved before the ids it names are written, so an interrupted run leaves no id
without its text. When new messages generalise a template, its events get the new id (the old
one stays an alias in the state), so a template's series never splits in two.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa

from loglens.store.base import Store
from loglens.templates.miner import TemplateMiner

STATE_NAME = "templates"
"""The checkpoint the miner's state is saved under."""

DEFAULT_BATCH_MESSAGES = 200_000

UNKNOWN_TEXT = "(not in the template state)"


@dataclass(frozen=True)
class MiningReport:
    """What one mining pass did."""

    messages: int = 0  # distinct messages mined
    events: int = 0  # events given a template id
    new_templates: int = 0  # templates the pass added
    templates: int = 0  # templates known after the pass
    renamed_events: int = 0  # events moved to a template that generalised theirs
    seconds: float = 0.0


@dataclass(frozen=True)
class TemplateRow:
    """One template as ``loglens templates`` lists it."""

    id: str
    text: str
    events: int
    first_seen: datetime | None
    last_seen: datetime | None
    example: str | None


def load_miner(store: Store) -> TemplateMiner:
    """The miner saved in ``store``, or a fresh one."""
    state = store.checkpoint(STATE_NAME)
    if state is None:
        return TemplateMiner()
    return TemplateMiner.from_json(json.dumps(state))


def save_miner(store: Store, miner: TemplateMiner) -> None:
    store.save_checkpoint(STATE_NAME, json.loads(miner.to_json()))


def template_texts(store: Store) -> dict[str, str]:
    """Template id → text, old ids (aliases) included, from the store's saved state."""
    miner = load_miner(store)
    texts = {t.id: t.text for t in miner.templates_.values()}
    for old in miner.aliases_:
        current = miner.templates_.get(miner.resolve(old))
        if current is not None:
            texts.setdefault(old, current.text)
    return texts


def mine_store(store: Store, *, batch_messages: int = DEFAULT_BATCH_MESSAGES) -> MiningReport:
    """Give every stored event with a message its template id, learning new templates.

    Raises:
        StoreError: a read or write failed.
        TemplateStateError: the saved state is not a template state.
    """
    started = time.perf_counter()
    miner = load_miner(store)
    known = set(miner.templates_)
    messages = events = renamed = 0
    for batch in store.untemplated_messages(batch_messages):
        aliases = dict(miner.aliases_)
        assigned = miner.assign(batch.column("message"), weights=batch.column("events"))
        save_miner(store, miner)
        changed = {old: miner.resolve(old) for old, new in miner.aliases_.items()
                   if aliases.get(old) != new}  # fmt: skip
        if changed:
            renamed += store.rename_templates(changed)
        mapping = pa.table(
            {
                "message": batch.column("message"),
                "template_id": assigned.column("template_id").cast(pa.string()),
            }
        )
        events += store.assign_templates(mapping)
        messages += batch.num_rows
    return MiningReport(
        messages=messages,
        events=events,
        new_templates=len(set(miner.templates_) - known),
        templates=len(miner.templates_),
        renamed_events=renamed,
        seconds=time.perf_counter() - started,
    )


def list_templates(
    store: Store, *, new_since: datetime | None = None, top: int | None = None
) -> list[TemplateRow]:
    """The store's templates, most events first, with counts and first/last seen.

    Args:
        new_since: only templates first seen at or after this instant.
        top: at most this many.
    """
    stats = store.template_stats(new_since)
    texts = template_texts(store)
    rows = []
    for row in stats.to_pylist()[:top]:
        tid = str(row["template_id"])
        rows.append(
            TemplateRow(
                id=tid,
                text=texts.get(tid, UNKNOWN_TEXT),
                events=int(row["events"]),
                first_seen=row["first_seen"],
                last_seen=row["last_seen"],
                example=row["example"],
            )
        )
    return rows


def template_rows(templates: list[TemplateRow]) -> list[dict[str, Any]]:
    """Plain rows for tables, JSON lines and CSV."""
    return [
        {
            "id": t.id,
            "events": t.events,
            "first_seen": t.first_seen,
            "last_seen": t.last_seen,
            "template": t.text,
            "example": t.example,
        }
        for t in templates
    ]
