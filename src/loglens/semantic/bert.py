"""A BERT encoder forward pass in numpy (float32, BLAS matrix products), inference only.

It computes what Hugging Face's ``BertModel`` computes in eval mode: embeddings (word +
position + token type 0) and LayerNorm, then per layer self-attention with padded keys masked,
residual + LayerNorm, a GELU feed-forward block, residual + LayerNorm. Query, key and value
projections are fused into one matrix so each layer does four large products.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from loglens.errors import SemanticError

Floats = npt.NDArray[np.float32]

# Abramowitz & Stegun 7.1.26: |error| < 1.5e-7, below float32 resolution of GELU's output;
# numpy has no erf, and the tanh form of GELU is off by up to 5e-4.
_ERF_P = np.float32(0.3275911)
_ERF_A = tuple(
    np.float32(a) for a in (0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429)
)
_SQRT_HALF = np.float32(np.sqrt(0.5))


def gelu(x: Floats) -> Floats:
    """Exact (erf) GELU, as BERT's ``hidden_act: gelu``; a new array, ``x`` is untouched.

    Written with in-place operations on a few buffers: GELU runs on the widest activation
    (1536 per token) and with fresh temporaries per step it took a quarter of encoding time.
    """
    z = x * _SQRT_HALF
    magnitude = np.abs(z)
    a1, a2, a3, a4, a5 = _ERF_A
    t = magnitude * _ERF_P
    t += np.float32(1.0)
    np.reciprocal(t, out=t)
    poly: Floats = t * a5
    for coefficient in (a4, a3, a2, a1):
        poly += coefficient
        poly *= t
    np.square(magnitude, out=magnitude)
    np.negative(magnitude, out=magnitude)
    np.exp(magnitude, out=magnitude)
    poly *= magnitude
    np.subtract(np.float32(1.0), poly, out=poly)  # erf(|z|)
    np.copysign(poly, z, out=poly)  # erf(z)
    poly += np.float32(1.0)
    poly *= x
    poly *= np.float32(0.5)
    return poly


def _layer_norm(x: Floats, gamma: Floats, beta: Floats, eps: float) -> Floats:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    var = np.mean(centred * centred, axis=-1, keepdims=True)
    result: Floats = centred / np.sqrt(var + np.float32(eps)) * gamma + beta
    return result


@dataclass(frozen=True)
class BertLayer:
    """One transformer layer's weights, laid out for ``x @ w`` (input features first)."""

    qkv_w: Floats
    qkv_b: Floats
    attn_out_w: Floats
    attn_out_b: Floats
    attn_ln_g: Floats
    attn_ln_b: Floats
    ffn_in_w: Floats
    ffn_in_b: Floats
    ffn_out_w: Floats
    ffn_out_b: Floats
    ffn_ln_g: Floats
    ffn_ln_b: Floats


