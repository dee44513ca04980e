"""BM25, template text, row bookkeeping and the safetensors reader: no model needed."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np
import pytest

from loglens.errors import SemanticError
from loglens.semantic import KeywordIndex, find_minilm, keyword_terms, search_text
from loglens.semantic.rows import RowIds
from loglens.semantic.safetensors import read_safetensors


def test_search_text_drops_wildcards_and_splits_identifiers() -> None:
    text = "BLOCK* NameSystem.addStoredBlock: blockMap updated: <*>:<*> size <*>"
    assert search_text(text) == "BLOCK* Name System add Stored Block: block Map updated: : size"
    assert search_text("REAL_GET_TASKS getRunningAppProcesses") == (
        "REAL GET TASKS get Running App Processes"
    )
    assert search_text("HTTPServer started") == "HTTP Server started"


def test_keyword_terms_are_lower_case_words_without_stop_words() -> None:
    assert keyword_terms("Failed password for invalid user <*> from <*> port <*> ssh2") == [
        "failed",
        "password",
        "invalid",
        "user",
        "port",
        "ssh2",
    ]
    assert keyword_terms("a disk of the node is full") == ["disk", "node", "full"]


def _bm25(tf: int, length: int, average: float, n: int, df: int) -> float:
    idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return idf * tf * 2.2 / (tf + 1.2 * (1 - 0.75 + 0.75 * length / average))


def test_bm25_scores_match_the_formula_by_hand() -> None:
    index = KeywordIndex()
    index.add(["a", "b", "c"], ["disk failure disk", "network failure", "user login ok"])
    scores = index.scores("disk failure")
    average = (3 + 2 + 3) / 3
    expected_a = _bm25(2, 3, average, 3, 1) + _bm25(1, 3, average, 3, 2)
    expected_b = _bm25(1, 2, average, 3, 2)
    assert scores == pytest.approx([expected_a, expected_b, 0.0])
    assert index.search("disk failure") == [
        ("a", pytest.approx(expected_a)),
        ("b", pytest.approx(expected_b)),
    ]


def test_bm25_rare_words_outweigh_common_ones() -> None:
    index = KeywordIndex()
    index.add(
        ["t1", "t2", "t3", "t4"],
        ["session opened", "session closed", "session expired", "quota exceeded"],
    )
    hits = index.search("session quota")
    assert hits[0][0] == "t4"
    assert {item for item, _ in hits[1:]} == {"t1", "t2", "t3"}


def test_bm25_no_match_empty_query_and_bad_arguments() -> None:
    index = KeywordIndex()
    index.add(["x"], ["connection reset by peer"])
    assert index.search("kernel panic") == []
    assert index.search("the of a") == []
    with pytest.raises(SemanticError, match="top"):
        index.search("connection", top=0)
    with pytest.raises(SemanticError, match="2 ids for 1 texts"):
        index.add(["y", "z"], ["one"])


def test_bm25_candidates_and_replaced_ids() -> None:
    index = KeywordIndex()
    index.add(["a", "b"], ["disk full", "disk failure"])
    assert [item for item, _ in index.search("disk", candidates={"b", "unknown"})] == ["b"]
    index.add(["a"], ["memory error"])
    assert len(index) == 2
    assert [item for item, _ in index.search("disk full")] == ["b"]
    assert [item for item, _ in index.search("memory")] == ["a"]


def test_query_weight_counts_unknown_words_at_the_largest_idf() -> None:
    index = KeywordIndex()
    index.add(["a", "b"], ["disk full", "disk failure"])
    idf_df0 = math.log(1 + 2.5 / 0.5)
    idf_disk = math.log(1 + 0.5 / 2.5)
    assert index.query_weight("disk overheating") == pytest.approx(idf_disk + idf_df0)
    assert index.query_weight("") == 0.0


def test_row_ids_top_breaks_ties_by_row_order() -> None:
    rows = RowIds()
    rows.append(["a", "b", "c", "d"])
    scores = np.array([0.5, 0.9, 0.5, 0.1])
    assert rows.top(scores, rows.mask(), 3) == [("b", 0.9), ("a", 0.5), ("c", 0.5)]
    with pytest.raises(SemanticError, match="strings"):
        rows.append([1])  # type: ignore[list-item]


def _write_safetensors(path: Path, header: dict[str, object], body: bytes) -> None:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + body)


def test_safetensors_reader_round_trip(tmp_path: Path) -> None:
    weights = np.arange(6, dtype=np.float32).reshape(2, 3)
    ids = np.array([7, -1], dtype=np.int64)
    body = weights.tobytes() + ids.tobytes()
    header = {
        "__metadata__": {"format": "pt"},
        "w": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "i": {"dtype": "I64", "shape": [2], "data_offsets": [24, 40]},
    }
    _write_safetensors(tmp_path / "m.safetensors", header, body)
    tensors = read_safetensors(tmp_path / "m.safetensors")
    assert set(tensors) == {"w", "i"}
    np.testing.assert_array_equal(tensors["w"], weights)
    np.testing.assert_array_equal(tensors["i"], ids)
    assert tensors["w"].flags.writeable


@pytest.mark.parametrize(
    ("header", "body", "message"),
    [
        ({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, b"\0" * 8, "range"),
        ({"w": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, b"\0" * 8, "size"),
        ({"w": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}}, b"\0" * 8, "dtype"),
        ({"w": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, b"\0" * 8, "shape"),
        ([1, 2], b"", "header is not an object"),
    ],
)
def test_safetensors_reader_rejects_broken_files(
    tmp_path: Path, header: object, body: bytes, message: str
) -> None:
    path = tmp_path / "bad.safetensors"
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + body)
    with pytest.raises(SemanticError, match=message):
        read_safetensors(path)


def test_safetensors_reader_rejects_non_safetensors(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(b"\xff" * 4)
    with pytest.raises(SemanticError, match="too short"):
        read_safetensors(path)
    path.write_bytes(struct.pack("<Q", 10**12) + b"{}")
    with pytest.raises(SemanticError, match="header length"):
        read_safetensors(path)
    with pytest.raises(SemanticError, match="cannot read"):
        read_safetensors(tmp_path / "missing.safetensors")


def test_model_folder_errors_name_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(SemanticError, match=r"model\.safetensors is missing"):
        find_minilm(tmp_path)
    for name in ("model.safetensors", "tokenizer.json"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "config.json").write_text('{"model_type": "gpt2"}')
    with pytest.raises(SemanticError, match="not bert"):
        find_minilm(tmp_path)
    (tmp_path / "config.json").write_text("[")
    with pytest.raises(SemanticError, match=r"cannot read config\.json"):
        find_minilm(tmp_path)
