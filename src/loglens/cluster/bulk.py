"""Bulk indexing with an exact accounting: every document handed over ends up counted once.

Each document goes in a ``create`` action whose ``_id`` is its ``event.id``, so the cluster itself
refuses a second copy (``409 version_conflict``): a repeated or retried bulk never duplicates.
Requests are cut by document count and by bytes. Per item:

- ``201`` created;
- ``409`` on create: already stored — a duplicate, unless the request had to be re-sent (below);
- ``429``/``503`` (and ``es_rejected_execution_exception``): the node was busy; the item is sent
  again in a later request, after a backoff, up to ``max_retries`` times;
- anything else (``mapper_parsing_exception``, ...): rejected, kept with its reason.

A whole request that fails (429, a dropped connection) is retried by the client. A dropped
connection may come *after* the server did the work: the re-sent request then finds its own
documents and answers 409 for them. Those are not duplicates of anything stored before, so the
writer settles the question before it sends: unless the caller knows the index holds none of the
ids (``known_new``: a first load), it asks which ids are already stored (``_mget``, no sources)
and sends only the others. A 409 in a request that the client re-sent is then the writer's own
earlier attempt, counted as created, and so is a 409 for an item of such a request that was
answered busy and sent again later; a 409 in a request sent once is a duplicate (another writer
stored it meanwhile). ``created + duplicates + rejected == sent`` at every flush, and a re-run
sends ids only, not documents.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from loglens.cluster.connection import ClusterClient
from loglens.errors import ClusterError

_TRANSIENT_STATUSES = frozenset({429, 503})
_TRANSIENT_TYPES = frozenset({"es_rejected_execution_exception", "rejected_execution_exception"})
_RESPONSE_FIELDS = "errors,items.*._id,items.*.status,items.*.error.type,items.*.error.reason"
_MAX_KEPT_REJECTIONS = 1000


@dataclass(frozen=True)
class _Pending:
    id: str
    line: str  # the document as one JSON line
    flagged: bool
    # Was in a request the client re-sent: an unanswered attempt may have stored it, so a
    # later 409 for it (after a busy answer) is this writer's own, not a duplicate.
    maybe_stored: bool = False


@dataclass(frozen=True)
class Rejection:
    """A document the cluster refused for good, with its reason."""

    id: str
    status: int
    kind: str
    reason: str

    def __str__(self) -> str:
        return f"{self.id}: {self.kind} ({self.status}): {self.reason}"


@dataclass
class BulkResult:
    """What the writer did with the documents it was given."""

    sent: int = 0  # documents handed to the writer (and flushed)
    created: int = 0
    duplicates: int = 0  # already stored before this writer sent them
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)  # the first 1000, with reasons
    retried: int = 0  # item re-sends after a busy (429/503) answer
    recovered: int = 0  # of ``created``: confirmed by a 409 after the request was re-sent
    created_flagged: int = 0  # of ``created``: documents added with ``flagged=True``
    requests: int = 0  # bulk requests, not counting the client's retries
    bytes: int = 0  # request bytes sent (first attempts)

    @property
    def balanced(self) -> bool:
        return self.sent == self.created + self.duplicates + self.rejected

    def rejection_reasons(self) -> dict[str, int]:
        """How many rejections of each kind (among those kept)."""
        counts: dict[str, int] = {}
        for rejection in self.rejections:
            counts[rejection.kind] = counts.get(rejection.kind, 0) + 1
        return counts


class BulkWriter:
    """Buffers ``(id, document)`` pairs and writes them with ``create`` actions.

    Args:
        client: the cluster connection.
        index: the concrete index documents go to.
        docs: at most this many documents per request.
        bytes: at most about this many bytes per request (a bigger document goes alone).
        known_new: the index holds none of the ids to come; skip the ``_mget`` check.
        max_retries: re-sends of a busy item before it counts as rejected (default: the
            client's ``max_retries``).
    """

    def __init__(
        self,
        client: ClusterClient,
        index: str,
        *,
        docs: int = 2000,
        bytes: int = 5_000_000,
        known_new: bool = False,
        max_retries: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if docs < 1 or bytes < 1:
            raise ValueError("bulk sizes must be positive")
        self.client = client
        self.index = index
        self.max_docs = docs
        self.max_bytes = bytes
        self.known_new = known_new
        self.max_retries = client.settings.max_retries if max_retries is None else max_retries
        self.result = BulkResult()
        self._sleep = sleep
        self._pending: list[_Pending] = []
        self._pending_bytes = 0

    def add(self, doc_id: str, document: Mapping[str, Any], *, flagged: bool = False) -> None:
        """Queue one document; ``flagged`` ones are counted apart (e.g. parse failures)."""
        line = json.dumps(document, ensure_ascii=False, separators=(",", ":"), default=str)
        size = len(line.encode()) + len(doc_id) + 64
        if self._pending and (
            len(self._pending) >= self.max_docs or self._pending_bytes + size > self.max_bytes
        ):
            self.flush()
        self._pending.append(_Pending(doc_id, line, flagged))
        self._pending_bytes += size

    def write(self, documents: Iterable[tuple[str, Mapping[str, Any]]]) -> BulkResult:
        """Add every document and flush; the accounting so far."""
        for doc_id, document in documents:
            self.add(doc_id, document)
        self.flush()
        return self.result

    def flush(self) -> None:
        chunk, self._pending, self._pending_bytes = self._pending, [], 0
        if not chunk:
            return
        self.result.sent += len(chunk)
        if not self.known_new:
            stored = self._stored_ids([doc.id for doc in chunk])
            self.result.duplicates += sum(1 for doc in chunk if doc.id in stored)
            chunk = [doc for doc in chunk if doc.id not in stored]
        attempt = 0
        while chunk:
            busy = self._send(chunk)
            if not busy:
                break
            if attempt >= self.max_retries:
                for doc, status, kind, reason in busy:
                    self._reject(Rejection(doc.id, status, kind, f"still busy after retries: "
                                                                 f"{reason}"))  # fmt: skip
                break
            self._sleep(self._backoff(attempt))
            attempt += 1
            self.result.retried += len(busy)
            chunk = [doc for doc, *_ in busy]

    def _send(self, chunk: list[_Pending]) -> list[tuple[_Pending, int, str, str]]:
        """One bulk request; the busy items to send again (document, status, type, reason)."""
        action_lines = []
        for doc in chunk:
            action = {"create": {"_index": self.index, "_id": doc.id}}
            action_lines.append(json.dumps(action, ensure_ascii=False) + "\n" + doc.line + "\n")
        body = "".join(action_lines)
        self.result.requests += 1
        self.result.bytes += len(body.encode())
        retries_before = self.client.retries
        answer = self.client.request(
            "POST",
            "/_bulk",
            body=body,
            ndjson=True,
            params={"filter_path": _RESPONSE_FIELDS},
            location=self.index,
        )
        # Re-sent by the client: a 409 may be this request's own earlier, unanswered attempt.
        resent = self.client.retries > retries_before
        items = answer.get("items", []) if isinstance(answer, dict) else []
        if len(items) != len(chunk):
            raise _unexpected_answer(self.index, len(chunk), len(items))
        busy: list[tuple[_Pending, int, str, str]] = []
        for doc, item in zip(chunk, items, strict=True):
            outcome: dict[str, Any] = (
                next(iter(item.values()), {}) if isinstance(item, dict) else {}
            )
            status = int(outcome.get("status", 0))
            error = outcome.get("error") or {}
            kind = str(error.get("type", "")) if isinstance(error, dict) else str(error)
            reason = str(error.get("reason", "")) if isinstance(error, dict) else ""
            if status in (200, 201) or (status == 409 and (resent or doc.maybe_stored)):
                self.result.created += 1
                self.result.created_flagged += doc.flagged
                self.result.recovered += status == 409
            elif status == 409:
                self.result.duplicates += 1
            elif status in _TRANSIENT_STATUSES or kind in _TRANSIENT_TYPES:
                again = replace(doc, maybe_stored=True) if resent else doc
                busy.append((again, status, kind or "busy", reason))
            else:
                self._reject(Rejection(doc.id, status, kind or "error", " ".join(reason.split())))
        return busy

    def _stored_ids(self, ids: list[str]) -> set[str]:
        answer = self.client.request(
            "POST",
            f"/{self.index}/_mget",
            body={"ids": ids},
            params={"_source": "false"},
            location=self.index,
            ok_statuses=frozenset({404}),  # no index yet: nothing stored
        )
        docs = answer.get("docs", []) if isinstance(answer, dict) else []
        return {str(d.get("_id")) for d in docs if isinstance(d, dict) and d.get("found")}

    def _reject(self, rejection: Rejection) -> None:
        self.result.rejected += 1
        if len(self.result.rejections) < _MAX_KEPT_REJECTIONS:
            self.result.rejections.append(rejection)

    def _backoff(self, attempt: int) -> float:
        settings = self.client.settings
        ceiling = min(settings.retry_backoff_max, settings.retry_backoff * 2.0**attempt)
        return ceiling * (0.5 + random.random() / 2)


def _unexpected_answer(index: str, sent: int, got: int) -> ClusterError:
    return ClusterError(
        f"the bulk answer lists {got} items for {sent} documents; the cluster's accounting "
        "cannot be trusted",
        location=index,
    )
