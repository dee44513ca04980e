"""DuckDB's side of ``Store.profiles``: several groups of events described in two queries.

A ``loglens search`` answer shows, for each of its templates, the most frequent values of a few
fields and the newest events. Asked group by group and field by field that is some fifty
queries, each scanning the events again; here one query counts every group and the top values
of every scalar field at once (grouping sets), and one more picks the newest events of each
group (a window). A field holding lists (tags) is unnested in a query of its own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb

from loglens.errors import QueryError
from loglens.schema import FIELD_BY_NAME, quote_ident
from loglens.store.base import GroupProfile, TermsBucket
from loglens.store.duckdb import _field_expr, _projection

_TS = quote_ident("@timestamp")
# The order of DuckDBStore.search, newest first.
_NEWEST_FIRST = "_ts DESC NULLS LAST, _path, _line"


def profiles(
    con: duckdb.DuckDBPyConnection,
    where: str,
    params: list[object],
    field: str,
    values: Sequence[str],
    terms_fields: Sequence[str],
    terms_size: int,
    examples: int,
    example_fields: Sequence[str] | None,
) -> dict[str, GroupProfile]:
    """Per value of ``field`` in ``values``, the events ``where`` selects: see Store.profiles."""
    wanted = list(dict.fromkeys(str(v) for v in values))
    if not wanted:
        return {}
    group, group_is_list = _field_expr(field)
    if group_is_list:
        raise QueryError(f"{field!r} holds lists; group by a single-valued field")
    known = FIELD_BY_NAME.get(field)
    if known is not None and known.sql_type != "VARCHAR":
        group = f"CAST({group} AS VARCHAR)"
    # An IN over a list the planner sees as a table: a semi-join, cheaper than list_contains.
    scope = f"({where}) AND {group} IN (SELECT unnest(CAST(? AS VARCHAR[])))"
    scope_params = [*params, wanted]
    exprs = [(name, *_field_expr(name)) for name in dict.fromkeys(terms_fields)]
    scalars = [(name, expr) for name, expr, is_list in exprs if not is_list]
    lists = [(name, expr) for name, expr, is_list in exprs if is_list]

    counts, terms = _counts_and_scalar_terms(
        con, group, scope, scope_params, scalars, int(terms_size)
    )
    for name, expr in lists:
        for key, buckets in _list_terms(con, group, scope, scope_params, expr, terms_size).items():
            terms.setdefault(key, {})[name] = buckets
    newest = _examples(con, group, scope, scope_params, example_fields, examples)
    order = [name for name, _, _ in exprs]
    return {
        key: GroupProfile(
            value=key,
            events=counts[key],
            terms={name: terms[key][name] for name in order if terms.get(key, {}).get(name)},
            examples=newest.get(key, []),
        )
        for key in wanted
        if key in counts
    }


def _counts_and_scalar_terms(
    con: duckdb.DuckDBPyConnection,
    group: str,
    scope: str,
    params: list[object],
    fields: Sequence[tuple[str, str]],
    size: int,
) -> tuple[dict[str, int], dict[str, dict[str, list[TermsBucket]]]]:
    """Each group's events and, per field, its top values, in one scan.

    The events are first counted per combination of group and values (log values repeat, so
    there are far fewer combinations than events); grouping sets then sum them per (group) for
    the count and per (group, field) for each field. ``s`` says which set a row comes from (-1:
    the count), and a field's own missing values are dropped.
    """
    columns = "".join(f", {expr} AS _f{i}" for i, (_, expr) in enumerate(fields))
    values = "".join(f", _f{i}" for i in range(len(fields)))
    sets = ", ".join(["(_g)"] + [f"(_g, _f{i})" for i in range(len(fields))])
    which = " ".join(f"WHEN grouping(_f{i}) = 0 THEN {i}" for i in range(len(fields)))
    which_set = f"CASE {which} ELSE -1 END" if fields else "-1"
    present = " AND ".join(f"(s <> {i} OR _f{i} IS NOT NULL)" for i in range(len(fields)))
    sql = f"""
        WITH combos AS (SELECT {group} AS _g{columns}, count(*) AS c
                        FROM events WHERE {scope} GROUP BY ALL),
        grouped AS (SELECT _g{values}, {which_set} AS s, CAST(sum(c) AS BIGINT) AS n
                    FROM combos GROUP BY GROUPING SETS ({sets}))
        SELECT _g, s, n{values} FROM grouped
        WHERE {present or "true"}
        QUALIFY s = -1 OR row_number() OVER (PARTITION BY _g, s ORDER BY n DESC{values}) <= {size}
        ORDER BY _g, s, n DESC{values}"""
    counts: dict[str, int] = {}
    terms: dict[str, dict[str, list[TermsBucket]]] = {}
    for row in _fetchall(con, sql, params):
        key, which_field, n = str(row[0]), int(row[1]), int(row[2])
        if which_field < 0:
            counts[key] = n
        else:
            name = fields[which_field][0]
            terms.setdefault(key, {}).setdefault(name, []).append(
                TermsBucket(row[3 + which_field], n)
            )
    return counts, terms


def _list_terms(
    con: duckdb.DuckDBPyConnection,
    group: str,
    scope: str,
    params: list[object],
    expr: str,
    size: int,
) -> dict[str, list[TermsBucket]]:
    sql = f"""
        WITH vals AS (SELECT {group} AS _g, unnest({expr}) AS v
                      FROM events WHERE {scope})
        SELECT _g, v, count(*) AS n FROM vals WHERE v IS NOT NULL GROUP BY _g, v
        QUALIFY row_number() OVER (PARTITION BY _g ORDER BY n DESC, v) <= {int(size)}
        ORDER BY _g, n DESC, v"""
    found: dict[str, list[TermsBucket]] = {}
    for key, value, n in _fetchall(con, sql, params):
        found.setdefault(str(key), []).append(TermsBucket(value, int(n)))
    return found


def _examples(
    con: duckdb.DuckDBPyConnection,
    group: str,
    scope: str,
    params: list[object],
    fields: Sequence[str] | None,
    size: int,
) -> dict[str, list[dict[str, Any]]]:
    if size <= 0:
        return {}
    # Sorting every event of a group to keep its newest few is the slow way; instead the n-th
    # newest instant of each group is found first (a top-n aggregate), and only the events from
    # it on are sorted. A group with fewer than n dated events keeps all its events.
    projection = "events.*" if not fields else _projection(fields)
    sql = f"""
        WITH floors AS (
            SELECT {group} AS _g,
                   CASE WHEN count({_TS}) >= {int(size)} THEN list_min(max({_TS}, {int(size)}))
                   END AS _floor
            FROM events WHERE {scope} GROUP BY 1)
        SELECT * EXCLUDE (_ts, _path, _line) FROM (
            SELECT floors._g, {_TS} AS _ts, "log.file.path" AS _path, "log.file.line" AS _line,
                   {projection}
            FROM events JOIN floors ON {group} = floors._g
            WHERE {scope} AND (floors._floor IS NULL OR {_TS} >= floors._floor))
        QUALIFY row_number() OVER (PARTITION BY _g ORDER BY {_NEWEST_FIRST}) <= {int(size)}
        ORDER BY _g, {_NEWEST_FIRST}"""
    try:
        table = con.sql(sql, params=[*params, *params]).to_arrow_table()
    except duckdb.Error as exc:
        raise QueryError(f"the store could not run the query: {exc}") from exc
    found: dict[str, list[dict[str, Any]]] = {}
    keys = table.column("_g").to_pylist()
    for key, row in zip(keys, table.drop_columns(["_g"]).to_pylist(), strict=True):
        found.setdefault(str(key), []).append(row)
    return found


def _fetchall(con: duckdb.DuckDBPyConnection, sql: str, params: list[object]) -> list[Any]:
    try:
        return con.execute(sql, params).fetchall()
    except duckdb.Error as exc:
        raise QueryError(f"the store could not run the query: {exc}") from exc
