"""Each template's top entities and newest events, kept in the store between searches.

Describing a hit means reading every event of its template; on a store of a million events that
is most of a ``loglens search`` answer. The description only changes when the template's events
do, so it is kept in the store (checkpoint ``template-profiles``, JSON, any backend) together
with the template's stamp: its event count, first and last seen, as the listing computes them
from the events on every search. An entry whose stamp no longer matches (new events, events
moved to a generalised template) is described again from the events, as is one kept with other
entity fields or fewer examples than asked for. Only unfiltered searches use the entries; with
a Lucene filter the counts and values describe the filtered events, and are always computed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any

from loglens.errors import StoreError
from loglens.store.base import GroupProfile, Store, TermsBucket
from loglens.templates.stored import TemplateRow

CHECKPOINT = "template-profiles"
KEPT_EXAMPLES = 3
"""Examples kept per template at least (the ``loglens search`` default), so that asking for
fewer or as many finds them."""
MAX_KEPT = 500
"""Templates kept at most (the least recently described are dropped first): every search reads
the whole checkpoint, so it stays a few hundred kilobytes however many templates a store has."""

Describe = Callable[[Sequence[str], int], dict[str, GroupProfile]]
"""Describes templates by id from their events, with that many examples each."""


def template_profiles(
    store: Store,
    templates: Sequence[TemplateRow],
    entity_fields: Sequence[str],
    examples: int,
    describe: Describe,
    current: Collection[str] | None = None,
) -> dict[str, GroupProfile]:
    """The profiles of ``templates``: kept ones whose stamp matches, the others described anew
    (in one call of ``describe``) and kept for the next search.

    ``current``: the store's template ids; entries of others (templates generalised since, whose
    events moved) are dropped when the kept profiles are saved.
    """
    saved = store.checkpoint(CHECKPOINT) or {}
    entries = saved.get("templates") if saved.get("fields") == list(entity_fields) else None
    kept: dict[str, Any] = dict(entries) if isinstance(entries, dict) else {}
    found: dict[str, GroupProfile] = {}
    stale: list[TemplateRow] = []
    for row in templates:
        profile = _decode(kept.get(row.id), row.id, _stamp(row), examples)
        if profile is None:
            stale.append(row)
        else:
            found[row.id] = profile
    if stale:
        keep = max(examples, KEPT_EXAMPLES)
        fresh = describe([row.id for row in stale], keep)
        saves = _int(saved.get("saves")) + 1
        for row in stale:
            profile = fresh.get(row.id)
            if profile is None:  # no events now: nothing to keep
                kept.pop(row.id, None)
                continue
            kept[row.id] = {**_encode(profile, _stamp(row), keep), "save": saves}
            found[row.id] = _trimmed(profile, examples)
        if current is not None:
            kept = {tid: entry for tid, entry in kept.items() if tid in current}
        if len(kept) > MAX_KEPT:
            newest = sorted(kept, key=lambda tid: -_int(_field(kept[tid], "save")))[:MAX_KEPT]
            kept = {tid: kept[tid] for tid in newest}
        state = {"fields": list(entity_fields), "saves": saves, "templates": kept}
        with contextlib.suppress(StoreError):  # keeping is a saving: a read-only store answers
            store.save_checkpoint(CHECKPOINT, state)
    return found


def _field(entry: Any, name: str) -> Any:
    return entry.get(name) if isinstance(entry, dict) else None


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _stamp(row: TemplateRow) -> str:
    first = row.first_seen.isoformat() if row.first_seen else ""
    last = row.last_seen.isoformat() if row.last_seen else ""
    return f"{row.events}|{first}|{last}"


def _trimmed(profile: GroupProfile, examples: int) -> GroupProfile:
    return GroupProfile(profile.value, profile.events, profile.terms, profile.examples[:examples])


def _encode(profile: GroupProfile, stamp: str, kept_examples: int) -> dict[str, Any]:
    return {
        "stamp": stamp,
        "events": profile.events,
        "examples_kept": kept_examples,
        # Pairs, not objects: the checkpoint's JSON sorts object keys, and the fields' order
        # (entities as asked, an event's fields as projected) is part of the answer.
        "terms": [
            [name, [[_value(b.value), b.count] for b in buckets]]
            for name, buckets in profile.terms.items()
        ],
        "examples": [[[k, _value(v)] for k, v in event.items()] for event in profile.examples],
    }


def _decode(entry: Any, template_id: str, stamp: str, examples: int) -> GroupProfile | None:
    """The kept profile, or None when it is missing, stale, short of examples or damaged."""
    if not isinstance(entry, dict) or entry.get("stamp") != stamp:
        return None
    try:
        if int(entry["examples_kept"]) < examples:
            return None
        terms = {
            str(name): [TermsBucket(_restored(value), int(count)) for value, count in buckets]
            for name, buckets in entry["terms"]
        }
        events = [{str(k): _restored(v) for k, v in event} for event in entry["examples"]]
        return GroupProfile(template_id, int(entry["events"]), terms, events[:examples])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _value(value: Any) -> Any:
    """JSON for a field's value: instants tagged, so that they come back as instants."""
    return {"instant": value.isoformat()} if isinstance(value, datetime) else value


def _restored(value: Any) -> Any:
    if isinstance(value, dict):
        return datetime.fromisoformat(str(value["instant"]))
    return value
