"""The line splitter: line ends, encodings, limits, and chunk boundaries."""

from __future__ import annotations

import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loglens.sources.lines import iter_line_batches


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
