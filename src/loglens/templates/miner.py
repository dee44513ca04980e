"""The template miner: learn templates from messages, assign every line its template.

Per-line work stays in Arrow (dictionary encoding, RE2 masking, takes); Python only sees the
distinct masked messages, which are few even when every line is distinct (ids, addresses and
times are masked away first).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Self, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loglens.templates.clustering import (
    DEFAULT_MAX_CONSTANT_VALUES,
    DEFAULT_MAX_MERGE_GAPS,
    cluster,
    generalise_constants,
    merge_templates,
)
from loglens.templates.masks import WILDCARD, mask_array
from loglens.templates.state import (
    Template,
    TemplateStateError,
    dump_state,
    load_state,
    template_id,
)
from loglens.templates.tokens import Tokens, token_matches, tokenize, with_constant_words

# pyarrow has no type stubs: its arrays are Any to mypy.
Messages: TypeAlias = Iterable[str | None] | Any
Weights: TypeAlias = Sequence[int] | Any | None


@dataclass(frozen=True)
class _Distinct:
    """Lines reduced to their distinct masked messages."""

    line_to_masked: pa.Array  # int32 per line, null where the line is null
    masked: list[str]  # distinct masked messages
    line_counts: np.ndarray  # lines per distinct masked message
    raw: pa.Array  # distinct raw messages
    raw_to_masked: np.ndarray  # distinct raw message -> distinct masked message
    line_to_raw: pa.Array  # int32 per line


class TemplateMiner:
    """Mine log templates with stable ids.

    Args:
        max_constant_values: a position where a group of messages has at most this many distinct
            words keeps them as constants (several templates); more make it a variable.
        max_merge_gaps: templates of one length that differ in at most this many positions, each
            a wildcard facing a word, are merged.

    Learned state (``templates_``, ``aliases_``) saves as JSON with :meth:`to_json`. An id is a
    hash of the template text, so a template keeps its id across runs; when new data generalises
    a template, its old id is kept as an alias of the new one (:meth:`resolve`).
    """

    def __init__(
        self,
        max_constant_values: int = DEFAULT_MAX_CONSTANT_VALUES,
        max_merge_gaps: int = DEFAULT_MAX_MERGE_GAPS,
    ) -> None:
        self.max_constant_values = max_constant_values
        self.max_merge_gaps = max_merge_gaps
        self.templates_: dict[str, Template] = {}
        self.aliases_: dict[str, str] = {}
        self._index: dict[int, list[tuple[Tokens, str]]] | None = None
        self._patterns: dict[str, re.Pattern[str]] = {}

    # -- public API -------------------------------------------------------------------------

    @property
    def templates(self) -> list[Template]:
        """Templates by decreasing line count (ties by text)."""
        return sorted(self.templates_.values(), key=lambda t: (-t.count, t.text))

    def fit(self, messages: Messages, *, weights: Weights = None) -> Self:
        """Learn templates from ``messages`` (adds to what is already learned).

        ``weights``: how many lines each message stands for (the store mines its distinct
        messages with their event counts); one each when None.
        """
        distinct = _distinct(messages, weights)
        self._learn(distinct.masked, distinct.line_counts)
        return self

    def assign(
        self,
        messages: Messages,
        *,
        learn: bool = True,
        parameters: bool = False,
        weights: Weights = None,
    ) -> pa.Table:
        """The template of every message, as a table with one row per message.

        Columns ``template_id`` and ``template`` (dictionary-encoded strings; null for a null
        message, or for a message no template fits when ``learn`` is False), and with
        ``parameters=True`` a ``parameters`` list of the values the wildcards stand for.
        With ``learn`` (the default), messages no known template fits are mined first and
        counted (each message as ``weights`` lines, as in :meth:`fit`); without it the miner is
        left unchanged.
        """
        distinct = _distinct(messages, weights)
        words = [_words(m) for m in distinct.masked]
        slots = [self._match(w) for w in words]
        if learn:
            self._learn(distinct.masked, distinct.line_counts, words=words, matched=slots)
            slots = [self._match(w) for w in words]
        ids = sorted({s for s in slots if s is not None})
        position = {tid: i for i, tid in enumerate(ids)}
        masked_to_slot = pa.array([position.get(s) if s else None for s in slots], pa.int32())
        line_slot = pc.take(masked_to_slot, distinct.line_to_masked)
        id_dict = pa.array(ids, pa.string())
        text_dict = pa.array([self.templates_[i].text for i in ids], pa.string())
        columns: dict[str, pa.Array] = {
            "template_id": pa.DictionaryArray.from_arrays(line_slot, id_dict),
            "template": pa.DictionaryArray.from_arrays(line_slot, text_dict),
        }
        if parameters:
            columns["parameters"] = self._parameters(distinct, slots)
        return pa.table(columns)

    def resolve(self, template_id: str) -> str:
        """The current id of a template id that later data may have generalised."""
        seen = set()
        while template_id in self.aliases_ and template_id not in seen:
            seen.add(template_id)
            template_id = self.aliases_[template_id]
        return template_id

    def to_json(self) -> str:
        """The learned state as JSON."""
        return dump_state(self._config(), self.templates, self.aliases_)

    @classmethod
    def from_json(cls, text: str) -> TemplateMiner:
        """A miner from :meth:`to_json` output; raises ``TemplateStateError`` if invalid."""
        config, templates, aliases = load_state(text)
        try:
            miner = cls(**config)
        except TypeError as exc:
            raise TemplateStateError(f"template state config: {exc}") from None
        miner.templates_ = {t.id: t for t in templates}
        miner.aliases_ = aliases
        return miner

    # -- learning ---------------------------------------------------------------------------

    def _config(self) -> dict[str, int]:
        return {
            "max_constant_values": self.max_constant_values,
            "max_merge_gaps": self.max_merge_gaps,
        }

    def _learn(
        self,
        masked: Sequence[str],
        line_counts: np.ndarray,
        *,
        words: list[Tokens] | None = None,
        matched: list[str | None] | None = None,
    ) -> None:
        words = words if words is not None else [_words(m) for m in masked]
        matched = matched if matched is not None else [self._match(w) for w in words]
        counts: Counter[str] = Counter()
        unmatched: Counter[Tokens] = Counter()
        shared: dict[Tokens, Tokens] = {}
        for message, slot, lines in zip(words, matched, line_counts.tolist(), strict=True):
            if slot is None:
                tokens = tokenize(" ".join(message))
                unmatched[tokens] += lines
                shared[tokens] = _shared_words(shared.get(tokens), message)
            else:
                counts[slot] += lines
        if unmatched:
            self._add_templates(unmatched, shared, counts)
        for tid, lines in counts.items():
            current = self.templates_[self.resolve(tid)]
            self.templates_[current.id] = replace(current, count=current.count + lines)

    def _add_templates(
        self, unmatched: Counter[Tokens], shared: dict[Tokens, Tokens], counts: Counter[str]
    ) -> None:
        """Mine ``unmatched`` (canonical messages and their lines) into templates; ``shared``
        gives each message's masked words where all its lines agree ("" where they differ)."""
        found = cluster(
            unmatched,
            max_constant_values=self.max_constant_values,
            max_merge_gaps=self.max_merge_gaps,
        )
        words_of: dict[Tokens, Tokens] = {}
        for message in unmatched:
            words_of[found[message]] = _shared_words(words_of.get(found[message]), shared[message])
        rendered = {
            template: with_constant_words(template, words_of[template]) for template in words_of
        }
        new_counts: Counter[Tokens] = Counter()
        for message, lines in unmatched.items():
            new_counts[rendered[found[message]]] += lines
        known = {tuple(t.text.split(" ")) if t.text else (): t for t in self.templates_.values()}
        candidates = sorted(set(known) | set(new_counts))
        general = generalise_constants(candidates, self.max_constant_values)
        merged_general = merge_templates(sorted(set(general.values())), self.max_merge_gaps)
        merged = {template: merged_general[general[template]] for template in candidates}
        for old_tokens, old in known.items():
            target = merged[old_tokens]
            if target != old_tokens:
                self._register(target)
                self.aliases_[old.id] = template_id(_text(target))
                del self.templates_[old.id]
                counts[self.aliases_[old.id]] += old.count
        for template_tokens, lines in new_counts.items():
            target = merged[template_tokens]
            self._register(target)
            counts[template_id(_text(target))] += lines
        self._index = None

    def _register(self, tokens: Tokens) -> None:
        text = _text(tokens)
        tid = template_id(text)
        if tid not in self.templates_:
            self.templates_[tid] = Template(tid, text, 0)
            self.aliases_.pop(tid, None)  # a template that comes back is current again

    # -- matching ---------------------------------------------------------------------------

    def _match(self, message: Tokens) -> str | None:
        """The most specific template fitting ``message``'s masked words (fewest wildcards,
        then text)."""
        if self._index is None:
            index: dict[int, list[tuple[Tokens, str]]] = {}
            for template in sorted(
                self.templates_.values(),
                key=lambda t: (t.text.count(WILDCARD), t.text),
            ):
                toks = tuple(template.text.split(" ")) if template.text else ()
                index.setdefault(len(toks), []).append((toks, template.id))
            self._index = index
        for template_tokens, tid in self._index.get(len(message), ()):
            if all(map(token_matches, template_tokens, message)):
                return tid
        return None

    # -- parameters -------------------------------------------------------------------------

    def _parameters(self, distinct: _Distinct, slots: list[str | None]) -> pa.Array:
        values: list[list[str] | None] = []
        for raw, masked_index in zip(
            distinct.raw.to_pylist(), distinct.raw_to_masked.tolist(), strict=True
        ):
            tid = slots[masked_index]
            values.append(None if tid is None or raw is None else self._extract(tid, raw))
        per_raw = pa.array(values, pa.list_(pa.string()))
        return pc.take(per_raw, distinct.line_to_raw)

    def _extract(self, tid: str, raw: str) -> list[str]:
        pattern = self._patterns.get(tid)
        if pattern is None:
            pattern = _parameter_pattern(self.templates_[tid].text)
            self._patterns[tid] = pattern
        found = pattern.fullmatch(raw.strip())
        return list(found.groups()) if found else []


