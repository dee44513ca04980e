"""Template text as words: what both the keyword scorer and the embedder are given.

A template such as ``BLOCK* NameSystem.addStoredBlock: blockMap updated: <*>`` says more to a
word-based model once its wildcards are gone and its identifiers are split into words
(``Name System add Stored Block``): neither BM25 nor WordPiece splits camelCase by itself.
"""

from __future__ import annotations

import re

WILDCARD = "<*>"

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_JOINERS = re.compile(r"[_]+|(?<=[A-Za-z0-9])[.:](?=[A-Za-z])")
_SPACES = re.compile(r"\s+")
_WORDS = re.compile(r"[a-z0-9]+")

# A small English list: plain-word queries ("a failure of the disk") carry these, templates
# rarely do, and BM25's idf alone leaves them some weight.
STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "will",
        "with",
    ]
)


def search_text(template: str) -> str:
    """Words of a template for matching: wildcards dropped, identifiers split, spaces squeezed."""
    text = template.replace(WILDCARD, " ")
    text = _JOINERS.sub(" ", text)
    text = _CAMEL.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def keyword_terms(text: str) -> list[str]:
    """Lower-case alphanumeric terms of ``search_text(text)``, without stop words."""
    return [
        term
        for term in _WORDS.findall(search_text(text).lower())
        if term not in STOP_WORDS and (len(term) > 1 or term.isdigit())
    ]
