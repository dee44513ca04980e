"""The only module that wires stages together: sources → parse → normalise → store.

Ingestion works batch by batch inside DuckDB: a batch of raw records is registered as an Arrow
table, the parser's SQL turns it into ECS columns, one more statement adds ids, provenance,
locality, registered domains and (optionally) pseudonyms, and the store writes it in one
transaction. Python touches only distinct values (addresses, domains, names), never every line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import duckdb
import pyarrow as pa

from loglens.batch_sql import (
    BATCH_SQL,
    CARRIED,
    ParserSql,
    RecordKeys,
    parsed_host_sql,
    run,
)
from loglens.cluster import ClusterSettings, connect
from loglens.cluster.urls import is_cluster_url, parse_cluster_url
from loglens.config import Config
from loglens.errors import LoglensError, ParseError, SourceError
from loglens.normalize import (
    DIRECTION_SQL,
    DomainResolver,
    Locality,
    Pseudonymizer,
    event_id_sql,
)
from loglens.parse.base import ParseContext, Parser, Sample, sql_string
from loglens.parse.registry import detect_format, get_parser
from loglens.query import IPV4_TO_INT_MACRO
from loglens.schema import FIELDS, PARSE_FAILURE_TAG, quote_ident
from loglens.sources.elastic import (
    ClusterPull,
    ClusterScan,
    Hit,
    HitBatch,
    PullSummary,
    Watermark,
    checkpoint_name,
    hit_batch,
    hit_parser,
)
from loglens.sources.files import (
    SAMPLE_RECORDS,
    InputSource,
    OpenedInput,
    RecordBatch,
    SkippedInput,
    expand_inputs,
)
from loglens.store import open_store
from loglens.store.base import IngestRecord, Query, StagedCounts, Store, WriteSummary
from loglens.templates.stored import MiningReport, mine_store

TRUNCATED_TAG = "_truncated"
LABELS_SKIP_REASON = "ground truth written by loglens generate (labels), not a log"
TABLE_FORMATS = {"csv": "csv", "tsv": "csv", "parquet": "parquet", "xlsx": "xlsx", "excel": "xlsx"}

# Free-text fields that may quote addresses or names and are scrubbed when pseudonymising.
_SCRUBBED_TEXT = ("event.original", "message", "error.message", "url.original", "extra")
_DOMAIN_FIELDS = {
    "url.registered_domain": "url.domain",
    "dns.question.registered_domain": "dns.question.name",
}
_IP_FIELDS = {"source.ip": "src", "destination.ip": "dst", "host.ip": "hst"}

ProgressCallback = Callable[[IngestRecord], None]


@dataclass
class IngestReport:
    """The accounting of one ``ingest`` call: one record per input, and what was skipped."""

    inputs: list[IngestRecord] = field(default_factory=list)
    skipped: list[SkippedInput] = field(default_factory=list)
    hostless: list[str] = field(default_factory=list)
    """Inputs whose path ``ingest.host_from_path`` did not match (and no ``ingest.host``)."""
    templates: MiningReport | None = None
    """The template mining pass after the ingest (None: mining is off)."""
    pulls: list[PullSummary] = field(default_factory=list)
    """One per cluster URL: how it was read and its watermark."""

    def total(self, attribute: str) -> int:
        return sum(int(getattr(record, attribute)) for record in self.inputs)

    @property
    def balanced(self) -> bool:
        return all(record.balanced for record in self.inputs)


@dataclass
class _IndexInput:
    """One concrete index of a cluster pull: its accounting, parser and parser SQL."""

    record: IngestRecord
    parser: Parser
    ctx: ParseContext
    parser_sql: ParserSql


class _HitWriter:
    """Holds a cluster pull's hits per index and writes them as record batches.

    A hit held twice (a scroll slice read again) is counted as a duplicate at once: the
    store's check only compares a batch with what is already stored.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        con: duckdb.DuckDBPyConnection,
        fmt: str,
        column_map: dict[str, str],
        fields: Sequence[str] | None,
    ) -> None:
        self._pipeline = pipeline
        self._con = con
        self._fmt = fmt
        self._column_map = column_map
        self._fields = fields
        self._indices: dict[str, _IndexInput] = {}
        self._held: dict[str, dict[str, Hit]] = {}
        self._repeats: dict[str, int] = {}
        self._method: dict[str, str] = {}
        self.held = 0

    def hold(self, page: Sequence[Hit], method: str | None) -> None:
        for hit in page:
            held = self._held.setdefault(hit.index, {})
            if hit.id in held:
                self._repeats[hit.index] = self._repeats.get(hit.index, 0) + 1
                continue
            held[hit.id] = hit
            self._method.setdefault(hit.index, method or "")
            self.held += 1

    def flush(self) -> None:
        for index, held in self._held.items():
            known = self._indices.get(index)
            if known is None:
                known = self._pipeline._index_input(
                    index, list(held.values()), self._fmt, self._column_map, self._fields,
                    self._method[index],
                )  # fmt: skip
                self._indices[index] = known
            repeats = self._repeats.pop(index, 0)
            if held:
                batch = hit_batch(list(held.values()), known.record.records)
                self._pipeline._write_batches(
                    self._con, iter([batch]), known.parser, known.parser_sql, known.ctx,
                    known.record,
                )  # fmt: skip
            known.record.records += repeats
            known.record.duplicates += repeats
        self._held.clear()
        self.held = 0

    def records(self) -> list[IngestRecord]:
        finished = datetime.now(UTC)
        for known in self._indices.values():
            known.record.finished = finished
        return [known.record for known in self._indices.values()]


