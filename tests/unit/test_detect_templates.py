"""NewTemplate and RareTemplate on hand-made template count series."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from loglens.detect.base import DetectError
from loglens.detect.baseline import new_categories
from loglens.detect.templates import NewTemplate, RareTemplate, quoted_template
from loglens.series import Series

START = np.datetime64(datetime(2024, 1, 1, tzinfo=UTC).replace(tzinfo=None), "us")
STEP = np.timedelta64(15, "m")
DAYS = 10
BUCKETS = DAYS * 96
TEXTS = {
    "Tbusy": "Accepted publickey for <*> from <*> port <*> ssh<*>",
    "Trare": "kernel: Out of memory: Killed process <*> (<*>)",
    "Tnew1": "new user: <*> UID=<*>, GID=<*>",
    "Tnew2": "add <*> to group 'sudo'",
    "Tnew3": "new group: <*> GID=<*>",
    "Tstray": "weird thing \x1b[31m happened",
}


def _series(key: str, counts: dict[int, float]) -> Series:
    values = np.zeros(BUCKETS)
    for bucket, count in counts.items():
        values[bucket] = count
    return Series(
        (key,),
        START + np.arange(BUCKETS) * STEP,
        values,
        np.zeros(BUCKETS, bool),
        np.ones(BUCKETS, bool),
        ("system.auth",),
    )


def _split(series: list[Series], day: int) -> tuple[list[Series], list[Series]]:
    cut = datetime(2024, 1, 1 + day, tzinfo=UTC)
    return [s.between(None, cut) for s in series], [s.between(cut, None) for s in series]


def test_new_templates_together_are_one_finding_with_their_texts() -> None:
    busy = _series("Tbusy", {b: 3.0 for b in range(0, BUCKETS, 2)})
    # Three kinds of message never seen before, one line each, within minutes on day 8.
    at = 8 * 96 + 10
    new = [_series(k, {at: 1.0}) for k in ("Tnew1", "Tnew2", "Tnew3")]
    stray = _series("Tstray", {5 * 96: 1.0})  # one line of a new kind, alone: not news
    history, current = _split([busy, *new, stray], 1)
    found = NewTemplate(TEXTS, window_days=1, min_score=4.0).fit(history).detect(current)
    assert len(found) == 1, [a.explanation for a in found]
    (group,) = found
    assert group.kind == "new_template" and group.observed == 3
    assert group.explanation.startswith("3 new log templates first seen together")
    for key in ("Tnew1", "Tnew2", "Tnew3"):
        assert TEXTS[key] in group.explanation
    assert group.details["template_ids"] == ["Tnew2", "Tnew3", "Tnew1"]  # same bucket: by text


def test_a_new_template_with_many_events_is_named_by_its_text() -> None:
    busy = _series("Tbusy", {b: 3.0 for b in range(0, BUCKETS, 2)})
    burst = _series("Tnew1", {8 * 96 + b: 5.0 for b in range(4)})
    history, current = _split([busy, burst], 1)
    (found,) = NewTemplate(TEXTS, window_days=1, min_score=4.0).fit(history).detect(current)
    assert found.explanation.startswith(f"new log template {quoted_template(TEXTS['Tnew1'])}")
    assert "20 events" in found.explanation and found.details["template_id"] == "Tnew1"


def test_rare_template_back_in_a_burst_but_not_a_busy_one() -> None:
    busy = _series("Tbusy", {**{b: 3.0 for b in range(0, BUCKETS, 2)}, 9 * 96: 60.0})
    rare = _series("Trare", {10: 1.0, 8 * 96: 4.0, 8 * 96 + 1: 6.0, 8 * 96 + 2: 3.0})
    history, current = _split([busy, rare], 1)
    found = RareTemplate(TEXTS, min_score=4.0).fit(history).detect(current)
    assert [a.details["template_id"] for a in found] == ["Trare"]
    assert found[0].kind == "rare_template"
    assert found[0].explanation.startswith(f"rare log template {quoted_template(TEXTS['Trare'])}")
    assert "13 events" in found[0].explanation


def test_a_noisy_burst_counts_by_buckets_not_lines() -> None:
    # Seen a few times before; now 40 lines, but all within one quarter hour: a scanner's tries.
    noisy = _series("Trare", {10: 2.0, 3 * 96: 1.0, 6 * 96: 3.0, 8 * 96: 40.0})
    history, current = _split([noisy], 1)
    assert RareTemplate(TEXTS, min_score=4.0).fit(history).detect(current) == []


def test_text_is_escaped_and_unfitted_detectors_refuse() -> None:
    assert "\\x1b" in quoted_template(TEXTS["Tstray"]) and "\x1b" not in quoted_template("\x1b")
    assert quoted_template(None) == '"(unknown template)"'
    with pytest.raises(DetectError, match="not fitted"):
        NewTemplate(TEXTS).detect([])
    with pytest.raises(DetectError, match="not fitted"):
        RareTemplate(TEXTS).detect([])


def test_noise_back_in_a_couple_of_lines_or_a_day_after_birth_is_not_news() -> None:
    """A template's return needs three buckets, and the template known for two days."""
    counts = {5: 1, 6: 1}  # born on day 0
    counts |= {96 + b: 1 for b in range(20, 24)}  # back a day later, 4 buckets: too early
    counts |= {6 * 96 + b: 1 for b in range(2)}  # back on day 6, 2 buckets: too little
    counts |= {8 * 96 + b: 1 for b in range(4)}  # back on day 8, 4 buckets: news
    current = [_series("Tstray", counts)]
    for clumped, returns in ((True, [8]), (False, [1, 6, 8])):
        found = new_categories(
            [], current, fields=["loglens.template.id"], training_buckets=96,
            returns_by_buckets=clumped, min_score=2.0,
        )  # fmt: skip
        back = [a for a in found if "seen_before" in a.details]
        assert [(a.start - datetime(2024, 1, 1, tzinfo=UTC)).days for a in back] == returns
