"""TensorRT quantize/dequantize layers for one scheme (type, scale, granularity).

Weights and activations take different routes, chosen by what TensorRT-RTX 1.7 builds
and what its Python bindings let the reference executor read (measured, see README):

* run-time tensors: ``IQuantizeLayer`` -> ``IDequantizeLayer`` with the same scale;
* INT8 weights (and INT4 weights, whose values [-8, 7] are INT8 values): an INT8
  constant -> ``IDequantizeLayer``. TensorRT-RTX does not build blockwise INT4
  dequantization ("Blockwise dequantization requires input type to be int8 or fp8e4m3"),
  and the bindings expose no INT4 or FP8 constant's data, so INT4 weights are stored
  as INT8 blocks;
* FP8 weights: the dequantized float constant -> ``IQuantizeLayer`` -> ``IDequantizeLayer``,
  TensorRT's documented weight pattern, which its builder folds into FP8 weights.
"""
from __future__ import annotations

from typing import Any

import torch

from trtforge.conversion import dtypes

from .schemes import FP8, INT4, INT8, Granularity

_TRT_TYPE = {INT8: "INT8", INT4: "INT4", FP8: "FP8"}


def scale_tensor(ctx: Any, scale: Any, shape: tuple[int, ...], g: Granularity, dtype: torch.dtype) -> Any:
    """The scale constant in the shape TensorRT wants: scalar, 1-D along the axis, or one per block."""
    s = torch.as_tensor(scale).detach().to(dtype)
    if g.block:
        s = s.reshape([n // b for n, b in zip(shape, g.block)])
    elif g.axis is not None:
        s = s.reshape(-1)
    else:
        s = s.reshape(-1)[:1].reshape(())
    return ctx.constant(s)


def _configure(layer: Any, g: Granularity) -> Any:
    if g.block:
        layer.block_shape = g.block
    elif g.axis is not None:
        layer.axis = g.axis
    return layer


def quantize(ctx: Any, x: Any, scale: Any, kind: str, g: Granularity, suffix: str = "quantize") -> Any:
    """``IQuantizeLayer`` of the run-time tensor ``x`` to ``kind`` (the scale in ``x``'s type)."""
    s = scale_tensor(ctx, scale, tuple(x.shape), g, ctx.torch_dtype(x))
    layer = ctx.net.add_quantize(x, s, getattr(ctx.trt.DataType, _TRT_TYPE[kind]))
    return ctx.out(_configure(layer, g), suffix)


def dequantize(ctx: Any, q: Any, scale: Any, g: Granularity, out_dtype: torch.dtype, suffix: str = "dequantize") -> Any:
    """``IDequantizeLayer`` of the quantized tensor ``q`` to ``out_dtype`` (the scale in that type)."""
    s = scale_tensor(ctx, scale, tuple(q.shape), g, out_dtype)
    layer = ctx.net.add_dequantize(q, s, dtypes.to_trt(out_dtype))
    return ctx.out(_configure(layer, g), suffix)


def dequantize_weight(ctx: Any, values: torch.Tensor, scale: Any, kind: str, g: Granularity,
                      out_dtype: torch.dtype) -> Any:
    """A quantized constant (int8 storage, or float8) dequantized to ``out_dtype`` in the network."""
    if kind in (INT8, INT4):
        q = ctx.constant(values.to(torch.int8))
        return dequantize(ctx, q, scale, g, out_dtype, "dequantize_weight")
    # FP8: float weights -> Q -> DQ with one scale; the builder folds the pair into FP8 weights
    expanded = _expand(torch.as_tensor(scale).float(), values.shape, g)
    weight = ctx.constant((values.float() * expanded).to(out_dtype))
    q = quantize(ctx, weight, scale, kind, g, "quantize_weight")
    return dequantize(ctx, q, scale, g, out_dtype, "dequantize_weight")


def _expand(scale: torch.Tensor, shape: torch.Size, g: Granularity) -> torch.Tensor:
    """The scale broadcast over a tensor of ``shape`` (PyTorch side of :func:`scale_tensor`)."""
    if g.block:
        s = scale.reshape([n // b for n, b in zip(shape, g.block)])
        for d, b in enumerate(g.block):
            s = s.repeat_interleave(b, dim=d)
        return s
    if g.axis is not None:
        view = [1] * len(shape)
        view[g.axis] = -1
        return scale.reshape(view)
    return scale.reshape(-1)[0]
