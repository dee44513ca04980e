"""File inputs: paths, directories, globs and stdin; decompression; containers; record batches.

A *container* is how records sit in a file: text ``lines`` (any line-oriented log, NDJSON), a
``json`` stream (an array, an Elasticsearch search response, or concatenated pretty-printed
objects), or a table (``csv``, ``parquet``, ``xlsx``). Records from every container arrive as the
same three Arrow columns — record number, line number, raw text — so parsers and provenance work
the same way for all of them. Table rows arrive as JSON objects keyed by column name.
"""

from __future__ import annotations

import bz2
import csv
import glob
import gzip
import io
import json
import lzma
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from stat import S_ISREG
from typing import IO, TYPE_CHECKING, Any, cast

import numpy as np
import pyarrow as pa

from loglens.errors import SourceError
from loglens.sources.lines import iter_line_batches
from loglens.sources.read_ahead import ReadAhead

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

HEAD_BYTES = 64 * 1024
SAMPLE_RECORDS = 40
SCAN_ROWS = 32_768  # rows per record batch of a registered batch (see RecordBatch.table)

CONTAINERS = ("lines", "json", "csv", "parquet", "xlsx")

# Files a directory walk passes over: documentation and metadata beside the logs.
_NOT_LOG_SUFFIXES = {
    ".md", ".rst", ".yaml", ".yml", ".toml", ".ini", ".cfg", ".html", ".htm", ".pdf",
    ".png", ".jpg", ".jpeg", ".gif", ".svg", ".py", ".sh", ".zip", ".tar", ".pcap", ".pcapng",
    ".duckdb", ".wal", ".pyc", ".so", ".exe", ".dll",
}  # fmt: skip
_NOT_LOG_NAMES = {"license", "licence", "copying", "notice", "citation", "authors", "readme"}


@dataclass(frozen=True)
class InputSource:
    """One input as the user named it (directly or through a directory or glob)."""

    display: str
    path: Path | None  # None: standard input
    from_walk: bool = False  # found by walking a directory or expanding a glob

    @property
    def is_stdin(self) -> bool:
        return self.path is None


@dataclass(frozen=True)
class SkippedInput:
    display: str
    reason: str


@dataclass
class RecordBatch:
    """Records of one input: numbers, provenance lines, raw text, and reader-level problems."""

    record_no: pa.Array
    line_no: pa.Array
    # Text lines: string_view into the chunk read (DuckDB scans it directly; pyarrow's take,
    # filter and comparison kernels do not accept it: cast to large_string first).
    # Other containers: large_string.
    raw: pa.Array
    errors: dict[int, str] = field(default_factory=dict)  # record_no -> reason (container level)
    truncated: frozenset[int] = frozenset()  # record numbers cut at the line limit

    def __len__(self) -> int:
        return len(self.raw)

    def table(self) -> pa.Table:
        """The batch as a table of slices (no copy) that DuckDB can scan on every thread.

        DuckDB hands an Arrow table's record batches to its threads; a lone record batch
        shorter than two row groups (245,760 rows) is scanned on one thread only, so every
        query over it (parse, ids, insert) ran on one core.
        """
        whole = pa.table({"record_no": self.record_no, "line_no": self.line_no, "raw": self.raw})
        return pa.Table.from_batches(whole.to_batches(max_chunksize=SCAN_ROWS), whole.schema)


def expand_inputs(specs: Sequence[str]) -> tuple[list[InputSource], list[SkippedInput]]:
    """Turn what the user typed into inputs: ``-`` is stdin, directories are walked, globs expand.

    Raises:
        SourceError: a path that does not exist, or a glob that matches nothing.
    """
    inputs: list[InputSource] = []
    skipped: list[SkippedInput] = []
    for spec in specs:
        if spec == "-":
            inputs.append(InputSource("-", None))
            continue
        path = Path(spec)
        if path.is_dir():
            _walk(path, inputs, skipped)
        elif path.is_file():
            inputs.append(InputSource(spec, path))
        elif glob.has_magic(spec):
            matches = sorted(glob.glob(spec, recursive=True))
            if not matches:
                raise SourceError("no file matches this pattern", location=spec)
            for match in matches:
                found = Path(match)
                if found.is_dir():
                    _walk(found, inputs, skipped)
                elif found.is_file():
                    _add_walked(found, inputs, skipped)
        elif path.exists():
            raise SourceError("not a regular file or directory", location=spec)
        else:
            raise SourceError("no such file or directory", location=spec)
    return inputs, skipped


