"""Template ids and the JSON form of a miner's state (never a pickle)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from loglens.errors import LoglensError

STATE_FORMAT = "loglens.templates"
STATE_VERSION = 1


class TemplateStateError(LoglensError):
    """A saved template state cannot be read (not JSON, wrong format or version, bad fields)."""


@dataclass(frozen=True)
class Template:
    """One log template: its stable id, its text with ``<*>`` for variables, lines seen."""

    id: str
    text: str
    count: int = 0


def template_id(text: str) -> str:
    """The id of a template text: the same text has the same id in every run and store."""
    return "T" + hashlib.blake2b(text.encode("utf-8"), digest_size=8).hexdigest()


def dump_state(config: dict[str, int], templates: list[Template], aliases: dict[str, str]) -> str:
    document = {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "config": config,
        "templates": [{"id": t.id, "text": t.text, "count": t.count} for t in templates],
        "aliases": dict(sorted(aliases.items())),
    }
    return json.dumps(document, ensure_ascii=False, indent=1)


def load_state(text: str) -> tuple[dict[str, int], list[Template], dict[str, str]]:
    """Parse and validate a state written by :func:`dump_state`."""
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, TypeError) as exc:
        raise TemplateStateError(f"template state is not JSON: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != STATE_FORMAT:
        raise TemplateStateError(f"not a template state (format must be {STATE_FORMAT!r})")
    if document.get("version") != STATE_VERSION:
        raise TemplateStateError(
            f"template state version {document.get('version')!r} is not {STATE_VERSION}"
        )
    config = _mapping(document, "config")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in config.values()):
        raise TemplateStateError("template state config values must be integers")
    raw_templates = document.get("templates")
    if not isinstance(raw_templates, list):
        raise TemplateStateError("template state has no 'templates' list")
    templates = [_template(item, index) for index, item in enumerate(raw_templates)]
    aliases = _mapping(document, "aliases")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in aliases.items()):
        raise TemplateStateError("template state aliases must map ids to ids")
    return dict(config), templates, dict(aliases)


def _mapping(document: dict[str, Any], key: str) -> dict[str, Any]:
    value = document.get(key, {})
    if not isinstance(value, dict):
        raise TemplateStateError(f"template state '{key}' must be an object")
    return value


def _template(item: Any, index: int) -> Template:
    where = f"templates[{index}]"
    if not isinstance(item, dict):
        raise TemplateStateError("must be an object", location=where)
    text, tid, count = item.get("text"), item.get("id"), item.get("count", 0)
    if not isinstance(text, str) or not isinstance(tid, str):
        raise TemplateStateError("needs string 'id' and 'text'", location=where)
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise TemplateStateError("'count' must be a non-negative integer", location=where)
    if tid != template_id(text):
        raise TemplateStateError(f"id {tid!r} does not match its text", location=where)
    return Template(tid, text, count)
