"""Store.profiles in every backend: the same groups, counts, top values and newest events.

The reference answer is itself checked against the per-group questions profiles replaces (a
count, ``terms`` per field, a newest-first ``search``), so the parity below means every backend
answers as those questions would.
"""

from __future__ import annotations

from typing import Any

import pytest

from loglens.errors import QueryError
from loglens.store.base import GroupProfile, Query, Store

# Datasets whose events are whole seconds apart or more: the clusters keep milliseconds, and
# events apart by less would tie differently.
GROUPS = ["system.auth", "apache.access", "no.such.dataset"]
FIELDS = ["host.name", "user.name", "source.ip", "http.response.status_code", "tags"]
SHOWN = ["event.id", "@timestamp", "host.name", "message"]
FILTERS = ["*", "event.outcome:failure OR http.response.status_code:>=400", "host.name:web*"]


def _profiles(store: Store, text: str, **options: Any) -> dict[str, GroupProfile]:
    settings: dict[str, Any] = {
        "terms_fields": FIELDS,
        "terms_size": 3,
        "examples": 4,
        "example_fields": SHOWN,
        **options,
    }
    return store.profiles("event.dataset", GROUPS, Query(text=text), **settings)


def _one_by_one(store: Store, text: str, value: str) -> GroupProfile:
    scope = f'event.dataset:"{value}"' + ("" if text == "*" else f" AND ({text})")
    terms = {}
    for name in FIELDS:
        found = store.terms(name, Query(text=scope, size=None), size=3)
        if found.buckets:
            terms[name] = found.buckets
    examples = store.search(Query(text=scope, size=4, fields=SHOWN, descending=True))
    return GroupProfile(value, store.count(Query(text=scope)), terms, examples.to_pylist())


@pytest.mark.parametrize("text", FILTERS)
def test_profiles_answer_as_the_per_group_questions(reference: Store, text: str) -> None:
    expected = _profiles(reference, text)
    assert "no.such.dataset" not in expected
    assert "system.auth" in expected and expected["system.auth"].examples
    assert list(expected) == [g for g in GROUPS if g in expected]  # in the order asked
    for value, profile in expected.items():
        assert profile == _one_by_one(reference, text, value), value


@pytest.mark.parametrize("text", FILTERS)
def test_profiles(backend: Store, reference: Store, text: str) -> None:
    expected = _profiles(reference, text)
    assert any(len(p.terms.get("user.name", [])) == 3 for p in expected.values())
    assert _profiles(backend, text) == expected


def test_profiles_without_examples_or_fields(backend: Store, reference: Store) -> None:
    bare = _profiles(backend, "*", terms_fields=[], examples=0)
    assert bare == _profiles(reference, "*", terms_fields=[], examples=0)
    assert all(p.terms == {} and p.examples == [] and p.events > 0 for p in bare.values())
    assert backend.profiles("event.dataset", [], Query()) == {}


def test_profiles_refuse_bad_input(backend: Store) -> None:
    with pytest.raises(QueryError):
        backend.profiles("event.dataset", GROUPS, Query(text="status:["))
    with pytest.raises(QueryError):
        backend.profiles("tags", GROUPS, Query())  # lists cannot be grouped by
