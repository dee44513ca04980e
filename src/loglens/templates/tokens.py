"""Tokens of a masked message, in the canonical form the miner clusters.

A message is split on whitespace. A token that still holds a digit or a masked value after
masking is a variable with some constant decoration (``blk_-6952…``, ``node-246``, ``J12-U11``,
``(uid=0)``): it becomes its text before the first variable character, one wildcard, and its
closing punctuation, so ``blk_<*>`` stays apart from ``node-<*>`` while every block id is one
token.
"""

from __future__ import annotations

import re

from loglens.templates.masks import WILDCARD

Tokens = tuple[str, ...]

_FIRST_VARIABLE = re.compile(r"[0-9]|<\*>")
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
    rest = token[found.start() :]
    closers = "" if rest.endswith(WILDCARD) else _CLOSERS.search(rest).group(0)  # type: ignore[union-attr]
    return prefix + WILDCARD + closers


def tokenize(masked: str) -> Tokens:
    """Canonical tokens of a masked message."""
    return tuple(canonical_token(token) for token in masked.split())


def is_variable(token: str) -> bool:
    """Whether a (canonical or template) token holds a wildcard."""
    return WILDCARD in token


def is_wordlike(token: str) -> bool:
    """Whether a token could be a value: punctuation alone (``****``, ``-``) is structure."""
    return any(ch.isalnum() for ch in token)


def key_of(token: str) -> str | None:
    """The ``key=`` part of a ``key=value`` token, or None."""
    at = token.find("=")
    return token[: at + 1] if at > 0 else None


def token_matches(template_token: str, token: str) -> bool:
    """Whether a message token fits a template token (equal, a wildcard, or ``key=<*>``)."""
    if template_token in (token, WILDCARD):
        return True
    if template_token.endswith(WILDCARD) and len(template_token) > len(WILDCARD):
        return token.startswith(template_token[: -len(WILDCARD)])
    return False
