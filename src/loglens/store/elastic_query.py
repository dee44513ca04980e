"""Lucene query syntax → Elasticsearch/OpenSearch Query DSL, with DuckDB's semantics.

The query the user typed is parsed once (:func:`loglens.query.parse_query`); this module walks
the same luqum tree the DuckDB translation walks and builds a ``bool``/``term``/``wildcard``/
``range``/``regexp``/``exists`` query. It does not hand the text to ``query_string`` verbatim:
``query_string`` analyses text fields (``message:pass`` would match the word "pass" only, not
"password") and searches keyword fields for whole values, so the same query would count
differently in the cluster and in the embedded store. Built from the tree, the cluster answers as
DuckDB does (see :mod:`loglens.query` for the semantics), and a value the user typed never
becomes query syntax.

Where the cluster cannot answer as DuckDB does:

* ``event.original`` is stored but not indexed in the cluster (ECS keeps the raw record for
  reading, not for searching): free text does not search it, and naming it is an error. Records
  that kept only their raw text (parse failures) are found by ``error.message`` and ``tags``.
* Free text in ``extra`` (the other fields of a source, as JSON text): a word is matched within
  the JSON text's words (case-insensitive), a phrase as a phrase of words; DuckDB matches any
  substring of the JSON text.
* Keys of ``extra`` by name (``zeek.conn_state:SF``): the cluster field of that name (indices
  written by Beats or Logstash carry them as fields), or for documents loglens wrote, the key and
  the value next to each other in the ``extra`` text. Ranges, wildcards and regular expressions
  on such keys use the cluster field only.
* Substring matches on text (``message:password``) run on the ``.keyword`` sub-field, which holds
  values up to 8191 characters; a longer value is not matched by them.
* Regular expressions use the cluster's (Lucene) syntax rather than RE2: character classes such
  as ``\\d`` and ``\\w``, anchors and look-around are not available there. Patterns are still
  checked with RE2 first, so a query that DuckDB refuses is refused here too.
* Wildcards and regular expressions on numbers (``status:4*``) are refused (the cluster has no
  text for a number); use a range. Wildcards on addresses work only as whole leading octets
  (``source.ip:10.1.*`` is ``10.1.0.0/16``); otherwise use a CIDR block.
* ``tags`` with a range or a wildcard: any element matches, as in DuckDB.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Final

from luqum.tree import (
    From,
    Phrase,
    Range,
    Regex,
    To,
    Word,
)

from loglens.errors import QueryError
from loglens.query import (
    EXTRA_FIELD_NAME,
    LuceneQuery,
    LuceneWalker,
    bound_text,
    parse_number,
    re2_problem,
    term_text,
    term_value,
)
from loglens.schema import FIELD_BY_NAME, TEXT_SEARCH_FIELDS, Kind
from loglens.store.base import Query

__all__ = [
    "MATCH_ALL",
    "MATCH_NONE",
    "all_of",
    "events_filter",
    "iso_utc",
    "keyword_path",
    "time_range",
    "to_elastic_query",
]

MATCH_ALL: Final[dict[str, Any]] = {"match_all": {}}
MATCH_NONE: Final[dict[str, Any]] = {"match_none": {}}

_EXISTS_FIELD: Final = "_exists_"
_EXTRA: Final = "extra"
_NOT_INDEXED: Final = frozenset({"event.original"})
# Free text searches the fields a record's text lands in, except those the cluster cannot search.
_FREE_TEXT_FIELDS: Final = tuple(f for f in TEXT_SEARCH_FIELDS if f not in _NOT_INDEXED)


def keyword_path(name: str) -> str:
    """The cluster field that holds ``name``'s exact value (``.keyword`` for text fields)."""
    known = FIELD_BY_NAME.get(name)
    if known is not None and known.kind is Kind.TEXT:
        return f"{name}.keyword"
    return name


