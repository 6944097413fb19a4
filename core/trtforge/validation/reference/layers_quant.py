"""Quantize and dequantize layers, bit-exactly as TensorRT defines them.

``IQuantizeLayer``: ``y = saturate(round_half_even(x / scale) + zero_point)``, saturating to
[-128, 127] (INT8), [-8, 7] (INT4) or [-448, 448] (FP8 E4M3, then rounded to the nearest
E4M3 value, ties to even). ``IDequantizeLayer``: ``y = (x - zero_point) * scale``. The scale
is a scalar (per tensor), a 1-D tensor along ``axis`` (per channel) or a tensor of the
input's rank whose every dimension divides the input's (block quantization, each scale
covering a block). TensorRT accepts only zero zero points; a non-zero one is an error here
too, so the reference never computes what no engine would.

INT4 tensors are held as int8 tensors with values in [-8, 7] (torch has no 4-bit dtype);
FP8 tensors as ``torch.float8_e4m3fn``.
"""
from __future__ import annotations

import torch

from ._common import name
from .executor import LayerCtx

#: saturation bounds of each quantized type (TensorRT's IQuantizeLayer documentation)
BOUNDS = {"INT8": (-128.0, 127.0), "INT4": (-8.0, 7.0), "FP8": (-448.0, 448.0)}


def _expand_scale(ctx: LayerCtx, scale: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The scale broadcast to ``x``'s shape, per tensor, per channel (``axis``) or per block."""
    if scale.dim() == 0 or scale.numel() == 1 and scale.dim() <= 1:
        return scale.reshape(())
    if scale.dim() == 1:
        axis = int(ctx.layer.axis) % x.dim()
        if scale.shape[0] != x.shape[axis]:
            raise ctx.fail(f"per-channel scale has {scale.shape[0]} values, axis {axis} has {x.shape[axis]}")
        shape = [1] * x.dim()
        shape[axis] = -1
        return scale.reshape(shape)
    if scale.dim() != x.dim():
        raise ctx.fail(f"block scale has rank {scale.dim()}, the input rank {x.dim()}")
    out = scale
    for d, (n, s) in enumerate(zip(x.shape, scale.shape)):
        if n % s:
            raise ctx.fail(f"block scale dimension {d} ({s}) does not divide the input's ({n})")
        out = out.repeat_interleave(n // s, dim=d)
    return out


def _zero_point_is_zero(ctx: LayerCtx, ins: list) -> None:
    zp = ins[2] if len(ins) > 2 else None
    if zp is not None and bool((zp.float() != 0).any()):
        raise ctx.fail("non-zero zero point: TensorRT supports only symmetric quantization")


def _quantize(ctx: LayerCtx, ins: list) -> list:
    x, scale = ins[0].float(), ins[1].float()
    _zero_point_is_zero(ctx, ins)
    kind = name(ctx.layer.get_output(0).dtype)
    if kind not in BOUNDS:
        raise ctx.unsupported(f"quantization to {kind}")
    lo, hi = BOUNDS[kind]
    scaled = x / _expand_scale(ctx, scale, x)
    if kind == "FP8":
        # saturate first: torch's float8_e4m3fn conversion turns out-of-range values into NaN
        return [scaled.clamp(lo, hi).to(torch.float8_e4m3fn)]
    return [torch.round(scaled).clamp(lo, hi).to(torch.int8)]  # torch.round: ties to even


def _dequantize(ctx: LayerCtx, ins: list) -> list:
    x, scale = ins[0], ins[1].float()
    _zero_point_is_zero(ctx, ins)
    values = x.float()
    return [values * _expand_scale(ctx, scale, values)]


LAYERS = {
    "QUANTIZE": ("IQuantizeLayer", _quantize),
    "DEQUANTIZE": ("IDequantizeLayer", _dequantize),
}
