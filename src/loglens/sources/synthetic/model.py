"""The generator's result records (re-exported by :mod:`loglens.sources.generate`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from loglens.sources.synthetic.clock import iso_z

INCIDENT_KINDS: tuple[str, ...] = (
    "port_scan",
    "ssh_brute_force",
    "exfiltration",
    "dns_tunnelling",
    "web_scan",
    "outage",
    "new_event_type",
)

DATASETS: tuple[str, ...] = (
    "apache.access",
    "system.auth",
    "zeek.conn",
    "zeek.dns",
    "suricata.eve",
)


@dataclass(frozen=True)
class GeneratedFile:
    """One written log file: where, which ``event.dataset`` it holds, how many records."""

    path: Path
    dataset: str
    events: int


@dataclass(frozen=True)
class Incident:
    """Ground truth of one injected incident.

    ``entities`` maps ECS field names (``source.ip``, ``user.name``, ...) to the values involved;
    ``datasets`` names the datasets in which the incident is visible; the window is
    ``[start, end)`` in UTC.
    """

    id: str
    kind: str
    start: datetime
    end: datetime
    entities: dict[str, list[str]]
    datasets: list[str]
    description: str

    def to_json(self) -> dict[str, Any]:
        """The incident as stored in ``labels.json`` (times ISO 8601 UTC with ``Z``)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "start": iso_z(self.start),
            "end": iso_z(self.end),
            "entities": {key: list(values) for key, values in self.entities.items()},
            "datasets": list(self.datasets),
            "description": self.description,
        }


@dataclass(frozen=True)
class GenerateResult:
    """What :func:`~loglens.sources.generate.generate` wrote."""

    out_dir: Path
    start: datetime
    end: datetime
    files: list[GeneratedFile]
    incidents: list[Incident]

    @property
    def total_events(self) -> int:
        return sum(f.events for f in self.files)
