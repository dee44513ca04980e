"""The line splitter: line ends, encodings, limits, and chunk boundaries."""

from __future__ import annotations

import io
from typing import IO, cast

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loglens.sources import lines as lines_module
from loglens.sources.lines import LineBatch, iter_line_batches


def split(data: bytes, **kwargs: int) -> tuple[list[int], list[str], set[int]]:
    numbers: list[int] = []
    lines: list[str] = []
    truncated: set[int] = set()
    for batch in iter_line_batches(io.BytesIO(data), **kwargs):
        numbers.extend(batch.line_no.to_pylist())
        lines.extend(batch.raw.to_pylist())
        truncated |= batch.truncated
    return numbers, lines, truncated


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"a\nb\nc\n", ["a", "b", "c"]),
        (b"a\nb\nc", ["a", "b", "c"]),  # no line end after the last line
        (b"a\r\nb\r\n", ["a", "b"]),  # CRLF
        (b"a\rb\rc", ["a", "b", "c"]),  # bare CR (old Mac)
        (b"a\r\n\r\nb", ["a", "", "b"]),  # blank line kept, counted
        (b"\n\n", ["", ""]),
        (b"", []),
        (b"x\r\ny\rz\n", ["x", "y", "z"]),  # mixed
    ],
)
def test_line_ends(data: bytes, expected: list[str]) -> None:
    numbers, lines, _ = split(data)
    assert lines == expected
    assert numbers == list(range(1, len(expected) + 1))


def test_invalid_utf8_is_replaced_not_dropped() -> None:
    _, lines, _ = split(b"ok\nbad \xff\xfe here\nlatin1 caf\xe9\nok2\n")
    assert lines == ["ok", "bad \ufffd\ufffd here", "latin1 caf\ufffd", "ok2"]


def test_nul_bytes_survive() -> None:
    _, lines, _ = split(b"a\x00b\nc\n")
    assert lines == ["a\x00b", "c"]


def test_long_line_is_cut_and_reported() -> None:
    long_line = b"x" * 5000
    numbers, lines, truncated = split(b"short\n" + long_line + b"\nafter\n", max_line_bytes=1024)
    assert numbers == [1, 2, 3]
    assert lines[0] == "short" and lines[2] == "after"
    assert lines[1] == "x" * 1024
    assert truncated == {2}


def test_line_longer_than_a_chunk_is_cut_and_the_rest_skipped() -> None:
    data = b"first\n" + b"y" * 10_000 + b"\nlast\n"
    numbers, lines, truncated = split(data, max_line_bytes=1024, chunk_bytes=2048)
    assert lines == ["first", "y" * 1024, "last"]
    assert numbers == [1, 2, 3]
    assert truncated == {2}


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    # chunk boundary right after the \r of a \r\n
    data = b"abc\r\ndef\r\nghi\r\n"
    for chunk in range(1, len(data) + 1):
        _, lines, _ = split(data, chunk_bytes=chunk)
        assert lines == ["abc", "def", "ghi"], chunk


def test_multibyte_character_across_chunks() -> None:
    data = "é\n€uro\nlast".encode()
    for chunk in range(1, len(data) + 1):
        _, lines, _ = split(data, chunk_bytes=chunk)
        assert lines == ["é", "€uro", "last"], chunk


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.binary(max_size=40), max_size=30),
    st.sampled_from([b"\n", b"\r\n", b"\r"]),
    st.integers(1, 64),
)
def test_every_line_is_counted(parts: list[bytes], end: bytes, chunk: int) -> None:
    # Lines without line-end bytes inside, joined by one kind of line end.
    cleaned = [p.replace(b"\r", b"").replace(b"\n", b"") for p in parts]
    data = end.join(cleaned)
    numbers, lines, _ = split(data, chunk_bytes=chunk, max_line_bytes=10_000)
    expected = len(cleaned) if data else 0
    if cleaned and cleaned[-1] == b"" and len(cleaned) > 1:
        expected -= 1  # a trailing line end does not start an empty last line
    assert len(lines) == expected
    assert numbers == list(range(1, expected + 1))


# --- zero-copy string views ------------------------------------------------------------------


def reference(data: bytes, max_line_bytes: int) -> tuple[list[str], set[int]]:
    """The same split done the slow, obvious way with Python strings."""
    text = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    parts = text.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()  # a trailing line end does not start an empty last line
    lines = [p[:max_line_bytes].decode("utf-8", "replace") for p in parts]
    return lines, {i + 1 for i, p in enumerate(parts) if len(p) > max_line_bytes}


def views_of(batch: LineBatch) -> np.ndarray:
    """The 16-byte views of a batch, one row each."""
    views = np.frombuffer(batch.raw.buffers()[1], dtype=np.uint8).reshape(-1, 16)
    return views[batch.raw.offset : batch.raw.offset + len(batch.raw)]