@dataclass(frozen=True)
class BertEncoder:
    """BERT weights and the forward pass; build it with :meth:`from_tensors`."""

    word: Floats
    position: Floats
    token_type: Floats
    emb_ln_g: Floats
    emb_ln_b: Floats
    layers: tuple[BertLayer, ...]
    heads: int
    eps: float

    @property
    def hidden(self) -> int:
        return int(self.word.shape[1])

    @classmethod
    def from_tensors(
        cls, tensors: Mapping[str, np.ndarray], config: Mapping[str, Any]
    ) -> BertEncoder:
        """Build from Hugging Face ``BertModel`` tensor names (with or without ``bert.``).

        Raises:
            SemanticError: a tensor is missing or has an unexpected shape.
        """
        prefix = "bert." if "bert.embeddings.word_embeddings.weight" in tensors else ""

        def get(name: str) -> Floats:
            try:
                return np.ascontiguousarray(tensors[prefix + name], dtype=np.float32)
            except KeyError:
                raise SemanticError(f"model weights lack tensor {prefix + name}") from None

        def linear(name: str) -> tuple[Floats, Floats]:
            # Stored as (out, in) for torch's x @ W.T; transposed once here.
            return np.ascontiguousarray(get(f"{name}.weight").T), get(f"{name}.bias")

        layers = []
        for i in range(int(config["num_hidden_layers"])):
            base = f"encoder.layer.{i}"
            q_w, q_b = linear(f"{base}.attention.self.query")
            k_w, k_b = linear(f"{base}.attention.self.key")
            v_w, v_b = linear(f"{base}.attention.self.value")
            out_w, out_b = linear(f"{base}.attention.output.dense")
            in_w, in_b = linear(f"{base}.intermediate.dense")
            ffn_w, ffn_b = linear(f"{base}.output.dense")
            layers.append(
                BertLayer(
                    qkv_w=np.ascontiguousarray(np.concatenate([q_w, k_w, v_w], axis=1)),
                    qkv_b=np.concatenate([q_b, k_b, v_b]),
                    attn_out_w=out_w,
                    attn_out_b=out_b,
                    attn_ln_g=get(f"{base}.attention.output.LayerNorm.weight"),
                    attn_ln_b=get(f"{base}.attention.output.LayerNorm.bias"),
                    ffn_in_w=in_w,
                    ffn_in_b=in_b,
                    ffn_out_w=ffn_w,
                    ffn_out_b=ffn_b,
                    ffn_ln_g=get(f"{base}.output.LayerNorm.weight"),
                    ffn_ln_b=get(f"{base}.output.LayerNorm.bias"),
                )
            )
        encoder = cls(
            word=get("embeddings.word_embeddings.weight"),
            position=get("embeddings.position_embeddings.weight"),
            token_type=get("embeddings.token_type_embeddings.weight"),
            emb_ln_g=get("embeddings.LayerNorm.weight"),
            emb_ln_b=get("embeddings.LayerNorm.bias"),
            layers=tuple(layers),
            heads=int(config["num_attention_heads"]),
            eps=float(config.get("layer_norm_eps", 1e-12)),
        )
        hidden = int(config["hidden_size"])
        if encoder.word.shape[1] != hidden or hidden % encoder.heads:
            raise SemanticError(
                f"hidden size {encoder.word.shape[1]} does not fit the model config"
            )
        for layer in encoder.layers:
            if layer.qkv_w.shape != (hidden, 3 * hidden):
                raise SemanticError(f"attention weights have shape {layer.qkv_w.shape}")
        return encoder

    def forward(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.bool_]) -> Floats:
        """Last hidden states, shape (batch, length, hidden), for token ids and a key mask."""
        batch, length = ids.shape
        if length > self.position.shape[0]:
            raise SemanticError(f"{length} tokens exceed the model's {self.position.shape[0]}")
        x: Floats = self.word[ids] + self.position[:length] + self.token_type[0]
        x = _layer_norm(x, self.emb_ln_g, self.emb_ln_b, self.eps)
        heads = self.heads
        size = self.hidden // heads
        scale = np.float32(1.0 / np.sqrt(size))
        # Padded keys get a large negative score, so softmax gives them (almost exactly) zero.
        key_bias = np.where(mask, np.float32(0.0), np.float32(-1e9))[:, None, None, :]
        rows = batch * length
        for layer in self.layers:
            flat = x.reshape(rows, -1)
            qkv = (flat @ layer.qkv_w + layer.qkv_b).reshape(batch, length, 3, heads, size)
            q = qkv[:, :, 0].transpose(0, 2, 1, 3) * scale
            k = qkv[:, :, 1].transpose(0, 2, 3, 1)
            v = qkv[:, :, 2].transpose(0, 2, 1, 3)
            scores = q @ k + key_bias
            scores -= scores.max(axis=-1, keepdims=True)
            probs = np.exp(scores)
            probs /= probs.sum(axis=-1, keepdims=True)
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(rows, -1)
            attn = context @ layer.attn_out_w + layer.attn_out_b
            flat = _layer_norm(attn + flat, layer.attn_ln_g, layer.attn_ln_b, self.eps)
            inner = gelu(flat @ layer.ffn_in_w + layer.ffn_in_b)
            out = inner @ layer.ffn_out_w + layer.ffn_out_b
            flat = _layer_norm(out + flat, layer.ffn_ln_g, layer.ffn_ln_b, self.eps)
            x = flat.reshape(batch, length, -1)
        return x
