"""The public web shop's access log: page views with their assets, monitoring, probes, scans."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from loglens.sources.synthetic import catalog, clock
from loglens.sources.synthetic.clock import MINUTE_US, US, IntArray, Period
from loglens.sources.synthetic.formats import WEB_SCHEMA, make_table, optional, write_lines
from loglens.sources.synthetic.population import BROWSER, CRAWLER, Population

ObjArray = NDArray[np.object_]
BoolArray = NDArray[np.bool_]

NOT_FOUND_BYTES = 196  # Apache 2.4's default 404 page
FORBIDDEN_BYTES = 199
REDIRECT_BYTES = 233
DEAD_LINKS = (
    "/blog/2022/summer-sale",
    "/products/tents/alpine-1p",
    "/promo/black-friday-2023",
    "/static/js/app.1c3e2b7a.js",
    "/apple-touch-icon.png",
)
REDIRECTS = ("/blog", "/products", "/shop", "/account")


@dataclass(frozen=True)
class Site:
    """The shop's resources as arrays, ready for vectorised sampling."""

    pages: ObjArray
    page_urls: ObjArray
    page_bytes: IntArray
    page_p: NDArray[np.float64]
    api_targets: ObjArray
    api_methods: ObjArray
    api_bytes: IntArray
    api_p: NDArray[np.float64]
    assets: ObjArray
    asset_bytes: IntArray


@functools.cache
def site() -> Site:
    pages = [(p, b, w) for p, b, w in catalog.SITE_PAGES]
    products = [
        (f"/products/{cat}/{name}", 30_000 + (i * 977) % 9_000, 12.0 / (i + 3))
        for i, (cat, name) in enumerate(
            (c, n) for n in catalog.PRODUCT_NAMES for c in catalog.PRODUCT_CATEGORIES
        )
    ]
    pages += products
    page_w = np.asarray([w for _, _, w in pages])
    api_w = np.asarray([w for *_, w in catalog.API_CALLS])
    page_targets = np.asarray([p for p, _, _ in pages], dtype=object)
    return Site(
        pages=page_targets,
        page_urls=np.asarray([catalog.SITE_URL + p for p in page_targets], dtype=object),
        page_bytes=np.asarray([b for _, b, _ in pages], dtype=np.int64),
        page_p=page_w / page_w.sum(),
        api_targets=np.asarray([t for t, *_ in catalog.API_CALLS], dtype=object),
        api_methods=np.asarray([m for _, m, *_ in catalog.API_CALLS], dtype=object),
        api_bytes=np.asarray([b for _, _, b, _ in catalog.API_CALLS], dtype=np.int64),
        api_p=api_w / api_w.sum(),
        assets=np.asarray([a for a, _ in catalog.STATIC_ASSETS], dtype=object),
        asset_bytes=np.asarray([b for _, b in catalog.STATIC_ASSETS], dtype=np.int64),
    )


def _pick(pool: tuple[str, ...], n: int, rng: np.random.Generator) -> ObjArray:
    return np.asarray(pool, dtype=object)[rng.integers(0, len(pool), n)]


@dataclass
class _Requests:
    """Column arrays of requests under construction."""

    target: ObjArray
    method: ObjArray
    size: IntArray
    status: IntArray


def page_views(pop: Population, ts: IntArray, rng: np.random.Generator) -> pa.Table:
    """Requests for page views at ``ts``: pages (plus the assets a browser fetches), API calls,
    crawler files; statuses, sizes and referers follow what a real shop logs."""
    s = site()
    n = len(ts)
    vis = pop.visitors
    who = rng.choice(len(vis.ips), n, p=vis.weights)
    kind = vis.kinds[who]
    browser = kind == BROWSER
    draw = rng.random(n)
    is_page = np.where(browser, draw < 0.72, np.where(kind == CRAWLER, draw < 0.9, draw < 0.3))
    is_file = (kind == CRAWLER) & ~is_page
    page = rng.choice(len(s.pages), n, p=s.page_p)
    req = _resources(page, is_page, is_file, rng)
    _set_statuses(req, is_page, browser, ~is_page & ~is_file, rng)
    referer = _referers(browser, is_page, ~is_page & ~is_file, rng)

    # A browser then fetches the page's assets: all of them on a fresh visit, else a few 304s
    fresh = rng.random(n) < 0.3
    n_assets = np.where(fresh, rng.integers(5, 10, n), rng.choice(4, n, p=[0.4, 0.3, 0.2, 0.1]))
    n_assets[~(browser & is_page & np.isin(req.status, (200, 304)))] = 0
    parent = np.repeat(np.arange(n), n_assets)
    first = np.repeat(np.cumsum(n_assets) - n_assets, n_assets)
    offset = np.repeat(rng.integers(0, len(s.assets), n), n_assets)
    asset = (offset + np.arange(len(parent)) - first) % len(s.assets)  # distinct per page

    all_who = np.concatenate([who, who[parent]])
    status = np.concatenate([req.status, np.where(fresh[parent], 200, 304)])
    return make_table(
        WEB_SCHEMA,
        ts=np.concatenate([ts, ts[parent] + rng.integers(30_000, 2_500_000, len(parent))]),
        client=vis.ips[all_who],
        user="-",
        method=np.concatenate([req.method, np.full(len(parent), "GET", dtype=object)]),
        target=np.concatenate([req.target, s.assets[asset]]),
        protocol=np.where(vis.http2[all_who], "HTTP/2.0", "HTTP/1.1"),
        status=status,
        # Apache logs "-" rather than 0 for an empty body (304)
        bytes=optional(np.concatenate([req.size, s.asset_bytes[asset]]), status != 304),
        referer=np.concatenate([referer, s.page_urls[page[parent]]]),
        agent=vis.agents[all_who],
    )


