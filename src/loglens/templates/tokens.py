"""Tokens of a masked message, in the canonical form the miner clusters.

A message is split on whitespace. A token that still holds a digit or a masked value after
masking is a variable with some constant decoration (``node-246``, ``J12-U11``, ``(uid=0)``): it
becomes its text before the first variable character, one wildcard, and its closing
punctuation, so ``node-<*>`` stays apart from ``(uid=<*>)``. An id joined by underscores
(``blk_-6952…``, ``job_1445_0020``) is one value as a whole.

Templates are matched against a message's masked words, so a template may write out a name with
a number that all its messages share (``ssh2``) where the canonical token is ``ssh<*>``.
"""

from __future__ import annotations

import re

from loglens.templates.masks import WILDCARD

Tokens = tuple[str, ...]

_FIRST_VARIABLE = re.compile(r"[0-9]|<\*>")
# A prefix that belongs to the value it leads: an identifier joined by underscores (``blk_``,
# ``job_``, ``rdd_``) or the slash before an address (``/10.0.0.1``).
_WHOLE_VALUE_PREFIX = re.compile(r"([(\[{'\"]*)(?:[A-Za-z][A-Za-z0-9]*_[A-Za-z0-9_]*|/)")
_QUALIFIED = re.compile(r"[A-Za-z_]\w*\.[A-Za-z_]\w*")
_KEY = re.compile(r"[(\[{'\"]?[A-Za-z_][\w.\-]*=")
_OPENERS = re.compile(r"[(\[{'\"]*")
_NUMBERED_NAME = re.compile(
    r"[(\[{'\"]?[A-Za-z][A-Za-z_.-]*[0-9]+(?:[._-][A-Za-z]+)*(?:\(\))?[)\]},;:.'\"!?]*"
)
_VERSION = re.compile(r"[vV][0-9]+(?:[._-][0-9A-Za-z]+)*[,;:.)]*")
_PAIRS = {")": "(", "]": "[", "}": "{", "'": "'", '"': '"'}
_CLOSERS = re.compile(r"[)\]},;:.'\"!?]*$")


def canonical_token(token: str) -> str:
    """``token`` reduced to its constant prefix, a wildcard and its closing punctuation."""
    found = _FIRST_VARIABLE.search(token)
    if found is None or token == WILDCARD:
        return token
    prefix = token[: found.start()]
    # A sign right after a separator belongs to the number (blk_-123), a hyphen after a letter
    # is part of the name (node-12).
    if prefix[-1:] in ("-", "+") and (len(prefix) == 1 or not prefix[-2].isalnum()):
        prefix = prefix[:-1]
    whole = _WHOLE_VALUE_PREFIX.fullmatch(prefix)
    if whole:
        prefix = whole.group(1)  # blk_<*>, [job_<*>], /<*>: the whole word is the value
    rest = token[found.start() :]
    closers = "" if rest.endswith(WILDCARD) else _CLOSERS.search(rest).group(0)  # type: ignore[union-attr]
    return prefix + WILDCARD + closers


def tokenize(masked: str) -> Tokens:
    """Canonical tokens of a masked message."""
    return tuple(canonical_token(token) for token in masked.split())


def is_numbered_name(word: str) -> bool:
    """Whether a masked word is a name with a number (``ssh2``, ``jk2_init()``, ``tty1:``,
    ``EXT4-fs``): letters, digits glued to them, at most more words; not a version (``v1.2``)
    nor a value that merely starts so (``SHA256:Zb3fT1o9``)."""
    return _NUMBERED_NAME.fullmatch(word) is not None and _VERSION.fullmatch(word) is None


def with_constant_words(template: Tokens, words: Tokens) -> Tokens:
    """``template`` with the numbered names all its messages share written out (``ssh2``
    rather than ``ssh<*>``): ``words`` are the masked words they agree on, "" elsewhere."""
    return tuple(
        word
        if word and token != word and is_numbered_name(word) and canonical_token(word) == token
        else token
        for token, word in zip(template, words, strict=True)
    )


def is_variable(token: str) -> bool:
    """Whether a (canonical or template) token holds a wildcard."""
    return WILDCARD in token


def is_qualified_name(token: str) -> bool:
    """Whether a token holds a dotted name (``com.android.phone``, ``host.example.org``): the
    name of a package, class, host or setting, which varies like a value."""
    return _QUALIFIED.search(token) is not None


def is_wordlike(token: str) -> bool:
    """Whether a token could be a value: punctuation alone (``****``, ``-``) is structure."""
    return any(ch.isalnum() for ch in token)


def key_of(token: str) -> str | None:
    """The ``key=`` part of a ``key=value`` token (``uid=``, ``(uid=``), or None: in
    ``alice(uid=1000)`` the user name leads, not a key."""
    found = _KEY.match(token)
    return found.group(0) if found else None


def keyed_wildcard(token: str) -> str:
    """A ``key=value`` token with its value as a wildcard, quotes and closers kept:
    ``tag="AudioMix",`` becomes ``tag="<*>",``, ``ws=WorkSource{<*>},`` becomes ``ws=<*>,``
    and ``(uid=<*>)`` stays."""
    key = key_of(token) or ""
    value = token[len(key) :]
    opening = _OPENERS.match(value).group(0)  # type: ignore[union-attr]
    closing = "" if value.endswith(WILDCARD) else _outer_closing(value, opening)
    return f"{key}{opening}{WILDCARD}{closing}"


def common_wrapping(tokens: list[str]) -> str:
    """A wildcard inside the opening brackets and closing punctuation all ``tokens`` share:
    ``'{a}',`` and ``'{b}',`` give ``'{<*>}',``; ``<*>`` when they share none."""
    openings = {_OPENERS.match(token).group(0) for token in tokens}  # type: ignore[union-attr]
    opening = openings.pop() if len(openings) == 1 else ""
    closings = {_outer_closing(token, opening) for token in tokens}
    closing = closings.pop() if len(closings) == 1 else ""
    return f"{opening}{WILDCARD}{closing}"  # the value may be empty: "()" fits "(<*>)"


def _outer_closing(token: str, opening: str) -> str:
    """The closing punctuation of ``token`` after ``opening``, from after its last bracket or
    quote opened inside the value: in ``alice(uid=1000),`` the ``)`` is the value's, in
    ``sda1):`` it closes ``(device``."""
    rest = token[len(opening) :]
    closing = _CLOSERS.search(rest).group(0)  # type: ignore[union-attr]
    body = rest[: len(rest) - len(closing)]
    for at in range(len(closing) - 1, -1, -1):
        if closing[at] in _PAIRS and _PAIRS[closing[at]] in body:
            return closing[at + 1 :]
    return closing


def token_matches(template_token: str, token: str) -> bool:
    """Whether a message token fits a template token: equal, a wildcard, or what surrounds the
    template's one wildcard (``key=<*>``, ``tag="<*>",``), the value possibly empty."""
    if template_token in (token, WILDCARD):
        return True
    head, wildcard, tail = template_token.partition(WILDCARD)
    if not wildcard or WILDCARD in tail:
        return False
    return len(token) >= len(head) + len(tail) and token.startswith(head) and token.endswith(tail)