def _text(tokens: Tokens) -> str:
    return " ".join(tokens)


def _words(masked: str) -> Tokens:
    return tuple(masked.split())


def _shared_words(seen: Tokens | None, words: Tokens) -> Tokens:
    """Per position, the word all messages so far agree on, or ""."""
    if seen is None:
        return words
    return tuple(a if a == b else "" for a, b in zip(seen, words, strict=True))


def _parameter_pattern(text: str) -> re.Pattern[str]:
    """A regex capturing what each wildcard of ``text`` stands for in a raw message."""
    parts = []
    for token in text.split(" "):
        pieces = [re.escape(piece) for piece in token.split(WILDCARD)]
        parts.append("(.*?)".join(pieces))
    return re.compile(r"\s+".join(parts), re.DOTALL)


def _as_string_array(messages: Messages) -> pa.Array:
    if isinstance(messages, pa.ChunkedArray):
        messages = messages.combine_chunks()
    if not isinstance(messages, pa.Array):
        messages = pa.array(messages if isinstance(messages, list) else list(messages))
    if pa.types.is_null(messages.type):
        return messages.cast(pa.string())
    if pa.types.is_dictionary(messages.type):
        messages = messages.cast(messages.type.value_type)
    if pa.types.is_large_string(messages.type) or pa.types.is_string_view(messages.type):
        messages = messages.cast(pa.string())
    if not pa.types.is_string(messages.type):
        raise TemplateStateError(f"messages must be strings, not {messages.type}")
    return messages