def _resources(
    page: IntArray, is_page: BoolArray, is_file: BoolArray, rng: np.random.Generator
) -> _Requests:
    """What each request asks for: a page, an API call, or a crawler's robots.txt/sitemap."""
    s = site()
    n = len(page)
    api = rng.choice(len(s.api_targets), n, p=s.api_p)
    target = np.where(is_page, s.pages[page], s.api_targets[api])
    method = np.where(is_page | is_file, "GET", s.api_methods[api]).astype(object)
    # Dynamic pages vary a little in size, API answers more
    size = np.where(
        is_page,
        s.page_bytes[page] * rng.lognormal(0.0, 0.03, n),
        s.api_bytes[api] * rng.lognormal(0.0, 0.15, n),
    ).astype(np.int64)
    robots = rng.random(n) < 0.5
    target[is_file] = np.where(robots[is_file], "/robots.txt", "/sitemap.xml")
    size[is_file] = np.where(robots[is_file], 312, 28_406)
    return _Requests(target, method, size, np.full(n, 200, dtype=np.int64))


def _set_statuses(
    req: _Requests, is_page: BoolArray, browser: BoolArray, is_api: BoolArray,
    rng: np.random.Generator,
) -> None:  # fmt: skip
    """Mostly 200; browsers revalidate (304), old links 404, short URLs redirect (301), logins
    fail (401) and the API very rarely errors (500)."""
    roll = rng.random(len(req.status))
    req.status[is_page & browser & (roll < 0.03)] = 304
    dead = is_page & (roll >= 0.03) & (roll < 0.037)
    req.target[dead] = _pick(DEAD_LINKS, int(dead.sum()), rng)
    req.status[dead], req.size[dead] = 404, NOT_FOUND_BYTES
    moved = is_page & (roll >= 0.037) & (roll < 0.047)
    req.target[moved] = _pick(REDIRECTS, int(moved.sum()), rng)
    req.status[moved], req.size[moved] = 301, REDIRECT_BYTES
    refused = (req.target == "/api/v1/login") & (roll < 0.3)
    req.status[refused], req.size[refused] = 401, 64
    failed = is_api & (roll > 0.9993)
    req.status[failed], req.size[failed] = 500, 531


def _referers(
    browser: BoolArray, is_page: BoolArray, is_api: BoolArray, rng: np.random.Generator
) -> ObjArray:
    """Browsers arrive directly, from a search engine, another page or social media; their
    API calls come from a page of the site; robots send no referer."""
    s = site()
    n = len(browser)
    source = rng.random(n)
    referer = np.full(n, "-", dtype=object)
    search = browser & is_page & (source >= 0.35) & (source < 0.6)
    internal = browser & ((is_page & (source >= 0.6) & (source < 0.93)) | is_api)
    social = browser & is_page & (source >= 0.93)
    referer[search] = _pick(catalog.REFERER_SEARCH, int(search.sum()), rng)
    referer[internal] = s.page_urls[rng.choice(len(s.pages), int(internal.sum()), p=s.page_p)]
    referer[social] = _pick(catalog.REFERER_SOCIAL, int(social.sum()), rng)
    return referer


def baseline(pop: Population, period: Period, rate: float, rng: np.random.Generator) -> pa.Table:
    """About six page views a minute on average at rate 1, plus monitoring and probes."""
    counts = clock.minute_counts(period, clock.WEB, 11.5 * rate, rng)
    views = page_views(pop, clock.spread(period.start_us, counts, rng), rng)
    return pa.concat_tables(
        [views, health_checks(pop, period, rng), probes(pop, period, rate, rng)]
    )


def health_checks(pop: Population, period: Period, rng: np.random.Generator) -> pa.Table:
    """An uptime monitor polls the health endpoint every five minutes from each of its probes."""
    step = 5 * MINUTE_US
    parts = []
    for i, _ in enumerate(pop.monitors):
        ts = np.arange(period.start_us + (i * 150 + 7) * US, period.end_us, step, dtype=np.int64)
        parts.append((ts + rng.integers(0, 800_000, len(ts)), i))
    ts = np.concatenate([t for t, _ in parts])
    monitor = np.concatenate([np.full(len(t), i) for t, i in parts])
    return make_table(
        WEB_SCHEMA,
        ts=ts,
        client=np.asarray(pop.monitors, dtype=object)[monitor],
        user="-",
        method="GET",
        target=catalog.HEALTH_PATH,
        protocol="HTTP/1.1",
        status=200,
        bytes=15,
        referer="-",
        agent=catalog.MONITOR_AGENT,
    )


