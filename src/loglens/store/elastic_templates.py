"""The cluster's side of log templates: distinct untemplated messages out, template ids in.

The same four operations as :mod:`loglens.store.duckdb_templates`, done in the cluster without
scripts (clusters often forbid them) and without pulling every event:

- Distinct messages come from a composite aggregation on ``message.keyword`` over the events
  without ``loglens.template.id``. ``message`` is a ``text`` field (searchable by its words);
  its ``keyword`` sub-field holds the exact value, which is what grouping needs. Pages follow the
  after-key, so ids assigned between slices (which remove messages *before* it) never move the
  pages. A message longer than the sub-field keeps (``ignore_above``, in characters) has no
  keyword value: such events are read by a search (``message`` exists, ``message.keyword``
  does not) and grouped here; they are rare (stack traces, dumps) and come after the others.
- Template ids are written by bulk ``update`` actions with a partial document: the matching
  events are searched by message (a ``terms`` query on the keyword, long messages by the same
  search as above) and updated; updated events leave the search, so it is repeated until none
  is left. Counts are the items the cluster reports ``updated`` (or ``noop``: an attempt whose
  answer was lost set the id already). A busy or conflicting item is simply found again by the
  next round; rounds that update nothing end in an error after a few tries.
- Renames search the events by their old id the same way.
- Statistics are a composite aggregation on the template id with ``min``/``max`` of
  ``@timestamp`` and the earliest event's message (``top_hits``) as the example; the ``new
  since`` filter and the order are applied to the (few) buckets afterwards, since selecting
  buckets in the cluster needs a script.

Before ids are written the field is mapped as ``keyword`` (a no-op on indices loglens created,
whose template maps it already; an index created without it would otherwise keep the ids
unsearchable and every event untemplated).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

import pyarrow as pa

from loglens.cluster.connection import ClusterClient
from loglens.cluster.documents import flatten, mappings, parse_date
from loglens.errors import StoreError
from loglens.schema import TEMPLATE_ID

_MESSAGE: Final = "message"
_MESSAGE_KEYWORD: Final = "message.keyword"
_TS: Final = "@timestamp"
KEYWORD_CHARS: Final[int] = int(
    mappings()["properties"][_MESSAGE]["fields"]["keyword"]["ignore_above"]
)
"""The longest message (in characters) that ``message.keyword`` holds."""

COMPOSITE_PAGE: Final = 1000
"""Buckets per composite request (well below every cluster's ``search.max_buckets``)."""
SEARCH_PAGE: Final = 5000
"""Hits per search request (below every cluster's ``max_result_window``)."""
TERMS_CHUNK: Final = 1000
"""Values per ``terms`` query (far below the 65,536 clusters allow, and a small request)."""
_STALLED_ROUNDS: Final = 5
# ``noop``: the event already had that id. It was selected without it, so an attempt whose
# answer was lost (the client re-sent the request) gave it: it counts, as DuckDB's would.
_UPDATED: Final = frozenset({"updated", "noop"})
_TRANSIENT: Final = frozenset({409, 429, 503})

_STATS_SCHEMA: Final = pa.schema(
    [
        ("template_id", pa.string()),
        ("events", pa.int64()),
        ("first_seen", pa.timestamp("us", tz="UTC")),
        ("last_seen", pa.timestamp("us", tz="UTC")),
        ("example", pa.string()),
    ]
)
_MESSAGES_SCHEMA: Final = pa.schema([("message", pa.string()), ("events", pa.int64())])


class ClusterTemplates:
    """Template ids of the events in ``index`` (a name, or for reading a pattern).

    Args:
        client: the connection (not closed here).
        index: the events' index or pattern.
        location: the store URL, for messages.
        sleep: waits between rounds that made no progress (tests pass a no-op).
    """

    def __init__(
        self,
        client: ClusterClient,
        index: str,
        location: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.index = index
        self.location = location
        self._sleep = sleep
        self._mapped = False

    # --- reading messages ----------------------------------------------------------------------

    def untemplated_messages(self, batch_size: int = 200_000) -> Iterator[pa.Table]:
        """Distinct messages of events without a template id (``message``, ``events``), in
        slices of ``batch_size``: keyword order, then the messages too long for the keyword."""
        if batch_size < 1:
            raise StoreError("a slice of messages must hold at least one", location=self.location)
        self._ensure_mapping()
        messages: list[str] = []
        counts: list[int] = []
        for message, events in self._keyword_messages():
            messages.append(message)
            counts.append(events)
            if len(messages) >= batch_size:
                yield _messages_table(messages, counts)
                messages, counts = [], []
        long = self._long_messages()
        for message in sorted(long):
            messages.append(message)
            counts.append(long[message])
            if len(messages) >= batch_size:
                yield _messages_table(messages, counts)
                messages, counts = [], []
        if messages:
            yield _messages_table(messages, counts)

    def _keyword_messages(self) -> Iterator[tuple[str, int]]:
        query = {
            "bool": {
                "filter": [{"exists": {"field": _MESSAGE_KEYWORD}}],
                "must_not": [{"exists": {"field": TEMPLATE_ID}}],
            }
        }
        source = {"message": {"terms": {"field": _MESSAGE_KEYWORD}}}
        after: Any = None
        while True:
            composite: dict[str, Any] = {"size": COMPOSITE_PAGE, "sources": [source]}
            if after is not None:
                composite["after"] = after
            body = {"size": 0, "query": query, "aggs": {"messages": {"composite": composite}}}
            groups = self._search(body).get("aggregations", {}).get("messages", {})
            buckets = groups.get("buckets", [])
            for bucket in buckets:
                yield str(bucket["key"]["message"]), int(bucket["doc_count"])
            after = groups.get("after_key")
            if not buckets or after is None:
                return

    def _long_messages(self) -> Counter[str]:
        found: Counter[str] = Counter()
        for hit in self._long_hits():
            message = _message_of(hit)
            if message is not None:
                found[message] += 1
        return found

    def _long_hits(self) -> Iterator[dict[str, Any]]:
        """Untemplated events whose message the keyword sub-field does not hold, paged."""
        body: dict[str, Any] = {
            "query": {
                "bool": {
                    "filter": [{"exists": {"field": _MESSAGE}}],
                    "must_not": [
                        {"exists": {"field": _MESSAGE_KEYWORD}},
                        {"exists": {"field": TEMPLATE_ID}},
                    ],
                }
            },
            "sort": [{"event.id": {"order": "asc", "unmapped_type": "keyword"}}],
            "_source": [_MESSAGE],
            "size": SEARCH_PAGE,
            "track_total_hits": False,
        }
        while True:
            hits = self._search(body).get("hits", {}).get("hits", [])
            yield from hits
            if len(hits) < SEARCH_PAGE:
                return
            body["search_after"] = hits[-1]["sort"]

    # --- writing ids ---------------------------------------------------------------------------

    def assign_templates(self, mapping: pa.Table) -> int:
        """Set the template id of untemplated events from ``mapping`` (``message`` →
        ``template_id``); the number of events updated."""
        wanted = {
            str(message): str(tid)
            for message, tid in zip(
                mapping.column("message").to_pylist(),
                mapping.column("template_id").to_pylist(),
                strict=True,
            )
            if message is not None and tid is not None
        }
        if not wanted:
            return 0
        self._ensure_mapping()
        short = [m for m in wanted if len(m) <= KEYWORD_CHARS]
        updated = 0
        for start in range(0, len(short), TERMS_CHUNK):
            query = {
                "bool": {
                    "filter": [{"terms": {_MESSAGE_KEYWORD: short[start : start + TERMS_CHUNK]}}],
                    "must_not": [{"exists": {"field": TEMPLATE_ID}}],
                }
            }
            updated += self._update_all(query, [_MESSAGE], lambda hit: wanted.get(
                _message_of(hit) or ""))  # fmt: skip
        if len(short) < len(wanted):
            updated += self._assign_long(wanted)
        return updated

    def _assign_long(self, wanted: Mapping[str, str]) -> int:
        updated = stalled = 0
        while True:
            actions = []
            for hit in self._long_hits():
                tid = wanted.get(_message_of(hit) or "")
                if tid is not None:
                    actions.append((hit, tid))
            if not actions:
                return updated
            done = self._bulk_update(actions)
            updated += done
            stalled = stalled + 1 if done == 0 else 0
            if stalled >= _STALLED_ROUNDS:
                raise self._stalled("assigning template ids")
            if stalled:
                self._sleep(0.5 * stalled)

    def rename_templates(self, renamed: Mapping[str, str]) -> int:
        """Replace old template ids by new ones (templates that new data generalised)."""
        pairs = {str(old): str(new) for old, new in renamed.items() if old != new}
        if not pairs:
            return 0
        self._ensure_mapping()
        olds = list(pairs)
        updated = 0
        for start in range(0, len(olds), TERMS_CHUNK):
            query = {"terms": {TEMPLATE_ID: olds[start : start + TERMS_CHUNK]}}
            updated += self._update_all(query, [TEMPLATE_ID], lambda hit: pairs.get(
                str(flatten(hit.get("_source") or {}).get(TEMPLATE_ID))))  # fmt: skip
        return updated

    def _update_all(
        self,
        query: dict[str, Any],
        source: list[str],
        new_id: Callable[[dict[str, Any]], str | None],
    ) -> int:
        """Give every event ``query`` matches the id ``new_id`` names for it.

        Updated events leave ``query``, so the same search is repeated until it finds none; an
        event ``new_id`` has no id for is left out of the next searches.
        """
        skipped: list[str] = []
        updated = stalled = 0
        while True:
            body: dict[str, Any] = {
                "query": _excluding(query, skipped),
                "_source": source,
                "size": SEARCH_PAGE,
                "track_total_hits": False,
            }
            hits = self._search(body).get("hits", {}).get("hits", [])
            if not hits:
                return updated
            actions = []
            for hit in hits:
                tid = new_id(hit)
                if tid is None:
                    skipped.append(str(hit["_id"]))
                else:
                    actions.append((hit, tid))
            done = self._bulk_update(actions) if actions else 0
            updated += done
            if actions and done == 0:
                stalled += 1
                if stalled >= _STALLED_ROUNDS:
                    raise self._stalled("writing template ids")
                self._sleep(0.5 * stalled)
            else:
                stalled = 0

    def _bulk_update(self, actions: list[tuple[dict[str, Any], str]]) -> int:
        """Partial updates setting each hit's template id; how many the cluster updated.

        Busy or conflicting items (429, 503, 409 after the cluster's own retries) are not
        counted: the event still matches its search and is updated in a later round.
        """
        lines = []
        for hit, tid in actions:
            action = {"update": {"_index": hit["_index"], "_id": hit["_id"],
                                 "retry_on_conflict": 3}}  # fmt: skip
            doc = {"doc": {"loglens": {"template": {"id": tid}}}}
            lines.append(json.dumps(action) + "\n" + json.dumps(doc))
        answer = self.client.request(
            "POST",
            "/_bulk",
            body="\n".join(lines) + "\n",
            ndjson=True,
            params={
                "refresh": "true",
                "filter_path": "items.*.status,items.*.result,items.*.error.type,"
                "items.*.error.reason",
            },
            location=self.location,
        )
        items = answer.get("items", []) if isinstance(answer, dict) else []
        if len(items) != len(actions):
            raise StoreError(
                f"the bulk answer lists {len(items)} items for {len(actions)} updates",
                location=self.location,
            )
        updated = 0
        for (hit, _), item in zip(actions, items, strict=True):
            outcome: dict[str, Any] = (
                next(iter(item.values()), {}) if isinstance(item, dict) else {}
            )
            status = int(outcome.get("status", 0))
            if status < 300:
                updated += outcome.get("result") in _UPDATED
            elif status not in _TRANSIENT:
                error = outcome.get("error") or {}
                kind = error.get("type", status) if isinstance(error, dict) else status
                reason = error.get("reason", "") if isinstance(error, dict) else str(error)
                raise StoreError(f"writing the template id of event {hit['_id']} failed: "
                                 f"{kind}: {reason}", location=self.location)  # fmt: skip
        return updated

    # --- statistics ----------------------------------------------------------------------------

    def template_stats(self, first_seen_from: datetime | None = None) -> pa.Table:
        """Per template id: ``events``, ``first_seen``, ``last_seen`` and the earliest event's
        message as ``example``, most events first; with ``first_seen_from``, only templates
        first seen from then on."""
        subs = {
            "first": {"min": {"field": _TS}},
            "last": {"max": {"field": _TS}},
            "example": {
                "top_hits": {
                    "size": 1,
                    "sort": [
                        {_TS: {"order": "asc", "missing": "_last"}},
                        {"event.id": {"order": "asc", "unmapped_type": "keyword"}},
                    ],
                    "_source": [_MESSAGE],
                }
            },
        }
        rows: list[dict[str, Any]] = []
        after: Any = None
        while True:
            composite: dict[str, Any] = {
                "size": COMPOSITE_PAGE,
                "sources": [{"id": {"terms": {"field": TEMPLATE_ID}}}],
            }
            if after is not None:
                composite["after"] = after
            body = {"size": 0, "aggs": {"templates": {"composite": composite, "aggs": subs}}}
            groups = self._search(body).get("aggregations", {}).get("templates", {})
            buckets = groups.get("buckets", [])
            rows.extend(_stats_row(b) for b in buckets)
            after = groups.get("after_key")
            if not buckets or after is None:
                break
        if first_seen_from is not None:
            since = first_seen_from
            if since.tzinfo is None:  # a naive instant is UTC, as in the DuckDB store
                since = since.replace(tzinfo=UTC)
            rows = [r for r in rows if r["first_seen"] is not None and r["first_seen"] >= since]
        rows.sort(key=lambda r: (-r["events"], r["template_id"]))
        return pa.Table.from_pylist(rows, schema=_STATS_SCHEMA)

    # --- plumbing ------------------------------------------------------------------------------

    def _ensure_mapping(self) -> None:
        if self._mapped:
            return
        field = mappings()["properties"]["loglens"]["properties"]["template"]
        self.client.request(
            "PUT",
            f"/{quote(self.index, safe='*,')}/_mapping",
            body={"properties": {"loglens": {"properties": {"template": field}}}},
            location=self.location,
        )
        self._mapped = True

    def _search(self, body: dict[str, Any]) -> dict[str, Any]:
        answer = self.client.request(
            "POST",
            f"/{quote(self.index, safe='*,')}/_search",
            body=body,
            location=self.location,
        )
        return answer if isinstance(answer, dict) else {}

    def _stalled(self, what: str) -> StoreError:
        return StoreError(
            f"{what} gave up: the cluster kept refusing the updates (busy or conflicting)",
            location=self.location,
        )


def _messages_table(messages: list[str], counts: list[int]) -> pa.Table:
    return pa.table(
        {"message": pa.array(messages, pa.string()), "events": pa.array(counts, pa.int64())},
        schema=_MESSAGES_SCHEMA,
    )


def _message_of(hit: Mapping[str, Any]) -> str | None:
    value = flatten(hit.get("_source") or {}).get(_MESSAGE)
    return value if isinstance(value, str) else None


def _excluding(query: dict[str, Any], ids: list[str]) -> dict[str, Any]:
    if not ids:
        return query
    return {"bool": {"filter": [query], "must_not": [{"ids": {"values": ids}}]}}


def _stats_row(bucket: Mapping[str, Any]) -> dict[str, Any]:
    hits = bucket.get("example", {}).get("hits", {}).get("hits", [])
    example = _message_of(hits[0]) if hits else None
    return {
        "template_id": str(bucket["key"]["id"]),
        "events": int(bucket["doc_count"]),
        "first_seen": _date(bucket.get("first", {}).get("value")),
        "last_seen": _date(bucket.get("last", {}).get("value")),
        "example": example,
    }


def _date(value: Any) -> datetime | None:
    if value is None or (isinstance(value, float) and value != value):  # NaN: no dates
        return None
    return parse_date(value)