def test_lines_are_views_into_the_chunk_across_the_inline_limit() -> None:
    lengths = [*range(30), 100, 4096]
    rng = np.random.default_rng(11)
    alphabet = np.frombuffer(b'abcdefghijklmnopqrstuvwxyz0123456789 {}:,"', dtype=np.uint8)
    lines = [rng.choice(alphabet, size=n).tobytes() for n in lengths]
    data = b"\n".join(lines) + b"\n"
    batches = list(iter_line_batches(io.BytesIO(data), max_line_bytes=10_000))
    assert len(batches) == 1
    batch = batches[0]
    assert batch.raw.type == pa.string_view()
    batch.raw.validate(full=True)
    assert batch.raw.to_pylist() == [line.decode() for line in lines]
    # The only data buffer is the chunk as read, line ends included: nothing was copied.
    assert len(batch.raw.buffers()) == 3
    assert batch.raw.buffers()[2].to_pybytes()[: len(data)] == data
    views = views_of(batch)
    words = views.view("<i4")
    position = 0
    for row, line in enumerate(lines):
        assert words[row, 0] == len(line)
        if len(line) <= 12:
            assert views[row, 4 : 4 + len(line)].tobytes() == line
            assert not views[row, 4 + len(line) :].any()  # padded with zeros
        else:
            assert views[row, 4:8].tobytes() == line[:4]
            assert (words[row, 2], words[row, 3]) == (0, position)
        position += len(line) + 1


def test_a_twelve_and_a_thirteen_byte_line_compare_like_python() -> None:
    import duckdb

    data = b"abcdefghijkl\nabcdefghijklm\nabcdefghijkl\n"
    (batch,) = iter_line_batches(io.BytesIO(data))
    con = duckdb.connect()
    con.register("lines", pa.table({"raw": batch.raw}))
    rows = con.sql(
        "SELECT raw, length(raw), count(*) FROM lines GROUP BY raw ORDER BY raw"
    ).fetchall()
    assert rows == [("abcdefghijkl", 12, 2), ("abcdefghijklm", 13, 1)]


