"""Lucene query syntax → luqum tree → DuckDB SQL.

Users type what Kibana (Lucene mode) and Elasticsearch's ``query_string`` accept. A query is
parsed once (:func:`parse_query`) into a :class:`LuceneQuery` holding the luqum tree; each store
backend translates that tree. This module holds the DuckDB translation (:func:`to_duckdb_sql`):
a parameterised boolean SQL expression over the ``events`` table, whose columns carry the ECS
names of :mod:`loglens.schema`.

Safety: a value the user typed never becomes SQL text. Values travel as ``?`` parameters;
identifiers come from the schema (:func:`loglens.schema.quote_ident`) or, for a field that lives
in the ``extra`` JSON column, from a JSON path built from a name that must match
``[A-Za-z0-9_@.-]+``.

Semantics (chosen to mirror Elasticsearch; where they differ, it says so):

* **Match all.** An empty query, ``*`` and ``*:*`` match every event (``TRUE``).
* **Boolean operators.** ``AND``/``&&``, ``OR``/``||``, ``NOT``/``!``, ``+term`` (must),
  ``-term`` (must not), ``( )`` grouping and field groups ``status:(404 OR 500)``. Terms without
  an operator between them are joined by ``default_operator`` (``OR`` like Lucene; the CLI offers
  ``AND``). Every operation is evaluated like an Elasticsearch ``bool`` query: negated operands
  are ``must_not``, ``+`` operands and the operands of ``AND`` are ``must``, the operands of
  ``OR`` are ``should`` (at least one must match unless there is a ``must``). Hence, as in
  Elasticsearch, ``a OR NOT b`` means ``a AND NOT b``, and a query (or group) of only negations
  means "everything except" (``NOT status:200``, ``-tags:_parse_failure``). A negation matches
  events that lack the field, as in Elasticsearch.
  One deliberate difference: unparenthesised mixtures of ``AND`` and ``OR`` follow the usual
  precedence (``AND`` binds tighter than ``OR``, which binds tighter than the implicit
  operator), as luqum parses them and Kibana's KQL does; Lucene's classic parser applies
  operators left to right. Parenthesise mixed expressions to be unambiguous.
* **Field kinds** (:class:`loglens.schema.Kind`):

  - KEYWORD: exact, case-sensitive equality; a phrase is the exact value.
  - IP: like KEYWORD, plus CIDR membership (``source.ip:10.0.0.0/8``, ``"2001:db8::/32"``,
    ``2001\\:db8\\:\\:/32``); a plain address is compared in its canonical form (IPv6
    compressed, lower case). A value that is neither an address nor a CIDR block is an error.
    Ranges compare addresses numerically, as Elasticsearch does (``[10.0.0.0 TO 10.0.0.255]``).
  - LONG: numeric; the value must be a number, otherwise a :class:`QueryError` naming the field.
  - DATE: an equality covers the whole unit given (``2024-05-01`` is that day, ``…T10:15`` that
    minute, epoch millis that millisecond); ranges compare instants and round like
    Elasticsearch (``[2024-05-01 TO 2024-05-03]`` includes all of May 3rd, ``{… TO …}`` excludes
    the whole bound day). Accepted: ISO 8601 dates and date-times (UTC unless an offset is
    given), epoch millis, and date math: ``now``, ``now-1d``, ``now-15m/m``, ``now/d``,
    ``2024-05-01||+1M/d`` (units ``y M w d h H m s``; rounding is in UTC; weeks start on Monday).
  - TEXT (``message``, ``event.original``, ``error.message``, ``process.command_line``):
    case-insensitive substring; a phrase is a substring too.
  - KEYWORD_LIST (``tags``): matches if any element matches.
  - JSON (``extra``): not queryable directly; query its keys by name (below).
* **Wildcards** ``*`` and ``?`` in a term (not in a phrase): KEYWORD and IP use a case-sensitive
  ``LIKE``; TEXT a case-insensitive ``ILIKE`` substring; LONG matches the number's decimal text;
  DATE rejects them. ``field:*`` means the field exists. Escaped ``\\*`` is a literal star, and
  literal ``%``, ``_`` and ``\\`` are escaped in the ``LIKE`` pattern.
* **Ranges** ``[a TO b]``, ``{a TO b}``, mixed ``[a TO b}``, open ``*`` bounds and Kibana's
  ``field:>=400``, ``>``, ``<``, ``<=``: numeric on LONG, instants on DATE, address order on IP,
  lexicographic (case-sensitive) on KEYWORD and TEXT. ``[* TO *]`` means the field exists.
* **Existence.** ``_exists_:field`` is ``IS NOT NULL``; for ``tags``, a non-empty list.
* **Regular expressions** ``/.../`` use RE2 (DuckDB's engine): a case-sensitive full match on
  KEYWORD, IP, LONG (its text) and extra fields; a case-insensitive search anywhere in the value on
  TEXT fields and for free text (the substring semantics of text). Invalid patterns raise
  :class:`QueryError`. Lucene-only operators (``<1-5>``, ``#``, ``@``, ``&``, ``~``) are not
  translated.
* **Free text** (a term without a field: ``wp-login``, ``"Failed password"``, ``*admin*``) is a
  case-insensitive substring search over :data:`loglens.schema.TEXT_SEARCH_FIELDS`, OR-ed.
  ``*:value`` searches the same fields.
* **Fields not in the schema** are read from ``extra``:
  ``json_extract_string(extra, '$."dotted.name"')``, compared as case-sensitive text; a numeric
  value also matches the same number written differently (``5`` matches ``5.0``), and a range
  whose bounds are numbers compares numerically (``TRY_CAST(… AS DOUBLE)``). An ``extra`` that
  is not valid JSON never matches (and never fails the query).
* **Boosts** (``^2``) are ignored (they change scores, not matches). **Fuzzy** (``term~``) and
  **proximity** (``"a b"~3``) queries raise :class:`QueryError` ("not supported").
* **Escapes** (``\\:``, ``\\/``, ``\\ ``, ``\\*``, ``\\\\``) make the next character literal, in
  values and in field names.

The SQL may call two helper functions; :func:`install_sql_functions` must have run on the DuckDB
connection that executes it (macros are per connection, so on every cursor too):
``loglens_ipv4_to_int`` (a SQL macro: dotted quad → integer, NULL if not IPv4) and
``loglens_ip_key`` (a vectorised Arrow UDF: any IPv4/IPv6 address → 32 hex digits that sort in
address order, IPv4 mapped into ``::ffff:0:0/96`` as Elasticsearch stores it).

The predicate can evaluate to NULL for an event that lacks a field; in ``WHERE`` that is "no
match". Negate it with ``(<sql>) IS NOT TRUE``, not ``NOT (<sql>)``.
"""

