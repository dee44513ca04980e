"""Fast splitting of a byte stream into lines, as Arrow arrays, with no per-line Python work.

Line ends are ``\\n``, ``\\r\\n`` and a bare ``\\r`` (old Mac exports, some appliances).
Invalid UTF-8 is replaced by U+FFFD rather than rejected (the line is kept), and a line longer
than the limit is cut and reported as truncated, so a hostile or broken file can neither stop
ingestion nor exhaust memory.

The text is never copied: each chunk is read straight into a fresh buffer, and the lines become
an Arrow ``string_view`` array whose 16-byte views point into that buffer (a line of at most 12
bytes sits inside its view). Cutting a long line only shortens its view. Only lines that are not
valid UTF-8 get new bytes, in one extra buffer holding their repaired text.
"""

from __future__ import annotations

import codecs
import io
import mmap
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np
import pyarrow as pa

DEFAULT_CHUNK_BYTES = 128 * 1024 * 1024
_SCAN_BLOCK = 1 << 20  # a byte search in cache-sized blocks is several times faster than one pass
_INLINE_BYTES = 12  # a view holds a line this short itself, zero-padded
_PREFIX_BYTES = 4  # a longer line's view repeats its first bytes (fast comparisons)
# A view's offset is an int32: a buffer larger than this is reached through overlapping slices
# of it (slice k starts at k << _SPAN_BITS), so offsets stay small and nothing is copied.
_SPAN_BITS = 30
_VALIDATE_ROWS = 1024  # rows checked together before looking for the invalid line among them


@dataclass(frozen=True)
class LineBatch:
    """Consecutive lines of one input: 1-based line numbers and the text without line ends."""

    line_no: pa.Array  # int64
    raw: pa.Array  # string_view into the chunk read (pyarrow's take/filter refuse it: cast)
    truncated: frozenset[int]  # line numbers whose text was cut at the limit

    def __len__(self) -> int:
        return len(self.raw)


def iter_line_batches(
    stream: IO[bytes],
    *,
    max_line_bytes: int = 1_048_576,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    first_line: int = 1,
    size_hint: int | None = None,
) -> Iterator[LineBatch]:
    """Split ``stream`` into batches of whole lines (about ``chunk_bytes`` of text each).

    Args:
        stream: Binary input; read with ``readinto`` when it has one.
        max_line_bytes: Longer lines are cut to this many bytes and reported as truncated.
        chunk_bytes: How much is read at a time; a batch holds the whole lines of one read.
        first_line: Number of the first line.
        size_hint: How many bytes the stream holds, when known (a plain file): a chunk sure
            to be filled is mapped with its pages committed at once, which costs a quarter
            of the faults page by page. Only a hint: any stream length is read right.

    Yields:
        Batches of at least one line; the last line need not end with a line end.

    Raises:
        ValueError: ``chunk_bytes`` or ``max_line_bytes`` is not positive.
    """
    if chunk_bytes < 1 or max_line_bytes < 1:
        raise ValueError("chunk_bytes and max_line_bytes must be positive")
    next_line = first_line
    carry = b""  # the start of a line whose end has not been read yet
    unread = size_hint  # bytes the stream still holds, if known
    while True:
        buffer = _chunk_buffer(
            len(carry) + chunk_bytes, full=unread is not None and unread >= chunk_bytes
        )
        buffer[: len(carry)] = carry
        got = _fill(stream, memoryview(buffer)[len(carry) :])
        unread = None if unread is None else unread - got
        at_eof = got < chunk_bytes
        size = len(carry) + got
        if size == 0:
            return
        data = np.frombuffer(buffer, dtype=np.uint8, count=size)
        has_cr = buffer.find(b"\r", 0, size) >= 0
        starts, ends, body_end = _line_bounds(data, at_eof=at_eof, has_cr=has_cr)
        carry = _carry(buffer[body_end:size], max_line_bytes)
        if len(starts):
            batch = _build_batch(buffer, data, starts, ends, next_line, max_line_bytes)
            next_line += len(batch)
            yield batch
        if at_eof:
            return


