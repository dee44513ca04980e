"""The error evaluation raises when a detector or an option is unusable."""

from __future__ import annotations

from loglens.errors import LoglensError


class EvaluationError(LoglensError):
    """A detector returned unusable scores, or an evaluation option is invalid.

    Unreadable corpora and label files raise :class:`~loglens.errors.SourceError` instead.
    """