from __future__ import annotations

import calendar
import functools
import ipaddress
import math
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final, Generic, Self, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from duckdb import func, sqltypes
from luqum.exceptions import ParseError as LuqumParseError
from luqum.thread import parse as luqum_parse
from luqum.tree import (
    AndOperation,
    Boost,
    FieldGroup,
    From,
    Fuzzy,
    Group,
    Not,
    OrOperation,
    Phrase,
    Plus,
    Prohibit,
    Proximity,
    Range,
    Regex,
    SearchField,
    To,
    UnknownOperation,
    Word,
)

from loglens.errors import QueryError
from loglens.schema import FIELD_BY_NAME, TEXT_SEARCH_FIELDS, Kind, quote_ident

__all__ = [
    "EXTRA_FIELD_NAME",
    "IPV4_TO_INT_MACRO",
    "IP_KEY_FUNCTION",
    "MATCH_ALL",
    "DateSpan",
    "LuceneQuery",
    "LuceneWalker",
    "SqlPredicate",
    "TermValue",
    "bound_text",
    "date_span",
    "install_sql_functions",
    "parse_number",
    "parse_query",
    "re2_problem",
    "term_text",
    "term_value",
    "to_duckdb_sql",
    "unescape",
]

IPV4_TO_INT_MACRO: Final = "loglens_ipv4_to_int"
"""SQL macro: dotted-quad IPv4 text → BIGINT, NULL for anything else."""

IP_KEY_FUNCTION: Final = "loglens_ip_key"
"""Arrow UDF: IPv4/IPv6 text → 32 lower-case hex digits in address order, NULL if invalid."""

_EXISTS_FIELD: Final = "_exists_"
_EXTRA_COLUMN: Final = "extra"
EXTRA_FIELD_NAME: Final = re.compile(r"[A-Za-z0-9_@.\-]+")
"""What a field name outside the schema (a key of ``extra``) may be made of, in every backend."""
_ESCAPE: Final = "ESCAPE '\\'"
# Deep nesting would exhaust Python's stack or DuckDB's expression depth limit (1000); no
# hand-written query comes near this.
_MAX_DEPTH: Final = 200
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_P = TypeVar("_P")  # a backend's predicate

# --------------------------------------------------------------------------------------------
# Public data types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SqlPredicate:
    """A SQL boolean expression with ``?`` placeholders and their values, in order."""

    sql: str
    params: tuple[object, ...] = ()


@dataclass(frozen=True)
class LuceneQuery:
    """A parsed Lucene query.

    Attributes:
        text: The query as the user typed it.
        tree: The luqum syntax tree, or None for a query that matches everything.
    """

    text: str
    tree: object
    # Position in the text luqum parsed → position in ``text`` (they differ once ``&&``,
    # ``||`` and ``!`` are spelled out); empty means identical.
    _origin: tuple[int, ...] = field(default=(), repr=False, compare=False)

    def fields(self) -> set[str]:
        """The field names the query mentions (``_exists_`` targets included, ``*`` not).

        Returns:
            Field names, unescaped, as typed: schema columns and keys of ``extra`` alike.
        """
        return set(_field_names(self.tree))

    def position(self, parsed_pos: int | None) -> int | None:
        """Map a position in the parsed text back to the text the user typed."""
        if parsed_pos is None or not self._origin:
            return parsed_pos
        return self._origin[min(parsed_pos, len(self._origin) - 1)]


MATCH_ALL: Final = SqlPredicate("TRUE")
"""The predicate of a query that matches every event (a store may skip its WHERE clause)."""
_MATCH_NONE: Final = SqlPredicate("FALSE")

# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def parse_query(text: str) -> LuceneQuery:
    """Parse a Lucene query once, for any backend to translate.

    Args:
        text: The query, as typed in Kibana (Lucene mode) or given to ``query_string``.

    Returns:
        The parsed query; its ``tree`` is None when the query is empty (matches everything).

    Raises:
        QueryError: The query is not valid Lucene syntax; the message gives the position.
    """
    if "\x00" in text:
        raise QueryError(f"the query contains a NUL character at position {text.index(chr(0))}")
    if not text.strip():
        return LuceneQuery(text, None)
    rewritten, origin = _spell_out_operators(text)
    try:
        tree = luqum_parse(rewritten)
    except LuqumParseError as exc:
        raise _syntax_error(text, rewritten, origin, str(exc)) from None
    except (ValueError, ArithmeticError):
        # luqum converts the number after `~` and `^` itself (Decimal, int) and lets those
        # errors through.
        raise QueryError(
            "invalid query: '~' and '^' must be followed by a number (rooot~1, root^2)"
        ) from None
    except RecursionError:
        raise QueryError("the query is nested too deeply") from None
    return LuceneQuery(text, tree, origin)


