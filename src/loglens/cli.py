"""The ``loglens`` command line: a thin layer over the library.

This is the only module that turns errors into messages and exit codes: 0 success, 1 finished
but something needs attention (an input failed, the accounting did not balance), 2 bad usage or
input (the message says what and where), 130 interrupted.
"""

from __future__ import annotations

import dataclasses
import shlex
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO, TypeVar

import click

from loglens import __version__
from loglens.config import Config, load_config
from loglens.errors import LoglensError
from loglens.output import (
    describe_ingest,
    format_count,
    safe_terminal_text,
    write_csv,
    write_jsonl,
    write_table,
)
from loglens.store.base import IngestRecord, Query, RangeFilter

EXIT_ATTENTION = 1
EXIT_ERROR = 2


class _State:
    def __init__(self, config_path: str | None, store: str | None, debug: bool) -> None:
        self.config_path = config_path
        self.store = store
        self.debug = debug

    def config(self, **overrides: object) -> Config:
        flags = {"store.url": self.store, **overrides}
        return load_config(self.config_path, overrides=flags)


pass_state = click.make_pass_decorator(_State)

_F = TypeVar("_F", bound=Callable[..., Any])
_DETECTORS = ["baseline", "spectral", "wavelet", "new_category", "templates"]


def _output_option(
    *formats: str, name: str = "--format", help_text: str | None = None
) -> Callable[[_F], _F]:
    """The ``-o`` option of every command that prints results: one of ``formats``, ``table``
    by default (``--output`` for query and series, ``--format`` elsewhere)."""
    return click.option(
        name,
        "-o",
        "output",
        type=click.Choice(list(formats)),
        default="table",
        show_default=True,
        help=help_text,
    )


_method_option = click.option(
    "--method",
    "methods",
    multiple=True,
    type=click.Choice(_DETECTORS),
    help="Detector to run (repeatable; default: all).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="loglens")
@click.option("--config", "config_path", metavar="FILE", help="Config file (TOML, YAML or JSON).")
@click.option(
    "--store",
    metavar="URL",
    help="Where events live: duckdb:PATH (default duckdb:.loglens/loglens.duckdb).",
)
@click.option("--debug", is_flag=True, help="Show tracebacks for unexpected errors.")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, store: str | None, debug: bool) -> None:
    """loglens: network and security log analysis for the Elasticsearch world."""
    ctx.obj = _State(config_path, store, debug)


# --- ingest ------------------------------------------------------------------------------------


@cli.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", metavar="NAME", help="Force a format (see `loglens formats`).")
@click.option(
    "--map",
    "mappings",
    multiple=True,
    metavar="COLUMN=FIELD",
    help="Map a table column or JSON key to an ECS field (repeatable).",
)
@click.option("--year", type=int, help="Year for year-less timestamps (default: from file time).")
@click.option("--timezone", help="Zone of timestamps without an offset (default UTC).")
@click.option("--source-key", help="Mixed into event ids (tell apart identical sources).")
@click.option(
    "--host",
    metavar="NAME",
    help="The machine the inputs came from: host.name where a record names none.",
)
@click.option(
    "--host-from-path",
    metavar="REGEX",
    help="Take host.name from each input's path: a regex with a group (?P<host>...), "
    "e.g. 'remote/(?P<host>[^/]+)/'; wins over --host.",
)
@click.option(
    "--keep-original",
    type=click.Choice(["auto", "all", "failures"]),
    help="Store the raw record as event.original: auto (failures and formats a parser cannot "
    "capture fully), all, or failures only.",
)
@click.option(
    "--pseudonymize/--no-pseudonymize",
    default=None,
    help="Keyed pseudonyms for IPs and names (key from LOGLENS_PSEUDONYM_KEY).",
)
@click.option("--since", metavar="DATE|DATETIME", help="es:// sources: from here (inclusive).")
@click.option(
    "--until",
    metavar="DATE|DATETIME",
    help="es:// sources: up to here (exclusive; a bare date: through that day).",
)
@click.option(
    "--fields",
    "source_fields",
    metavar="A,B,...",
    help="es:// sources: fetch only these _source fields (the time field is always fetched).",
)
@click.option(
    "--time-field",
    default="@timestamp",
    show_default=True,
    metavar="FIELD",
    help="es:// sources: the field ranges, slices and the watermark follow.",
)
@click.option(
    "--page-size",
    type=click.IntRange(1, 10_000),
    default=1000,
    show_default=True,
    help="es:// sources: hits per request.",
)
@click.option(
    "--slice",
    "slice_length",
    default="1h",
    show_default=True,
    metavar="DURATION",
    help="es:// sources: time slices read one after the other (e.g. 15m, 6h, 1d).",
)
@click.option(
    "--incremental/--full",
    default=True,
    help="es:// sources: start after the saved watermark and save the new one (default), "
    "or read the whole range and leave the watermark alone.",
)
@click.option("--quiet", "-q", is_flag=True, help="Print only the totals.")
@pass_state
def ingest(
    state: _State,
    paths: tuple[str, ...],
    fmt: str | None,
    mappings: tuple[str, ...],
    year: int | None,
    timezone: str | None,
    source_key: str | None,
    host: str | None,
    host_from_path: str | None,
    keep_original: str | None,
    pseudonymize: bool | None,
    since: str | None,
    until: str | None,
    source_fields: str | None,
    time_field: str,
    page_size: int,
    slice_length: str,
    incremental: bool,
    quiet: bool,
) -> None:
    """Read logs from PATHS (files, directories, globs, or - for stdin) into the store.

    PATHS may also name an index pattern of Elasticsearch/OpenSearch: es://PATTERN (hosts from
    cluster.hosts) or es://HOST:PORT/PATTERN. A daily run takes only what arrived since the
    last one (the watermark is kept in the store).

    Prints, per input (per index), how every record was accounted for:
    read = parsed + stored raw (parse failures) + duplicates + blank + headers.
    """
    from loglens.pipeline import Pipeline
    from loglens.sources.elastic import ClusterPull, parse_duration

    config = state.config(
        **{
            "ingest.year": year,
            "ingest.timezone": timezone,
            "ingest.source_key": source_key,
            "ingest.host": host,
            "ingest.host_from_path": host_from_path,
            "ingest.keep_original": keep_original,
            "pseudonymize.enabled": pseudonymize,
        }
    )
    column_map = _parse_mappings(mappings)
    pull = ClusterPull(
        since=_series_instant(since, "--since", end=False),
        until=_series_instant(until, "--until", end=True),
        fields=_field_list(source_fields),
        time_field=time_field,
        page_size=page_size,
        slice_length=parse_duration(slice_length),
        incremental=incremental,
    )
    out = sys.stdout
    started = time.perf_counter()
    with Pipeline(config) as pipeline:
        if not quiet:
            out.write(f"store: {config.store.url}\n")
        report = pipeline.ingest(
            paths,
            fmt=fmt,
            column_map=column_map,
            on_input=None if quiet else lambda r: _print_input(r, out),
            cluster=pull,
        )
    elapsed = time.perf_counter() - started
    for skipped in report.skipped:
        out.write(f"skipped  {skipped.display}: {skipped.reason}\n")
    if not quiet:
        for summary in report.pulls:
            out.write(safe_terminal_text(summary.describe()) + "\n")
    for display in report.hostless:
        shown = safe_terminal_text(display)
        out.write(f"no host  {shown}: ingest.host_from_path does not match its path\n")
    _print_totals(report.inputs, elapsed, out)
    if not report.balanced:
        click.echo("error: the accounting does not balance for some inputs (see above)", err=True)
        sys.exit(EXIT_ATTENTION)


