"""A small HTTP proxy in front of osmem-server, for what the server cannot do by itself.

- ``pretend_elasticsearch``: the server reports OpenSearch; the proxy makes it answer as
  Elasticsearch 9 does (``GET /`` version, the ``X-Elastic-Product`` header) and turns the
  ``elasticsearch`` client's vendor media types into plain JSON, so that the official
  Elasticsearch client runs against it unchanged.
- Faults: answer a status (429, 503, ...), drop the connection before or after forwarding (the
  server did the work, the client never hears of it), or delay past the client's timeout.
- ``require_authorization``: answer 401 unless the request carries that ``Authorization`` value.
- Busy bulk items: ``bulk_item_status=429`` answers every ``bulk_item_every``-th item of a bulk
  request with that status without forwarding it (the rest are forwarded), as a node whose write
  queue is full does.
- It counts requests and bytes, for the benchmarks.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_VENDOR = re.compile(r"application/vnd\.elasticsearch\+([\w-]+)\s*;\s*compatible-with=\d+")
# Not relayed: hop-by-hop headers, and those send_response() writes itself.
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "date",
               "server"}  # fmt: skip


@dataclass
class Fault:
    """One injected failure for requests whose path contains ``path`` (and method, if given)."""

    path: str = ""
    method: str | None = None
    status: int | None = None  # answer this status without forwarding
    reason: str | None = None  # the error reason answered with ``status``
    drop: bool = False  # close the connection without an answer
    after_forward: bool = False  # with drop/status: forward first, so the server did the work
    delay: float = 0.0  # wait this long before forwarding
    bulk_item_status: int | None = None  # answer some bulk items with this, unforwarded
    bulk_item_every: int = 3
    times: int = 1
    used: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (
            self.used < self.times
            and self.path in path
            and (self.method is None or self.method == method)
        )


@dataclass
class Traffic:
    requests: list[tuple[str, str, int]] = field(default_factory=list)  # method, path, status
    bytes_sent: int = 0  # client → server
    bytes_received: int = 0  # server → client
    faults_used: int = 0


class ClusterProxy:
    def __init__(
        self,
        upstream: str,
        *,
        pretend_elasticsearch: bool = False,
        require_authorization: str | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.pretend_elasticsearch = pretend_elasticsearch
        self.require_authorization = require_authorization
        self.faults: list[Fault] = []
        self.traffic = Traffic()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def inject(self, **fault: Any) -> Fault:
        made = Fault(**fault)
        with self._lock:
            self.faults.append(made)
        return made

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.matches(method, path):
                    fault.used += 1
                    self.traffic.faults_used += 1
                    return fault
        return None

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ClusterProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _handler_for(proxy: ClusterProxy) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            return

        def _relay(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            with proxy._lock:
                proxy.traffic.bytes_sent += len(body)
            wanted = proxy.require_authorization
            if wanted is not None and self.headers.get("authorization") != wanted:
                self._answer(401, _error("security_exception", "unable to authenticate user"))
                return
            fault = proxy.take_fault(self.command, self.path)
            if fault is not None and not fault.after_forward:
                if fault.drop:
                    self._drop()
                    return
                if fault.status is not None:
                    self._answer(fault.status, _fault_error(fault))
                    return
            if fault is not None and fault.delay:
                time.sleep(fault.delay)
            if fault is not None and fault.bulk_item_status is not None:
                status, headers, payload = self._forward_some_items(body, fault)
                self._answer(status, payload, headers)
                return
            status, headers, payload = self._forward(body)
            if fault is not None and fault.after_forward:
                if fault.drop:
                    self._drop()
                    return
                if fault.status is not None:
                    self._answer(fault.status, _fault_error(fault))
                    return
            if proxy.pretend_elasticsearch and self.command == "GET" and self._bare_path() == "/":
                payload = _as_elasticsearch_root(payload)
            self._answer(status, payload, headers)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _relay

        def _bare_path(self) -> str:
            return self.path.split("?", 1)[0]

        def _forward(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
            if proxy.pretend_elasticsearch:
                for name in list(headers):
                    if name.lower() in ("accept", "content-type"):
                        headers[name] = _VENDOR.sub(r"application/\1", headers[name])
            connection = http.client.HTTPConnection(
                proxy.upstream_host, proxy.upstream_port, timeout=120
            )
            try:
                connection.request(self.command, self.path, body=body or None, headers=headers)
                response = connection.getresponse()
                payload = response.read()
                kept = {k: v for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP}
                return response.status, kept, payload
            finally:
                connection.close()

        def _forward_some_items(
            self, body: bytes, fault: Fault
        ) -> tuple[int, dict[str, str], bytes]:
            """Forward all bulk items but every n-th; answer those with the fault's status."""
            lines = body.decode().splitlines()
            pairs = [lines[i : i + 2] for i in range(0, len(lines), 2)]
            held = {i for i in range(len(pairs)) if i % fault.bulk_item_every == 0}
            kept = [p for i, p in enumerate(pairs) if i not in held]
            forwarded: list[Any] = []
            status, headers = 200, {"content-type": "application/json"}
            if kept:
                text = "".join(line + "\n" for pair in kept for line in pair).encode()
                status, headers, payload = self._forward(text)
                forwarded = json.loads(payload).get("items", [])
            items = []
            for i, (action_line, *_rest) in enumerate(pairs):
                if i in held:
                    op, meta = next(iter(json.loads(action_line).items()))
                    reason = "rejected execution (queue capacity reached)"
                    items.append({op: {"_index": meta.get("_index"), "_id": meta.get("_id"),
                                       "status": fault.bulk_item_status,
                                       "error": {"type": "es_rejected_execution_exception",
                                                 "reason": reason}}})  # fmt: skip
                else:
                    items.append(forwarded.pop(0))
            return status, headers, json.dumps({"errors": True, "items": items}).encode()

        def _answer(
            self, status: int, payload: bytes, headers: dict[str, str] | None = None
        ) -> None:
            with proxy._lock:
                proxy.traffic.requests.append((self.command, self.path, status))
                proxy.traffic.bytes_received += len(payload)
            self.send_response(status)
            sent = {k.lower() for k in (headers or {})}
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if "content-type" not in sent:
                self.send_header("content-type", "application/json")
            if proxy.pretend_elasticsearch and "x-elastic-product" not in sent:
                self.send_header("x-elastic-product", "Elasticsearch")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        def _drop(self) -> None:
            with proxy._lock:
                proxy.traffic.requests.append((self.command, self.path, 0))
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

    return Handler


def _fault_error(fault: Fault) -> bytes:
    return _error("injected_fault", fault.reason or f"status {fault.status}")


def _error(kind: str, reason: str) -> bytes:
    return json.dumps({"error": {"root_cause": [{"type": kind, "reason": reason}],
                                 "type": kind, "reason": reason}}).encode()  # fmt: skip


def _as_elasticsearch_root(payload: bytes) -> bytes:
    info = json.loads(payload)
    version = info.get("version", {})
    version.pop("distribution", None)
    version.update({"number": "9.1.0", "build_flavor": "default"})
    info["tagline"] = "You Know, for Search"
    return json.dumps(info).encode()