def _spell_out_operators(text: str) -> tuple[str, tuple[int, ...]]:
    """Rewrite Lucene's ``&&``, ``||`` and ``!`` as ``AND``, ``OR`` and ``NOT``.

    luqum only knows the spelled-out operators and would read ``&&`` as a term. Like Lucene,
    the symbols are operators only where a token starts (``a&&b`` stays one term) and never
    inside phrases or regular expressions.

    Returns:
        The rewritten text and, for each of its positions (plus the end), the position in
        ``text`` it came from.
    """
    out: list[str] = []
    origin: list[int] = []

    def emit(chunk: str, source_pos: int, *, spread: bool = True) -> None:
        out.append(chunk)
        origin.extend(source_pos + i if spread else source_pos for i in range(len(chunk)))

    i, n, token_start = 0, len(text), True
    while i < n:
        char = text[i]
        if char.isspace() or char in ":^~(){}[]":
            emit(char, i)
            i, token_start = i + 1, True
        elif char == "\\":
            emit(text[i : i + 2], i)
            i, token_start = i + 2, False
        elif not token_start:
            emit(char, i)
            i += 1
        elif char in '"/':
            end = _closing_delimiter(text, i)
            emit(text[i:end], i)
            i = end
        elif text.startswith(("&&", "||"), i) and (
            i + 2 == n or text[i + 2].isspace() or text[i + 2] in "()"
        ):
            emit("AND" if char == "&" else "OR", i, spread=False)
            i += 2
        elif char == "!":
            emit("NOT ", i, spread=False)
            i += 1
        elif char in "+-<>":
            width = 2 if char in "<>" and text.startswith("=", i + 1) else 1
            emit(text[i : i + width], i)
            i += width
        else:
            emit(char, i)
            i, token_start = i + 1, False
    origin.append(n)
    return "".join(out), tuple(origin)


def _closing_delimiter(text: str, start: int) -> int:
    """End (exclusive) of the phrase or regex opening at ``start``; the text end if unclosed."""
    delimiter, i = text[start], start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == delimiter:
            return i + 1
        i += 1
    return len(text)


def _syntax_error(text: str, parsed: str, origin: tuple[int, ...], detail: str) -> QueryError:
    """Turn luqum's error message into one that points into the text the user typed."""
    match = re.search(r"position (\d+)", detail)
    if match is None:
        return QueryError(
            "invalid query: it ends too early (an unclosed parenthesis, bracket or quote, "
            "or an operator without a right-hand side?)"
        )
    parsed_pos = int(match.group(1))
    pos = origin[min(parsed_pos, len(origin) - 1)]
    near = text[pos : pos + 20]
    hint = ""
    if parsed[parsed_pos : parsed_pos + 1] == "/":
        hint = "; an unclosed regular expression? Escape a literal '/' as '\\/'"
    elif near.startswith("'"):
        hint = "; quote phrases with double quotes"
    elif near.startswith(":"):
        hint = "; quote or escape ('\\:') a value that contains ':'"
    return QueryError(f"invalid query at position {pos}: unexpected {near!r}{hint}")


def _field_names(node: Any) -> Iterator[str]:
    """Field names mentioned anywhere under ``node``."""
    if node is None:
        return
    if isinstance(node, SearchField):
        name = unescape(node.name)
        if name == _EXISTS_FIELD:
            yield from (term_text(t) for t in _terms(node.expr))
        elif name != "*":
            yield name
    for child in node.children:
        yield from _field_names(child)


def _terms(node: Any) -> Iterator[Any]:
    """Word and Phrase nodes under ``node``."""
    if isinstance(node, Word | Phrase):
        yield node
    for child in node.children:
        yield from _terms(child)


# --------------------------------------------------------------------------------------------
# Translation to DuckDB SQL
# --------------------------------------------------------------------------------------------


def to_duckdb_sql(
    query: LuceneQuery | str,
    *,
    default_operator: str = "OR",
    now: datetime | None = None,
) -> SqlPredicate:
    """Translate a Lucene query into a DuckDB boolean expression over ``events``.

    Args:
        query: A parsed query, or query text to parse.
        default_operator: ``"OR"`` (Lucene's default) or ``"AND"``: how terms without an
            operator between them combine.
        now: The instant date math (``now-1d``) is relative to; the current time if None. A
            naive datetime is taken as UTC.

    Returns:
        The SQL (with ``?`` placeholders) and its parameters. It may call the functions
        :func:`install_sql_functions` creates.

    Raises:
        QueryError: The query is invalid, uses an unsupported feature (fuzzy, proximity), or a
            value does not fit its field (a word on a numeric field, a bad CIDR block or date).
    """
    return _DuckDBTranslator.of(query, default_operator, now).walk(MATCH_ALL)


@dataclass(frozen=True)
class _Target:
    """A queried field: its name, kind (None for a key of ``extra``) and SQL expression."""

    name: str
    kind: Kind | None
    sql: str


@dataclass(frozen=True)
class TermValue:
    """A Word or Phrase: its literal text, its pattern if it has wildcards, and whether it is
    nothing but ``*`` (it matches anything)."""

    text: str
    pattern: str | None
    match_all: bool


@dataclass(frozen=True)
class DateSpan:
    """A half-open interval of instants ``[start, end)``: what a date value denotes."""

    start: datetime
    end: datetime


