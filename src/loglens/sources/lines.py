"""Fast splitting of a byte stream into lines, as Arrow arrays, with no per-line Python work.

Line ends are ``\\n``, ``\\r\\n`` and a bare ``\\r`` (old Mac exports, some appliances).
Invalid UTF-8 is replaced by U+FFFD rather than rejected (the line is kept), and a line longer
than the limit is
cut and reported as truncated, so a hostile or broken file can neither stop ingestion nor exhaust
memory.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np
import pyarrow as pa

DEFAULT_CHUNK_BYTES = 128 * 1024 * 1024
_SCAN_BLOCK = 1 << 22  # newline search in cache-sized blocks is ~10x faster than one big pass


@dataclass(frozen=True)
class LineBatch:
    """Consecutive lines of one input: 1-based line numbers and the text without line ends."""

    line_no: pa.Array  # int64
    raw: pa.Array  # large_string
    truncated: frozenset[int]  # line numbers whose text was cut at the limit

    def __len__(self) -> int:
        return len(self.raw)


def iter_line_batches(
    stream: IO[bytes],
    *,
    max_line_bytes: int = 1_048_576,
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    first_line: int = 1,
) -> Iterator[LineBatch]:
    """Split ``stream`` into batches of whole lines (about ``chunk_bytes`` of text each)."""
    next_line = first_line
    carry = b""
    while True:
        chunk = stream.read(chunk_bytes)
        at_eof = not chunk
        data = carry + chunk
        if not data:
            return
        if not at_eof and data.endswith(b"\r"):
            data += stream.read(1)  # a CRLF split across two reads must stay one line end
        data = _normalise_line_ends(data)
        if at_eof:
            body, carry = data, b""
        else:
            cut = data.rfind(b"\n")
            if cut < 0:
                if len(data) <= max_line_bytes:
                    carry = data
                    continue
                # One enormous line: keep its head, drop the rest up to the next line end.
                head = data[:max_line_bytes]
                skipped_to_eol = _skip_to_line_end(stream)
                batch = _build_batch(head + b"\n", next_line, max_line_bytes, force_cut=True)
                yield batch
                next_line += 1
                carry = skipped_to_eol
                continue
            body, carry = data[: cut + 1], data[cut + 1 :]
        batch = _build_batch(body, next_line, max_line_bytes)
        next_line += len(batch)
        yield batch
        if at_eof:
            return


def _skip_to_line_end(stream: IO[bytes]) -> bytes:
    """Discard bytes up to the next line end; return what follows it in the last read."""
    while True:
        block = stream.read(1 << 20)
        if not block:
            return b""
        block = _normalise_line_ends(block)
        pos = block.find(b"\n")
        if pos >= 0:
            return block[pos + 1 :]


def _normalise_line_ends(data: bytes) -> bytes:
    if b"\r" not in data:
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")


def _newline_positions(data: bytes) -> np.ndarray:
    view = np.frombuffer(data, dtype=np.uint8)
    parts = [
        np.flatnonzero(view[off : off + _SCAN_BLOCK] == 10) + off
        for off in range(0, len(view), _SCAN_BLOCK)
    ]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def _build_batch(
    data: bytes, first_line: int, max_line_bytes: int, *, force_cut: bool = False
) -> LineBatch:
    newlines = _newline_positions(data)
    starts = np.concatenate(([0], newlines + 1))
    if starts[-1] == len(data):
        starts = starts[:-1]  # the text ends with a line end: no empty last line
    ends = np.concatenate((newlines, [len(data)]))[: len(starts)]
    lengths = ends - starts
    count = len(starts)
    line_numbers = np.arange(first_line, first_line + count, dtype=np.int64)
    truncated: set[int] = set()
    too_long = np.flatnonzero(lengths > max_line_bytes)
    if force_cut:
        truncated.add(first_line)
    if len(too_long):
        truncated.update(int(first_line + i) for i in too_long)
        pieces = [
            data[s : s + min(n, max_line_bytes)] for s, n in zip(starts, lengths, strict=True)
        ]
        raw = _strings_from_pieces(pieces)
    else:
        text = data.replace(b"\n", b"")
        offsets = (starts - np.arange(count)).astype(np.int64)
        offsets = np.concatenate((offsets, [len(text)])).astype(np.int64)
        raw = pa.LargeStringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(text))
        raw = _repair_utf8(raw, text, offsets)
    return LineBatch(pa.array(line_numbers), raw, frozenset(truncated))


def _strings_from_pieces(pieces: list[bytes]) -> pa.Array:
    return pa.array([p.decode("utf-8", "replace") for p in pieces], type=pa.large_string())


def _repair_utf8(raw: pa.Array, text: bytes, offsets: np.ndarray) -> pa.Array:
    try:
        raw.validate(full=True)
        return raw
    except pa.ArrowInvalid:
        pieces = [text[a:b] for a, b in itertools.pairwise(offsets)]
        return _strings_from_pieces(pieces)
