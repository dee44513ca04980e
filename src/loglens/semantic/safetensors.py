"""Read a ``.safetensors`` file with numpy alone (no torch, no ``safetensors`` package).

The format is small: an 8-byte little-endian header length, a JSON header mapping each tensor
name to its dtype, shape and byte range, then the raw little-endian data. Reading it here keeps
the default install free of torch; nothing in the file is ever executed (unlike a pickle).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from loglens.errors import SemanticError

_DTYPES: dict[str, str] = {
    "F64": "<f8",
    "F32": "<f4",
    "F16": "<f2",
    "I64": "<i8",
    "I32": "<i4",
    "I16": "<i2",
    "I8": "i1",
    "U8": "u1",
    "BOOL": "?",
}
# A header larger than this is not a model header but a broken or hostile file.
_MAX_HEADER_BYTES = 100_000_000


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Load every tensor of a safetensors file as a numpy array (its own copy, C-contiguous).

    Raises:
        SemanticError: the file is missing, truncated or not a safetensors file.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SemanticError(f"cannot read model weights: {exc}", location=str(path)) from exc
    if len(data) < 8:
        raise SemanticError("not a safetensors file (too short)", location=str(path))
    (header_len,) = struct.unpack("<Q", data[:8])
    if header_len > min(_MAX_HEADER_BYTES, len(data) - 8):
        raise SemanticError("not a safetensors file (bad header length)", location=str(path))
    try:
        header = json.loads(data[8 : 8 + header_len])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SemanticError(f"not a safetensors file: {exc}", location=str(path)) from exc
    if not isinstance(header, dict):
        raise SemanticError("not a safetensors file (header is not an object)", location=str(path))
    body = memoryview(data)[8 + header_len :]
    tensors: dict[str, np.ndarray] = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        tensors[name] = _tensor(name, spec, body, path)
    return tensors


def _tensor(name: str, spec: object, body: memoryview, path: Path) -> np.ndarray:
    where = f"{path}: {name}"
    if not isinstance(spec, dict):
        raise SemanticError("tensor entry is not an object", location=where)
    dtype_name = spec.get("dtype")
    shape = spec.get("shape")
    offsets = spec.get("data_offsets")
    if dtype_name not in _DTYPES:
        raise SemanticError(f"unsupported tensor dtype {dtype_name!r}", location=where)
    if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
        raise SemanticError("bad tensor shape", location=where)
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(isinstance(o, int) for o in offsets)
        and 0 <= offsets[0] <= offsets[1] <= len(body)
    ):
        raise SemanticError("bad tensor byte range", location=where)
    dtype = np.dtype(_DTYPES[dtype_name])
    count = int(np.prod(shape, dtype=np.int64))
    if count * dtype.itemsize != offsets[1] - offsets[0]:
        raise SemanticError("tensor size does not match its shape", location=where)
    flat = np.frombuffer(body[offsets[0] : offsets[1]], dtype=dtype, count=count)
    return flat.reshape(shape).astype(dtype.newbyteorder("="), copy=True)
