"""SQL for the parts of a request target, shared by every parser that sees URLs.

A target is either origin-form (``/a/b?q=1``) or absolute-form (``http://host:8080/a/b?q=1``,
as proxies log it); both give ``url.path`` ``/a/b`` and ``url.query`` ``q=1``. Fragments are
dropped (browsers never send them; scanners sometimes do).
"""

from __future__ import annotations

_ABSOLUTE = "^[a-zA-Z][a-zA-Z0-9+.-]*://"
_PATH_AFTER_HOST = _ABSOLUTE + "[^/?#]*([^?#]*)"
_HOST = _ABSOLUTE + "(?:[^@/?#]*@)?(\\[[^\\]]*\\]|[^:/?#]*)"


def url_path(target: str) -> str:
    """SQL for the path of the request target expression ``target``."""
    return (
        f"CASE WHEN regexp_matches({target}, '{_ABSOLUTE}') "
        f"THEN coalesce(nullif(regexp_extract({target}, '{_PATH_AFTER_HOST}', 1), ''), '/') "
        f"ELSE regexp_extract({target}, '^([^?#]*)', 1) END"
    )


def url_query(target: str) -> str:
    """SQL for the query string (without '?') of ``target``; NULL when there is none."""
    return f"nullif(regexp_extract({target}, '\\?([^#]*)', 1), '')"


def url_host(target: str) -> str:
    """SQL for the host of an absolute target (NULL for origin-form targets)."""
    return f"nullif(regexp_extract({target}, '{_HOST}', 1), '')"
