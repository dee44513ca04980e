"""All parsers, and format detection: the best-scoring parser for a sample wins.

Order matters only for ties: specific formats come before general ones (an ECS document is also
a JSON object; every line is also text).
"""

from __future__ import annotations

from dataclasses import dataclass

from loglens.errors import SourceError
from loglens.parse.base import Parser, Sample

# A parser must be at least this sure to be chosen automatically.
MIN_SCORE = 0.5


def all_parsers() -> list[Parser]:
    """Every parser, most specific first."""
    from loglens.parse.json_docs import EcsJsonParser, GenericJsonParser
    from loglens.parse.suricata import SuricataEveParser
    from loglens.parse.syslog import SyslogParser
    from loglens.parse.tabular import TableParser
    from loglens.parse.text import PlainTextParser
    from loglens.parse.web import AccessLogParser
    from loglens.parse.windows import WindowsEventParser
    from loglens.parse.zeek import ZeekJsonParser, ZeekTsvParser

    return [
        AccessLogParser(),
        SyslogParser(),
        ZeekTsvParser(),
        ZeekJsonParser(),
        SuricataEveParser(),
        WindowsEventParser(),
        EcsJsonParser(),
        TableParser(),
        GenericJsonParser(),
        PlainTextParser(),
    ]


def parser_names() -> list[str]:
    return [p.name for p in all_parsers()]


def get_parser(name: str) -> Parser:
    """The parser ``--format`` names."""
    for parser in all_parsers():
        if parser.name == name:
            return parser
    raise SourceError(f"unknown format {name!r}; known formats: {', '.join(parser_names())}")


@dataclass(frozen=True)
class Detection:
    parser: Parser
    score: float
    scores: dict[str, float]


def detect_format(sample: Sample) -> Detection | None:
    """The parser that recognises the sample best, or None if none is sure enough."""
    scores: dict[str, float] = {}
    best: tuple[float, Parser] | None = None
    for parser in all_parsers():
        if sample.container not in parser.containers:
            continue
        score = parser.sniff(sample)
        scores[parser.name] = score
        if best is None or score > best[0]:
            best = (score, parser)
    if best is None:
        return None
    if best[0] >= MIN_SCORE or (best[1].name in ("text", "table") and best[0] > 0):
        return Detection(best[1], best[0], scores)
    return None
