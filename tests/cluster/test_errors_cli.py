"""Every way of not reaching a cluster ends in one clear line on stderr and a non-zero exit."""

from __future__ import annotations

import base64
import os
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
import trustme

from loglens.cluster import connect
from tests.cluster.conftest import Cluster
from tests.cluster.proxy import ClusterProxy

EXIT_ERROR = 2


def loglens(store: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("LOGLENS_")}
    environ.update({"LOGLENS_CLUSTER__MAX_RETRIES": "1", "LOGLENS_CLUSTER__RETRY_BACKOFF": "0.01",
                    **env})  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "loglens", "--store", store, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environ,
        timeout=120,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == EXIT_ERROR, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr
    return lines[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def plain_url(proxy: ClusterProxy, index: str) -> str:
    return proxy.url.replace("http://", "es+http://") + f"/{index}"


def test_a_refused_connection(tmp_path: Path) -> None:
    result = loglens(f"es+http://127.0.0.1:{free_port()}/x", "query", "--count", cwd=tmp_path)
    line = one_line_error(result)
    assert "connection refused" in line and "127.0.0.1" in line


def test_a_missing_index(cluster: Cluster, tmp_path: Path) -> None:
    line = one_line_error(
        loglens(plain_url(cluster.proxy, "no-such-index"), "query", "--count", cwd=tmp_path)
    )
    assert "no such index" in line and "no-such-index" in line


def test_a_wrong_password(cluster: Cluster, tmp_path: Path) -> None:
    good = "Basic " + base64.b64encode(b"analyst:right").decode()
    with ClusterProxy(cluster.clone.url, pretend_elasticsearch=cluster.flavour == "elasticsearch",
                      require_authorization=good) as proxy:  # fmt: skip
        store = proxy.url.replace("http://", "es+http://analyst@") + "/events"
        line = one_line_error(
            loglens(store, "query", "--count", cwd=tmp_path, LOGLENS_CLUSTER_PASSWORD="wrong")
        )
        assert "authentication failed (401)" in line and "'analyst'" in line
        assert "wrong" not in line.replace("wrong password", "")  # the secret never shows
        # The right password: --list of a pattern that matches nothing lists nothing.
        right = loglens(store + "-*", "query", "--list", cwd=tmp_path,
                        LOGLENS_CLUSTER_PASSWORD="right")  # fmt: skip
        assert right.returncode == 0, right.stderr
        assert "index" in right.stdout and "event.dataset" in right.stdout


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


def test_an_untrusted_certificate_and_then_a_trusted_one(
    cluster: Cluster, tmp_path: Path, authority: trustme.CA
) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(server_context)
    with connect(cluster.settings()) as client:
        client.request("PUT", "/events")
    with ClusterProxy(cluster.clone.url, pretend_elasticsearch=cluster.flavour == "elasticsearch",
                      tls=server_context) as proxy:  # fmt: skip
        store = proxy.url.replace("https://", "es://") + "/events"
        line = one_line_error(loglens(store, "query", "--count", cwd=tmp_path))
        assert "TLS handshake failed" in line and "cluster.ca_certs" in line
        ca_file = tmp_path / "ca.pem"
        authority.cert_pem.write_to_path(str(ca_file))
        trusted = loglens(store, "query", "--count", cwd=tmp_path,
                          LOGLENS_CLUSTER__CA_CERTS=str(ca_file))  # fmt: skip
        assert trusted.returncode == 0, trusted.stderr
        assert trusted.stdout.strip() == "0"