def events_filter(query: Query) -> dict[str, Any]:
    """The Query DSL for the events ``query`` selects: its text, its range filters and its time
    range, so that the cluster matches what DuckDB matches.

    Raises:
        QueryError: an invalid query, or a range filter on an invalid field name.
    """
    clauses = [to_elastic_query(query.text or "*", default_operator=query.default_operator)]
    for rng in query.ranges:
        if rng.field not in FIELD_BY_NAME and not EXTRA_FIELD_NAME.fullmatch(rng.field):
            raise QueryError(f"unknown field {rng.field!r} in a range filter")
        clauses.append(to_elastic_query(rng.as_lucene()))
    clauses.append(time_range(query.start, query.end))
    return dict(all_of(clauses))


def time_range(start: datetime | None, end: datetime | None) -> dict[str, Any]:
    """The events with ``start <= @timestamp < end`` (None: open), or all of them."""
    bounds: dict[str, Any] = {}
    if start is not None:
        bounds["gte"] = iso_utc(start)
    if end is not None:
        bounds["lt"] = iso_utc(end)
    if not bounds:
        return dict(MATCH_ALL)
    return {"range": {"@timestamp": {**bounds, "format": "strict_date_optional_time"}}}


def to_elastic_query(
    query: LuceneQuery | str,
    *,
    default_operator: str = "OR",
    now: datetime | None = None,
) -> dict[str, Any]:
    """Translate a Lucene query into a Query DSL object with the semantics of DuckDB's SQL.

    Args:
        query: A parsed query, or query text to parse.
        default_operator: ``"OR"`` or ``"AND"``: how terms without an operator combine.
        now: The instant date math is relative to; the current time if None.

    Raises:
        QueryError: The query is invalid, or uses what neither backend supports (fuzzy,
            proximity) or what the cluster cannot answer like DuckDB (see the module doc).
    """
    return _Translator.of(query, default_operator, now).walk(MATCH_ALL)


