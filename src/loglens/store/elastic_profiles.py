"""The cluster's side of ``Store.profiles``: several groups of events described in one search.

The events ``query`` selects and whose ``field`` is one of the values asked for are split by a
``terms`` aggregation on ``field``; inside each group, one ``terms`` sub-aggregation per field
gives its top values (most events first, then by value, as ``Store.terms`` orders them) and a
``top_hits`` sub-aggregation its newest events, sorted as ``Store.search`` sorts them. One
request answers for every group, where asking group by group would take a few per group.

``top_hits`` returns at most ``index.max_inner_result_window`` events per group (100 unless the
index says otherwise); callers ask for a handful.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final

from loglens.errors import QueryError
from loglens.schema import COLUMNS, FIELD_BY_NAME, Kind
from loglens.store.base import GroupProfile, Query, TermsBucket

if TYPE_CHECKING:
    from loglens.store.elastic import ElasticStore

_TS: Final = "@timestamp"


def profiles(
    store: ElasticStore,
    field: str,
    values: Sequence[str],
    query: Query,
    terms_fields: Sequence[str],
    terms_size: int,
    examples: int,
    example_fields: Sequence[str] | None,
) -> dict[str, GroupProfile]:
    """Per value of ``field`` in ``values``, the events ``query`` selects: see Store.profiles.

    Raises:
        QueryError: an invalid query, or a field the cluster cannot group or count by.
        ClusterError: the cluster failed the request.
    """
    from loglens.store.elastic import _aggregatable, _bucket_value, _project, _sort_spec

    wanted = list(dict.fromkeys(str(v) for v in values))
    if not wanted:
        return {}
    known = FIELD_BY_NAME.get(field)
    if known is not None and known.kind is Kind.KEYWORD_LIST:
        raise QueryError(f"{field!r} holds lists; group by a single-valued field")
    group_path, group_kind = _aggregatable(field)
    names = list(dict.fromkeys(terms_fields))
    kinds: list[Kind | None] = []
    inner: dict[str, Any] = {}
    for index, name in enumerate(names):
        path, kind = _aggregatable(name)
        kinds.append(kind)
        inner[f"t{index}"] = {
            "terms": {
                "field": path,
                "size": max(int(terms_size), 1),
                "order": [{"_count": "desc"}, {"_key": "asc"}],
            }
        }
    shown = list(example_fields) if example_fields else list(COLUMNS)
    if examples > 0:
        inner["examples"] = {
            "top_hits": {
                "size": int(examples),
                "sort": _sort_spec(_TS, True),
                "_source": _source_fields(shown),
            }
        }
    body = {
        "size": 0,
        "track_total_hits": False,
        "query": {"bool": {"filter": [store.query_filter(query), {"terms": {group_path: wanted}}]}},
        "aggs": {
            "groups": {
                "terms": {"field": group_path, "size": len(wanted)},
                **({"aggs": inner} if inner else {}),
            }
        },
    }
    answer = store._search(body)
    found: dict[str, GroupProfile] = {}
    for bucket in answer.get("aggregations", {}).get("groups", {}).get("buckets", []):
        key = str(_bucket_value(bucket, group_kind))
        terms: dict[str, list[TermsBucket]] = {}
        for index, name in enumerate(names):
            top = bucket.get(f"t{index}", {}).get("buckets", [])[: max(int(terms_size), 1)]
            if top:
                terms[name] = [
                    TermsBucket(_bucket_value(b, kinds[index]), int(b["doc_count"])) for b in top
                ]
        hits = bucket.get("examples", {}).get("hits", {}).get("hits", [])
        sources = [hit.get("_source") or {} for hit in hits]
        found[key] = GroupProfile(
            value=key,
            events=int(bucket.get("doc_count", 0)),
            terms=terms,
            examples=_project(sources, shown).to_pylist() if examples > 0 else [],
        )
    return {key: found[key] for key in wanted if key in found}


def _source_fields(shown: Sequence[str]) -> list[str]:
    """The document fields that hold ``shown`` (keys of ``extra`` live in ``extra`` too)."""
    extra = [name for name in shown if name not in FIELD_BY_NAME]
    for name in extra:
        if not (name and all(c.isalnum() or c in "_@.-" for c in name)):
            raise QueryError(f"{name!r} is not a valid field name")
    return sorted(set(shown) | ({"extra"} if extra else set()))