def _walk(root: Path, inputs: list[InputSource], skipped: list[SkippedInput]) -> None:
    for found in sorted(root.rglob("*")):
        if any(part.startswith(".") for part in found.relative_to(root).parts):
            continue  # hidden files and folders (.git, .loglens) are never logs to ingest
        if found.is_file():
            _add_walked(found, inputs, skipped)


def _add_walked(path: Path, inputs: list[InputSource], skipped: list[SkippedInput]) -> None:
    reason = _not_a_log_reason(path)
    if reason:
        skipped.append(SkippedInput(str(path), reason))
    else:
        inputs.append(InputSource(str(path), path, from_walk=True))


def _not_a_log_reason(path: Path) -> str | None:
    name = path.name.lower()
    stem = name.split(".")[0].split("_")[0].split("-")[0]
    if path.suffix.lower() in _NOT_LOG_SUFFIXES:
        return f"not a log file ({path.suffix.lower()})"
    if stem in _NOT_LOG_NAMES:
        return "documentation, not a log file"
    return None


def _decompressing(raw: io.BufferedReader[Any], display: str) -> IO[bytes]:
    magic = raw.peek(6)[:6]
    if magic.startswith(b"\x1f\x8b"):
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    if magic.startswith(b"BZh"):
        return bz2.BZ2File(raw, mode="rb")
    if magic.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(raw, mode="rb")
    if magic.startswith(b"\x28\xb5\x2f\xfd"):
        raise SourceError(
            "zstd-compressed input is not supported: decompress it first", location=display
        )
    return raw


def _read_up_to(stream: IO[bytes], size: int) -> bytes:
    """Read ``size`` bytes unless the stream ends first (one read may return less)."""
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        block = stream.read(remaining)
        if not block:
            break
        parts.append(block)
        remaining -= len(block)
    return b"".join(parts)


class _PrefixedStream(io.RawIOBase):
    """The bytes already read for the sample, then the rest of the stream (stdin cannot seek)."""

    def __init__(self, prefix: bytes, rest: IO[bytes]) -> None:
        self._prefix = prefix
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            data, self._prefix = self._prefix + self._rest.read(), b""
            return data
        if not self._prefix:
            return self._rest.read(size)
        data, self._prefix = self._prefix[:size], self._prefix[size:]
        if len(data) < size:
            data += _read_up_to(self._rest, size - len(data))
        return data

    def readinto(self, buffer: WriteableBuffer) -> int:
        """Read straight into ``buffer`` (the line reader's chunks are never copied)."""
        target = memoryview(buffer).cast("B")
        if self._prefix:
            count = min(len(target), len(self._prefix))
            target[:count] = self._prefix[:count]
            self._prefix = self._prefix[count:]
            return count
        readinto = getattr(self._rest, "readinto", None)
        if readinto is not None:
            return int(readinto(target) or 0)
        data = self._rest.read(len(target))
        target[: len(data)] = data
        return len(data)