class _Translator(LuceneWalker[dict[str, Any]]):
    """Builds the Query DSL of a luqum tree."""

    def all_of(self, parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return all_of(parts)

    def any_of(self, parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return _any_of(parts)

    def negate(self, part: dict[str, Any]) -> dict[str, Any]:
        return _negate(part)

    # --- leaves ------------------------------------------------------------------------------

    def leaf(self, node: Any, field: str | None) -> dict[str, Any]:
        if field == _EXISTS_FIELD:
            if not isinstance(node, Word | Phrase):
                raise self.error("_exists_ takes a field name (_exists_:user.name)", node)
            name = term_text(node)
            self._kind(name, node)
            return {"exists": {"field": name}}
        kind = self._kind(field, node) if field is not None else None
        if isinstance(node, Regex):
            return self._regex(field, node)
        if isinstance(node, Range):
            return self._range(field, node.low, node.high, node.include_low, node.include_high,
                               node)  # fmt: skip
        if isinstance(node, From):
            return self._range(field, node.a, None, node.include, True, node)
        if isinstance(node, To):
            return self._range(field, None, node.a, True, node.include, node)
        if isinstance(node, Word | Phrase):
            value = term_value(node, escape=_wildcard_escape, star="*", question="?")
            text, wildcard, match_all = value.text, value.pattern, value.match_all
            if field is None:
                return MATCH_ALL if match_all else _free_text(text, wildcard)
            if match_all:
                return {"exists": {"field": field}}
            if wildcard is not None:
                return self._wildcard(field, kind, wildcard, node)
            return self._equals(field, kind, text, node)
        raise self.error(f"unsupported query element {str(node).strip()!r}", node)

    def _kind(self, name: str, node: Any) -> Kind | None:
        """The field's kind (None: a key of ``extra``); refuses what cannot be searched."""
        known = FIELD_BY_NAME.get(name)
        if known is not None:
            if known.kind is Kind.JSON:
                raise self.error(
                    f"field {name!r} holds a source's other fields as JSON and cannot be "
                    "queried directly; query one of its keys by name (zeek.conn_state:SF)",
                    node,
                )
            if name in _NOT_INDEXED:
                raise self.error(
                    f"field {name!r} is stored but not indexed in the cluster; search the "
                    "parsed fields (message, error.message) or free text instead",
                    node,
                )
            return known.kind
        if not EXTRA_FIELD_NAME.fullmatch(name):
            raise self.error(
                f"invalid field name {name!r}: a field name may contain only letters, digits "
                "and _ @ . - (field wildcards are not supported)",
                node,
            )
        return None

    def _equals(self, field: str, kind: Kind | None, text: str, node: Any) -> dict[str, Any]:
        match kind:
            case Kind.TEXT:
                return _substring(field, _wildcard_escape(text))
            case Kind.LONG:
                return {"term": {field: self.number(field, text, node)}}
            case Kind.IP:
                if "/" in text:
                    return {"term": {field: str(self.network(field, text, node))}}
                return {"term": {field: str(self.address(field, text, node))}}
            case Kind.DATE:
                span = self.date(field, text, node)
                return {"range": {field: {"gte": iso_utc(span.start), "lt": iso_utc(span.end)}}}
            case None:
                # A key of `extra`: the cluster field of that name, or the key and its value
                # side by side in the JSON text of documents loglens wrote.
                return _any_of(
                    [
                        {"term": {field: text}},
                        {"match_phrase": {_EXTRA: {"query": f"{field} {text}", "slop": 0}}},
                    ]
                )
            case _:
                return {"term": {field: text}}

    def _wildcard(self, field: str, kind: Kind | None, pattern: str, node: Any) -> dict[str, Any]:
        match kind:
            case Kind.TEXT:
                return _substring(field, pattern)
            case Kind.LONG:
                raise self.error(
                    f"wildcards on numeric field {field!r} are not supported in the cluster; "
                    f"use a range ({field}:[400 TO 499])",
                    node,
                )
            case Kind.DATE:
                raise self.error(
                    f"wildcards are not supported on date field {field!r}; use a range "
                    f"({field}:[2024-05-01 TO 2024-05-31])",
                    node,
                )
            case Kind.IP:
                return {"term": {field: self._ip_prefix(field, pattern, node)}}
            case _:
                return {"wildcard": {field: {"value": pattern}}}

    def _ip_prefix(self, field: str, pattern: str, node: Any) -> str:
        """``10.1.*`` as the CIDR block ``10.1.0.0/16``: the only address wildcard kept."""
        head, star, tail = pattern.partition("*")
        octets = head.split(".")[:-1]
        if (
            star
            and not tail
            and head.endswith(".")
            and 0 < len(octets) < 4
            and all(o.isdigit() and int(o) < 256 for o in octets)
        ):
            whole = octets + ["0"] * (4 - len(octets))
            return f"{'.'.join(whole)}/{8 * len(octets)}"
        raise self.error(
            f"field {field!r} holds IP addresses: in the cluster a wildcard works only as whole "
            "leading octets (10.1.*); use a CIDR block (10.1.0.0/16)",
            node,
        )

    def _regex(self, field: str | None, node: Any) -> dict[str, Any]:
        pattern = node.value[1:-1]
        problem = re2_problem(pattern)
        if problem is not None:
            raise self.error(f"invalid regular expression {node.value!r}: {problem}", node)
        anywhere = {"value": f".*({pattern}).*", "case_insensitive": True}
        if field is None:
            return _any_of([{"regexp": {keyword_path(f): dict(anywhere)}}
                            for f in _FREE_TEXT_FIELDS])  # fmt: skip
        kind = FIELD_BY_NAME[field].kind if field in FIELD_BY_NAME else None
        if kind is Kind.TEXT:
            return {"regexp": {keyword_path(field): anywhere}}
        if kind in (Kind.LONG, Kind.DATE, Kind.IP):
            raise self.error(
                f"regular expressions are not supported on {kind} field {field!r} in the cluster",
                node,
            )
        return {"regexp": {field: {"value": pattern}}}

    def _range(
        self,
        field: str | None,
        low_node: Any,
        high_node: Any,
        include_low: bool,
        include_high: bool,
        node: Any,
    ) -> dict[str, Any]:
        if field is None:
            raise self.error("a range needs a field (status:[400 TO 499])", node)
        low, high = bound_text(low_node), bound_text(high_node)
        if low is None and high is None:
            return {"exists": {"field": field}}
        kind = FIELD_BY_NAME[field].kind if field in FIELD_BY_NAME else None
        bounds: dict[str, Any] = {}
        match kind:
            case Kind.LONG:
                if low is not None:
                    bounds["gte" if include_low else "gt"] = self.number(field, low, node)
                if high is not None:
                    bounds["lte" if include_high else "lt"] = self.number(field, high, node)
            case Kind.DATE:
                # Bounds round like Elasticsearch's: an inclusive lower bound starts at the
                # beginning of its span, an exclusive one after its end, and so on.
                if low is not None:
                    span = self.date(field, low, node)
                    bounds["gte"] = iso_utc(span.start if include_low else span.end)
                if high is not None:
                    span = self.date(field, high, node)
                    bounds["lt"] = iso_utc(span.end if include_high else span.start)
            case Kind.IP:
                if low is not None:
                    bounds["gte" if include_low else "gt"] = str(self.address(field, low, node))
                if high is not None:
                    bounds["lte" if include_high else "lt"] = str(self.address(field, high, node))
            case _:
                numeric = kind is None and all(
                    b is None or parse_number(b) is not None for b in (low, high)
                )
                if low is not None:
                    bounds["gte" if include_low else "gt"] = parse_number(low) if numeric else low
                if high is not None:
                    value = parse_number(high) if numeric else high
                    bounds["lte" if include_high else "lt"] = value
                return {"range": {keyword_path(field): bounds}}
        return {"range": {field: bounds}}


# --- building blocks -----------------------------------------------------------------------------


def all_of(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The documents every one of ``parts`` matches, as small a query as says so."""
    kept = [p for p in parts if p != MATCH_ALL]
    if MATCH_NONE in kept:
        return MATCH_NONE
    if not kept:
        return MATCH_ALL
    if len(kept) == 1:
        return kept[0]
    return {"bool": {"filter": kept}}


def _any_of(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    if MATCH_ALL in parts:
        return MATCH_ALL
    kept = [p for p in parts if p != MATCH_NONE]
    if not kept:
        return MATCH_NONE
    if len(kept) == 1:
        return kept[0]
    return {"bool": {"should": kept, "minimum_should_match": 1}}


def _negate(part: dict[str, Any]) -> dict[str, Any]:
    if part == MATCH_ALL:
        return MATCH_NONE
    if part == MATCH_NONE:
        return MATCH_ALL
    # must_not matches documents without the field too, as DuckDB's `IS NOT TRUE` does.
    return {"bool": {"must_not": [part]}}


def _substring(field: str, pattern: str) -> dict[str, Any]:
    """Case-insensitive substring (DuckDB's ``ILIKE '%…%'``) on a field's exact value."""
    return {"wildcard": {keyword_path(field): {"value": f"*{pattern}*", "case_insensitive": True}}}


def _free_text(text: str, wildcard: str | None) -> dict[str, Any]:
    """A term without a field: a substring of any of the record's text fields."""
    pattern = wildcard if wildcard is not None else _wildcard_escape(text)
    parts = [_substring(f, pattern) for f in _FREE_TEXT_FIELDS if f != _EXTRA]
    if _EXTRA in _FREE_TEXT_FIELDS:
        parts.append(_in_extra_text(text, wildcard))
    return _any_of(parts)


def _in_extra_text(text: str, wildcard: str | None) -> dict[str, Any]:
    """Free text in ``extra`` (an analysed JSON text): within one word, or a phrase of words."""
    if wildcard is None and not all(c.isalnum() or c == "_" for c in text):
        return {"match_phrase": {_EXTRA: text}}
    pattern = wildcard if wildcard is not None else _wildcard_escape(text)
    return {"wildcard": {_EXTRA: {"value": f"*{pattern}*", "case_insensitive": True}}}


def _wildcard_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


def iso_utc(instant: datetime) -> str:
    """An instant as the cluster reads it: ISO 8601 in UTC, to the microsecond (naive is UTC)."""
    aware = instant if instant.tzinfo else instant.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
