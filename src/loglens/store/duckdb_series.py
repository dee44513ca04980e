"""``SeriesSpec`` → ``SeriesFrame`` in DuckDB: every per-event step runs in SQL.

Three queries, each one pass over ``events``:

1. the frame's range, when the spec leaves a bound open (first/last matching event);
2. the cells: matching events grouped by the spec's fields and by bucket, the groups ranked by
   event count (the largest ``max_groups`` kept), each group's sources (its ``event.dataset``
   values) alongside;
3. source activity: which datasets sent anything in which bucket, whatever the query filter, and
   when each dataset sent its first event.

Buckets are integer offsets from the frame's start, computed from epoch microseconds, so they
are aligned to UTC multiples of the interval whatever the session's time zone. Events without a
``@timestamp`` belong to no bucket and are left out. Python only
scatters the aggregated rows into ``groups × buckets`` arrays and applies the silence rules of
:mod:`loglens.series` (:mod:`loglens.store.series_rules`, shared with the cluster).
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from loglens.errors import ConfigError, QueryError
from loglens.query import EXTRA_FIELD_NAME, to_duckdb_sql
from loglens.schema import FIELD_BY_NAME, Kind, quote_ident
from loglens.series import Series, SeriesFrame, SeriesSpec
from loglens.store.series_rules import (
    BucketGrid,
    bucket_grid,
    check_frame_size,
    interval_us,
    mark_silence,
    rates,
)

__all__ = ["series_frame"]

_TS = quote_ident("@timestamp")
_DATASET = quote_ident("event.dataset")


def _bucket_sql(grid: BucketGrid) -> str:
    # The WHERE clause keeps instants >= start, so the offset is never negative and
    # DuckDB's truncating integer division is a floor.
    return f"(epoch_us({_TS}) - {grid.start_us}) // {grid.step_us}"


def series_frame(con: duckdb.DuckDBPyConnection, spec: SeriesSpec) -> SeriesFrame:
    """Compute the frame of ``spec`` over the ``events`` table of ``con``.

    Args:
        con: A DuckDB connection holding the canonical ``events`` table.
        spec: What to count, grouped how, bucketed how; see :class:`loglens.series.SeriesSpec`.

    Returns:
        One ``Series`` per kept group (largest first) on a shared UTC-aligned bucket grid, with
        silent and inactive buckets marked.

    Raises:
        ConfigError: an invalid interval, range or ``max_groups``, or a grid too large.
        QueryError: an invalid query filter or rate query, or a field that cannot be grouped,
            summed or counted; or the store failed to run the SQL.
    """
    step_us = interval_us(spec)
    if spec.max_groups < 1:
        raise ConfigError("max_groups must be at least 1", location="max_groups")
    keys = [_group_expr(name) for name in spec.group_by]
    # The store's connection has loglens' SQL functions (DuckDBStore installs them once).
    where = to_duckdb_sql(spec.query or "*")
    grid = _grid(con, spec, step_us, where.sql, list(where.params))
    if grid is None or grid.count == 0:
        empty = np.empty(0, dtype="datetime64[us]")
        return SeriesFrame(spec, grid.starts() if grid else empty, [])
    check_frame_size(grid.count, 1)
    rows = _cells(con, spec, grid, keys, where.sql, list(where.params))
    return _assemble(con, spec, grid, rows)


# --- validation and SQL fragments -------------------------------------------------------------


def _field_sql(name: str, purpose: str) -> tuple[str, Kind | None]:
    """SQL for a field's value and its kind (None for a key of ``extra``)."""
    known = FIELD_BY_NAME.get(name)
    if known is not None:
        if known.kind in (Kind.JSON, Kind.KEYWORD_LIST):
            raise QueryError(f"cannot {purpose} {name!r}: it holds a list or an object")
        return quote_ident(name), known.kind
    if not EXTRA_FIELD_NAME.fullmatch(name or ""):
        raise QueryError(f"{name!r} is not a valid field name")
    return f'json_extract_string("extra", \'$."{name}"\')', None


def _group_expr(name: str) -> str:
    sql, kind = _field_sql(name, "group by")
    # Keys come back as text whatever the column type, as Series.key promises.
    return sql if kind in (None, Kind.KEYWORD, Kind.IP, Kind.TEXT) else f"CAST({sql} AS VARCHAR)"