def _chunk_buffer(size: int, *, full: bool) -> mmap.mmap:
    """Anonymous memory for one chunk: committed at once when it will be ``full``, else page
    by page as it fills (a small file does not cost a whole chunk)."""
    populate = getattr(mmap, "MAP_POPULATE", 0)
    if full and populate:
        flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | populate
        return mmap.mmap(-1, size, flags=flags)
    return mmap.mmap(-1, size)


def _fill(stream: IO[bytes], target: memoryview) -> int:
    """Read into ``target`` until it is full or the stream ends; return the bytes read."""
    filled = 0
    while filled < len(target):
        got = _read_into(stream, target[filled:])
        if not got:
            break
        filled += got
    return filled


def _read_into(stream: IO[bytes], target: memoryview) -> int:
    readinto = getattr(stream, "readinto", None)
    if readinto is not None:
        try:
            return int(readinto(target) or 0)
        except (NotImplementedError, io.UnsupportedOperation):
            pass  # a raw stream that only implements read()
    block = stream.read(len(target))
    target[: len(block)] = block
    return len(block)


def _carry(tail: bytes, max_line_bytes: int) -> bytes:
    """What of an unfinished line goes in front of the next read.

    A line already past the limit will be cut anyway: keeping one byte more than the limit is
    enough for it to be cut and reported, and bounds memory however long the line is. A final
    ``\\r`` is kept too, since the next read decides whether it ends the line or starts a CRLF.
    """
    if len(tail) <= max_line_bytes + 1:
        return tail
    return tail[: max_line_bytes + 1] + (b"\r" if tail.endswith(b"\r") else b"")


def _positions(data: np.ndarray, byte: int) -> np.ndarray:
    parts = [
        np.flatnonzero(data[off : off + _SCAN_BLOCK] == byte) + off
        for off in range(0, len(data), _SCAN_BLOCK)
    ]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def _line_ends(data: np.ndarray, *, has_cr: bool) -> tuple[np.ndarray, np.ndarray]:
    """Where each line end starts, and where the line after it starts (``\\r\\n`` is one end)."""
    newlines = _positions(data, 10)
    if not has_cr:
        return newlines, newlines + 1
    returns = _positions(data, 13)
    after = returns + 1
    crlf = np.zeros(len(returns), dtype=bool)
    inside = after < len(data)
    crlf[inside] = data[after[inside]] == 10
    lone_newlines = np.setdiff1d(newlines, after[crlf], assume_unique=True)
    ends = np.concatenate((returns, lone_newlines))
    nexts = np.concatenate((after + crlf, lone_newlines + 1))
    order = np.argsort(ends, kind="stable")
    return ends[order], nexts[order]


def _line_bounds(
    data: np.ndarray, *, at_eof: bool, has_cr: bool
) -> tuple[np.ndarray, np.ndarray, int]:
    """Start and end (line end excluded) of each complete line, and where the rest begins."""
    size = len(data)
    ends, nexts = _line_ends(data, has_cr=has_cr)
    if not at_eof and len(ends) and ends[-1] == size - 1 and data[-1] == 13:
        # A CR in the last byte may be the first half of a CRLF that the next read completes.
        ends, nexts = ends[:-1], nexts[:-1]
    if at_eof:
        starts = np.concatenate(([0], nexts))
        if starts[-1] == size:
            starts = starts[:-1]  # the text ends with a line end: no empty last line
        ends = np.concatenate((ends, [size]))[: len(starts)]
        return starts, ends, size
    if not len(ends):
        return ends, ends, 0
    return np.concatenate(([0], nexts[:-1])), ends, int(nexts[-1])


def _build_batch(
    buffer: mmap.mmap,
    data: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    first_line: int,
    max_line_bytes: int,
) -> LineBatch:
    full_lengths = ends - starts
    lengths = np.minimum(full_lengths, max_line_bytes)
    count = len(starts)
    truncated = frozenset((np.flatnonzero(full_lengths > max_line_bytes) + first_line).tolist())
    views = _views(data, starts, lengths, first_buffer=0)
    spans = _spans(pa.py_buffer(buffer).slice(0, len(data)))
    raw = _string_views(views, spans)
    try:
        raw.validate(full=True)
    except pa.ArrowInvalid:
        raw = _repaired(raw, views, spans, data, starts, lengths)
    line_numbers = np.arange(first_line, first_line + count, dtype=np.int64)
    return LineBatch(pa.array(line_numbers), raw, truncated)


