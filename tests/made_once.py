"""Expensive test data made once per test run, whichever pytest-xdist worker asks first.

Each xdist worker is a process with its own fixtures: a module fixture whose tests run on two
workers is built twice. :func:`made_once` builds a folder where all workers of a run can see it
(the parent of their temporary folders), under a file lock; a worker that comes later waits for
it and reads it. Without xdist it is the run's own temporary folder. pytest gives every run new
temporary folders, so nothing is carried over from an earlier run.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


def made_once(
    tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], None]
) -> Path:
    """The folder ``name``, filled by ``build(folder)`` once per test run. Only read it."""
    base = tmp_path_factory.getbasetemp()
    root = base if os.environ.get("PYTEST_XDIST_WORKER") is None else base.parent
    folder = root / name
    complete = root / f"{name}.complete"
    with (root / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        if not complete.exists():
            # A worker that failed half-way left a partial folder: build it again.
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            build(folder)
            complete.touch()
    return folder
