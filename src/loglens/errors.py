"""One exception tree for the library.

Only ``cli.py`` turns these into messages and exit codes; every error carries the place it
happened (a file and line, a config key, a store URL) so the message can name it.
"""

from __future__ import annotations


class LoglensError(Exception):
    """Base of every error loglens raises on purpose."""

    def __init__(self, message: str, *, location: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.location = location

    def __str__(self) -> str:
        if self.location:
            return f"{self.location}: {self.message}"
        return self.message


class ConfigError(LoglensError):
    """The configuration (file, environment or flags) is invalid; ``location`` names the key."""


class SourceError(LoglensError):
    """An input cannot be read (missing file, unreadable archive, unknown format)."""


class ParseError(LoglensError):
    """A record could not be parsed. Ingestion stores such records raw instead of raising."""


class QueryError(LoglensError):
    """A Lucene query could not be parsed or translated for the store."""


class StoreError(LoglensError):
    """The store cannot be opened, read or written."""


class GenerateError(LoglensError):
    """Synthetic traffic could not be generated with the given options."""


class ClusterError(StoreError):
    """Elasticsearch/OpenSearch failed a request; ``status``: the HTTP status if one came."""

    def __init__(
        self, message: str, *, location: str | None = None, status: int | None = None
    ) -> None:
        super().__init__(message, location=location)
        self.status = status


class SemanticError(LoglensError):
    """The embedding model is missing or unreadable, or a semantic index was misused."""