def probes(pop: Population, period: Period, rate: float, rng: np.random.Generator) -> pa.Table:
    """Internet background noise: a few requests a day for well-known vulnerable paths."""
    counts = clock.minute_counts(period, clock.FLAT, 0.015 * rate, rng)
    ts = clock.spread(period.start_us, counts, rng)
    n = len(ts)
    return make_table(
        WEB_SCHEMA,
        ts=ts,
        client=_pick(pop.noise_sources, n, rng),
        user="-",
        method="GET",
        target=_pick(catalog.PROBE_PATHS, n, rng),
        protocol="HTTP/1.1",
        status=404,
        bytes=NOT_FOUND_BYTES,
        referer="-",
        agent=_pick((*catalog.TOOL_AGENTS, catalog.BROWSER_AGENTS[0][0]), n, rng),
    )


def scan_paths() -> list[str]:
    """Every path the web scanner knows (hundreds, all distinct)."""
    return [prefix + t for prefix in catalog.SCAN_PREFIXES for t in catalog.SCAN_TARGETS]


def web_scan(
    scanner: str, start_us: int, end_us: int, rng: np.random.Generator
) -> tuple[pa.Table, list[str]]:
    """A Nikto run: hundreds of distinct non-existent paths, a 404 storm. Returns the requests
    and the distinct paths tried."""
    known = scan_paths()
    chosen = rng.choice(len(known), int(rng.integers(300, len(known) + 1)), replace=False)
    paths = ["/", "/robots.txt", *(known[i] for i in sorted(chosen.tolist()))]
    # Nikto retries some tests with another method
    again = rng.random(len(paths)) < 0.15
    targets = np.asarray(paths + [p for p, a in zip(paths, again, strict=True) if a], dtype=object)
    methods = np.asarray(["GET"] * len(paths) + ["HEAD"] * int(again.sum()), dtype=object)
    n = len(targets)
    ts = np.sort(rng.integers(start_us, end_us, n, dtype=np.int64))
    status = np.full(n, 404, dtype=np.int64)
    size = np.full(n, NOT_FOUND_BYTES, dtype=np.int64)
    hidden = np.asarray([_forbidden(t) for t in targets.tolist()])
    status[hidden], size[hidden] = 403, FORBIDDEN_BYTES
    status[:2], size[:2] = 200, (18_240, 312)
    agents = [catalog.NIKTO_AGENT.format(test=i) for i in range(1, n + 1)]
    table = make_table(
        WEB_SCHEMA,
        ts=ts,
        client=scanner,
        user="-",
        method=methods,
        target=targets,
        protocol="HTTP/1.1",
        status=status,
        bytes=optional(size, methods != "HEAD"),
        referer="-",
        agent=agents,
    )
    return table, paths[2:]


def _forbidden(target: str) -> bool:
    name = target.rsplit("/", 2)[-1] or target.rsplit("/", 2)[-2]
    return name.startswith(".ht") or name.startswith("server-") or "/.git/" in target


# Requests per page view on the default population (pages fetch assets); only sizes the span
REQUESTS_PER_VIEW = 2.66
BLOCK_MINUTES = 240  # generation chunk: bounds memory for millions of events


def write_access(
    handle: BinaryIO,
    n_events: int,
    *,
    start: datetime,
    lines: Callable[[pa.Table], pa.Array],
    pop: Population,
    rng: np.random.Generator,
) -> int:
    """Write exactly ``n_events`` requests of the baseline shop in time order, about a week of
    traffic from ``start``, generated in blocks of a few hours; returns the count."""
    week = clock.intensity(Period(start, 7), clock.WEB, rng)
    peak = n_events / (REQUESTS_PER_VIEW * float(week.sum()))
    written, day = 0, 0
    pending = WEB_SCHEMA.empty_table()
    while written < n_events:
        period = Period(start + timedelta(days=day), 1)
        counts = rng.poisson(clock.intensity(period, clock.WEB, rng) * peak).astype(np.int64)
        for first in range(0, len(counts), BLOCK_MINUTES):
            block_start = period.start_us + first * MINUTE_US
            ts = clock.spread(block_start, counts[first : first + BLOCK_MINUTES], rng)
            table = pa.concat_tables([pending, page_views(pop, ts, rng)]).sort_by("ts")
            # Assets fetched just after the block's end belong to the next block
            done = int(
                np.searchsorted(
                    table.column("ts").to_numpy(), block_start + BLOCK_MINUTES * MINUTE_US
                )
            )
            ready, pending = table.slice(0, min(done, n_events - written)), table.slice(done)
            write_lines(handle, lines(ready))
            written += ready.num_rows
            if written == n_events:
                break
        day += 1
    return written