def _field_list(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise click.BadParameter("name at least one field", param_hint="--fields")
    return names


def _parse_mappings(mappings: Sequence[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for item in mappings:
        column, sep, target = item.partition("=")
        if not sep or not column.strip() or not target.strip():
            raise click.BadParameter(f"{item!r} is not COLUMN=FIELD", param_hint="--map")
        result[column.strip()] = target.strip()
    return result


def _print_input(record: IngestRecord, out: TextIO) -> None:
    out.write(describe_ingest(record) + "\n")
    for note in record.notes:
        out.write(f"  {safe_terminal_text(note)}\n")


def _print_totals(records: Sequence[IngestRecord], elapsed: float, out: TextIO) -> None:
    total = sum(r.records for r in records)
    parsed = sum(r.parsed for r in records)
    rate = total / elapsed if elapsed > 0 else 0.0
    refused = sum(r.rejected for r in records)  # only a cluster refuses documents
    rejected = f", rejected {format_count(refused)}" if refused else ""
    out.write(
        f"total: {len(records)} input(s), read {format_count(total)}, "
        f"parsed {format_count(parsed)}, raw {format_count(sum(r.failed for r in records))}, "
        f"duplicates {format_count(sum(r.duplicates for r in records))}, "
        f"blank {format_count(sum(r.blank for r in records))}, "
        f"headers {format_count(sum(r.headers for r in records))}{rejected} "
        f"in {elapsed:.1f}s ({format_count(int(rate))} records/s)\n"
    )


# --- query -------------------------------------------------------------------------------------

_DEFAULT_COLUMNS = ("@timestamp", "event.dataset", "source.ip", "message")


@cli.command()
@click.argument("lucene", required=False, default="*")
@click.option(
    "--dataset", "-i", "dataset", metavar="PATTERN", help="Only these datasets (wildcards)."
)
@click.option("--count", "-c", "count_only", is_flag=True, help="Print only the number of matches.")
@click.option("--terms", "-t", "terms_field", metavar="FIELD", help="Top values of FIELD.")
@click.option("--fields", "-f", metavar="A,B,...", help="Fields to show.")
@click.option("--size", "-s", type=click.IntRange(0, None), default=10, show_default=True)
@click.option(
    "--range", "range_field", metavar="FIELD", help="Range filter on FIELD (--gte/--lte)."
)
@click.option("--gte", metavar="VALUE", help="Lower bound of --range (inclusive).")
@click.option("--lte", metavar="VALUE", help="Upper bound of --range (inclusive).")
@click.option("--sort", default="@timestamp", show_default=True, metavar="FIELD")
@click.option("--desc", is_flag=True, help="Sort descending (newest first).")
@click.option("--and", "default_and", is_flag=True, help="Join bare terms with AND (Lucene: OR).")
@_output_option(
    "table", "json", "csv", name="--output", help_text="json: one ECS document per line."
)
@click.option("--list", "list_datasets", is_flag=True, help="List datasets with counts.")
@pass_state
def query(
    state: _State,
    lucene: str,
    dataset: str | None,
    count_only: bool,
    terms_field: str | None,
    fields: str | None,
    size: int,
    range_field: str | None,
    gte: str | None,
    lte: str | None,
    sort: str,
    desc: bool,
    default_and: bool,
    output: str,
    list_datasets: bool,
) -> None:
    """Search the store with Lucene query syntax (what Kibana and query_string accept).

    \b
    Examples:
      loglens query 'http.response.status_code:404 AND url.path:*wp-login*' --count
      loglens query --terms source.ip --size 5
      loglens query 'event.action:ssh_login AND event.outcome:failure' -f @timestamp,source.ip
      loglens query '*' --range http.response.body.bytes --gte 100000 -o csv
    """
    from loglens.store import open_store

    config = state.config()
    text = lucene.strip() or "*"
    if dataset:
        text = f"({text}) AND event.dataset:{_lucene_term(dataset)}"
    ranges: list[RangeFilter] = []
    if range_field:
        if gte is None and lte is None:
            raise click.UsageError("--range needs --gte and/or --lte")
        ranges.append(RangeFilter(range_field, gte, lte))
    elif gte is not None or lte is not None:
        raise click.UsageError("--gte/--lte need --range FIELD")
    chosen = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
    request = Query(
        text=text,
        ranges=ranges,
        fields=chosen,
        size=size,
        sort=sort,
        descending=desc,
        default_operator="AND" if default_and else "OR",
    )
    out = sys.stdout
    with open_store(config.store.url, config=config) as store:
        if list_datasets:
            indices = getattr(store, "indices", None)  # a cluster: its indices first
            if indices is not None:
                _print_indices(indices(), output, out)
            _print_datasets(store.datasets(), output, out)
        elif count_only:
            out.write(f"{store.count(request)}\n")
        elif terms_field:
            result = store.terms(terms_field, request, size=size or 10)
            rows = [{terms_field: b.value, "count": b.count} for b in result.buckets]
            _emit(rows, [terms_field, "count"], output, out, right=["count"], nested=False)
            if output == "table":
                out.write(
                    f"(other values: {result.other:,}; without the field: {result.missing:,})\n"
                )
        else:
            table = store.search(request)
            rows = table.to_pylist()
            columns = chosen or _visible_columns(table.column_names, rows)
            _emit(rows, columns, output, out, nested=chosen is None)


def _lucene_term(value: str) -> str:
    special = '+-&|!(){}[]^"~:\\/ '
    return "".join("\\" + c if c in special else c for c in value)


def _visible_columns(names: Sequence[str], rows: Sequence[dict[str, Any]]) -> list[str]:
    columns = [c for c in _DEFAULT_COLUMNS if c in names]
    if rows and all(r.get("message") is None for r in rows) and "event.original" in names:
        columns = [c for c in columns if c != "message"] + ["event.original"]
    return columns


def _emit(
    rows: list[dict[str, Any]],
    columns: Sequence[str],
    output: str,
    out: TextIO,
    *,
    right: Sequence[str] = (),
    nested: bool = True,
) -> None:
    if output == "json":
        write_jsonl(rows, out, nested=nested)
    elif output == "csv":
        write_csv(rows, columns, out)
    else:
        write_table(rows, columns, out, right_align=right)


def _print_indices(infos: Sequence[Any], output: str, out: TextIO) -> None:
    rows = [
        {"index": i.name, "health": i.health, "status": i.status, "docs": i.docs,
         "size": i.size_bytes}
        for i in infos
    ]  # fmt: skip
    _emit(rows, ["index", "health", "status", "docs", "size"], output, out,
          right=["docs", "size"], nested=False)  # fmt: skip


def _print_datasets(infos: Sequence[Any], output: str, out: TextIO) -> None:
    rows = [
        {
            "event.dataset": i.dataset,
            "event.module": i.module,
            "events": i.events,
            "parse failures": i.failures,
            "first": i.first,
            "last": i.last,
        }
        for i in infos
    ]
    columns = ["event.dataset", "event.module", "events", "parse failures", "first", "last"]
    _emit(rows, columns, output, out, right=["events", "parse failures"], nested=False)


@cli.command()
@pass_state
def datasets(state: _State) -> None:
    """List the datasets in the store with event counts and time ranges."""
    from loglens.store import open_store

    config = state.config()
    with open_store(config.store.url, config=config) as store:
        _print_datasets(store.datasets(), "table", sys.stdout)


@cli.command()
def formats() -> None:
    """List the log formats loglens reads (names for --format)."""
    from loglens.parse.registry import all_parsers

    rows = [{"format": p.name, "reads": p.description} for p in all_parsers()]
    rows += [
        {"format": "csv", "reads": "CSV/TSV table (columns mapped to ECS, see --map)"},
        {"format": "parquet", "reads": "Parquet table"},
        {"format": "xlsx", "reads": "Excel workbook (every sheet)"},
    ]
    write_table(rows, ["format", "reads"], sys.stdout, max_width=100)


# --- series ------------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--by",
    "group_by",
    multiple=True,
    metavar="FIELD",
    help="Group by FIELD (repeatable; default event.dataset).",
)
@click.option(
    "--interval", default="15m", show_default=True, metavar="15m|1h|1d", help="Bucket width."
)
@click.option(
    "--metric",
    default="count",
    show_default=True,
    metavar="count|sum:FIELD|distinct:FIELD|rate:LUCENE",
    help="What each bucket measures; rate is the share of events matching LUCENE.",
)
@click.option("--query", "lucene", default="*", show_default=True, metavar="LUCENE")
@click.option("--since", metavar="DATE|DATETIME", help="Start (UTC unless an offset is given).")
@click.option(
    "--until", metavar="DATE|DATETIME", help="End, exclusive; a date includes that whole day."
)
@click.option("--per-day", is_flag=True, help="Per group: time-of-day rows × one column per day.")
@click.option(
    "--top", type=click.IntRange(1, None), metavar="N", help="Keep the N largest groups (500)."
)
@_output_option("table", "json", "csv", name="--output")
@pass_state
def series(
    state: _State,
    group_by: tuple[str, ...],
    interval: str,
    metric: str,
    lucene: str,
    since: str | None,
    until: str | None,
    per_day: bool,
    top: int | None,
    output: str,
) -> None:
    """Events bucketed in time per group: counts, sums, distinct values or rates.

    A bucket is a value (0 when the source sent events but none of this group's), silent (the
    group's source, its event.dataset, sent nothing at all: an outage) or inactive (before the
    source's first event).

    \b
    Examples:
      loglens series --by network.protocol --interval 1h
      loglens series --metric sum:network.bytes --by source.ip --top 10 -o csv
      loglens series --metric 'rate:http.response.status_code:[400 TO 599]' \\
          --query event.dataset:apache.access --per-day
    """
    import dataclasses

    from loglens.series import Metric, SeriesSpec, parse_interval
    from loglens.store import open_store

    spec = SeriesSpec(
        group_by=tuple(group_by) or ("event.dataset",),
        interval=parse_interval(interval),
        metric=Metric.parse(metric),
        query=lucene.strip() or "*",
        start=_series_instant(since, "--since", end=False),
        end=_series_instant(until, "--until", end=True),
    )
    if top is not None:
        spec = dataclasses.replace(spec, max_groups=top)
    config = state.config()
    with open_store(config.store.url, config=config) as store:
        frame = store.series(spec)
    out = sys.stdout
    if per_day:
        _print_per_day(frame, output, out)
    else:
        _print_series(frame, output, out)
    if output == "table":
        _print_series_footer(frame, interval, out)


@cli.command()
@_method_option
@click.option("--since", metavar="DATE|DATETIME", help="Score from here; learn from before it.")
@click.option("--until", metavar="DATE|DATETIME", help="Score up to here (a date: its whole day).")
@click.option(
    "--history-days",
    type=click.IntRange(1, 3660),
    default=30,
    show_default=True,
    help="Days before --since that detectors learn from.",
)
@click.option("--interval", default="15m", show_default=True, metavar="15m|1h|1d")
@click.option("--top", type=click.IntRange(1, None), default=20, show_default=True)
@click.option("--no-write", is_flag=True, help="Do not store anomalies or tag events.")
@_output_option("table", "json", "csv")
@pass_state
def detect(
    state: _State,
    methods: tuple[str, ...],
    since: str | None,
    until: str | None,
    history_days: int,
    interval: str,
    top: int,
    no_write: bool,
    output: str,
) -> None:
    """Find anomalies in the stored events, ranked and explained.

    Without --since, the whole stored range is analysed (detectors learn from it all: fit for a
    folder of old logs). With --since (the daily job), they learn from the --history-days before
    it and score what follows. Anomalies are stored and the events inside them tagged
    loglens.anomaly, unless --no-write.

    \b
    Examples:
      loglens detect
      loglens detect --since 2024-05-07 --format json
      loglens detect --method baseline --method new_category --top 5
    """
    from loglens.analyze import METHODS, DetectSettings, anomaly_rows, default_specs, run_detection
    from loglens.store import open_store

    settings = DetectSettings(
        methods=tuple(methods) or METHODS,
        since=_series_instant(since, "--since", end=False),
        until=_series_instant(until, "--until", end=True),
        history_days=history_days,
        write_back=not no_write,
        limit=top,
    )
    config = state.config()
    with open_store(config.store.url, config=config) as store:
        report = run_detection(store, settings, default_specs(interval))
    out = sys.stdout
    rows = anomaly_rows(report.anomalies)
    if output == "table":
        _print_anomalies(rows, out)
        out.write(
            f"{len(report.anomalies)} anomalies from {report.series_analysed} series"
            + (
                f"; {len(report.skipped)} series skipped (too little history)"
                if report.skipped
                else ""
            )
            + (
                f"; {report.tagged_events:,} events tagged loglens.anomaly"
                if report.tagged_events
                else ""
            )
            + "\n"
        )
    else:
        columns = [
            "rank",
            "start",
            "end",
            "series",
            "series_key",
            "detector",
            "kind",
            "score",
            "severity",
            "observed",
            "expected",
            "entities",
            "explanation",
            "related",
            "id",
        ]
        _emit(rows, columns, output, out, nested=True)


@cli.group(name="eval")
def eval_group() -> None:
    """Score loglens on labelled data: generated incidents, a NAB corpus, loghub templates."""


@eval_group.command(name="incidents")
@click.argument("labels", type=click.Path(exists=True))
@click.option("--since", metavar="DATE|DATETIME", help="As for detect (default: retrospective).")
@click.option("--until", metavar="DATE|DATETIME", help="As for detect.")
@_method_option
@click.option("--tolerance", default="15m", show_default=True, metavar="15m|1h")
@_output_option("table", "json")
@pass_state
def eval_incidents(
    state: _State,
    labels: str,
    since: str | None,
    until: str | None,
    methods: tuple[str, ...],
    tolerance: str,
    output: str,
) -> None:
    """Detect on the store and score against LABELS (labels.json of `loglens generate`).

    Incident-level precision (anomalies that overlap an incident), recall (incidents with an
    overlapping anomaly), F1, time to detect, and how often an anomaly names the incident's
    entity (the scanning IP, the brute-forced user). Nothing is written to the store.

    \b
    Example:
      loglens generate --days 28 --out gen && loglens ingest gen && loglens eval incidents gen
    """
    import json as json_module

    from loglens.analyze import METHODS, DetectSettings, run_detection
    from loglens.evaluate import evaluate_incidents
    from loglens.series import parse_interval
    from loglens.store import open_store

    settings = DetectSettings(
        methods=tuple(methods) or METHODS,
        since=_series_instant(since, "--since", end=False),
        until=_series_instant(until, "--until", end=True),
        write_back=False,
        attribute_top=300,
    )
    config = state.config()
    with open_store(config.store.url, config=config) as store:
        report = run_detection(store, settings)
    result = evaluate_incidents(report.anomalies, labels, tolerance=parse_interval(tolerance))
    out = sys.stdout
    if output == "json":
        out.write(json_module.dumps(result.to_json(), indent=2) + "\n")
        return
    rows = [
        {
            "kind": kind,
            "incidents": s.incidents,
            "found": s.matched,
            "recall": f"{s.recall:.0%}",
            "entity named": s.entity_named,
        }
        for kind, s in sorted(result.by_kind.items())
    ]
    _emit(rows, ["kind", "incidents", "found", "recall", "entity named"], "table", out)
    named = result.entity_named_rate
    median = result.median_time_to_detect
    out.write(
        f"incidents {result.incidents}, anomalies {result.anomalies}: "
        f"recall {result.recall:.1%}, precision {result.precision:.1%}, F1 {result.f1:.3f}"
        + (f", entity named {named:.0%}" if named is not None else "")
        + (f", median time to detect {median}" if median is not None else "")
        + "\n"
    )


@eval_group.command(name="nab")
@click.argument("corpus", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--detector",
    "detectors",
    multiple=True,
    metavar="NAME",
    help="windowed_gaussian, seasonal_baseline, spectral, rolling or ensemble (repeatable; "
    "default all).",
)
@_output_option("table", "json")
def eval_nab(corpus: str, detectors: tuple[str, ...], output: str) -> None:
    """Score detectors on a NAB-format CORPUS (data/*/*.csv + labels/combined_windows.json).

    NAB's scoring: a scaled sigmoid rewards early detections inside each window, false
    positives and missed windows cost per the application profile (standard, reward low FP,
    reward low FN); 0 is a detector that never fires, 100 a perfect one.
    """
    import json as json_module

    from loglens.evaluate import load_corpus, run_nab
    from loglens.evaluate.nab_detectors import NAB_DETECTORS, nab_detector

    loaded = load_corpus(corpus)
    reports = [
        run_nab(loaded, nab_detector(name), name=name) for name in detectors or NAB_DETECTORS
    ]
    out = sys.stdout
    if output == "json":
        out.write(json_module.dumps([r.to_json() for r in reports], indent=2) + "\n")
        return
    rows = [
        {
            "detector": r.detector,
            **{
                p: _score_text(r.score(p))
                for p in ("standard", "reward_low_FP_rate", "reward_low_FN_rate")
            },
        }
        for r in reports
    ]
    columns = ["detector", "standard", "reward_low_FP_rate", "reward_low_FN_rate"]
    _emit(rows, columns, "table", out, right=columns[1:])


@eval_group.command(name="templates")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option(
    "--corrected",
    is_flag=True,
    help="In loghub_2k folders, score against *_structured_corrected.csv.",
)
@_output_option("table", "json")
def eval_templates(paths: tuple[str, ...], corrected: bool, output: str) -> None:
    """Template accuracy on loghub-format ground truth: GA and PA per system and their mean.

    PATHS are *_structured.csv files (columns Content, EventId, EventTemplate) or loghub_2k
    folders (one sub-folder per system). Grouping accuracy (GA): lines whose predicted group
    is exactly their true group; parsing accuracy (PA): lines whose template text is exactly
    the true one (spaces and adjacent <*> normalised). One configuration for every system.
    """
    import json as json_module

    from loglens.evaluate.templates import (
        TemplateAccuracyReport,
        evaluate_loghub,
        load_structured,
        score_system,
    )

    scores = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            scores += evaluate_loghub(path, corrected=corrected).systems
        else:
            scores.append(score_system(load_structured(path)))
    report = TemplateAccuracyReport("corrected" if corrected else "original", scores)
    out = sys.stdout
    if output == "json":
        document = {
            "ground_truth": report.ground_truth,
            "systems": [dataclasses.asdict(s) for s in report.systems],
            "mean_grouping_accuracy": report.mean_grouping_accuracy,
            "mean_parsing_accuracy": report.mean_parsing_accuracy,
        }
        out.write(json_module.dumps(document, indent=2) + "\n")
        return
    rows = [
        {
            "system": s.system,
            "lines": s.lines,
            "GA": f"{s.grouping_accuracy:.3f}",
            "PA": f"{s.parsing_accuracy:.3f}",
            "templates": s.templates_found,
            "true templates": s.templates_truth,
        }
        for s in report.systems
    ]
    columns = ["system", "lines", "GA", "PA", "templates", "true templates"]
    _emit(rows, columns, "table", out, right=columns[1:])
    out.write(
        f"mean over {len(report.systems)} system(s): GA {report.mean_grouping_accuracy:.3f}, "
        f"PA {report.mean_parsing_accuracy:.3f}\n"
    )


def _score_text(score: float | None) -> str:
    return "-" if score is None else f"{score:.1f}"


def _print_anomalies(rows: Sequence[dict[str, Any]], out: TextIO) -> None:
    """Ranked anomalies as a readable list: the sentence in full, then each detector's reason."""
    import shutil
    import textwrap

    width = max(60, min(shutil.get_terminal_size((100, 24)).columns, 120))
    for row in rows:
        head = f"{row['rank']:>3}. {str(row['severity']).upper():<8} {row['window']}"
        out.write(safe_terminal_text(head) + "\n")
        body = textwrap.wrap(
            safe_terminal_text(str(row["explanation"])),
            width=width,
            initial_indent="     ",
            subsequent_indent="     ",
        )
        out.write("\n".join(body) + "\n")
        for reason in row.get("reasons") or []:
            line = textwrap.shorten(safe_terminal_text(str(reason)), width - 12, placeholder="…")
            out.write(f"       · {line}\n")
        related = row.get("related") or []
        if related:
            names = ", ".join(sorted({str(r["series"]) for r in related}))
            line = textwrap.shorten(
                safe_terminal_text(f"also seen in {names}"), width - 12, placeholder="…"
            )
            out.write(f"       · {line}\n")
    if rows:
        out.write("\n")


def _series_instant(text: str | None, option: str, *, end: bool) -> datetime | None:
    if text is None or not text.strip():
        return None
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO date or date-time like 2024-05-01 or 2024-05-01T10:00",
            param_hint=option,
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    if end and len(value) == 10:  # a bare date: through the end of that day
        parsed += timedelta(days=1)
    return parsed.astimezone(UTC)


def _series_number(value: float | None, rate: bool, *, table: bool) -> float | int | None:
    if value is None or value != value:  # NaN: silent, inactive or an empty rate bucket
        return None
    if not rate and float(value).is_integer():
        return int(value)
    return round(value, 4) if table else value


def _print_series(frame: Any, output: str, out: TextIO) -> None:
    table = frame.to_arrow()
    rate = frame.spec.metric.kind == "rate"
    rows = table.to_pylist()
    for row in rows:
        row["value"] = _series_number(row["value"], rate, table=output == "table")
    columns = [*frame.spec.group_by, "bucket", "value", "state"]
    _emit(rows, columns, output, out, right=["value"], nested=False)


def _print_per_day(frame: Any, output: str, out: TextIO) -> None:
    rate = frame.spec.metric.kind == "rate"
    group_fields = list(frame.spec.group_by)
    combined: list[dict[str, Any]] = []
    days: list[str] = []
    for one in frame.series:
        view = frame.per_day(one.key)
        days = view.day_labels()
        rows = []
        for r, time_label in enumerate(view.time_labels()):
            row: dict[str, Any] = dict(zip(group_fields, one.key, strict=True))
            row["time"] = time_label
            for c, day in enumerate(days):
                cell: object = _series_number(
                    float(view.values[r, c]), rate, table=output == "table"
                )
                if output == "table" and view.silent[r, c]:
                    cell = "silent"
                row[day] = cell
            rows.append(row)
        if output == "table":
            sources = ", ".join(one.sources) or "(none)"
            out.write(f"{safe_terminal_text(one.name)}  (sources: {safe_terminal_text(sources)})\n")
            write_table(rows, ["time", *days], out, right_align=days)
            out.write("\n")
        else:
            combined.extend(rows)
    if output != "table":
        _emit(combined, [*group_fields, "time", *days], output, out, nested=False)


def _print_series_footer(frame: Any, interval: str, out: TextIO) -> None:
    groups = len(frame.series)
    if not groups:
        out.write("(no matching events)\n")
        return
    silent = sum(int(s.silent.sum()) for s in frame.series)
    line = (
        f"({groups} group(s) × {len(frame.buckets)} bucket(s) of {interval.strip()}, "
        f"metric {frame.spec.metric.label}; {silent} silent bucket(s)"
    )
    if frame.groups_left_out:
        line += f"; {frame.groups_left_out} smaller group(s) left out, see --top"
    out.write(safe_terminal_text(line) + ")\n")


# --- templates ---------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--assign",
    "assign_path",
    metavar="FILE",
    help="Template every line of FILE ('-': standard input) instead; the store is not touched.",
)
@click.option(
    "--new-since", metavar="DATE|DATETIME", help="Only templates first seen from here on."
)
@click.option("--top", type=click.IntRange(1, None), help="At most this many (most events first).")
@click.option("--parameters", is_flag=True, help="With --assign: the values behind the <*>.")
@_output_option("table", "json", "csv")
@pass_state
def templates(
    state: _State,
    assign_path: str | None,
    new_since: str | None,
    top: int | None,
    parameters: bool,
    output: str,
) -> None:
    """List the log templates of the stored messages, with counts and first/last seen.

    Every event with a message (syslog and auth lines, Windows events, IDS alert names) gets a
    template at ingest: its text with <*> where values vary. --assign FILE instead writes each
    line of any log file with its template (line, template_id, template) so the grouping can be
    checked by another tool.

    \b
    Examples:
      loglens templates --top 20
      loglens templates --new-since 2024-05-07 -o json
      loglens templates --assign auth.log -o csv > auth-templates.csv
    """
    if assign_path is not None:
        _assign_file(assign_path, parameters, output, sys.stdout)
        return
    from loglens.store import open_store
    from loglens.templates.stored import list_templates, template_rows

    since = _series_instant(new_since, "--new-since", end=False)
    config = state.config()
    with open_store(config.store.url, config=config) as store:
        rows = template_rows(list_templates(store, new_since=since, top=top))
    columns = ["id", "events", "first_seen", "last_seen", "template", "example"]
    _emit(rows, columns, output, sys.stdout, right=["events"], nested=False)
    if output == "table":
        sys.stdout.write(f"{len(rows)} template(s)\n")


def _assign_file(path: str, parameters: bool, output: str, out: TextIO) -> None:
    """Each line of ``path`` with its template, mined from the whole file at once."""
    import json as json_module

    import pyarrow as pa
    import pyarrow.compute as pc

    from loglens.sources.files import InputSource, OpenedInput
    from loglens.templates import TemplateMiner

    source = InputSource(path, None if path == "-" else Path(path))
    numbers: list[pa.Array] = []
    lines: list[pa.Array] = []
    with OpenedInput(source, container="lines") as opened:
        for batch in opened.batches(max_line_bytes=1_048_576, batch_records=1_000_000):
            numbers.append(batch.line_no)
            lines.append(batch.raw.cast(pa.string()))
    text = (
        pa.chunked_array(lines, pa.string()).combine_chunks()
        if lines
        else pa.array([], pa.string())
    )
    blank = pc.equal(pc.utf8_trim_whitespace(text), "")
    text = pc.if_else(blank, pa.scalar(None, pa.string()), text)
    assigned = TemplateMiner().assign(text, parameters=parameters)
    columns = ["line", "template_id", "template"] + (["parameters"] if parameters else [])
    rows: list[dict[str, Any]] = []
    found = {
        "line": pa.chunked_array(numbers, pa.int64()).to_pylist() if numbers else [],
        "template_id": assigned.column("template_id").to_pylist(),
        "template": assigned.column("template").to_pylist(),
    }
    if parameters:
        found["parameters"] = [
            None if v is None else json_module.dumps(v, ensure_ascii=False)
            for v in assigned.column("parameters").to_pylist()
        ]
    for index in range(len(found["line"])):
        rows.append({c: found[c][index] for c in columns})
    _emit(rows, columns, output, out, right=["line"], nested=False)


@cli.command()
@click.argument("question")
@click.argument("lucene", required=False, default="*")
@click.option("--top", "-n", type=click.IntRange(1, 200), default=10, show_default=True)
@click.option("--examples", type=click.IntRange(0, 20), default=3, show_default=True)
@_output_option("table", "json", "csv")
@pass_state
def search(state: _State, question: str, lucene: str, top: int, examples: int, output: str) -> None:
    """Log templates ranked by meaning: which kinds of message answer QUESTION.

    Plain words ("login failure", "disk full") are matched by meaning and by keywords, offline.
    An optional Lucene filter (LUCENE) narrows the events first; counts then describe them.

    \b
    Examples:
      loglens search "login failure"
      loglens search "connection refused" 'host.name:web01' --top 5 -o json
    """
    from loglens.semantic.store_search import search_templates
    from loglens.store import open_store

    config = state.config()
    with open_store(config.store.url, config=config) as store:
        result = search_templates(store, question, top=top, lucene=lucene, examples=examples)
    rows = [_search_row(rank, hit) for rank, hit in enumerate(result.hits, 1)]
    if output == "table":
        _print_search(rows, result, sys.stdout)
        return
    columns = ["rank", "score", "template_id", "template", "events", "first_seen", "last_seen",
               "entities", "examples"]  # fmt: skip
    _emit(rows, columns, output, sys.stdout, nested=True)


def _search_row(rank: int, hit: Any) -> dict[str, Any]:
    template = hit.template
    return {
        "rank": rank,
        "score": round(hit.score, 4),
        "template_id": template.id,
        "template": template.text,
        "events": template.events,
        "first_seen": template.first_seen,
        "last_seen": template.last_seen,
        "entities": {k: [[v, n] for v, n in values] for k, values in hit.entities.items()},
        "examples": [e.get("message") for e in hit.examples],
    }


def _print_search(rows: Sequence[dict[str, Any]], result: Any, out: TextIO) -> None:
    if not rows:
        out.write(f"no template answers the question ({result.templates_searched} searched)\n")
        return
    for row in rows:
        span = f"{_when(row['first_seen'])} – {_when(row['last_seen'])}"
        out.write(f"{row['rank']:>3}. {safe_terminal_text(row['template'])}\n")
        out.write(f"     {format_count(row['events'])} events, {span}, score {row['score']:.3f}\n")
        entities = "; ".join(
            f"{name} "
            + ", ".join(f"{safe_terminal_text(str(v))} ({format_count(n)})" for v, n in values)
            for name, values in row["entities"].items()
        )
        if entities:
            out.write(f"     {entities}\n")
        for example in row["examples"]:
            if example:
                out.write(f"     e.g. {safe_terminal_text(example)[:160]}\n")
    out.write(
        f"{len(rows)} of {result.templates_searched} template(s); ranked in "
        f"{result.rank_seconds * 1000:.0f} ms\n"
    )


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if isinstance(value, datetime) else "?"


# --- generate and demo -------------------------------------------------------------------------


@cli.command()
@click.option("--days", type=click.IntRange(1, 366), default=7, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--rate", type=float, default=1.0, show_default=True, help="Volume multiplier.")
@click.option("--start", metavar="DATE", help="First day (UTC, YYYY-MM-DD); default: days ago.")
@click.option(
    "--incidents", metavar="KIND,...", help="Incident kinds to inject (default: all; 'none')."
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True)
def generate(
    days: int, seed: int, rate: float, start: str | None, incidents: str | None, out_dir: str
) -> None:
    """Write synthetic multi-source traffic with labelled incidents (labels.json) into OUT."""
    result = _generate(Path(out_dir), days, seed, rate, start, incidents)
    _print_generated(result, sys.stdout)


def _generate(
    out_dir: Path, days: int, seed: int, rate: float, start: str | None, incidents: str | None
) -> Any:
    from loglens.sources.generate import generate as run_generate

    start_at = None
    if start:
        try:
            start_at = datetime.fromisoformat(start).replace(tzinfo=UTC)
        except ValueError:
            raise click.BadParameter(
                f"{start!r} is not a date like 2024-03-01", param_hint="--start"
            ) from None
    kinds = None
    if incidents is not None:
        kinds = (
            []
            if incidents.strip().lower() == "none"
            else [k.strip() for k in incidents.split(",") if k.strip()]
        )
    return run_generate(out_dir, days=days, seed=seed, rate=rate, start=start_at, incidents=kinds)


def _print_generated(result: Any, out: TextIO) -> None:
    out.write(f"generated {result.start:%Y-%m-%d} .. {result.end:%Y-%m-%d} into {result.out_dir}\n")
    for f in result.files:
        out.write(f"  {f.path}  {f.dataset}  {format_count(f.events)} events\n")
    out.write(f"  {result.out_dir / 'labels.json'}  {len(result.incidents)} labelled incidents\n")
    for inc in result.incidents:
        out.write(
            f"    {inc.id} {inc.kind:<16} {inc.start:%a %Y-%m-%d %H:%M} – {inc.end:%H:%M} UTC\n"
        )
    from loglens.sources.synthetic.output import HOST_FROM_PATH

    # The web server is named by its folder only: without the pattern its events have no host.
    command = ["loglens", "ingest", str(result.out_dir), "--host-from-path", HOST_FROM_PATH]
    out.write(f"ingest with: {shlex.join(command)}\n")


@cli.command()
@click.option("--out", "out_dir", default="demo-out", show_default=True, type=click.Path())
@click.option("--days", type=click.IntRange(1, 366), default=7, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--rate", type=float, default=1.0, show_default=True)
@pass_state
def demo(state: _State, out_dir: str, days: int, seed: int, rate: float) -> None:
    """The main job on synthetic data: generate a week of traffic, ingest it, summarise it."""
    from loglens.demo import run_demo

    config = state.config()
    run_demo(config, Path(out_dir), days=days, seed=seed, rate=rate, out=sys.stdout)


@cli.command(name="config")
@pass_state
def show_config(state: _State) -> None:
    """Show the effective configuration (file < environment < flags)."""
    import dataclasses
    import json

    config = state.config()
    sys.stdout.write(json.dumps(dataclasses.asdict(config), indent=2, default=list) + "\n")


# --- entry point -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI; library errors become one-line messages and exit codes."""
    debug = "--debug" in (argv if argv is not None else sys.argv)
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_ERROR)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except LoglensError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)  # `loglens query ... | head` closed the pipe: not an error
    except Exception as exc:  # an unexpected bug: say so plainly, traceback only on request
        if debug:
            traceback.print_exc()
        click.echo(
            f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)",
            err=True,
        )
        sys.exit(EXIT_ERROR)
