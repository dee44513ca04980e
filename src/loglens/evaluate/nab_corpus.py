"""Reading a corpus in the Numenta Anomaly Benchmark layout.

A corpus folder holds ``data/<category>/<file>.csv`` (header ``timestamp,value``, one row per
point, timestamps in non-decreasing order, naive and taken as UTC) and
``labels/combined_windows.json``, which maps each file's path relative to ``data/`` (e.g.
``realTweets/Twitter_volume_GOOG.csv``) to its anomaly windows ``[[start, end], ...]``
(both ends inclusive). Labels for files that are not in the folder are ignored, so a part of
the corpus can be scored on its own; a data file without labels is an error.
"""

from __future__ import annotations

import csv
import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from loglens.errors import SourceError

WINDOWS_FILE = Path("labels") / "combined_windows.json"

Window = tuple[np.datetime64, np.datetime64]


@dataclass(frozen=True)
class NabFile:
    """One series of the corpus with its labelled windows.

    Attributes:
        name: path relative to ``data/`` with forward slashes, as in the labels file.
        timestamps: point times, ``datetime64[us]``, non-decreasing.
        values: the series, float64, finite.
        windows: the anomaly windows ``(start, end)``, both inclusive, in time order.
    """

    name: str
    timestamps: NDArray[np.datetime64]
    values: NDArray[np.float64]
    windows: list[Window]

    @property
    def category(self) -> str:
        """The folder under ``data/`` (``realTweets``, ``artificialWithAnomaly``, ...)."""
        return self.name.split("/", 1)[0] if "/" in self.name else ""


@dataclass(frozen=True)
class NabCorpus:
    """The files of a corpus folder, sorted by name."""

    root: Path
    files: list[NabFile]
    labels_without_data: list[str] = field(default_factory=list)

    @property
    def windows(self) -> int:
        """Number of labelled windows over all files."""
        return sum(len(f.windows) for f in self.files)


def load_corpus(corpus_dir: str | Path, *, categories: list[str] | None = None) -> NabCorpus:
    """Read every data file of a NAB-layout folder with its windows.

    Args:
        corpus_dir: the folder holding ``data/`` and ``labels/combined_windows.json``.
        categories: keep only these folders under ``data/`` (None: all).

    Returns:
        The corpus, files sorted by name.

    Raises:
        SourceError: the folder, the data or the labels file is missing or malformed.
    """
    root = Path(corpus_dir)
    data_dir = root / "data"
    if not data_dir.is_dir():
        raise SourceError("not a NAB corpus: no data/ folder", location=str(root))
    windows = load_windows(root / WINDOWS_FILE)
    paths = sorted(data_dir.rglob("*.csv"))
    if categories is not None:
        wanted = set(categories)
        paths = [p for p in paths if p.relative_to(data_dir).parts[0] in wanted]
    if not paths:
        raise SourceError("no .csv data files under data/", location=str(root))
    files: list[NabFile] = []
    for path in paths:
        name = path.relative_to(data_dir).as_posix()
        if name not in windows:
            raise SourceError(
                f"{name} has no entry in {WINDOWS_FILE.as_posix()}", location=str(path)
            )
        timestamps, values = read_series_csv(path)
        files.append(NabFile(name, timestamps, values, windows[name]))
    present = {f.name for f in files}
    in_scope = [n for n in windows if categories is None or n.split("/", 1)[0] in categories]
    missing = sorted(n for n in in_scope if n not in present)
    return NabCorpus(root, files, missing)


def load_windows(path: str | Path) -> dict[str, list[Window]]:
    """Read ``combined_windows.json``: file name → sorted, non-overlapping windows.

    Raises:
        SourceError: the file is missing, not JSON, or not shaped like NAB's windows file.
    """
    where = str(path)
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourceError("labels file not found", location=where) from None
    except OSError as exc:
        raise SourceError(f"cannot read labels: {exc.strerror}", location=where) from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SourceError(f"labels file is not valid JSON: {exc}", location=where) from exc
    if not isinstance(document, dict):
        raise SourceError("labels file must map file names to window lists", location=where)
    result: dict[str, list[Window]] = {}
    for name, entries in document.items():
        if not isinstance(entries, list):
            raise SourceError(f"windows of {name} must be a list", location=where)
        windows: list[Window] = []
        for entry in entries:
            if not (isinstance(entry, list) and len(entry) == 2):
                raise SourceError(f"a window of {name} is not a [start, end] pair", location=where)
            start, end = (_timestamp(value, f"window of {name}", where) for value in entry)
            if end < start:
                raise SourceError(f"a window of {name} ends before it starts", location=where)
            windows.append((start, end))
        windows.sort()
        for (_, end), (start, _) in itertools.pairwise(windows):
            if start <= end:
                raise SourceError(f"windows of {name} overlap", location=where)
        result[str(name)] = windows
    return result


def read_series_csv(path: str | Path) -> tuple[NDArray[np.datetime64], NDArray[np.float64]]:
    """Read one ``timestamp,value`` file.

    Returns:
        ``(timestamps as datetime64[us], values as float64)``.

    Raises:
        SourceError: missing file, wrong header, bad row (with its line number), non-finite
            value, timestamps going back, or no rows at all.
    """
    where = str(path)
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.reader(handle))
    except FileNotFoundError:
        raise SourceError("data file not found", location=where) from None
    except OSError as exc:
        raise SourceError(f"cannot read data file: {exc.strerror}", location=where) from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SourceError(f"not a CSV text file: {exc}", location=where) from exc
    if not rows or [c.strip().lower() for c in rows[0]] != ["timestamp", "value"]:
        raise SourceError("header must be 'timestamp,value'", location=f"{where}:1")
    body = rows[1:]
    for i, row in enumerate(body):
        if len(row) != 2:
            raise SourceError(f"expected 2 columns, got {len(row)}", location=f"{where}:{i + 2}")
    try:
        # One vectorised parse; only on failure walk the rows to name the bad line
        stamps = np.array([r[0].strip().replace(" ", "T", 1) for r in body], dtype="datetime64[us]")
    except ValueError:
        for i, row in enumerate(body):
            _timestamp(row[0], "timestamp", f"{where}:{i + 2}")
        raise
    try:
        values = np.array([r[1] for r in body], dtype=np.float64)
    except ValueError:
        for i, row in enumerate(body):
            try:
                float(row[1])
            except ValueError:
                line = f"{where}:{i + 2}"
                raise SourceError(f"value {row[1]!r} is not a number", location=line) from None
        raise
    if not np.isfinite(values).all():
        i = int(np.argmin(np.isfinite(values)))
        raise SourceError(f"value {body[i][1]!r} is not finite", location=f"{where}:{i + 2}")
    if len(stamps) == 0:
        raise SourceError("no data rows", location=where)
    # Repeated stamps occur in the real corpus (clock changes), so only going back is refused
    backwards = np.diff(stamps) < np.timedelta64(0, "us")
    if backwards.any():
        later = int(np.argmax(backwards)) + 3  # the later row: header + 1-based + next
        raise SourceError("timestamps go back in time", location=f"{where}:{later}")
    return stamps, values


def _timestamp(value: object, what: str, where: str) -> np.datetime64:
    if not isinstance(value, str):
        raise SourceError(f"{what}: {value!r} is not a timestamp string", location=where)
    try:
        return np.datetime64(value.strip().replace(" ", "T", 1), "us")
    except ValueError:
        raise SourceError(f"{what}: {value!r} is not a timestamp", location=where) from None