class LuceneWalker(ABC, Generic[_P]):
    """The walk of a luqum tree that every backend's translation shares.

    It evaluates operations as Elasticsearch ``bool`` queries (see the module doc), refuses
    what no backend supports, and reports errors at their position in the query text. A
    backend says how to combine its predicates (:meth:`all_of`, :meth:`any_of`,
    :meth:`negate`) and how to translate a leaf (:meth:`leaf`: a term, range, regex or
    ``_exists_`` on a field, or on none for free text).
    """

    def __init__(self, query: LuceneQuery, *, implicit_must: bool, now: datetime) -> None:
        self._query = query
        self._implicit_must = implicit_must
        self._now = now.astimezone(UTC)

    @classmethod
    def of(cls, query: LuceneQuery | str, default_operator: str, now: datetime | None) -> Self:
        """A walker for ``query`` (parsed here if it is text), as the translations take it.

        Raises:
            QueryError: the query does not parse, or the operator is neither AND nor OR.
        """
        parsed = parse_query(query) if isinstance(query, str) else query
        operator = default_operator.upper()
        if operator not in ("AND", "OR"):
            raise QueryError(f"default operator must be AND or OR, not {default_operator!r}")
        if now is None:
            now = datetime.now(UTC)
        elif now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        return cls(parsed, implicit_must=operator == "AND", now=now)

    @abstractmethod
    def all_of(self, parts: Sequence[_P]) -> _P: ...

    @abstractmethod
    def any_of(self, parts: Sequence[_P]) -> _P: ...

    @abstractmethod
    def negate(self, part: _P) -> _P: ...

    @abstractmethod
    def leaf(self, node: Any, field_name: str | None) -> _P:
        """A node without operands (after :meth:`refuse_unsupported` has seen it)."""

    def walk(self, match_all: _P) -> _P:
        """The whole query's predicate (``match_all`` for an empty query)."""
        if self._query.tree is None:
            return match_all
        try:
            return self._node(self._query.tree, None, 0)
        except RecursionError:
            raise QueryError("the query is nested too deeply") from None

    def error(self, message: str, node: Any) -> QueryError:
        """A QueryError naming where ``node`` stands in the query text."""
        pos = self._query.position(getattr(node, "pos", None))
        return QueryError(message if pos is None else f"{message} (at position {pos})")

    def refuse_unsupported(self, node: Any) -> None:
        """Fuzzy and proximity queries: no backend answers them like Elasticsearch."""
        if isinstance(node, Fuzzy):
            raise self.error(
                f"fuzzy queries ({str(node).strip()!r}) are not supported; "
                "use a wildcard (adm*) or a regular expression instead",
                node,
            )
        if isinstance(node, Proximity):
            raise self.error(
                f"proximity queries ({str(node).strip()!r}) are not supported; "
                "search for the words separately (a AND b)",
                node,
            )

    # --- typed values, read alike by every backend -------------------------------------------

    def number(self, field_name: str, text: str, node: Any) -> int | float:
        number = parse_number(text)
        if number is None:
            raise self.error(f"field {field_name!r} is numeric: {text!r} is not a number", node)
        return number

    def date(self, field_name: str, text: str, node: Any) -> DateSpan:
        try:
            return date_span(text, self._now)
        except (ValueError, OverflowError) as exc:
            raise self.error(f"field {field_name!r} is a date: {exc}", node) from None

    def address(
        self, field_name: str, text: str, node: Any
    ) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        try:
            return ipaddress.ip_address(text)
        except ValueError:
            raise self.error(
                f"field {field_name!r} holds IP addresses: {text!r} is neither an address nor "
                "a CIDR block (10.0.0.0/8)",
                node,
            ) from None

    def network(
        self, field_name: str, text: str, node: Any
    ) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        try:
            # strict=False: like Elasticsearch, 10.1.2.3/8 means 10.0.0.0/8.
            return ipaddress.ip_network(text, strict=False)
        except ValueError as exc:
            raise self.error(
                f"invalid CIDR block {text!r} for field {field_name!r}: {exc}", node
            ) from None

    # --- structure -----------------------------------------------------------------------------

    def _node(self, node: Any, field_name: str | None, depth: int) -> _P:
        if depth > _MAX_DEPTH:
            raise self.error("the query is nested too deeply", node)
        if isinstance(node, Group | FieldGroup | Boost):
            # A boost only changes scores; a filter has none.
            return self._node(node.expr, field_name, depth + 1)
        if isinstance(node, SearchField):
            return self._search_field(node, depth)
        if isinstance(node, AndOperation):
            return self._bool(node.operands, True, field_name, depth)
        if isinstance(node, OrOperation):
            return self._bool(node.operands, False, field_name, depth)
        if isinstance(node, UnknownOperation):
            return self._bool(node.operands, self._implicit_must, field_name, depth)
        if isinstance(node, Not | Prohibit):
            return self.negate(self._node(node.a, field_name, depth + 1))
        if isinstance(node, Plus):
            return self._node(node.a, field_name, depth + 1)
        self.refuse_unsupported(node)
        return self.leaf(node, field_name)

    def _search_field(self, node: Any, depth: int) -> _P:
        name = unescape(node.name)
        if isinstance(node.expr, SearchField):
            raise self.error(
                f"unexpected ':' in the value of field {name!r}; quote or escape ('\\:') a "
                "value that contains ':' (\"2001:db8::1\" or 2001\\:db8\\:\\:1)",
                node.expr,
            )
        # `*:value` searches the default (free-text) fields, as `value` does.
        return self._node(node.expr, None if name == "*" else name, depth + 1)

    def _bool(
        self, operands: Sequence[Any], plain_is_must: bool, field_name: str | None, depth: int
    ) -> _P:
        """One operation as an Elasticsearch bool query (must / should / must_not)."""
        must: list[_P] = []
        should: list[_P] = []
        must_not: list[_P] = []
        for operand in operands:
            if isinstance(operand, Not | Prohibit):
                must_not.append(self._node(operand.a, field_name, depth + 1))
            elif isinstance(operand, Plus):
                must.append(self._node(operand.a, field_name, depth + 1))
            else:
                (must if plain_is_must else should).append(
                    self._node(operand, field_name, depth + 1)
                )
        parts = list(must)
        if should and not must:  # with a `must`, `should` clauses only score
            parts.append(self.any_of(should))
        if must_not:
            parts.append(self.negate(self.any_of(must_not)))
        return self.all_of(parts)