class OpenedInput:
    """An input opened for reading: its container, a sample of records, and its batches."""

    def __init__(self, source: InputSource, container: str | None = None) -> None:
        self.source = source
        self.mtime: datetime | None = None
        self._file: IO[bytes] | None = None
        self._read_ahead: ReadAhead[RecordBatch] | None = None
        self._size: int | None = None  # bytes to read, for a plain file (see _line_batches)
        file_size: int | None = None
        if source.path is not None:
            try:
                stat = source.path.stat()
                self.mtime = datetime.fromtimestamp(stat.st_mtime, tz=UTC)
                file_size = stat.st_size if S_ISREG(stat.st_mode) else None
                base: IO[bytes] = open(source.path, "rb")  # noqa: SIM115 - closed in close()
            except OSError as exc:
                raise SourceError(f"cannot open: {exc.strerror}", location=source.display) from exc
        else:
            base = sys.stdin.buffer
        self._file = base
        # Buffered twice on purpose: the outer reader peeks at decompressed bytes (the sample),
        # the inner one at the raw bytes (the compression magic).
        buffered = io.BufferedReader(cast(io.RawIOBase, base))
        try:
            decompressed = _decompressing(buffered, source.display)
            if decompressed is buffered:  # not compressed: the file holds the bytes read
                self._size = file_size
            self.head = _read_up_to(decompressed, HEAD_BYTES)
            self.stream = cast(IO[bytes], _PrefixedStream(self.head, decompressed))
        except (OSError, EOFError, lzma.LZMAError) as exc:
            self.close()
            raise SourceError(f"cannot decompress: {exc}", location=source.display) from exc
        self.container = container or detect_container(self.head, source)

    def close(self) -> None:
        if self._read_ahead is not None:
            self._read_ahead.stop()  # before the file goes: the thread may be reading it
            self._read_ahead = None
        if self._file is not None and self.source.path is not None:
            self._file.close()
        self._file = None

    def __enter__(self) -> OpenedInput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sample(self) -> list[str]:
        """Up to SAMPLE_RECORDS non-blank records from the start, for format detection."""
        if self.container == "lines":
            text = self.head.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
            lines = text.split("\n")
            if len(self.head) == HEAD_BYTES and len(lines) > 1:
                lines = lines[:-1]  # the last line may be cut by the sample size
            return [line for line in lines if line.strip()][:SAMPLE_RECORDS]
        return []  # other containers are sampled from their first batch by the caller

    def batches(self, *, max_line_bytes: int, batch_records: int) -> Iterator[RecordBatch]:
        """Record batches of at most ``batch_records`` records each.

        Text is read on a thread from this call on (see :class:`ReadAhead`): the caller can
        build what it needs while the first chunk is read.
        """
        if self.container == "lines" and self._read_ahead is None:
            self._read_ahead = ReadAhead(self._line_batches(max_line_bytes, batch_records))
        return self._batches(batch_records)

    def _batches(self, batch_records: int) -> Iterator[RecordBatch]:
        try:
            if self._read_ahead is not None:
                with self._read_ahead as ahead:
                    yield from ahead
            elif self.container == "json":
                yield from _json_batches(self._read_all_text(), batch_records, self.source)
            elif self.container == "csv":
                yield from _csv_batches(self._read_all_text(), batch_records, self.source)
            elif self.container == "parquet":
                yield from _parquet_batches(self._local_path(), batch_records)
            elif self.container == "xlsx":
                yield from _xlsx_batches(self._local_path(), batch_records, self.source)
            else:
                raise SourceError(
                    f"unknown container {self.container!r}", location=self.source.display
                )
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise SourceError(f"read failed: {exc}", location=self.source.display) from exc

    def _line_batches(self, max_line_bytes: int, batch_records: int) -> Iterator[RecordBatch]:
        for lines in iter_line_batches(
            self.stream, max_line_bytes=max_line_bytes, size_hint=self._size
        ):
            for start in range(0, len(lines), batch_records):
                line_no = lines.line_no.slice(start, batch_records)
                numbers = line_no.to_numpy()
                truncated = frozenset(n for n in lines.truncated if numbers[0] <= n <= numbers[-1])
                yield RecordBatch(
                    line_no, line_no, lines.raw.slice(start, batch_records), {}, truncated
                )

    def _read_all_text(self) -> str:
        return self.stream.read().decode("utf-8", "replace")

    def _local_path(self) -> Path:
        if self.source.path is None:
            raise SourceError(f"{self.container} cannot be read from standard input; give a file")
        return self.source.path


