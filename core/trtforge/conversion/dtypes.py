"""torch.dtype <-> TensorRT DataType."""
from __future__ import annotations

from typing import Any

import torch

from .. import backend as _backend

_NAMES = {
    torch.float32: "FLOAT", torch.float16: "HALF", torch.bfloat16: "BF16",
    torch.int32: "INT32", torch.int64: "INT64", torch.int8: "INT8",
    torch.uint8: "UINT8", torch.bool: "BOOL", torch.float8_e4m3fn: "FP8",
}


def to_trt(dtype: torch.dtype) -> Any:
    """TensorRT DataType for a torch dtype (float64 maps to FLOAT: TensorRT has no doubles)."""
    if dtype == torch.float64:
        dtype = torch.float32
    try:
        return getattr(_backend.trt.DataType, _NAMES[dtype])
    except KeyError:
        raise TypeError(f"TensorRT has no data type for {dtype}") from None


def to_torch(dtype: Any) -> torch.dtype:
    for tdt, name in _NAMES.items():
        if dtype == getattr(_backend.trt.DataType, name):
            return tdt
    raise TypeError(f"no torch dtype for TensorRT {dtype}")
