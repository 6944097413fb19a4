"""torch.dtype <-> TensorRT DataType, and the one place that emits a TensorRT cast layer."""
from __future__ import annotations

from typing import Any

import torch

from .. import backend as _backend

_NAMES = {
    torch.float32: "FLOAT", torch.float16: "HALF", torch.bfloat16: "BF16",
    torch.int32: "INT32", torch.int64: "INT64", torch.int8: "INT8",
    torch.uint8: "UINT8", torch.bool: "BOOL", torch.float8_e4m3fn: "FP8",
}


#: torch dtypes TensorRT has no type for: nodes reading or producing them stay in PyTorch
#: (computing float64 in float32 would silently change the model's numbers)
MISSING = frozenset({
    torch.float64, torch.complex32, torch.complex64, torch.complex128,
    torch.int16, torch.uint16, torch.uint32, torch.uint64,
})


def missing_dtypes(node: Any) -> list[str]:
    """What of ``node`` (its result, its tensor arguments) has a dtype TensorRT lacks: e.g.
    ``["result: torch.complex64", "input x: torch.float64"]``; empty if nothing."""
    def tensors(val: Any) -> list[torch.Tensor]:
        if isinstance(val, torch.Tensor):
            return [val]
        if isinstance(val, (list, tuple)):
            return [t for v in val for t in tensors(v)]
        return []

    out = [f"result: {t.dtype}" for t in tensors(_read_results(node)) if t.dtype in MISSING][:1]
    for p in node.all_input_nodes:
        out += [f"input {p.name}: {t.dtype}" for t in tensors(p.meta.get("val")) if t.dtype in MISSING][:1]
    return out


def _read_results(node: Any) -> Any:
    """The node's results that something reads: an unread output of a multi-output op (the RNG
    state of a fused attention kernel) never becomes a TensorRT tensor."""
    import operator

    val = node.meta.get("val")
    if not isinstance(val, (list, tuple)):
        return val
    users = list(getattr(node, "users", ()))
    if not all(u.op == "call_function" and u.target is operator.getitem for u in users):
        return val
    read = {int(u.args[1]) for u in users if u.users}  # export leaves a getitem per output, read or not
    return [val[i] for i in sorted(read) if i < len(val)]


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


def cast_layer(ctx: Any, tensor: Any, dtype: torch.dtype) -> Any:
    """``tensor`` as TensorRT's cast layer makes it ``dtype`` (no layer when it already is).

    The raw layer: converters use ``blocks.cast``, which adds torch's rules (bool is ``!= 0``).
    """
    want = to_trt(dtype, ctx.trt)
    if tensor.dtype == want:
        return tensor
    return ctx.out(ctx.net.add_cast(tensor, want), "cast")