def _metric_sql(spec: SeriesSpec) -> tuple[str, str, list[object]]:
    """Per-event input column, per-cell aggregate over it, and the input's parameters."""
    metric = spec.metric
    if metric.kind == "count":
        return "NULL AS x", "CAST(count(*) AS DOUBLE)", []
    if metric.kind == "rate":
        predicate = to_duckdb_sql(metric.query or "*")
        return (
            f"coalesce(({predicate.sql}), false) AS x",
            "CAST(count(*) FILTER (WHERE x) AS DOUBLE)",
            list(predicate.params),
        )
    name = metric.field or ""
    sql, kind = _field_sql(name, metric.kind)
    if metric.kind == "sum":
        if kind is None:
            sql = f"TRY_CAST({sql} AS DOUBLE)"
        elif kind is not Kind.LONG:
            raise QueryError(f"cannot sum {name!r}: it is not a numeric field")
        # sum() of BIGINT is a 128-bit integer; the frame holds float64 anyway.
        return f"{sql} AS x", "CAST(coalesce(sum(x), 0) AS DOUBLE)", []
    return f"{sql} AS x", "CAST(count(DISTINCT x) AS DOUBLE)", []


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: list[object]) -> pa.Table:
    try:
        return con.sql(sql, params=params).to_arrow_table()
    except duckdb.Error as exc:
        raise QueryError(f"the store could not compute the series: {exc}") from exc


# --- the grid -------------------------------------------------------------------------------


def _grid(
    con: duckdb.DuckDBPyConnection,
    spec: SeriesSpec,
    step_us: int,
    where_sql: str,
    where_params: list[object],
) -> BucketGrid | None:
    """The bucket grid, with the first and last matching events for the bounds left open."""

    def first_and_last() -> tuple[int, int] | None:
        clauses, params = [f"({where_sql})"], list(where_params)
        if spec.start is not None:
            clauses.append(f"{_TS} >= ?")
            params.append(spec.start)
        if spec.end is not None:
            clauses.append(f"{_TS} < ?")
            params.append(spec.end)
        found = _run(
            con,
            f"SELECT epoch_us(min({_TS})) AS lo, epoch_us(max({_TS})) AS hi FROM events "
            f"WHERE {' AND '.join(clauses)}",
            params,
        ).to_pylist()[0]
        return None if found["lo"] is None else (int(found["lo"]), int(found["hi"]))

    return bucket_grid(spec, step_us, first_and_last)


# --- the cells --------------------------------------------------------------------------------


def _cells(
    con: duckdb.DuckDBPyConnection,
    spec: SeriesSpec,
    grid: BucketGrid,
    keys: list[str],
    where_sql: str,
    where_params: list[object],
) -> pa.Table:
    """One row per (kept group, bucket with matching events), ordered by group rank.

    Columns: ``g`` (0-based rank), ``groups`` (how many groups there are in all), the keys
    ``k0..``, ``sources`` (the group's non-NULL datasets), ``null_source`` (some of its events
    have no dataset), ``b`` (bucket offset), ``n`` (events) and ``v`` (the metric's aggregate).
    """
    x_sql, agg_sql, x_params = _metric_sql(spec)
    names = [f"k{i}" for i in range(len(keys))]
    key_select = "".join(f"{expr} AS {name}, " for expr, name in zip(keys, names, strict=True))
    key_list = "".join(f"{name}, " for name in names)
    order = "".join(f", {name} NULLS LAST" for name in names)
    join = " AND ".join(f"c.{n} IS NOT DISTINCT FROM g.{n}" for n in names) or "TRUE"
    group_keys = f"GROUP BY {', '.join(names)}" if names else ""
    sql = f"""
        WITH base AS (
            SELECT {key_select}{_DATASET} AS ds, {_bucket_sql(grid)} AS b, {x_sql}
            FROM events
            WHERE {_TS} >= ? AND {_TS} < ?
              AND ({where_sql})
        ),
        ranked AS (
            SELECT {key_list}
                   list(DISTINCT ds) FILTER (WHERE ds IS NOT NULL) AS sources,
                   bool_or(ds IS NULL) AS null_source,
                   row_number() OVER (ORDER BY count(*) DESC{order}) AS g,
                   count(*) OVER () AS groups
            FROM base {group_keys}
        ),
        cells AS (
            SELECT {key_list}b, count(*) AS n, {agg_sql} AS v FROM base GROUP BY {key_list}b
        )
        SELECT g.g - 1 AS g, g.groups, {"".join(f"g.{n}, " for n in names)}
               g.sources, g.null_source, c.b, c.n, c.v
        FROM cells c JOIN ranked g ON {join}
        WHERE g.g <= {int(spec.max_groups)}
        ORDER BY g.g, c.b"""
    params = [*x_params, grid.start, grid.end, *where_params]
    return _run(con, sql, params)


