"""The layout the sample's JSON documents share, and a cheap SQL test that a record has it.

Most NDJSON logs are written by one program: every record has the same keys in the same order,
with the same separators and plain values. For such records a parser can skip its general
reading. :class:`DocumentShape` learns the layout from the sample (the records format detection
looked at) and gives:

- :meth:`DocumentShape.leaves`: every value of the layout, to be extracted as text in one pass
  (one ``json_extract_string`` with the list of their paths);
- :meth:`DocumentShape.matches_sql`: whether a record is exactly the document those values
  write, in the sample's spelling: the same keys in the same order (members may be missing), the
  same separators, strings as strings and numbers as numbers, and nothing else. It compares the
  raw text with the document rebuilt from the values, so a key it does not know, a repeated key,
  a ``null``, an escape, an object or an array changes the text and the record does not match.
  The values must be plain too (:meth:`DocumentShape.value_sql`): no empty or ``-`` text, no
  space at either end, no text starting with ``{``; and the record holds no ``[`` and only
  ASCII (DuckDB's ``trim`` removes Unicode spaces).

A matching record's values are therefore exactly the texts a path-by-path reading gives after
its clean-ups (scalar of an array, trimming, ``-`` as no value), which do nothing to them.
Records that do not match are for the general reading; the shape never decides what a record
means, only whether the quick reading may be used.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from loglens.parse.base import sql_string

# Separators as Python's json.dumps spells them: compact (Beats, Logstash, Go) or spaced.
_STYLES = ((",", ":"), (", ", ": "))
# Below this share of sample documents with one layout, the test would mostly say no: not worth it.
_MIN_SHARE = 0.5


@dataclass
class _Node:
    """An object of the layout: its members in the order first seen."""

    members: dict[str, _Node | _Leaf] = field(default_factory=dict)
    seen: int = 0  # sample documents that have it


@dataclass
class _Leaf:
    column: str  # the SQL name of the value's text
    quoted: bool  # a JSON string (else a number or boolean, written bare)
    seen: int = 0


@dataclass(frozen=True)
class DocumentShape:
    """The member layout of the sample's documents (see the module docstring)."""

    root: _Node
    style: tuple[str, str]
    documents: int  # sample documents of this layout

    @classmethod
    def learn(
        cls, sample: Sequence[str], columns: Mapping[tuple[str, ...], str]
    ) -> DocumentShape | None:
        """The layout of the sample's documents whose every value has a column, or None.

        Args:
            sample: raw records.
            columns: key path (``("source", "ip")``, or ``("source.ip",)`` for a flat key) →
                the SQL name the value's text gets. A document with a value on any other path
                is left out of the layout, as is one whose values are not plain.
        """
        docs = [doc for doc in map(_plain_object, sample) if doc is not None]
        if not docs:
            return None
        best: tuple[int, tuple[str, str]] | None = None
        for style in _STYLES:
            fitting = sum(1 for raw, doc in docs if raw == _dumps(doc, style))
            if fitting and (best is None or fitting > best[0]):
                best = (fitting, style)
        if best is None:
            return None
        style = best[1]
        root = _Node()
        documents = 0
        for raw, doc in docs:
            if raw != _dumps(doc, style) or not _fits(doc, columns):
                continue
            _add(root, doc, (), columns)
            documents += 1
        if documents < _MIN_SHARE * len(sample) or not root.members:
            return None
        return cls(root, style, documents)

    @staticmethod
    def key_paths(sample: Sequence[str]) -> frozenset[tuple[str, ...]]:
        """The key paths of the values of the sample's plain documents (a superset of any
        layout :meth:`learn` finds in it)."""
        return frozenset(
            keys
            for _, doc in filter(None, map(_plain_object, sample))
            for keys, _ in _flatten(doc, ())
        )

    def leaves(self) -> list[tuple[tuple[str, ...], str]]:
        """Every value of the layout: its key path and the SQL name of its text."""
        return list(_leaves(self.root, ()))

    def value_sql(self, keys: tuple[str, ...], text: str) -> str:
        """The value at ``keys``, from ``text`` (the SQL of its extracted text).

        A value the general reading would clean up or read as JSON is NULL here, so that a
        record holding it cannot match: text that is empty, ``-``, starts with a space, a
        ``{`` or a byte past ``{`` (outside ASCII), or ends with a space; a bare value that is
        an object (arrays are turned away by :meth:`matches_sql`).
        """
        if not self._leaf(keys).quoted:
            return f"CASE WHEN {text} < '{{' THEN {text} END"
        plain = f"{text} >= '!' AND {text} < '{{' AND {text} <> '-' AND NOT ends_with({text}, ' ')"
        return f"CASE WHEN {plain} THEN {text} END"

    def matches_sql(self, raw: str = "raw") -> str:
        """Whether ``raw`` is exactly the document its values (the columns) write (see above).

        NULL counts as no; the value columns must be in scope.
        """
        item, colon = self.style
        plain = f"NOT contains({raw}, '[') AND strlen({raw}) = length({raw})"
        required = [leaf.column for leaf in _required_leaves(self.root, self.documents)]
        present = " AND ".join(f"{c} IS NOT NULL" for c in required)
        rebuilt = _object_sql(self.root, self.documents, item, colon)
        return f"({plain} AND {present or 'true'} AND {raw} = {rebuilt})"

    def _leaf(self, keys: tuple[str, ...]) -> _Leaf:
        node: _Node | _Leaf = self.root
        for key in keys:
            assert isinstance(node, _Node)
            node = node.members[key]
        assert isinstance(node, _Leaf)
        return node