def _distinct(messages: Messages, weights: Weights = None) -> _Distinct:
    lines = _as_string_array(messages)
    encoded = pc.dictionary_encode(lines)
    line_to_raw = encoded.indices
    raw = encoded.dictionary
    masked_encoded = pc.dictionary_encode(mask_array(raw))
    raw_to_masked = masked_encoded.indices.to_numpy(zero_copy_only=False)
    masked = masked_encoded.dictionary.to_pylist()
    present = pc.is_valid(line_to_raw)
    line_weights = None
    if weights is not None:
        line_weights = np.asarray(weights, dtype=np.float64)
        if line_weights.shape != (len(lines),) or (line_weights < 0).any():
            raise TemplateStateError("weights must be one non-negative count per message")
        line_weights = line_weights[present.to_numpy(zero_copy_only=False)]
    raw_counts = np.bincount(
        line_to_raw.drop_null().to_numpy(zero_copy_only=False),
        weights=line_weights,
        minlength=len(raw),
    )
    line_counts = np.bincount(raw_to_masked, weights=raw_counts, minlength=len(masked))
    return _Distinct(
        line_to_masked=pc.take(masked_encoded.indices, line_to_raw),
        masked=masked,
        line_counts=line_counts.astype(np.int64),
        raw=raw,
        raw_to_masked=raw_to_masked,
        line_to_raw=line_to_raw,
    )