class Pipeline:
    """Runs loglens stages against one store with one configuration."""

    def __init__(
        self,
        config: Config,
        store: Store | None = None,
        *,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.config = config
        self._own_store = store is None
        self.store: Store = (
            store if store is not None else open_store(config.store.url, config=config)
        )
        self._env = os.environ if env is None else env
        self._locality = Locality(config.network.internal_cidrs)
        pattern = config.ingest.host_from_path
        self._host_pattern = re.compile(pattern) if pattern else None
        self._domains: DomainResolver | None = None
        self._pseudonymizer: Pseudonymizer | None = None
        if config.pseudonymize.enabled:
            self._pseudonymizer = Pseudonymizer.from_environment(
                self._env, config.pseudonymize.key_env
            )

    def close(self) -> None:
        if self._own_store:
            self.store.close()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- ingestion ---------------------------------------------------------------------------

    def ingest(
        self,
        specs: Sequence[str],
        *,
        fmt: str | None = None,
        column_map: Mapping[str, str] | None = None,
        on_input: ProgressCallback | None = None,
        cluster: ClusterPull | None = None,
    ) -> IngestReport:
        """Ingest files, directories, globs, ``-`` (stdin) or cluster URLs into the store.

        Args:
            specs: what the user named; ``es://PATTERN`` (see ``loglens.cluster.urls``) reads
                an index pattern of Elasticsearch/OpenSearch.
            fmt: a parser or table format name to force; None/"auto" detects per input.
            column_map: source column → ECS field, for tables and generic JSON.
            on_input: called with each input's accounting when it is done.
            cluster: how cluster URLs are read (range, fields, checkpoint); defaults if None.

        Raises:
            SourceError: a named input that does not exist or cannot be read.
            ClusterError: a cluster that cannot be read.
        """
        urls = [spec for spec in specs if is_cluster_url(spec)]
        inputs, skipped = expand_inputs([spec for spec in specs if not is_cluster_url(spec)])
        report = IngestReport(skipped=list(skipped))
        chosen = fmt if fmt and fmt != "auto" else self.config.ingest.format
        for source in inputs:
            if source.from_walk and _is_generator_labels(source):
                report.skipped.append(SkippedInput(source.display, LABELS_SKIP_REASON))
                continue
            host = self.input_host(source)
            record = self._ingest_one(source, chosen, dict(column_map or {}), host)
            if record is None:
                report.skipped.append(
                    SkippedInput(source.display, "no known log format detected (use --format)")
                )
                continue
            report.inputs.append(record)
            if host is None and self._host_pattern is not None:
                report.hostless.append(source.display)
            self.store.record_ingest(record)
            if on_input is not None:
                on_input(record)
        for url in urls:
            records, summary = self._ingest_cluster(url, chosen, dict(column_map or {}), cluster)
            report.pulls.append(summary)
            for record in records:
                report.inputs.append(record)
                self.store.record_ingest(record)
                if on_input is not None:
                    on_input(record)
        if self.config.templates.enabled:
            report.templates = self.mine_templates()
        return report

    def mine_templates(self) -> MiningReport:
        """Give the stored messages without a template id theirs (see ``templates.stored``)."""
        return mine_store(self.store, batch_messages=self.config.templates.batch_messages)

    def _ingest_cluster(
        self, url: str, fmt: str, column_map: dict[str, str], pull: ClusterPull | None
    ) -> tuple[list[IngestRecord], PullSummary]:
        """Read an index pattern slice by slice; one accounting record per concrete index.

        Hits are held until ``pull.batch_records`` of them are waiting (at most
        ``ingest.batch_lines``; parsing has a fixed cost per batch), then parsed and written per
        index like batches of file records. With ``pull.incremental``, after each write the
        watermark of the slices read to their end is saved: everything it covers is stored, so
        a pull killed midway resumes from there.
        """
        pull = pull or ClusterPull()
        target = parse_cluster_url(url, self.config.cluster)
        settings = ClusterSettings.from_config(
            self.config.cluster, self._env, target.hosts, target.username
        )
        name = checkpoint_name(settings, target.index, pull.time_field)
        after = Watermark.from_json(self.store.checkpoint(name)) if pull.incremental else None
        con = self.store.staging_connection()
        writer = _HitWriter(self, con, fmt, column_map, pull.fields)
        batch_records = min(pull.batch_records, self.config.ingest.batch_lines)
        limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        run(con, f"SET memory_limit = {sql_string(self.config.ingest.memory_limit)}")
        try:
            with (
                connect(settings) as client,
                ClusterScan(client, pull.options(target.index), after) as scan,
            ):
                read_through = after  # covers every hit of the slices read to their end
                for window in scan.slices():
                    for page in window:
                        writer.hold(page, scan.method)
                        if writer.held >= batch_records:
                            writer.flush()
                            self._save_watermark(name, read_through, pull)
                    read_through = scan.watermark
                writer.flush()
                self._save_watermark(name, read_through, pull)
        finally:
            run(con, f"SET memory_limit = {sql_string(str(limit))}")
        stats = scan.stats
        summary = PullSummary(url, scan.method, stats.windows, stats.hits, stats.rereads,
                              scan.watermark, pull.incremental)  # fmt: skip
        return writer.records(), summary

    def _save_watermark(self, name: str, mark: Watermark | None, pull: ClusterPull) -> None:
        if pull.incremental and mark is not None:
            self.store.save_checkpoint(name, mark.to_json())

    def _index_input(
        self,
        index: str,
        hits: Sequence[Hit],
        fmt: str,
        column_map: dict[str, str],
        fields: Sequence[str] | None,
        method: str | None,
    ) -> _IndexInput:
        source = f"es://{index}"
        parser = hit_parser(hits, fmt, source, fields)
        ctx = ParseContext(
            source=source,
            year=self.config.ingest.year,
            timezone=self.config.ingest.timezone,
            column_map=column_map,
            sample=tuple(h.source for h in hits[:SAMPLE_RECORDS]),
        )
        record = IngestRecord(source, parser.name, method or "", started=datetime.now(UTC))
        return _IndexInput(record, parser, ctx, ParserSql.of(parser, ctx))

    def input_host(self, source: InputSource) -> str | None:
        """The host an input came from: ``host_from_path``'s match, else ``host``, else None.

        The pattern is searched in the path as named, then in its absolute form, so both
        ``remote/(?P<host>[^/]+)/`` and ``^/var/log/remote/(?P<host>[^/]+)/`` work.
        """
        if self._host_pattern is not None and source.path is not None:
            for text in (source.path.as_posix(), source.path.absolute().as_posix()):
                found = self._host_pattern.search(text)
                if found and found.group("host"):
                    return found.group("host")
        return self.config.ingest.host or None

    def _ingest_one(
        self, source: InputSource, fmt: str, column_map: dict[str, str], host: str | None
    ) -> IngestRecord | None:
        container = TABLE_FORMATS.get(fmt)
        forced: Parser | None = None
        if fmt != "auto":
            forced = get_parser("table" if container else fmt)
        started = datetime.now(UTC)
        with OpenedInput(source, container=container) as opened:
            ingest = self.config.ingest
            read = partial(
                opened.batches,
                max_line_bytes=ingest.max_line_bytes,
                batch_records=ingest.batch_lines,
            )
            # Text is sampled from its head: it is read only once its format is known (a
            # skipped input reads no more), and its first chunk is read while its SQL is
            # built. Other containers are sampled from their first batch.
            text = opened.container == "lines"
            batches = None if text else read()
            first = None if batches is None else next(batches, None)
            sample = self._sample(opened, first)
            parser = forced or self._detect(opened, sample)
            if parser is None:
                return None
            if source.from_walk and parser.name == "text" and _suffix(source) != ".log":
                return None  # a walk only takes unrecognised text when it is named like a log
            record = IngestRecord(source.display, parser.name, opened.container, started=started)
            ctx = self._context(opened, column_map, sample, host)
            if text and opened.head:
                self._ingest_batches(read(), parser, ctx, record)
            elif batches is not None and first is not None:
                held, first = [first], None  # the chain alone holds the first batch
                self._ingest_batches(_chain(held, batches), parser, ctx, record)
        record.finished = datetime.now(UTC)
        return record

    def _sample(self, opened: OpenedInput, first: RecordBatch | None) -> list[str]:
        """The first non-blank records, for detection and for the parser's plan."""
        if opened.container == "lines" or first is None:
            return opened.sample()
        records = [r for r in first.raw.slice(0, SAMPLE_RECORDS * 2).to_pylist() if r.strip()]
        return records[:SAMPLE_RECORDS]

    def _detect(self, opened: OpenedInput, records: list[str]) -> Parser | None:
        name = opened.source.path.name if opened.source.path else "-"
        detection = detect_format(Sample(records, name, opened.container))
        return detection.parser if detection else None

    def _context(
        self, opened: OpenedInput, column_map: dict[str, str], sample: list[str], host: str | None
    ) -> ParseContext:
        header: list[str] = []
        if opened.container == "lines":
            for line in opened.head.decode("utf-8", "replace").splitlines()[:64]:
                if not line.startswith("#"):
                    break
                header.append(line)
        return ParseContext(
            source=opened.source.display,
            reference_time=opened.mtime or datetime.now(UTC),
            year=self.config.ingest.year,
            timezone=self.config.ingest.timezone,
            host=host,
            header=tuple(header),
            column_map=column_map,
            sample=tuple(sample),
        )

    def _ingest_batches(
        self,
        batches: Iterator[RecordBatch],
        parser: Parser,
        ctx: ParseContext,
        record: IngestRecord,
    ) -> None:
        con = self.store.staging_connection()
        parser_sql = ParserSql.of(parser, ctx, self._record_keys(parser, ctx))
        limit = con.execute("SELECT current_setting('memory_limit')").fetchall()[0][0]
        run(con, f"SET memory_limit = {sql_string(self.config.ingest.memory_limit)}")
        try:
            self._write_batches(con, batches, parser, parser_sql, ctx, record)
        finally:
            run(con, f"SET memory_limit = {sql_string(str(limit))}")

    def _record_keys(self, parser: Parser, ctx: ParseContext) -> RecordKeys:
        ingest = self.config.ingest
        return RecordKeys(ingest.source_key, ctx.host, ingest.keep_original, parser.lossless)

    def _write_batches(
        self,
        con: duckdb.DuckDBPyConnection,
        batches: Iterator[RecordBatch],
        parser: Parser,
        parser_sql: ParserSql,
        ctx: ParseContext,
        record: IngestRecord,
    ) -> None:
        # Ids differ within an input, so an input that starts on an empty store cannot meet a
        # stored id: its batches skip the duplicate check (the first, biggest load of a store).
        known_new = self.store.count(Query()) == 0
        for batch in batches:
            con.register("_batch_arrow", batch.table())
            con.register("_batch_errors", _errors_table(batch.errors))
            con.register("_batch_truncated", _numbers_table(batch.truncated))
            if isinstance(batch, HitBatch):
                con.register("_batch_hits", batch.hits_table())
            try:
                counts, events_sql = self._stage(con, batch, parser, parser_sql, ctx)
                summary: WriteSummary = self.store.write_staged(
                    events_sql, known_new=known_new, counted=counts.staged()
                )
            finally:
                for name in ("_batch_arrow", "_batch_errors", "_batch_truncated"):
                    con.unregister(name)
                if isinstance(batch, HitBatch):
                    con.unregister("_batch_hits")
            record.records += len(batch)
            record.blank += counts.blank
            record.headers += counts.skipped
            record.truncated += len(batch.truncated)
            record.failed += summary.inserted_failures
            record.parsed += summary.inserted - summary.inserted_failures
            record.duplicates += summary.duplicates
            record.rejected += summary.rejected
            record.notes.extend(f"rejected by the store: {r}" for r in summary.rejections)

    # --- one batch ---------------------------------------------------------------------------

    def _stage(
        self,
        con: duckdb.DuckDBPyConnection,
        batch: RecordBatch,
        parser: Parser,
        parser_sql: ParserSql,
        ctx: ParseContext,
    ) -> tuple[_BatchCounts, str]:
        """Parse one batch; return its counts and the SELECT of its canonical events.

        Only the parser's output is materialised (it holds no raw text); the raw records stay in
        the registered Arrow table until the store has written them.
        """
        reader_error = "e.reason" if batch.errors else "CAST(NULL AS VARCHAR)"
        errors_join = "LEFT JOIN _batch_errors e USING (record_no)" if batch.errors else ""
        run(
            con,
            f"""CREATE OR REPLACE TEMP VIEW _batch_all AS
                SELECT record_no, line_no, raw, regexp_full_match(raw, '\\s*') AS _blank,
                       {reader_error} AS _reader_error
                FROM _batch_arrow {errors_join}""",
        )
        run(con, f"CREATE OR REPLACE TEMP VIEW batch AS {BATCH_SQL}")
        try:
            parser_sql.parse(con)
        except duckdb.Error as exc:
            raise ParseError(
                f"the {parser.name} parser failed on this input: {exc}", location=ctx.source
            ) from exc
        produced = set(_columns(con, "_parsed"))
        counts = _counts(con, produced)
        if counts.parsed_rows != counts.expected:
            raise ParseError(
                f"the {parser.name} parser returned {counts.parsed_rows} rows for "
                f"{counts.expected} records",
                location=ctx.source,
            )
        self._register_maps(con, produced, ctx.host)
        events_sql = self._final_sql(
            produced,
            ctx,
            parser,
            truncated=bool(batch.truncated),
            hits=isinstance(batch, HitBatch),
            refused=bool(batch.errors),
        )
        if self._pseudonymizer is not None:
            run(con, f"CREATE OR REPLACE TEMP TABLE _staged AS {events_sql}")
            self._scrub_text(con)
            events_sql = "SELECT * FROM _staged"
        return counts, events_sql

    def _register_maps(
        self, con: duckdb.DuckDBPyConnection, produced: set[str], host: str | None
    ) -> None:
        self._build_locality(con, [f for f in _IP_FIELDS if f in produced])
        names = _distinct(con, [src for src in _DOMAIN_FIELDS.values() if src in produced])
        if self._domains is None and names:
            self._domains = DomainResolver()
        domains = self._domains.table(names) if self._domains else _empty_domain_table()
        con.register("_domains", domains)
        if self._pseudonymizer is not None:
            cfg = self.config.pseudonymize
            ips = _distinct(con, [f for f in cfg.ip_fields if f in produced])
            names = _distinct(con, [f for f in cfg.name_fields if f in produced])
            if host is not None and "host.name" in cfg.name_fields:
                names.append(host)
            con.register("_pseudo_ip", self._pseudonymizer.ip_table(ips))
            con.register("_pseudo_name", self._pseudonymizer.name_table(names))

    def _build_locality(self, con: duckdb.DuckDBPyConnection, fields: list[str]) -> None:
        """Temp table ``_locality(ip, canonical, internal)`` for the batch's distinct addresses.

        Canonical dotted-quad IPv4 (the common case, thousands of values per batch) is classified
        in SQL; IPv6 and unusual spellings (leading zeros, brackets, zones) go through Python.
        """
        if not fields:
            run(
                con,
                "CREATE OR REPLACE TEMP TABLE _locality "
                "(ip VARCHAR, canonical VARCHAR, internal BOOLEAN, _python BOOLEAN)",
            )
            return
        union = " UNION ALL ".join(
            f"SELECT CAST({quote_ident(f)} AS VARCHAR) AS ip FROM _parsed" for f in fields
        )
        run(
            con,
            f"""CREATE OR REPLACE TEMP TABLE _locality AS
                WITH d AS (SELECT DISTINCT ip FROM ({union}) WHERE ip IS NOT NULL),
                v AS (SELECT ip, {IPV4_TO_INT_MACRO}(ip) AS n FROM d)
                SELECT ip, CASE WHEN n IS NOT NULL THEN ip END AS canonical,
                       CASE WHEN n IS NOT NULL THEN {self._locality.ipv4_internal_sql("n")} END
                           AS internal,
                       n IS NULL AS _python
                FROM v""",
        )
        others = [
            row[0] for row in con.execute("SELECT ip FROM _locality WHERE _python").fetchall()
        ]
        if others:
            con.register("_locality_py", self._locality.table(others))
            try:
                run(
                    con,
                    """UPDATE _locality SET canonical = p.canonical, internal = p.internal
                       FROM _locality_py p WHERE _locality.ip = p.ip""",
                )
            finally:
                con.unregister("_locality_py")

    def _final_sql(
        self,
        produced: set[str],
        ctx: ParseContext,
        parser: Parser,
        *,
        truncated: bool,
        hits: bool = False,
        refused: bool = False,
    ) -> str:
        """The SELECT of the batch's canonical events (plus ``_record_no`` and ``_failed``).

        It reads ``_parsed`` alone when that carries each record's id, line and kept text
        (see :mod:`loglens.batch_sql`), unless the reader refused some of the batch's records
        (those have no parsed row) or the records are cluster hits (their ids differ).
        """
        rows = _Rows.of(produced, self._record_keys(parser, ctx), join=refused or hits)
        failed, record_no = rows.failed, rows.record_no
        ingested = datetime.now(UTC).isoformat()
        pseudo = self._pseudonymizer is not None
        cfg = self.config.pseudonymize
        joins = []
        host_name = _host_sql(ctx.host, failed, produced)
        if truncated:
            joins.append(f"LEFT JOIN _batch_truncated t ON t.record_no = {record_no}")
        # src and dst are always joined together: network.direction reads both.
        ip_aliases = {
            name: alias
            for name, alias in _IP_FIELDS.items()
            if name in produced
            or (alias in ("src", "dst") and produced & {"source.ip", "destination.ip"})
        }
        for name, alias in ip_aliases.items():
            value = f"p.{quote_ident(name)}" if name in produced else "NULL"
            joins.append(f"LEFT JOIN _locality {alias} ON {alias}.ip = {value}")
        for target, origin in _DOMAIN_FIELDS.items():
            if origin in produced:
                alias = "dom_" + target.split(".")[0]
                joins.append(
                    f"LEFT JOIN _domains {alias} ON {alias}.name = p.{quote_ident(origin)}"
                )
        pseudo_fields: dict[str, str] = {}
        if pseudo:
            for index, name in enumerate(f for f in cfg.ip_fields if f in produced):
                alias = f"pip{index}"
                joins.append(
                    f"LEFT JOIN _pseudo_ip {alias} ON {alias}.value = p.{quote_ident(name)}"
                )
                pseudo_fields[name] = f"{alias}.pseudonym"
            for index, name in enumerate(cfg.name_fields):
                if name == "host.name" and host_name is not None:
                    value = host_name
                elif name in produced:
                    value = f"p.{quote_ident(name)}"
                else:
                    continue
                alias = f"pnm{index}"
                joins.append(f"LEFT JOIN _pseudo_name {alias} ON {alias}.value = {value}")
                pseudo_fields[name] = f"{alias}.pseudonym"

        def parsed(name: str) -> str:
            return f"p.{quote_ident(name)}" if name in produced else "NULL"

        module_default = f"'{parser.name}'"
        exprs: dict[str, str] = {
            "@timestamp": parsed("@timestamp"),
            "event.id": rows.event_id,
            "event.kind": (
                f"CASE WHEN {failed} THEN 'pipeline_error' "
                f"ELSE coalesce({parsed('event.kind')}, 'event') END"
            ),
            "event.module": f"coalesce({parsed('event.module')}, {module_default})",
            "event.dataset": parsed("event.dataset"),
            "event.original": rows.original,
            "event.ingested": f"'{ingested}'",
            "log.file.path": sql_string(ctx.source),
            "log.file.line": rows.line,
            # A record's own error.message (an ECS document may carry one) is kept when it parsed.
            "error.message": (
                f"coalesce({rows.reader_error}, {parsed('_error')}, "
                f"CASE WHEN NOT {failed} THEN {parsed('error.message')} END)"
            ),
            "tags": _tags_sql(failed, parsed("tags"), truncated),
        }
        if host_name is not None:
            exprs["host.name"] = host_name
        if hits:
            joins.append(f"LEFT JOIN _batch_hits h ON h.record_no = {record_no}")
            exprs.update(_hit_exprs(self.config.ingest.source_key, ctx.source, failed, parsed))
        if "src" in ip_aliases.values():
            exprs["network.direction"] = f"coalesce({parsed('network.direction')}, {DIRECTION_SQL})"
        for name, alias in ip_aliases.items():
            if name in produced:
                exprs[name] = f"coalesce({alias}.canonical, {parsed(name)})"
        for target, origin in _DOMAIN_FIELDS.items():
            if origin in produced:
                alias = "dom_" + target.split(".")[0]
                exprs[target] = f"coalesce({parsed(target)}, {alias}.registered)"
        kept_on_failure = {"@timestamp", "event.module", "event.dataset"}
        columns = []
        for f in FIELDS:
            if f.name in exprs:
                expr = exprs[f.name]  # computed for every record, failed or not
            elif f.name in produced:
                expr = parsed(f.name)
            else:
                expr = "NULL"
            if f.name in pseudo_fields:
                # Never fall back to the real value: a value without a pseudonym is dropped.
                expr = f"CASE WHEN {expr} IS NULL THEN NULL ELSE {pseudo_fields[f.name]} END"
            derived = f.name in ("network.direction", *_DOMAIN_FIELDS, *_IP_FIELDS)
            if (
                expr != "NULL"
                and f.name not in kept_on_failure
                and (f.name not in exprs or derived)
            ):
                expr = f"CASE WHEN {failed} THEN NULL ELSE {expr} END"
            columns.append(f"CAST({expr} AS {f.sql_type}) AS {quote_ident(f.name)}")
        skip = "coalesce(p._skip, false)" if "_skip" in produced else "false"
        return (
            f"SELECT {record_no} AS _record_no, {', '.join(columns)}, {failed} AS _failed "
            f"FROM {rows.source} {' '.join(joins)} WHERE NOT {rows.blank} AND NOT {skip}"
        )

    def _scrub_text(self, con: duckdb.DuckDBPyConnection) -> None:
        """Replace addresses and known names inside free text (pseudonymisation only)."""
        assert self._pseudonymizer is not None
        names = {}
        if self.config.pseudonymize.name_fields:
            table = con.execute("SELECT value, pseudonym FROM _pseudo_name").fetchall()
            names = {str(v): str(p) for v, p in table}
        columns = ", ".join(quote_ident(c) for c in _SCRUBBED_TEXT)
        data = con.sql(f"SELECT _record_no, {columns} FROM _staged").to_arrow_table()
        scrubbed = {"_record_no": data.column("_record_no")}
        for name in _SCRUBBED_TEXT:
            values = data.column(name).to_pylist()
            scrubbed[name] = pa.array(
                [self._pseudonymizer.scrub(v, names) for v in values], type=pa.string()
            )
        con.register("_scrubbed", pa.table(scrubbed))
        try:
            replaced = ", ".join(f"s2.{quote_ident(c)} AS {quote_ident(c)}" for c in _SCRUBBED_TEXT)
            run(
                con,
                f"""CREATE OR REPLACE TEMP TABLE _staged AS
                    SELECT s.* REPLACE ({replaced})
                    FROM _staged s JOIN _scrubbed s2 USING (_record_no)""",
            )
        finally:
            con.unregister("_scrubbed")


def _host_sql(host: str | None, failed: str, produced: set[str]) -> str | None:
    """``host.name``: the record's own host, else the input's (None when the input has none).

    The input's host is provenance, like ``log.file.path``: a record that failed to parse
    still came from that machine, so it gets it too.
    """
    if host is None:
        return None
    own = parsed_host_sql(failed, produced)
    return sql_string(host) if own == "NULL" else f"coalesce({own}, {sql_string(host)})"


def _hit_exprs(
    source_key: str, source: str, failed: str, parsed: Callable[[str], str]
) -> dict[str, str]:
    """Cluster hits: the id from the index and ``_id``, no line, ``_id`` kept in ``extra``.

    The id hashes (source key, ``_id``, ``es://INDEX``): the same document read again is a
    duplicate, two documents with the same content stay two events.
    """
    doc_id = "json_object('cluster._id', h.doc_id)"
    merged = f"json_merge_patch(coalesce({parsed('extra')}, '{{}}'), {doc_id})"
    return {
        "event.id": event_id_sql(source_key, "h.doc_id", sql_string(source)),
        "log.file.line": "NULL",
        "extra": f"CASE WHEN {failed} THEN {doc_id} ELSE {merged} END",
    }


def _tags_sql(failed: str, parsed_tags: str, truncated: bool) -> str:
    """Parser tags, or the parse-failure tag; plus ``_truncated`` for lines cut at the limit."""
    base = f"CASE WHEN {failed} THEN ['{PARSE_FAILURE_TAG}'] ELSE {parsed_tags} END"
    if not truncated:
        return base
    return (
        f"CASE WHEN t.record_no IS NULL THEN {base} "
        f"ELSE list_distinct(list_concat(coalesce({base}, []), ['{TRUNCATED_TAG}'])) END"
    )


def _is_generator_labels(source: InputSource) -> bool:
    """The ground truth ``loglens generate`` writes beside its logs (not a log itself)."""
    if source.path is None or source.path.name != "labels.json":
        return False
    try:
        with open(source.path, "rb") as handle:
            head = handle.read(64)
    except OSError:
        return False
    return head.replace(b" ", b"").replace(b"\n", b"").startswith(b'{"generator":{')


def _chain(first: list[RecordBatch], rest: Iterator[RecordBatch]) -> Iterator[RecordBatch]:
    """``first``'s one batch, then ``rest``; the batch is taken out of the list, so that once
    written nothing keeps its memory."""
    yield first.pop()
    yield from rest


def _suffix(source: InputSource) -> str:
    if source.path is None:
        return ""
    suffixes = [s.lower() for s in source.path.suffixes if s.lower() not in (".gz", ".bz2", ".xz")]
    if suffixes and suffixes[-1] == ".log":
        return ".log"
    name = source.path.name.lower()
    return (
        ".log" if ".log." in name or name.endswith(".log") else (suffixes[-1] if suffixes else "")
    )


def _errors_table(errors: Mapping[int, str]) -> pa.Table:
    return pa.table(
        {
            "record_no": pa.array(list(errors), type=pa.int64()),
            "reason": pa.array(list(errors.values()), type=pa.string()),
        }
    )


def _numbers_table(numbers: frozenset[int]) -> pa.Table:
    return pa.table({"record_no": pa.array(sorted(numbers), type=pa.int64())})


def _empty_domain_table() -> pa.Table:
    return pa.table({"name": pa.array([], pa.string()), "registered": pa.array([], pa.string())})


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [row[0] for row in con.execute(f"DESCRIBE {quote_ident(table)}").fetchall()]


@dataclass(frozen=True)
class _Rows:
    """Where the events SELECT reads each record's batch columns: from ``_parsed`` alone
    when it carries them (:mod:`loglens.batch_sql`), else from the batch joined with it."""

    source: str
    record_no: str
    line: str
    reader_error: str
    blank: str
    failed: str
    event_id: str
    original: str

    @classmethod
    def of(cls, produced: set[str], keys: RecordKeys, *, join: bool) -> _Rows:
        parser_error = "p._error IS NOT NULL" if "_error" in produced else "false"
        if CARRIED in produced and not join:
            return cls("_parsed p", "p.record_no", "p._line_no", "NULL", "false",
                       f"({parser_error})", f"p.{CARRIED}", "p._original")  # fmt: skip
        failed = f"(b._reader_error IS NOT NULL OR {parser_error})"
        return cls(
            "_batch_all b LEFT JOIN _parsed p USING (record_no)",
            "b.record_no",
            "b.line_no",
            "b._reader_error",
            "b._blank",
            failed,
            keys.event_id("b.record_no", "b.raw", failed, produced),
            keys.original("b.raw", failed, produced),
        )


@dataclass(frozen=True)
class _BatchCounts:
    blank: int
    expected: int  # records the parser reads (not blank, not refused by the reader)
    refused: int  # records the reader refused (stored raw, as failures)
    parsed_rows: int  # (one per record: a repeated one makes the store refuse the batch)
    skipped: int  # rows the parser says are no event (headers)
    parse_failures: int

    def staged(self) -> StagedCounts:
        """The rows the batch's events SELECT gives, and its failures."""
        return StagedCounts(
            rows=self.expected + self.refused - self.skipped,
            failures=self.refused + self.parse_failures,
        )


def _counts(con: duckdb.DuckDBPyConnection, produced: set[str]) -> _BatchCounts:
    skip = "coalesce(_skip, false)" if "_skip" in produced else "false"
    error = "_error IS NOT NULL" if "_error" in produced else "false"
    (blank, expected, refused, rows, skipped, failures), *_ = con.execute(
        f"""SELECT * FROM
            (SELECT count(*) FILTER (WHERE _blank),
                    count(*) FILTER (WHERE NOT _blank AND _reader_error IS NULL),
                    count(*) FILTER (WHERE NOT _blank AND _reader_error IS NOT NULL)
             FROM _batch_all),
            (SELECT count(*), count(*) FILTER (WHERE {skip}),
                    count(*) FILTER (WHERE {error} AND NOT {skip})
             FROM _parsed)"""
    ).fetchall()
    return _BatchCounts(blank, expected, refused, rows, skipped, failures)


def _distinct(con: duckdb.DuckDBPyConnection, fields: Sequence[str]) -> list[str]:
    if not fields:
        return []
    union = " UNION ".join(
        f"SELECT DISTINCT CAST({quote_ident(f)} AS VARCHAR) AS v FROM _parsed" for f in fields
    )
    return [
        row[0] for row in con.execute(f"SELECT v FROM ({union}) WHERE v IS NOT NULL").fetchall()
    ]


def ingest_paths(
    paths: Sequence[str | Path], config: Config | None = None, **kwargs: object
) -> IngestReport:
    """Convenience for the Python API: ingest ``paths`` with ``config`` (defaults if None)."""
    from loglens.config import load_config

    with Pipeline(config or load_config()) as pipeline:
        return pipeline.ingest([str(p) for p in paths], **kwargs)  # type: ignore[arg-type]


__all__ = ["IngestReport", "LoglensError", "Pipeline", "SourceError", "ingest_paths"]