def detect_container(head: bytes, source: InputSource) -> str:
    """Guess the container from the first bytes and the file name."""
    suffix = source.path.suffix.lower() if source.path else ""
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        if (
            suffix in (".xlsx", ".xlsm")
            or b"xl/" in head[:4096]
            or b"[Content_Types]" in head[:200]
        ):
            return "xlsx"
        raise SourceError(
            "zip archives are not supported: extract them first", location=source.display
        )
    if head.startswith(b"ElfFile\x00"):
        raise SourceError(
            "binary Windows .evtx file: export it to JSON first (e.g. with evtx_dump -o json)",
            location=source.display,
        )
    if _looks_binary(head):
        raise SourceError("binary file, not a text log", location=source.display)
    if suffix in (".csv", ".tsv") or (
        source.path and source.path.name.lower().endswith((".csv.gz", ".tsv.gz"))
    ):
        return "csv"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"["):
        return "json"
    if stripped.startswith(b"{"):
        first_line = stripped.split(b"\n", 1)[0].strip()
        try:
            json.loads(first_line)
            return "lines"  # one document per line (NDJSON)
        except ValueError:
            return "json"  # pretty-printed document(s)
    return "lines"


def _looks_binary(head: bytes) -> bool:
    """Control bytes where text would be. NULs are left out of the count: a crashed host leaves
    runs of them in auth.log and syslog, and those files must still be read."""
    sample = head[:8192].replace(b"\x00", b"")
    if not sample:
        return bool(head)
    control = sum(1 for b in sample if b < 9 or (13 < b < 32 and b != 27) or b == 127)
    return control > len(sample) // 20


# --- JSON documents -------------------------------------------------------------------------


def _json_batches(text: str, batch_records: int, source: InputSource) -> Iterator[RecordBatch]:
    """Records from an array, an Elasticsearch response, or concatenated JSON values.

    Each record keeps its original text (``event.original``) and the line it starts on. Text that
    is not valid JSON from some point on becomes one raw record with the decoder's reason.
    """
    decoder = json.JSONDecoder()
    newline_at = np.flatnonzero(np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32) == 10)
    records: list[tuple[int, str]] = []  # (offset, raw)
    errors: dict[int, str] = {}
    pos = _skip_ws(text, 0)
    if text.startswith("\ufeff"):
        pos = _skip_ws(text, 1)
    in_array = pos < len(text) and text[pos] == "["
    if in_array:
        pos = _skip_ws(text, pos + 1)
    while pos < len(text):
        if in_array and text[pos] == "]":
            pos = _skip_ws(text, pos + 1)
            in_array = False
            continue
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            records.append((pos, text[pos:]))
            errors[len(records)] = (
                f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            )
            break
        hits = _search_response_hits(value) if not in_array else None
        if hits is not None:
            records.extend((pos, json.dumps(hit, ensure_ascii=False)) for hit in hits)
        else:
            records.append((pos, text[pos:end]))
        pos = _skip_ws(text, end)
        if in_array and pos < len(text) and text[pos] == ",":
            pos = _skip_ws(text, pos + 1)
    offsets = np.array([offset for offset, _ in records], dtype=np.int64)
    lines = np.searchsorted(newline_at, offsets) + 1
    for start in range(0, len(records), batch_records):
        chunk = records[start : start + batch_records]
        numbers = np.arange(start + 1, start + 1 + len(chunk), dtype=np.int64)
        yield RecordBatch(
            pa.array(numbers),
            pa.array(lines[start : start + len(chunk)]),
            pa.array([raw for _, raw in chunk], type=pa.large_string()),
            {n: reason for n, reason in errors.items() if start < n <= start + len(chunk)},
        )


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def _search_response_hits(value: object) -> list[object] | None:
    """The ``_source`` documents of an Elasticsearch/OpenSearch search response, if it is one."""
    if not isinstance(value, dict):
        return None
    hits = value.get("hits")
    if isinstance(hits, dict) and isinstance(hits.get("hits"), list):
        return [h.get("_source", h) if isinstance(h, dict) else h for h in hits["hits"]]
    return None