class _DuckDBTranslator(LuceneWalker[SqlPredicate]):
    """Builds the SQL of a luqum tree."""

    def all_of(self, parts: Sequence[SqlPredicate]) -> SqlPredicate:
        return _all_of(parts)

    def any_of(self, parts: Sequence[SqlPredicate]) -> SqlPredicate:
        return _any_of(parts)

    def negate(self, part: SqlPredicate) -> SqlPredicate:
        return _negate(part)

    # --- leaves ------------------------------------------------------------------------------

    def leaf(self, node: Any, field_name: str | None) -> SqlPredicate:
        if field_name == _EXISTS_FIELD:
            return self._exists_query(node)
        target = None if field_name is None else self._target(field_name, node)
        if isinstance(node, Regex):
            return self._regex(target, node)
        if isinstance(node, Range):
            bounds = (node.low, node.high, node.include_low, node.include_high)
            return self._range(target, *bounds, node)
        if isinstance(node, From):
            return self._range(target, node.a, None, node.include, True, node)
        if isinstance(node, To):
            return self._range(target, None, node.a, True, node.include, node)
        if isinstance(node, Word | Phrase):
            return self._term(target, node)
        raise self.error(f"unsupported query element {str(node).strip()!r}", node)

    def _target(self, name: str, node: Any) -> _Target:
        schema_field = FIELD_BY_NAME.get(name)
        if schema_field is not None:
            if schema_field.kind is Kind.JSON:
                raise self.error(
                    f"field {name!r} holds a source's other fields as JSON and cannot be "
                    "queried directly; query one of its keys by name (zeek.conn_state:SF)",
                    node,
                )
            return _Target(name, schema_field.kind, quote_ident(name))
        if not EXTRA_FIELD_NAME.fullmatch(name):
            raise self.error(
                f"invalid field name {name!r}: a field name may contain only letters, digits "
                "and _ @ . - (field wildcards are not supported)",
                node,
            )
        # Safe to inline: the name matched EXTRA_FIELD_NAME, so it holds no quote or backslash.
        # TRY_CAST makes a malformed `extra` a non-match instead of a failed query.
        path = f"'$.\"{name}\"'"
        sql = f"json_extract_string(TRY_CAST({quote_ident(_EXTRA_COLUMN)} AS JSON), {path})"
        return _Target(name, None, sql)

    def _exists_query(self, node: Any) -> SqlPredicate:
        if not isinstance(node, Word | Phrase):
            raise self.error("_exists_ takes a field name (_exists_:user.name)", node)
        return _exists(self._target(term_text(node), node))

    def _term(self, target: _Target | None, node: Any) -> SqlPredicate:
        value = term_value(node, escape=_like_escape, star="%", question="_")
        if value.match_all:
            return MATCH_ALL if target is None else _exists(target)
        if target is None:
            pattern = value.pattern if value.pattern is not None else _like_escape(value.text)
            return _any_of(
                [
                    _sql(f"{quote_ident(f)} ILIKE ? {_ESCAPE}", f"%{pattern}%")
                    for f in TEXT_SEARCH_FIELDS
                ]
            )
        if value.pattern is not None:
            return self._wildcard(target, value.pattern, node)
        return self._equals(target, value.text, node)

    def _equals(self, target: _Target, text: str, node: Any) -> SqlPredicate:
        col = target.sql
        match target.kind:
            case Kind.TEXT:
                return _sql(f"{col} ILIKE ? {_ESCAPE}", f"%{_like_escape(text)}%")
            case Kind.LONG:
                return _sql(f"{col} = ?", self.number(target.name, text, node))
            case Kind.IP:
                return self._ip_equals(target, text, node)
            case Kind.DATE:
                span = self.date(target.name, text, node)
                return _sql(f"({col} >= ? AND {col} < ?)", span.start, span.end)
            case Kind.KEYWORD_LIST:
                return _sql(f"list_contains({col}, ?)", text)
            case None:
                number = parse_number(text)
                if number is None:
                    return _sql(f"{col} = ?", text)
                # JSON numbers come back as written (5.0); compare the number as well.
                return _sql(f"({col} = ? OR TRY_CAST({col} AS DOUBLE) = ?)", text, float(number))
            case _:
                return _sql(f"{col} = ?", text)

    def _wildcard(self, target: _Target, like: str, node: Any) -> SqlPredicate:
        col = target.sql
        match target.kind:
            case Kind.TEXT:
                return _sql(f"{col} ILIKE ? {_ESCAPE}", f"%{like}%")
            case Kind.LONG:
                return _sql(f"CAST({col} AS VARCHAR) LIKE ? {_ESCAPE}", like)
            case Kind.DATE:
                raise self.error(
                    f"wildcards are not supported on date field {target.name!r}; use a range "
                    f"({target.name}:[2024-05-01 TO 2024-05-31])",
                    node,
                )
            case Kind.KEYWORD_LIST:
                return _any_element(col, f"tag LIKE ? {_ESCAPE}", like)
            case _:
                return _sql(f"{col} LIKE ? {_ESCAPE}", like)

    def _regex(self, target: _Target | None, node: Any) -> SqlPredicate:
        pattern = node.value[1:-1]
        problem = re2_problem(pattern)
        if problem is not None:
            raise self.error(f"invalid regular expression {node.value!r}: {problem}", node)
        if target is None:
            return _any_of(
                [
                    _sql(f"regexp_matches({quote_ident(f)}, ?, 'i')", pattern)
                    for f in TEXT_SEARCH_FIELDS
                ]
            )
        col = target.sql
        match target.kind:
            case Kind.TEXT:
                return _sql(f"regexp_matches({col}, ?, 'i')", pattern)
            case Kind.LONG:
                return _sql(f"regexp_full_match(CAST({col} AS VARCHAR), ?)", pattern)
            case Kind.DATE:
                raise self.error(
                    f"regular expressions are not supported on date field {target.name!r}", node
                )
            case Kind.KEYWORD_LIST:
                return _any_element(col, "regexp_full_match(tag, ?)", pattern)
            case _:
                return _sql(f"regexp_full_match({col}, ?)", pattern)

    # --- ranges ------------------------------------------------------------------------------

    def _range(
        self,
        target: _Target | None,
        low_node: Any,
        high_node: Any,
        include_low: bool,
        include_high: bool,
        node: Any,
    ) -> SqlPredicate:
        low, high = bound_text(low_node), bound_text(high_node)
        if target is None:
            raise self.error("a range needs a field (status:[400 TO 499])", node)
        if low is None and high is None:
            return _exists(target)
        col = target.sql
        match target.kind:
            case Kind.LONG:
                nums = [
                    None if b is None else self.number(target.name, b, node) for b in (low, high)
                ]
                return _compare(col, nums[0], nums[1], include_low, include_high)
            case Kind.DATE:
                spans = [
                    None if b is None else self.date(target.name, b, node) for b in (low, high)
                ]
                return _date_range(col, spans[0], spans[1], include_low, include_high)
            case Kind.IP:
                return self._ip_range(target, low, high, include_low, include_high, node)
            case Kind.KEYWORD_LIST:
                inner = _compare("tag", low, high, include_low, include_high)
                return _any_element(col, inner.sql, *inner.params)
            case None:
                return _extra_range(col, low, high, include_low, include_high)
            case _:
                return _compare(col, low, high, include_low, include_high)

    # --- addresses ---------------------------------------------------------------------------

    def _ip_equals(self, target: _Target, text: str, node: Any) -> SqlPredicate:
        if "/" in text:
            return _cidr(target.sql, self.network(target.name, text, node))
        return _sql(f"{target.sql} = ?", str(self.address(target.name, text, node)))

    def _ip_range(
        self,
        target: _Target,
        low: str | None,
        high: str | None,
        include_low: bool,
        include_high: bool,
        node: Any,
    ) -> SqlPredicate:
        bounds = [None if b is None else self.address(target.name, b, node) for b in (low, high)]
        if all(b is None or b.version == 4 for b in bounds):
            ints = [None if b is None else int(b) for b in bounds]
            col = f"{IPV4_TO_INT_MACRO}({target.sql})"
            return _compare(col, ints[0], ints[1], include_low, include_high)
        keys = [None if b is None else _ip_key(b) for b in bounds]
        col = f"{IP_KEY_FUNCTION}({target.sql})"
        return _compare(col, keys[0], keys[1], include_low, include_high)


