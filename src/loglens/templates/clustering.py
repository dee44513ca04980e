"""Clustering of distinct masked messages into templates (informed by Brain and Drain).

Brain (Yu et al., 2023) groups messages of one length by their *longest common pattern*: in each
message, the words whose position-frequency is the value most words share. Here, per length:

1. Count each token per position over the distinct messages of that length.
2. A message's anchor frequency is the frequency most of its tokens have (ties: the higher);
   the tokens at least that frequent are its pattern, and messages sharing a pattern form a group.
3. In a group, a position outside the pattern stays constant when it holds at most
   ``max_constant_values`` distinct words (``VM Paused`` and ``VM Started`` are two events),
   none of them a masked value, and not several dotted names (``com.android.phone``,
   ``android.intent.action.TIME_TICK`` vary like values); otherwise it is a variable. The first
   word of a message names its event (as in Drain's parse tree) and stays constant unless it
   holds a masked value or a lone colon follows it (sudo's ``alice : TTY=...``: a subject).
   ``key=value`` variables keep their keys, quotes and closers (``tag="<*>",``), and keys
   that differ stay apart (``num=<*>`` is not ``topActivity=<*>``).
4. Templates of one length that differ only where one of them already has a wildcard facing a
   word (at most ``max_merge_gaps`` positions, and sharing at least one constant word) are merged:
   ``mask=ffffffff`` is one more value of ``mask=<*>``. Tokens of different keys never face each
   other, and of one key the wildcard must cover the other (``tty=:<*>`` does not cover
   ``tty=NODEVssh``). Before that, more than ``max_constant_values`` templates that differ at
   one word only become one template with a variable there (:func:`generalise_constants`), so
   data mined in several batches ends as if mined at once.

Everything iterates in sorted order, so the result does not depend on hash seeds or input order.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

from loglens.templates.masks import WILDCARD
from loglens.templates.tokens import (
    Tokens,
    canonical_token,
    common_wrapping,
    is_qualified_name,
    is_variable,
    is_wordlike,
    key_of,
    keyed_wildcard,
    token_matches,
)

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
        general = generalise_constants(sorted(set(local.values())), max_constant_values)
        local = {message: general[template] for message, template in local.items()}
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
    if not message:
        return ()  # an empty (or all-blank) message is its own template: the empty text
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
        if position == 0 and names_event(members[0]) and not any(map(is_variable, values)):
            rule[position] = None  # a message's first word names its event
        elif (
            len(values) <= max_constant_values
            and not _holds_masked_values(values)
            and not (len(values) > 1 and any(map(is_qualified_name, values)))
        ):
            rule[position] = None
        else:
            rule[position] = "" if None in {key_of(value) for value in values} else "k"
    # A plain wildcard keeps the brackets and punctuation every value has around it.
    wrapped = {
        position: common_wrapping([member[position] for member in members])
        for position, how in rule.items()
        if how == ""
    }
    result: dict[Tokens, Tokens] = {}
    for member in members:
        tokens = []
        for position, token in enumerate(member):
            how = rule.get(position)
            if how is None:
                tokens.append(token)
            elif how == "k":
                tokens.append(keyed_wildcard(token))
            else:
                tokens.append(wrapped[position])
        result[member] = tuple(tokens)
    return result


def _holds_masked_values(values: list[str]) -> bool:
    """Whether masked values make a position a variable: masked values alone do, and beside
    plain words when each could stand for the words (see :func:`_facing`)."""
    variables = [v for v in values if is_variable(v)]
    if not variables or not all(is_variable(v) or is_wordlike(v) for v in values):
        return False
    words = [v for v in values if not is_variable(v)]
    return all(_facing(v, w) for v in variables for w in words)


def generalise_constants(templates: list[Tokens], max_constant_values: int) -> dict[Tokens, Tokens]:
    """Make a position a variable where more than ``max_constant_values`` templates differ only
    there, as within one group (step 3): templates learned from appended data (``for root``,
    then ``for git``, ``for ftp``, ``for uucp``) end as one would have been learned at once.

    The first word names the event and keys that differ are different fields: neither merges.
    Rounds repeat until nothing changes (a word made variable can bring templates together).
    """
    mapping = {template: template for template in templates}
    while True:
        general: dict[Tokens, Tokens] = {}
        for position, members in _one_word_apart(sorted(set(mapping.values()))):
            if len(members) <= max_constant_values or any(m in general for m in members):
                continue
            token = _variable_for([member[position] for member in members])
            if token is not None:
                for member in members:
                    general[member] = (*member[:position], token, *member[position + 1 :])
        if not general:
            return mapping
        mapping = {source: general.get(target, target) for source, target in mapping.items()}


def names_event(tokens: Tokens) -> bool:
    """Whether the first word names the message's event (Drain's assumption).

    Not when a lone colon sets it off: ``alice : TTY=pts/0 ; ... COMMAND=/bin/ls`` (sudo) starts
    with its subject, a user, and the users of one kind of line are values like any other.
    """
    return len(tokens) < 2 or tokens[1] != ":"


def _one_word_apart(templates: list[Tokens]) -> list[tuple[int, list[Tokens]]]:
    """Sets of templates equal but at one constant word (never the first), by position.

    Each template is keyed per position by hashes of what precedes and follows it (linear in
    its length); keys that collide are told apart by the words themselves.
    """
    buckets: dict[tuple[int, int, int, int], list[Tokens]] = defaultdict(list)
    for template in templates:
        width = len(template)
        before = [0] * (width + 1)
        for at, token in enumerate(template):
            before[at + 1] = hash((before[at], token))
        after = 0
        for at in range(width - 1, 0 if names_event(template) else -1, -1):
            if not is_variable(template[at]):
                buckets[(width, at, before[at], after)].append(template)
            after = hash((after, template[at]))
    found: list[tuple[int, list[Tokens]]] = []
    for (_, position, _, _), members in buckets.items():
        if len(members) < 2:
            continue
        exact: dict[Tokens, list[Tokens]] = defaultdict(list)
        for member in members:
            exact[member[:position] + member[position + 1 :]].append(member)
        found.extend((position, same) for same in exact.values() if len(same) > 1)
    return sorted(found)


def _variable_for(words: list[str]) -> str | None:
    """The variable token standing for ``words`` at one position, or None if they must stay."""
    keys = {key_of(word) for word in words}
    if None not in keys and len(keys) > 1:
        return None  # different fields
    token = common_wrapping(words) if None in keys else keyed_wildcard(words[0])
    # Punctuation alone is structure, unless brackets around an empty value: () (<*>).
    if all(is_wordlike(w) or (token != WILDCARD and token_matches(token, w)) for w in words):
        return token
    return None


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
                representatives[index] = tuple(map(_general, template, representative))
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
        elif _facing(x, y) or _same_name(x, y):
            gaps += 1
            if gaps > max_gaps:
                return False
        else:
            return False
    return anchors > 0


def _facing(x: str, y: str) -> bool:
    """Whether ``x`` and ``y`` can be one position of a template: a wildcard facing a word.

    ``key=value`` tokens of different keys are different fields, never one position; of one
    key, the wildcard must cover the other value (``mask=<*>`` covers ``mask=ffffffff``, but
    ``tty=:<*>`` is another kind of value than ``tty=NODEVssh``).
    """
    if WILDCARD not in (x, y) and (_generalises(x, y) or _generalises(y, x)):
        return True  # (<*>) covers () too
    if not (is_variable(x) and is_wordlike(y)) and not (is_variable(y) and is_wordlike(x)):
        return False
    x_key, y_key = key_of(x), key_of(y)
    if x_key is None or y_key is None:
        return True
    return x_key == y_key and (_generalises(x, y) or _generalises(y, x))


def _generalises(wild: str, word: str) -> bool:
    """Whether template token ``wild`` covers ``word``: ``<*>`` any word, ``key=<*>`` its key."""
    return is_variable(wild) and token_matches(wild, word)


def _same_name(x: str, y: str) -> bool:
    """Whether two written-out numbered names differ only in their number (``ssh2``, ``ssh1``)."""
    canonical = canonical_token(x)
    return is_variable(canonical) and canonical == canonical_token(y)


def _general(a: str, b: str) -> str:
    """The token covering both ``a`` and ``b``: equal, one covering the other, or two numbered
    names of one canonical form (``ssh2`` and ``ssh1`` give ``ssh<*>``)."""
    if a == b or _generalises(a, b):
        return a
    if _generalises(b, a):
        return b
    return canonical_token(a) if _same_name(a, b) else WILDCARD