# --- tables ---------------------------------------------------------------------------------


def _csv_batches(text: str, batch_records: int, source: InputSource) -> Iterator[RecordBatch]:
    sample = text[:HEAD_BYTES]
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel_tab if source.display.lower().endswith(".tsv") else csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise SourceError(f"cannot read the CSV header: {exc}", location=source.display) from exc
    names = _unique_names(header)
    numbers: list[int] = []
    lines: list[int] = []
    raws: list[str] = []
    errors: dict[int, str] = {}
    record_no = 0
    while True:
        start_line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            row, error = [], f"malformed CSV row: {exc}"
        else:
            error = ""
            if len(row) != len(names) and any(cell.strip() for cell in row):
                error = f"expected {len(names)} columns, found {len(row)}"
        if not error and not any(cell.strip() for cell in row):
            continue  # blank rows in a table carry nothing (the header defines the records)
        record_no += 1
        numbers.append(record_no)
        lines.append(start_line)
        if error:
            errors[record_no] = error
            raws.append(json.dumps(row, ensure_ascii=False))
        else:
            raws.append(json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False))
        if len(raws) >= batch_records:
            yield _table_batch(numbers, lines, raws, errors)
            numbers, lines, raws, errors = [], [], [], {}
    if raws:
        yield _table_batch(numbers, lines, raws, errors)


def _unique_names(header: Sequence[object]) -> list[str]:
    names: list[str] = []
    for index, cell in enumerate(header):
        name = str(cell).strip() if cell is not None and str(cell).strip() else f"column{index + 1}"
        while name in names:
            name += "_"
        names.append(name)
    return names


def _table_batch(
    numbers: list[int], lines: list[int], raws: list[str], errors: dict[int, str]
) -> RecordBatch:
    return RecordBatch(
        pa.array(numbers, type=pa.int64()),
        pa.array(lines, type=pa.int64()),
        pa.array(raws, type=pa.large_string()),
        dict(errors),
    )


def _parquet_batches(path: Path, batch_records: int) -> Iterator[RecordBatch]:
    import duckdb

    con = duckdb.connect()
    try:
        reader = con.sql(
            "SELECT to_json(t) AS raw FROM read_parquet(?) AS t", params=[str(path)]
        ).to_arrow_reader(batch_records)
        first = 1
        for batch in reader:
            count = batch.num_rows
            numbers = pa.array(np.arange(first, first + count, dtype=np.int64))
            first += count
            raw = batch.column(0).cast(pa.large_string())
            yield RecordBatch(numbers, numbers, raw)
    except duckdb.Error as exc:
        raise SourceError(f"cannot read Parquet: {exc}", location=str(path)) from exc
    finally:
        con.close()


def _xlsx_batches(path: Path, batch_records: int, source: InputSource) -> Iterator[RecordBatch]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a broken workbook
        raise SourceError(f"cannot read Excel workbook: {exc}", location=source.display) from exc
    record_no = 0
    numbers: list[int] = []
    lines: list[int] = []
    raws: list[str] = []
    try:
        for sheet in book.worksheets:
            rows = sheet.iter_rows(values_only=True)
            header = next(rows, None)
            if header is None:
                continue
            names = _unique_names(header)
            for row_index, row in enumerate(rows, start=2):
                if not any(cell is not None and str(cell).strip() for cell in row):
                    continue
                record_no += 1
                values = {n: _cell_value(v) for n, v in zip(names, row, strict=False)}
                if len(book.worksheets) > 1:
                    values["log.sheet"] = sheet.title
                numbers.append(record_no)
                lines.append(row_index)
                raws.append(json.dumps(values, ensure_ascii=False))
                if len(raws) >= batch_records:
                    yield _table_batch(numbers, lines, raws, {})
                    numbers, lines, raws = [], [], []
    finally:
        book.close()
    if raws:
        yield _table_batch(numbers, lines, raws, {})


def _cell_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, int | float | str | bool):
        return value
    return str(value)