def _string_views(views: np.ndarray, buffers: list[pa.Buffer]) -> pa.Array:
    return pa.Array.from_buffers(
        pa.string_view(), len(views), [None, pa.py_buffer(views), *buffers]
    )


def _spans(buffer: pa.Buffer) -> list[pa.Buffer]:
    """The buffer, plus overlapping slices of it when offsets would not fit in an int32."""
    count = (max(buffer.size - 1, 0) >> _SPAN_BITS) + 1
    return [buffer.slice(k << _SPAN_BITS) for k in range(count)]


def _views(
    source: np.ndarray, starts: np.ndarray, lengths: np.ndarray, *, first_buffer: int
) -> np.ndarray:
    """Arrow views (one row of 16 bytes each) of the strings ``source[starts : starts + lengths]``.

    The layout: int32 length, then either the string itself (at most 12 bytes, padded with
    zeros) or its first 4 bytes, the int32 index of its data buffer and its int32 offset there.
    """
    views = np.zeros((len(starts), 16), dtype=np.uint8)
    if not len(source):
        return views  # only empty strings
    words = views.view("<i4")
    words[:, 0] = lengths
    # Written for every row first (whole columns are fast), then overwritten for short strings.
    last = len(source) - 1
    views[:, 4:8] = source[np.minimum(starts[:, None] + np.arange(_PREFIX_BYTES), last)]
    words[:, 2] = (starts >> _SPAN_BITS) + first_buffer
    words[:, 3] = starts & ((1 << _SPAN_BITS) - 1)
    short = np.flatnonzero(lengths <= _INLINE_BYTES)
    if len(short):
        width = np.arange(_INLINE_BYTES)
        inline = source[np.minimum(starts[short, None] + width, last)]
        views[short, 4:] = np.where(width < lengths[short, None], inline, 0)
    return views


def _repaired(
    raw: pa.Array,
    views: np.ndarray,
    spans: list[pa.Buffer],
    data: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
) -> pa.Array:
    """``raw`` with U+FFFD for the invalid bytes of the lines that have some.

    Only lines with a byte above 0x7F can be invalid; Arrow checks those in blocks, and only in
    a failing block is each line decoded. A few broken lines in a big file cost little, and a
    file in Latin-1 (every line broken) stays linear.
    """
    suspects = np.flatnonzero(np.maximum.reduceat(data, starts) >= 0x80)
    checked = _string_views(views[suspects], spans)
    text = data.data  # a memoryview: slices of it are not copies
    bad: list[int] = []
    pieces: list[bytes] = []
    for block in range(0, len(suspects), _VALIDATE_ROWS):
        try:
            checked.slice(block, _VALIDATE_ROWS).validate(full=True)
            continue
        except pa.ArrowInvalid:
            pass
        rows = suspects[block : block + _VALIDATE_ROWS]
        firsts, lasts = starts[rows].tolist(), (starts[rows] + lengths[rows]).tolist()
        for row, first, last in zip(rows.tolist(), firsts, lasts, strict=True):
            line = codecs.utf_8_decode(text[first:last], "replace", True)[0]
            if "\ufffd" in line:  # a valid line that holds U+FFFD itself is rewritten unchanged
                bad.append(row)
                pieces.append(line.encode())
    fixed = np.frombuffer(b"".join(pieces), dtype=np.uint8)
    fixed_lengths = np.array([len(p) for p in pieces], dtype=np.int64)
    fixed_starts = np.cumsum(fixed_lengths) - fixed_lengths
    views = views.copy()
    views[bad] = _views(fixed, fixed_starts, fixed_lengths, first_buffer=len(spans))
    return _string_views(views, [*spans, *_spans(pa.py_buffer(fixed))])
