"""torch.dtype <-> TensorRT DataType."""
from __future__ import annotations

from typing import Any

import torch

from .. import backend as _backend

_NAMES = {
    torch.float32: "FLOAT", torch.float16: "HALF", torch.bfloat16: "BF16",
    torch.int32: "INT32", torch.int64: "INT64", torch.int8: "INT8",
    torch.uint8: "UINT8", torch.bool: "BOOL",
}


def to_trt(dtype: torch.dtype, trt: Any = None) -> Any:
    """TensorRT DataType of module ``trt`` (default: the default backend's) for a torch dtype
    (float64 maps to FLOAT: TensorRT has no doubles)."""
    if dtype == torch.float64:
        dtype = torch.float32
    try:
        return getattr((trt or _backend.trt).DataType, _NAMES[dtype])
    except KeyError:
        raise TypeError(f"TensorRT has no data type for {dtype}") from None


def to_torch(dtype: Any) -> torch.dtype:
    """torch dtype of a TensorRT DataType (of any backend: matched by name)."""
    for tdt, name in _NAMES.items():
        if getattr(dtype, "name", None) == name:
            return tdt
    raise TypeError(f"no torch dtype for TensorRT {dtype}")