@pytest.mark.parametrize("invalid", [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf5\x80"])
def test_only_lines_with_invalid_utf8_are_repaired(invalid: bytes) -> None:
    good_long = "ünïcode line that is well past twelve bytes".encode()
    bad_short = b"ab" + invalid + b"c"
    bad_long = b"a longer line, broken here: " + invalid + b" and going on"
    data = b"\n".join([good_long, bad_short, b"ok", bad_long, good_long]) + b"\n"
    (batch,) = iter_line_batches(io.BytesIO(data))
    batch.raw.validate(full=True)
    assert batch.raw.to_pylist() == reference(data, 1 << 20)[0]
    assert "\ufffd" in batch.raw[1].as_py() and "\ufffd" in batch.raw[3].as_py()
    words = views_of(batch).view("<i4")
    # Valid long lines still point into the chunk; the broken long one into the repair buffer.
    assert words[0, 2] == 0 and words[4, 2] == 0
    assert words[3, 2] == len(batch.raw.buffers()) - 3


def test_one_broken_line_among_valid_non_ascii_lines() -> None:
    lines = [f"ligne {i}: réseau connecté ✓".encode() for i in range(3000)]
    lines[1234] = b"ligne cass\xe9e au milieu"
    lines[2000] = "a valid line that holds \ufffd itself".encode()
    data = b"\n".join(lines) + b"\n"
    (batch,) = iter_line_batches(io.BytesIO(data))
    assert batch.raw.to_pylist() == reference(data, 1 << 20)[0]
    buffer_index = views_of(batch).view("<i4")[:, 2]
    # Every valid line still points into the chunk; at most the two lines with U+FFFD moved.
    assert set(np.flatnonzero(buffer_index != 0).tolist()) <= {1234, 2000}
    assert buffer_index[1234] != 0


def test_many_invalid_lines_are_all_repaired_in_place() -> None:
    rng = np.random.default_rng(5)
    lines = [b"caf\xe9 " * int(n) if n % 3 else b"plain" for n in rng.integers(1, 9, 5000)]
    data = b"\r\n".join(lines)
    numbers, got, _ = split(data, chunk_bytes=4096)
    assert got == reference(data, 1 << 20)[0]
    assert numbers == list(range(1, len(lines) + 1))


def test_cut_inside_a_multibyte_character_is_replaced() -> None:
    data = ("é" * 600).encode() + b"\nnext\n"  # 1200 bytes; the cut at 1023 splits an é
    _, lines, truncated = split(data, max_line_bytes=1023)
    assert lines == ["é" * 511 + "\ufffd", "next"]
    assert truncated == {1}


@pytest.mark.parametrize("end", [b"\n", b"\r\n", b"\r"])
@pytest.mark.parametrize("chunk", [7, 100, 1024, 1025, 1026, 1500, 4096])
def test_truncation_with_every_line_end_and_chunk_size(end: bytes, chunk: int) -> None:
    lines = [b"a" * 10, b"b" * 1024, b"c" * 1025, b"d" * 3000, b"", b"e" * 5]
    data = end.join(lines) + end
    numbers, got, truncated = split(data, max_line_bytes=1024, chunk_bytes=chunk)
    assert got == ["a" * 10, "b" * 1024, "c" * 1024, "d" * 1024, "", "e" * 5]
    assert numbers == [1, 2, 3, 4, 5, 6]
    assert truncated == {3, 4}


def test_cr_at_the_end_of_a_read_is_decided_by_the_next_one() -> None:
    # A bare CR closing a chunk ends its line; a CR whose LF is in the next chunk is one end.
    data = b"abc\rdef\r\nghi\r"
    for chunk in range(1, len(data) + 2):
        numbers, lines, _ = split(data, chunk_bytes=chunk)
        assert lines == ["abc", "def", "ghi"], chunk
        assert numbers == [1, 2, 3]


def test_line_ends_after_a_line_cut_across_reads() -> None:
    # Chunks of 1601 bytes end right after the bare CR that closes the z line (offset 8004),
    # chunks of 5001 right after the CR of the CRLF closing the x line.
    data = b"x" * 5000 + b"\r\ny\r" + b"z" * 3000 + b"\rw\n"
    for chunk in (64, 1000, 1601, 2049, 5001):
        _, lines, truncated = split(data, max_line_bytes=2048, chunk_bytes=chunk)
        assert lines == ["x" * 2048, "y", "z" * 2048, "w"], chunk
        assert truncated == {1, 3}


def test_line_numbers_continue_across_batches() -> None:
    data = b"".join(b"line %d\n" % i for i in range(1, 1001))
    batches = list(iter_line_batches(io.BytesIO(data), chunk_bytes=997, first_line=10))
    assert len(batches) > 5
    numbers = [n for b in batches for n in b.line_no.to_pylist()]
    assert numbers == list(range(10, 1010))
    assert [s for b in batches for s in b.raw.to_pylist()] == [f"line {i}" for i in range(1, 1001)]


def test_one_enormous_line_without_an_end() -> None:
    numbers, lines, truncated = split(b"q" * 100_000, max_line_bytes=1024, chunk_bytes=4096)
    assert (numbers, lines, truncated) == ([1], ["q" * 1024], {1})


def test_offsets_past_the_int32_range_use_more_buffers(monkeypatch: pytest.MonkeyPatch) -> None:
    # Shrink the span of one buffer so that a small chunk needs several overlapping ones.
    monkeypatch.setattr(lines_module, "_SPAN_BITS", 5)
    data = b"".join(b"line number %03d here\n" % i for i in range(40)) + b"broken \xff line\n"
    (batch,) = iter_line_batches(io.BytesIO(data))
    batch.raw.validate(full=True)
    assert len(batch.raw.buffers()) > 4
    assert batch.raw.to_pylist() == reference(data, 1 << 20)[0]


class ReadOnly:
    """A stream with read() alone, and short reads."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._inner.read(min(size, 3))


class RawReadOnly(io.RawIOBase):
    """A raw stream that implements read() only: its inherited readinto() refuses."""

    def __init__(self, data: bytes) -> None:
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        return self._inner.read(size)


@pytest.mark.parametrize("kind", [ReadOnly, RawReadOnly])
def test_a_stream_without_readinto_is_read_too(kind: type) -> None:
    stream = cast(IO[bytes], kind(b"one\r\ntwo\nthree"))
    got = [s for b in iter_line_batches(stream, chunk_bytes=5) for s in b.raw.to_pylist()]
    assert got == ["one", "two", "three"]


def test_sizes_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        list(iter_line_batches(io.BytesIO(b"a\n"), chunk_bytes=0))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=30),
            st.sampled_from([b"\r", b"\n", b"\r\n", b"\xc3\xa9", b"\xe2\x82\xac", b"\xff"]),
        ),
        max_size=40,
    ),
    st.integers(1, 64),
    st.integers(1, 40),
)
def test_same_lines_as_the_obvious_split(parts: list[bytes], chunk: int, limit: int) -> None:
    data = b"".join(parts)
    numbers, lines, truncated = split(data, chunk_bytes=chunk, max_line_bytes=limit)
    expected, expected_truncated = reference(data, limit)
    assert lines == expected
    assert numbers == list(range(1, len(expected) + 1))
    assert truncated == expected_truncated


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.binary(max_size=30), max_size=20),
    st.integers(1, 48),
    st.integers(-40, 40),
)
def test_a_size_hint_changes_nothing_read(parts: list[bytes], chunk: int, error: int) -> None:
    """The hint only decides how a chunk's memory is committed: right, short or long, the
    lines are the same."""
    data = b"\n".join(p.replace(b"\r", b"").replace(b"\n", b"") for p in parts)
    plain = split(data, chunk_bytes=chunk, max_line_bytes=10_000)
    hinted = split(data, chunk_bytes=chunk, max_line_bytes=10_000, size_hint=len(data) + error)
    assert hinted == plain == (plain[0], reference(data, 10_000)[0], set())
