"""Masking of variable values in log messages, before template mining.

Each kind of variable (URLs, e-mail addresses, UUIDs, timestamps, MAC and IP addresses, paths,
hexadecimal values, durations, numbers) is one regular expression written in the syntax shared by
Python's ``re`` and RE2, so the same patterns run per message in Python and per column in Arrow
(``pyarrow.compute.replace_substring_regex``, which uses RE2). The kinds are joined into one
alternation, earlier kinds first: a timestamp is masked as a whole before its digits could be
masked as numbers, a URL before the path inside it.
"""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import pyarrow as pa
import pyarrow.compute as pc

#: What a masked value becomes in messages and template texts.
WILDCARD = "<*>"

_MONTH = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_WEEKDAY = r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_TIME = r"[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]+)?"
_ZONE = r"(?:Z|[+-][0-9]{2}:?[0-9]{2})?"
_DATE = r"[0-9]{4}[-/.][0-9]{1,2}[-/.][0-9]{1,2}"
_HEX4 = r"[0-9A-Fa-f]{1,4}"


@dataclass(frozen=True)
class Mask:
    """One kind of variable: a name (for parameters and tests) and its pattern."""

    kind: str
    pattern: str

    @cached_property
    def regex(self) -> re.Pattern[str]:
        return re.compile(self.pattern)


#: Every kind, in the order the alternation tries them at one position.
MASKS: tuple[Mask, ...] = (
    Mask("url", r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s\"'<>()\[\]{}]+"),
    Mask("email", r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
    Mask(
        "uuid",
        r"\b[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\b",
    ),
    Mask(
        "timestamp",
        rf"\b{_DATE}(?:[T _:-]{_TIME})?{_ZONE}"
        rf"|\b(?:{_WEEKDAY},?\s+)?{_MONTH}\s+[0-9]{{1,2}},?\s+(?:[0-9]{{4}}\s+)?{_TIME}"
        rf"(?:\s+[0-9]{{4}}\b)?"
        rf"|\b[0-9]{{1,2}}/{_MONTH}/[0-9]{{4}}:{_TIME}(?:\s[+-][0-9]{{4}})?"
        rf"|\b{_TIME}{_ZONE}",
    ),
    Mask("mac", r"\b[0-9A-Fa-f]{2}(?:[:-][0-9A-Fa-f]{2}){5}\b"),
    Mask(
        "ipv6",
        rf"\b(?:{_HEX4}:){{7}}{_HEX4}\b"
        rf"|\b(?:{_HEX4}:){{1,6}}:(?:{_HEX4}:){{0,5}}{_HEX4}\b"
        rf"|::(?:ffff:)?[0-9]{{1,3}}(?:\.[0-9]{{1,3}}){{3}}\b",
    ),
    Mask("ipv4", r"\b[0-9]{1,3}(?:\.[0-9]{1,3}){3}(?::[0-9]{1,5})?\b"),
    Mask(
        "path",
        r"\B(?:/[^\s/\"'<>|,;:()\[\]{}=]+){2,}/?"
        r"|\b[A-Za-z]:\\[^\s\"'<>|,;]*",
    ),
    Mask("hex", r"\b0[xX][0-9A-Fa-f]+\b|\b[0-9A-Fa-f]*[0-9][0-9A-Fa-f]*[A-Fa-f][0-9A-Fa-f]*\b"),
    # A unit symbol belongs to its value (250ms, 1.5 s, 16.8 KB); a unit word after a space is
    # a word of the message (took 19.47 seconds, 4096 bytes).
    Mask(
        "duration",
        r"\b[0-9]+(?:\.[0-9]+)?(?:\s?(?:ns|us|µs|ms|s|h)|sec|secs|seconds|min|mins|minutes|hrs|hours)\b",
    ),
    Mask("size", r"\b[0-9]+(?:\.[0-9]+)?(?:\s?(?:[KMGTP]i?B|[kKMGT]|B)|bytes?)\b"),
    Mask("literal", r"\b(?:true|false|null|True|False|Null|TRUE|FALSE|NULL)\b"),
    Mask("number", r"(?:\B[+-])?\b[0-9]+(?:\.[0-9]+)*\b"),
)


def combined_pattern(masks: tuple[Mask, ...] = MASKS) -> str:
    """One alternation of ``masks``, tried in order at each position."""
    return "|".join(f"(?:{m.pattern})" for m in masks)


_COMBINED = re.compile(combined_pattern())


def mask_message(message: str) -> str:
    """``message`` with every variable value replaced by :data:`WILDCARD`."""
    return _COMBINED.sub(WILDCARD, message)


_PARALLEL_MIN = 100_000


def mask_array(messages: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Mask a whole column at once (RE2 in Arrow): the per-line path for large inputs.

    Large columns are cut in slices masked on several threads (Arrow releases the GIL).
    """
    if isinstance(messages, pa.ChunkedArray):
        messages = messages.combine_chunks()
    pattern = combined_pattern()
    workers = min(os.cpu_count() or 1, 4)
    if len(messages) < _PARALLEL_MIN or workers < 2:
        return pc.replace_substring_regex(messages, pattern=pattern, replacement=WILDCARD)
    step = -(-len(messages) // workers)
    slices = [messages.slice(start, step) for start in range(0, len(messages), step)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        parts = list(
            pool.map(
                lambda part: pc.replace_substring_regex(
                    part, pattern=pattern, replacement=WILDCARD
                ),
                slices,
            )
        )
    return pa.concat_arrays(parts)
