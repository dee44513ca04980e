"""Clustering of distinct masked messages into templates (informed by Brain and Drain).

Brain (Yu et al., 2023) groups messages of one length by their *longest common pattern*: in each
message, the words whose position-frequency is the value most words share. Here, per length:

1. Count each token per position over the distinct messages of that length.
2. A message's anchor frequency is the frequency most of its tokens have (ties: the higher);
   the tokens at least that frequent are its pattern, and messages sharing a pattern form a group.
3. In a group, a position outside the pattern stays constant when it holds at most
   ``max_constant_values`` distinct words (``VM Paused`` and ``VM Started`` are two events) and
   none of them is a masked value; otherwise it is a variable. ``key=value`` tokens whose keys
   differ keep their keys (``num=<*>`` is not ``topActivity=<*>``).
4. Templates of one length that differ only where one of them already has a wildcard facing a
   word (at most ``max_merge_gaps`` positions, and sharing at least one constant word) are merged:
   ``mask=ffffffff`` is one more value of ``mask=<*>``.

Everything iterates in sorted order, so the result does not depend on hash seeds or input order.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from loglens.templates.masks import WILDCARD
from loglens.templates.tokens import Tokens, is_variable, is_wordlike, key_of

DEFAULT_MAX_CONSTANT_VALUES = 3
DEFAULT_MAX_MERGE_GAPS = 2


def cluster(
    messages: Iterable[Tokens],
    *,
    max_constant_values: int = DEFAULT_MAX_CONSTANT_VALUES,
    max_merge_gaps: int = DEFAULT_MAX_MERGE_GAPS,
) -> dict[Tokens, Tokens]:
    """Map each distinct tokenised message to its template's tokens."""
    by_length: dict[int, list[Tokens]] = defaultdict(list)
    for message in sorted(set(messages)):
        by_length[len(message)].append(message)
    result: dict[Tokens, Tokens] = {}
    for length in sorted(by_length):
        local = _cluster_length(by_length[length], max_constant_values)
        if max_merge_gaps > 0:
            merged = merge_templates(sorted(set(local.values())), max_merge_gaps)
            local = {message: merged[template] for message, template in local.items()}
        result.update(local)
    return result


def _cluster_length(messages: list[Tokens], max_constant_values: int) -> dict[Tokens, Tokens]:
    if not messages:
        return {}
    width = len(messages[0])
    columns: list[Counter[str]] = [Counter() for _ in range(width)]
    for message in messages:
        for position, token in enumerate(message):
            columns[position][token] += 1
    groups: dict[tuple[str | None, ...], list[Tokens]] = defaultdict(list)
    for message in messages:
        groups[_pattern(message, columns)].append(message)
    result: dict[Tokens, Tokens] = {}
    for pattern, members in groups.items():
        result.update(_templates_of_group(pattern, members, max_constant_values))
    return result


def _pattern(message: Tokens, columns: list[Counter[str]]) -> tuple[str | None, ...]:
    """The message's tokens at least as frequent as its anchor frequency, None elsewhere."""
    frequencies = [columns[position][token] for position, token in enumerate(message)]
    shared = Counter(frequencies)
    anchor = max(shared, key=lambda f: (shared[f], f))
    return tuple(
        token if frequency >= anchor else None
        for token, frequency in zip(message, frequencies, strict=True)
    )


def _templates_of_group(
    pattern: tuple[str | None, ...], members: list[Tokens], max_constant_values: int
) -> dict[Tokens, Tokens]:
    # Per free position: None keeps the token, "" makes a plain wildcard, "k" keeps key=.
    rule: dict[int, str | None] = {}
    for position, fixed in enumerate(pattern):
        if fixed is not None:
            continue
        values = sorted({member[position] for member in members})
        if len(values) <= max_constant_values and not _holds_masked_values(values):
            rule[position] = None
            continue
        keys = {key_of(value) for value in values}
        rule[position] = "k" if len(keys) > 1 and None not in keys else ""
    result: dict[Tokens, Tokens] = {}
    for member in members:
        tokens = []
        for position, token in enumerate(member):
            how = rule.get(position)
            if how is None:
                tokens.append(token)
            elif how == "k":
                tokens.append(f"{key_of(token)}{WILDCARD}")
            else:
                tokens.append(WILDCARD)
        result[member] = tuple(tokens)
    return result


def _holds_masked_values(values: list[str]) -> bool:
    """A position whose words include masked values and otherwise words is a variable."""
    return any(is_variable(v) for v in values) and all(
        is_variable(v) or is_wordlike(v) for v in values
    )


def merge_templates(templates: list[Tokens], max_gaps: int) -> dict[Tokens, Tokens]:
    """Merge same-length templates that differ only where one side is a wildcard.

    The most general templates (most wildcards) come first and absorb the others.
    """
    order = sorted(templates, key=lambda t: (len(t), -sum(map(is_variable, t)), t))
    representatives: list[Tokens] = []
    by_length: dict[int, list[int]] = defaultdict(list)
    owner: dict[Tokens, int] = {}
    for template in order:
        for index in by_length[len(template)]:
            representative = representatives[index]
            if _mergeable(template, representative, max_gaps):
                representatives[index] = tuple(
                    a if a == b else WILDCARD for a, b in zip(template, representative, strict=True)
                )
                owner[template] = index
                break
        else:
            owner[template] = len(representatives)
            by_length[len(template)].append(len(representatives))
            representatives.append(template)
    return {template: representatives[index] for template, index in owner.items()}


def _mergeable(a: Tokens, b: Tokens, max_gaps: int) -> bool:
    gaps = 0
    anchors = 0
    for x, y in zip(a, b, strict=True):
        if x == y:
            anchors += not is_variable(x)
        elif (is_variable(x) and is_wordlike(y)) or (is_variable(y) and is_wordlike(x)):
            gaps += 1
            if gaps > max_gaps:
                return False
        else:
            return False
    return anchors > 0
