"""A minimal GGUF header reader: metadata and tensor names, no weights, no llama.cpp."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

# GGUF value types -> struct formats (arrays and strings handled apart).
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q",
            12: "d"}
_STRING, _ARRAY = 8, 9

# llama.cpp's general.file_type values (enum llama_ftype).
FILE_TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1",
              10: "Q2_K", 11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M",
              16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 32: "BF16"}


@dataclass
class GGUFInfo:
    version: int
    metadata: dict[str, Any] = field(default_factory=dict)
    tensor_names: list[str] = field(default_factory=list)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", "unknown"))

    @property
    def quantization(self) -> str:
        ftype = self.metadata.get("general.file_type")
        return FILE_TYPES.get(ftype, f"type {ftype}") if ftype is not None else "unknown"

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name", ""))

    def has_dense_projections(self) -> bool:
        """EmbeddingGemma's two Dense layers after pooling (without them vectors are wrong)."""
        names = set(self.tensor_names)
        return any("dense_2" in n for n in names) and any("dense_3" in n for n in names)


def _read(fh: BinaryIO, fmt: str) -> Any:
    size = struct.calcsize("<" + fmt)
    data = fh.read(size)
    if len(data) != size:
        raise ValueError("truncated GGUF header")
    return struct.unpack("<" + fmt, data)[0]


def _string(fh: BinaryIO) -> str:
    length = _read(fh, "Q")
    if length > 1 << 24:
        raise ValueError("implausible string length in GGUF header")
    return fh.read(length).decode("utf-8", "replace")


def _value(fh: BinaryIO, vtype: int, keep_arrays: bool) -> Any:
    if vtype in _SCALARS:
        return _read(fh, _SCALARS[vtype])
    if vtype == _STRING:
        return _string(fh)
    if vtype == _ARRAY:
        item_type, count = _read(fh, "I"), _read(fh, "Q")
        if item_type in _SCALARS and not keep_arrays:  # skip big token tables quickly
            fh.seek(struct.calcsize("<" + _SCALARS[item_type]) * count, 1)
            return f"<array of {count}>"
        items = [_value(fh, item_type, keep_arrays) for _ in range(count)]
        return items if keep_arrays else f"<array of {count}>"
    raise ValueError(f"unknown GGUF value type {vtype}")


def read_gguf(path: Path) -> GGUFInfo:
    """Read the header. Raises ValueError if the file is not a GGUF."""
    with path.open("rb") as fh:
        if fh.read(4) != b"GGUF":
            raise ValueError("not a GGUF file")
        info = GGUFInfo(version=_read(fh, "I"))
        n_tensors, n_kv = _read(fh, "Q"), _read(fh, "Q")
        for _ in range(n_kv):
            key = _string(fh)
            info.metadata[key] = _value(fh, _read(fh, "I"), keep_arrays=False)
        for _ in range(n_tensors):
            info.tensor_names.append(_string(fh))
            n_dims = _read(fh, "I")
            fh.seek(8 * n_dims + 4 + 8, 1)  # dims, type, offset
        return info