# --- activity and assembly --------------------------------------------------------------------


def _activity(
    con: duckdb.DuckDBPyConnection, grid: BucketGrid
) -> tuple[dict[str | None, int], NDArray[np.bool_], NDArray[np.int64]]:
    """Every dataset's index, its buckets with any event, and its first event's bucket."""
    sending = _run(
        con,
        f"""SELECT {_DATASET} AS ds, {_bucket_sql(grid)} AS b FROM events
            WHERE {_TS} >= ? AND {_TS} < ?
            GROUP BY ALL""",
        [grid.start, grid.end],
    )
    firsts = _run(
        con,
        f"SELECT {_DATASET} AS ds, epoch_us(min({_TS})) AS first FROM events "
        f"WHERE {_TS} IS NOT NULL GROUP BY ALL",
        [],
    )
    datasets: dict[str | None, int] = {}
    for name in firsts.column("ds").to_pylist():
        datasets.setdefault(name, len(datasets))
    first_us = np.asarray(firsts.column("first").to_numpy(zero_copy_only=False), dtype=np.int64)
    # Floor division in numpy, so a first event before the frame gives a negative bucket.
    first_bucket = (first_us - grid.start_us) // grid.step_us
    has = np.zeros((len(datasets), grid.count), dtype=bool)
    if sending.num_rows:
        rows = np.fromiter((datasets[d] for d in sending.column("ds").to_pylist()), np.int64)
        has[rows, _ints(sending.column("b"))] = True
    return datasets, has, first_bucket


def _ints(column: pa.ChunkedArray) -> NDArray[np.int64]:
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.int64)


def _assemble(
    con: duckdb.DuckDBPyConnection, spec: SeriesSpec, grid: BucketGrid, rows: pa.Table
) -> SeriesFrame:
    buckets = grid.starts()
    if rows.num_rows == 0:
        return SeriesFrame(spec, buckets, [])
    g = _ints(rows.column("g"))
    b = _ints(rows.column("b"))
    kept = int(g.max()) + 1
    check_frame_size(grid.count, kept)
    counts = np.zeros((kept, grid.count))
    values = np.zeros((kept, grid.count))
    counts[g, b] = rows.column("n").to_numpy(zero_copy_only=False)
    values[g, b] = rows.column("v").to_numpy(zero_copy_only=False)
    if spec.metric.kind == "rate":
        values = rates(counts, values)

    # Group-level columns repeat on every cell row; read them once per group.
    _, firsts = np.unique(g, return_index=True)
    head = rows.take(pa.array(firsts)).to_pylist()
    datasets, has, first_bucket = _activity(con, grid)
    membership = np.zeros((kept, len(datasets)), dtype=bool)
    sources: list[tuple[str, ...]] = []
    for i, row in enumerate(head):
        names: list[str] = sorted(row["sources"] or [])
        members: list[str | None] = [*names, *([None] if row["null_source"] else [])]
        membership[i, [datasets[d] for d in members]] = True
        sources.append(tuple(names))
    silent, active = mark_silence(values, membership, has, first_bucket)

    key_names = [f"k{i}" for i in range(len(spec.group_by))]
    series = [
        Series(
            key=tuple(_key(row[name]) for name in key_names),
            buckets=buckets,
            values=values[i],
            silent=silent[i],
            active=active[i],
            sources=sources[i],
        )
        for i, row in enumerate(head)
    ]
    left_out = int(head[0]["groups"]) - kept
    return SeriesFrame(spec, buckets, series, groups_left_out=left_out)


def _key(value: Any) -> str | None:
    return None if value is None else str(value)