# --------------------------------------------------------------------------------------------
# SQL building blocks
# --------------------------------------------------------------------------------------------


def _sql(sql: str, *params: object) -> SqlPredicate:
    return SqlPredicate(sql, params)


def _all_of(parts: Sequence[SqlPredicate]) -> SqlPredicate:
    parts = [p for p in parts if p != MATCH_ALL]
    if not parts:
        return MATCH_ALL
    if len(parts) == 1:
        return parts[0]
    return SqlPredicate(
        "(" + " AND ".join(p.sql for p in parts) + ")", tuple(v for p in parts for v in p.params)
    )


def _any_of(parts: Sequence[SqlPredicate]) -> SqlPredicate:
    if MATCH_ALL in parts:
        return MATCH_ALL
    if len(parts) == 1:
        return parts[0]
    return SqlPredicate(
        "(" + " OR ".join(p.sql for p in parts) + ")", tuple(v for p in parts for v in p.params)
    )


def _negate(part: SqlPredicate) -> SqlPredicate:
    if part == MATCH_ALL:
        return _MATCH_NONE
    # IS NOT TRUE, not NOT: an event without the field (NULL) is "not matching", as in ES.
    return SqlPredicate(f"(({part.sql}) IS NOT TRUE)", part.params)


def _exists(target: _Target) -> SqlPredicate:
    if target.kind is Kind.KEYWORD_LIST:
        return _sql(f"len({target.sql}) > 0")
    return _sql(f"{target.sql} IS NOT NULL")


def _any_element(col: str, condition_on_tag: str, *params: object) -> SqlPredicate:
    """True if some element ``tag`` of the list column satisfies the condition."""
    return SqlPredicate(f"len(list_filter({col}, lambda tag: {condition_on_tag})) > 0", params)


