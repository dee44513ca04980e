"""SQL fragments that turn the timestamp spellings of logs into UTC TIMESTAMPTZ.

All connections run with ``TimeZone='UTC'``, so a timestamp with an offset casts exactly, and one
without an offset is read in the configured zone (``ingest.timezone``).

Year-less timestamps (RFC 3164 syslog: ``Mar  5 06:25:01``) take the configured year if one is
set; otherwise the year of the reference time (the file's modification time, or now for stdin),
minus one when that would put the event more than a day after the reference time — a file
written in January holds December lines from the year before.
"""

from __future__ import annotations

from loglens.parse.base import ParseContext, sql_string

_OFFSET_AT_END = r"(?:[Zz]|[+-]\d\d(?::?\d\d)?)$"  # Z, +01:00, +0100, and DuckDB's bare +00


def iso_to_utc(expr: str, ctx: ParseContext) -> str:
    """ISO 8601 / RFC 3339 text (with or without offset) to TIMESTAMPTZ; NULL if unreadable."""
    if ctx.timezone == "UTC":
        return f"TRY_CAST({expr} AS TIMESTAMPTZ)"
    zone = sql_string(ctx.timezone)
    return (
        f"CASE WHEN regexp_matches({expr}, {sql_string(_OFFSET_AT_END)}) "
        f"THEN TRY_CAST({expr} AS TIMESTAMPTZ) "
        f"ELSE timezone({zone}, TRY_CAST({expr} AS TIMESTAMP)) END"
    )


def naive_to_utc(expr: str, ctx: ParseContext) -> str:
    """A TIMESTAMP (no zone) read in the configured zone, as TIMESTAMPTZ."""
    if ctx.timezone == "UTC":
        return f"CAST({expr} AS TIMESTAMPTZ)"
    return f"timezone({sql_string(ctx.timezone)}, {expr})"


def epoch_to_utc(expr: str) -> str:
    """Seconds since the epoch (``1692161622.036086``) to TIMESTAMPTZ, exact to the microsecond.

    Goes through the text rather than a DOUBLE, which would lose the last microsecond digit.
    """
    text = f"CAST({expr} AS VARCHAR)"
    whole = f"TRY_CAST(split_part({text}, '.', 1) AS BIGINT)"
    fraction = f"TRY_CAST(left(rpad(split_part({text}, '.', 2), 6, '0'), 6) AS BIGINT)"
    return f"CAST(make_timestamp({whole} * 1000000 + {fraction}) AS TIMESTAMPTZ)"


def yearless_to_utc(month_day_time: str, ctx: ParseContext) -> str:
    """``Mmm dd HH:MM:SS[.ffffff]`` without a year → TIMESTAMPTZ by the documented year rule."""
    text = f"regexp_replace({month_day_time}, '\\s+', ' ', 'g')"
    fmt = "'%b %d %H:%M:%S %Y'"
    fmt_frac = "'%b %d %H:%M:%S.%f %Y'"

    def with_year(year: str) -> str:
        stamp = f"({text} || ' ' || {year})"
        parsed = f"coalesce(try_strptime({stamp}, {fmt}), try_strptime({stamp}, {fmt_frac}))"
        return naive_to_utc(parsed, ctx)

    if ctx.year is not None:
        return with_year(str(ctx.year))
    ref_year = ctx.reference_time.year
    reference = sql_string(ctx.reference_time.isoformat())
    this_year = with_year(str(ref_year))
    return (
        f"CASE WHEN {this_year} > CAST({reference} AS TIMESTAMPTZ) + INTERVAL 1 DAY "
        f"THEN {with_year(str(ref_year - 1))} ELSE {this_year} END"
    )