def _plain_object(raw: str) -> tuple[str, dict[str, Any]] | None:
    """``(raw, document)`` for a JSON object with no escape, no ``[`` and only ASCII text (what
    :meth:`DocumentShape.matches_sql` turns away in any case), else None."""
    if not raw.startswith("{") or not raw.isascii() or "[" in raw or "\\" in raw:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        return None
    return (raw, doc) if isinstance(doc, dict) else None


def _dumps(doc: dict[str, Any], style: tuple[str, str]) -> str:
    return json.dumps(doc, separators=style, ensure_ascii=False)


def _fits(doc: dict[str, Any], columns: Mapping[tuple[str, ...], str]) -> bool:
    """Whether every value of ``doc`` is plain (see :meth:`DocumentShape.value_sql`) and on a
    path with a column."""
    for keys, value in _flatten(doc, ()):
        if keys not in columns or not _plain_key_path(keys):
            return False
        if isinstance(value, int):  # booleans included
            continue
        if not isinstance(value, str) or not value.isprintable():
            return False
        if not "!" <= value < "{" or value == "-" or value.endswith(" "):
            return False
    return True


def _plain_key_path(keys: tuple[str, ...]) -> bool:
    return all(k.isascii() and k.isprintable() and '"' not in k for k in keys)


def _flatten(doc: dict[str, Any], prefix: tuple[str, ...]) -> Iterable[tuple[tuple[str, ...], Any]]:
    for key, value in doc.items():
        if isinstance(value, dict) and value:
            yield from _flatten(value, (*prefix, key))
        else:
            yield (*prefix, key), value  # an empty object is a value no column takes


def _add(
    node: _Node,
    doc: dict[str, Any],
    prefix: tuple[str, ...],
    columns: Mapping[tuple[str, ...], str],
) -> None:
    node.seen += 1
    for key, value in doc.items():
        keys = (*prefix, key)
        member = node.members.get(key)
        if isinstance(value, dict):
            if not isinstance(member, _Node):
                member = node.members.setdefault(key, _Node())
            if isinstance(member, _Node):
                _add(member, value, keys, columns)
        else:
            if member is None:
                member = node.members[key] = _Leaf(columns[keys], isinstance(value, str))
            if isinstance(member, _Leaf):
                member.seen += 1


def _leaves(node: _Node, prefix: tuple[str, ...]) -> Iterable[tuple[tuple[str, ...], str]]:
    for key, member in node.members.items():
        if isinstance(member, _Node):
            yield from _leaves(member, (*prefix, key))
        else:
            yield (*prefix, key), member.column


def _required_leaves(node: _Node, documents: int) -> Iterable[_Leaf]:
    """The values every sample document of the layout has (a record lacking one is not read
    quickly: the rebuilt text would need a test per member, which costs more than it saves)."""
    for member in node.members.values():
        if member.seen == documents:
            if isinstance(member, _Node):
                yield from _required_leaves(member, documents)
            else:
                yield member


def _columns_below(node: _Node) -> list[str]:
    return [column for _, column in _leaves(node, ())]


def _object_sql(node: _Node, documents: int, item: str, colon: str) -> str:
    """SQL rebuilding the document's text from the value columns, in one ``concat``."""
    return _concat(_pieces(node, documents, item, colon))


def _pieces(node: _Node, documents: int, item: str, colon: str) -> list[str | _Sql]:
    """One object's text as constant texts and SQL pieces, to be concatenated.

    A member every sample document has is written as is (its presence is tested apart, so no
    test per member is needed), an object's members inline; one that some documents lack is
    written only when present, with its separator. A missing first member leaves a separator
    at the start: no match, which only sends the record to the general reading.
    """
    pieces: list[str | _Sql] = ["{"]
    for index, (key, member) in enumerate(node.members.items()):
        member_pieces: list[str | _Sql] = [("" if index == 0 else item) + json.dumps(key) + colon]
        if isinstance(member, _Node):
            member_pieces += _pieces(member, documents, item, colon)
            present = f"coalesce({', '.join(_columns_below(member))}) IS NOT NULL"
        else:
            quote = '"' if member.quoted else ""
            member_pieces += [quote, _Sql(member.column), quote]
            present = f"{member.column} IS NOT NULL"
        if member.seen == documents:
            pieces += member_pieces
        else:
            pieces.append(_Sql(f"CASE WHEN {present} THEN {_concat(member_pieces)} END"))
    pieces.append("}")
    return pieces


class _Sql(str):
    """A piece of SQL among constant texts."""


def _concat(pieces: Sequence[str | _Sql]) -> str:
    """``concat`` of the pieces, runs of constant text joined into one literal."""
    args: list[str] = []
    text = ""
    for piece in pieces:
        if isinstance(piece, _Sql):
            if text:
                args.append(sql_string(text))
                text = ""
            args.append(piece)
        else:
            text += piece
    if text:
        args.append(sql_string(text))
    return f"concat({', '.join(args)})"