def _cidr(col: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> SqlPredicate:
    """Membership of an address column in a CIDR block.

    A cheap string test runs first so the exact (costlier) conversion only sees candidates:
    an IPv4 address in 10.1.0.0/16 starts with "10.1."; an IPv6 address contains ':'.
    """
    if network.version == 4:
        exact = _sql(
            f"{IPV4_TO_INT_MACRO}({col}) BETWEEN ? AND ?",
            int(network.network_address),
            int(network.broadcast_address),
        )
        whole_octets = str(network.network_address).split(".")[: network.prefixlen // 8]
        if not whole_octets:
            return exact
        return _all_of([_sql(f"starts_with({col}, ?)", ".".join(whole_octets) + "."), exact])
    exact = _sql(
        f"{IP_KEY_FUNCTION}({col}) BETWEEN ? AND ?",
        _ip_key(network.network_address),
        _ip_key(network.broadcast_address),
    )
    if network.overlaps(_IPV4_MAPPED):  # dotted quads are members too, as in Elasticsearch
        return exact
    return _all_of([_sql(f"contains({col}, ':')"), exact])


def _compare(
    col: str, low: object | None, high: object | None, include_low: bool, include_high: bool
) -> SqlPredicate:
    parts = []
    if low is not None:
        parts.append(_sql(f"{col} {'>=' if include_low else '>'} ?", low))
    if high is not None:
        parts.append(_sql(f"{col} {'<=' if include_high else '<'} ?", high))
    return _all_of(parts)


def _extra_range(
    col: str, low: str | None, high: str | None, include_low: bool, include_high: bool
) -> SqlPredicate:
    """A range on a key of ``extra``: numeric when every given bound is a number, else text."""
    numbers = [None if b is None else parse_number(b) for b in (low, high)]
    if any(n is None and b is not None for n, b in zip(numbers, (low, high), strict=True)):
        return _compare(col, low, high, include_low, include_high)
    floats = [None if n is None else float(n) for n in numbers]
    return _compare(f"TRY_CAST({col} AS DOUBLE)", floats[0], floats[1], include_low, include_high)


def _date_range(
    col: str, low: DateSpan | None, high: DateSpan | None, include_low: bool, include_high: bool
) -> SqlPredicate:
    """A range on a date column, rounding like Elasticsearch.

    A bound denotes a span (a day, a minute, ...): an inclusive lower bound starts at its
    beginning, an exclusive one after its end; an inclusive upper bound ends after its end, an
    exclusive one before its beginning.
    """
    parts = []
    if low is not None:
        parts.append(_sql(f"{col} >= ?", low.start if include_low else low.end))
    if high is not None:
        parts.append(_sql(f"{col} < ?", high.end if include_high else high.start))
    return _all_of(parts)


# --------------------------------------------------------------------------------------------
# Values: terms, numbers, dates, addresses, regular expressions (the public ones are shared
# with the cluster's translation, loglens.store.elastic_query, so both read values alike)
# --------------------------------------------------------------------------------------------

_ESCAPED_CHAR = re.compile(r"\\(.)", re.DOTALL)


def unescape(text: str) -> str:
    """Lucene escapes resolved: each backslash makes the next character literal."""
    return _ESCAPED_CHAR.sub(r"\1", text)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def term_text(node: Any) -> str:
    """The literal text of a Word or Phrase (quotes removed, escapes resolved)."""
    raw: str = node.value
    return unescape(raw[1:-1] if isinstance(node, Phrase) else raw)


def term_value(node: Any, *, escape: Callable[[str], str], star: str, question: str) -> TermValue:
    """A term's literal text and, if it has unescaped ``*``/``?``, its pattern in a backend's
    wildcard syntax: ``star`` and ``question`` stand for them, ``escape`` makes any other
    character literal (an escaped ``\\*`` is a literal star)."""
    if isinstance(node, Phrase):  # wildcards in a phrase are literal, as in Lucene
        return TermValue(term_text(node), None, match_all=False)
    raw: str = node.value
    literal: list[str] = []
    pattern: list[str] = []
    wild, only_stars, i = False, True, 0
    while i < len(raw):
        char = raw[i]
        if char == "\\" and i + 1 < len(raw):
            char, i = raw[i + 1], i + 2
            literal.append(char)
            pattern.append(escape(char))
            only_stars = False
            continue
        literal.append(char)
        if char in "*?":
            wild = True
            pattern.append(star if char == "*" else question)
        else:
            pattern.append(escape(char))
        only_stars = only_stars and char == "*"
        i += 1
    return TermValue("".join(literal), "".join(pattern) if wild else None, wild and only_stars)


def bound_text(node: Any) -> str | None:
    """A range bound's text, or None for an open bound (``*``)."""
    if node is None:
        return None
    if isinstance(node, Prohibit):  # [-5 TO 5]: luqum reads the minus as an operator
        return "-" + term_text(node.a)
    if isinstance(node, Word) and node.value == "*":
        return None
    return term_text(node)


_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def parse_number(text: str) -> int | float | None:
    """A decimal number (int when it fits a BIGINT), or None for anything else (nan, inf)."""
    if len(text) > 400 or not _NUMBER.fullmatch(text):
        return None
    try:
        value = int(text)
    except ValueError:
        as_float = float(text)
        if not math.isfinite(as_float):
            return None
        if as_float.is_integer() and _INT64_MIN <= as_float <= _INT64_MAX:
            return int(as_float)
        return as_float
    return value if _INT64_MIN <= value <= _INT64_MAX else float(value)


_ISO_DATETIME = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:[T ](?P<hour>\d{2})(?::(?P<minute>\d{2})(?::(?P<second>\d{2})"
    r"(?:[.,](?P<fraction>\d{1,9}))?)?)?"
    r"(?P<tz>Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?"
)
_EPOCH_MILLIS = re.compile(r"-?\d{5,}")
_DATE_MATH = re.compile(
    r"(?:(?P<now>now)|(?P<anchor>.+?)\|\|)(?P<ops>(?:[+-]\d+[yMwdhHms]|/[yMwdhHms])*)"
)
_DATE_MATH_OP = re.compile(r"([+-]\d+|/)([yMwdhHms])")
_MICROSECOND = timedelta(microseconds=1)


def date_span(text: str, now: datetime) -> DateSpan:
    """The span of instants a date value denotes.

    Raises:
        ValueError: The text is not a date, epoch millis or date math expression.
        OverflowError: Date math leaves the representable range.
    """
    math_match = _DATE_MATH.fullmatch(text)
    if math_match is not None:
        anchor = math_match.group("anchor")
        span = DateSpan(now, now + _MICROSECOND) if anchor is None else date_span(anchor, now)
        for amount, unit in _DATE_MATH_OP.findall(math_match.group("ops")):
            span = (
                _round_span(span, unit) if amount == "/" else _shift_span(span, int(amount), unit)
            )
        return span
    if _EPOCH_MILLIS.fullmatch(text):
        start = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(text))
        return DateSpan(start, start + timedelta(milliseconds=1))
    iso = _ISO_DATETIME.fullmatch(text)
    if iso is None:
        raise ValueError(
            f"{text!r} is not a date (2024-05-01, 2024-05-01T10:15:00Z, epoch millis, "
            "now-1d, now/d)"
        )
    return _iso_span(iso)


def _iso_span(match: re.Match[str]) -> DateSpan:
    """The span an ISO 8601 date or date-time covers, at the precision it was written."""
    parts = match.groupdict()
    fraction = parts["fraction"] or ""
    local = datetime(
        int(parts["year"]),
        int(parts["month"] or 1),
        int(parts["day"] or 1),
        int(parts["hour"] or 0),
        int(parts["minute"] or 0),
        int(parts["second"] or 0),
        int(fraction[:6].ljust(6, "0")) if fraction else 0,
        tzinfo=_parse_offset(parts["tz"]),
    )
    if fraction:
        end = local + timedelta(microseconds=10 ** max(0, 6 - len(fraction)))
    elif parts["second"]:
        end = local + timedelta(seconds=1)
    elif parts["minute"]:
        end = local + timedelta(minutes=1)
    elif parts["hour"]:
        end = local + timedelta(hours=1)
    elif parts["day"]:
        end = local + timedelta(days=1)
    else:
        end = _add_months(local, 1 if parts["month"] else 12)
    return DateSpan(local.astimezone(UTC), end.astimezone(UTC))


def _parse_offset(text: str | None) -> timezone:
    if not text or text == "Z":
        return UTC
    digits = text[1:].replace(":", "")
    delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
    return timezone(-delta if text[0] == "-" else delta)


def _shift_span(span: DateSpan, amount: int, unit: str) -> DateSpan:
    return DateSpan(_shift(span.start, amount, unit), _shift(span.end, amount, unit))


def _shift(instant: datetime, amount: int, unit: str) -> datetime:
    if unit in "yM":
        return _add_months(instant, amount * 12 if unit == "y" else amount)
    seconds = {"w": 604800, "d": 86400, "h": 3600, "H": 3600, "m": 60, "s": 1}[unit]
    return instant + timedelta(seconds=amount * seconds)


def _round_span(span: DateSpan, unit: str) -> DateSpan:
    """Widen a span to whole units: ``now/d`` is today, from midnight to midnight."""
    start = _floor(span.start, unit)
    end = _shift(_floor(span.end - _MICROSECOND, unit), 1, unit)
    return DateSpan(start, end)


def _floor(instant: datetime, unit: str) -> datetime:
    if unit == "s":
        return instant.replace(microsecond=0)
    if unit == "m":
        return instant.replace(second=0, microsecond=0)
    if unit in "hH":
        return instant.replace(minute=0, second=0, microsecond=0)
    day = instant.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "d":
        return day
    if unit == "w":
        return day - timedelta(days=day.weekday())
    if unit == "M":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def _add_months(instant: datetime, months: int) -> datetime:
    year, month0 = divmod(instant.year * 12 + instant.month - 1 + months, 12)
    if not 1 <= year <= 9999:
        raise OverflowError("date out of range")
    day = min(instant.day, calendar.monthrange(year, month0 + 1)[1])
    return instant.replace(year=year, month=month0 + 1, day=day)


_IPV4_MAPPED_BASE: Final = 0xFFFF << 32
_IPV4_MAPPED: Final = ipaddress.IPv6Network("::ffff:0:0/96")


def _ip_key(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """32 hex digits that sort in address order; IPv4 maps into ``::ffff:0:0/96``."""
    value = int(address) | _IPV4_MAPPED_BASE if address.version == 4 else int(address)
    return f"{value:032x}"


# Log addresses repeat across the chunks DuckDB hands the UDF; remember recent ones.
@functools.lru_cache(maxsize=1 << 16)
def _ip_key_or_none(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return _ip_key(ipaddress.ip_address(text))
    except ValueError:
        return None


_re2_lock = threading.Lock()
_re2_connection: duckdb.DuckDBPyConnection | None = None


@functools.lru_cache(maxsize=512)
def re2_problem(pattern: str) -> str | None:
    """Why RE2 rejects a pattern, or None if it compiles.

    Checked here, with DuckDB's own engine, so a bad pattern is a QueryError at translation
    time rather than a failure in the middle of a scan.
    """
    global _re2_connection
    with _re2_lock:
        if _re2_connection is None:
            _re2_connection = duckdb.connect(":memory:")
        try:
            _re2_connection.execute("SELECT regexp_full_match('', ?)", [pattern]).fetchall()
        except duckdb.Error as exc:
            return str(exc).removeprefix("Invalid Input Error: ")
    return None


# --------------------------------------------------------------------------------------------
# Functions the SQL calls
# --------------------------------------------------------------------------------------------

_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4_TO_INT_SQL: Final = f"""
CREATE OR REPLACE TEMP MACRO {IPV4_TO_INT_MACRO}(ip) AS (
    CASE WHEN regexp_full_match(ip, '({_OCTET}\\.){{3}}{_OCTET}') THEN
        CAST(split_part(ip, '.', 1) AS BIGINT) * 16777216
        + CAST(split_part(ip, '.', 2) AS BIGINT) * 65536
        + CAST(split_part(ip, '.', 3) AS BIGINT) * 256
        + CAST(split_part(ip, '.', 4) AS BIGINT)
    END
)
"""


def install_sql_functions(con: duckdb.DuckDBPyConnection) -> None:
    """Create the helper functions the SQL of :func:`to_duckdb_sql` may call.

    Idempotent. The macro is a TEMP object (nothing is written into a database file, and it
    works on read-only databases), so it exists per connection: call this on every connection
    or cursor that runs translated queries. The Arrow UDF is registered once per database.

    Args:
        con: The DuckDB connection (or cursor) that will execute the SQL.
    """
    # fetchall: DuckDB refuses new work on a connection whose last result is unread.
    con.execute(_IPV4_TO_INT_SQL).fetchall()
    if _has_function(con, IP_KEY_FUNCTION):
        return
    try:
        con.create_function(
            IP_KEY_FUNCTION,
            _ip_keys_arrow,
            [sqltypes.VARCHAR],
            sqltypes.VARCHAR,
            type=func.ARROW,
            null_handling=func.SPECIAL,
        )
    except duckdb.NotImplementedException:
        # Another connection to the same database registered it in between.
        if not _has_function(con, IP_KEY_FUNCTION):
            raise


def _has_function(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM duckdb_functions() WHERE function_name = ?", [name]
    ).fetchall()
    return bool(rows and rows[0][0] > 0)


def _ip_keys_arrow(values: Any) -> Any:
    """Vectorised :func:`_ip_key` over an Arrow string array, NULL for non-addresses.

    Addresses repeat a lot in logs, so the Python work is done once per distinct value.
    """
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    encoded = pc.dictionary_encode(array)
    keys = pa.array([_ip_key_or_none(v) for v in encoded.dictionary.to_pylist()], pa.string())
    return pc.take(keys, encoded.indices)
