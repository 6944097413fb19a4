"""Pointwise, reduction and contraction layers.

Formulas follow the TensorRT Python API docstrings (``ActivationType``,
``UnaryOperation``, ``ElementWiseOperation``, ``ICumulativeLayer``, ...).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch

from ._common import mask_axes, name, weights

if TYPE_CHECKING:  # pragma: no cover - annotations only: the executor imports this module
    from .executor import LayerCtx


# --------------------------------------------------------------------- activation
def _activation(ctx: LayerCtx, ins: list) -> list:
    layer = ctx.layer
    x = ins[0].float()
    op = name(layer.type)  # after the cast, ``type`` is the ActivationType
    a, b = float(layer.alpha), float(layer.beta)
    if op == "RELU":
        y = torch.relu(x)
    elif op == "SIGMOID":
        y = torch.sigmoid(x)
    elif op == "TANH":
        y = torch.tanh(x)
    elif op == "LEAKY_RELU":
        y = torch.where(x >= 0, x, a * x)
    elif op == "ELU":
        y = torch.where(x >= 0, x, a * (torch.exp(x) - 1))
    elif op == "SELU":
        y = torch.where(x > 0, b * x, b * (a * torch.exp(x) - a))
    elif op == "SOFTSIGN":
        y = x / (1 + x.abs())
    elif op == "SOFTPLUS":
        y = a * torch.logaddexp(b * x, torch.zeros_like(x))  # alpha*log(exp(beta*x)+1), stable
    elif op == "CLIP":
        y = torch.clamp(torch.clamp(x, max=b), min=a)  # max(alpha, min(beta, x))
    elif op == "HARD_SIGMOID":
        y = torch.clamp(a * x + b, 0.0, 1.0)
    elif op == "SCALED_TANH":
        y = a * torch.tanh(b * x)
    elif op == "THRESHOLDED_RELU":
        y = torch.where(x > a, x, torch.zeros_like(x))
    elif op == "GELU_ERF":
        y = 0.5 * x * (1 + torch.erf(x * math.sqrt(0.5)))
    elif op == "GELU_TANH":
        y = 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (0.044715 * x**3 + x)))
    else:
        raise ctx.unsupported(f"ActivationType.{op}")
    return [y]


# --------------------------------------------------------------------- unary
_UNARY_FLOAT = {
    "EXP": torch.exp, "LOG": torch.log, "SQRT": torch.sqrt, "RECIP": torch.reciprocal,
    "SIN": torch.sin, "COS": torch.cos, "TAN": torch.tan, "SINH": torch.sinh, "COSH": torch.cosh,
    "ASIN": torch.asin, "ACOS": torch.acos, "ATAN": torch.atan, "ASINH": torch.asinh,
    "ACOSH": torch.acosh, "ATANH": torch.atanh, "ERF": torch.erf,
}


def _unary(ctx: LayerCtx, ins: list) -> list:
    x = ins[0]
    op = name(ctx.layer.op)
    if op in _UNARY_FLOAT:
        return [_UNARY_FLOAT[op](x.float())]
    if op == "ABS":
        return [x.abs()]
    if op == "NEG":
        return [-x]
    if op == "SIGN":
        return [torch.sign(x)]
    if op in ("CEIL", "FLOOR", "ROUND"):
        if not x.dtype.is_floating_point:
            return [x]
        return [{"CEIL": torch.ceil, "FLOOR": torch.floor, "ROUND": torch.round}[op](x)]  # ROUND: half to even
    if op == "NOT":
        return [torch.logical_not(x)]
    if op == "ISINF":
        return [torch.isinf(x)]
    if op == "ISNAN":
        return [torch.isnan(x)]
    raise ctx.unsupported(f"UnaryOperation.{op}")


# --------------------------------------------------------------------- elementwise
def _int_div(a: torch.Tensor, b: torch.Tensor, mode: str) -> torch.Tensor:
    if bool((b == 0).any()):
        raise ZeroDivisionError("integer division by zero (undefined in TensorRT)")
    return torch.div(a, b, rounding_mode=mode)


def _elementwise(ctx: LayerCtx, ins: list) -> list:
    a, b = ins
    if a.dim() != b.dim():
        raise ctx.fail(f"inputs have ranks {a.dim()} and {b.dim()}; TensorRT needs equal ranks")
    if a.dtype != b.dtype:
        common = torch.promote_types(a.dtype, b.dtype)
        a, b = a.to(common), b.to(common)
    op = name(ctx.layer.op)
    is_int = not a.dtype.is_floating_point and a.dtype != torch.bool
    if op == "SUM":
        y = a + b
    elif op == "PROD":
        y = a * b
    elif op == "MAX":
        y = torch.maximum(a, b)
    elif op == "MIN":
        y = torch.minimum(a, b)
    elif op == "SUB":
        y = a - b
    elif op == "DIV":
        # Integer DIV truncates toward zero (C semantics, as ONNX Div, which the ONNX
        # parser maps straight onto kDIV); TensorRT's docs do not spell this out.
        y = _int_div(a, b, "trunc") if is_int else a / b
    elif op == "FLOOR_DIV":
        y = _int_div(a, b, "floor") if is_int else torch.floor(a / b)
    elif op == "POW":
        y = torch.pow(a, b)
    elif op == "AND":
        y = torch.logical_and(a, b)
    elif op == "OR":
        y = torch.logical_or(a, b)
    elif op == "XOR":
        y = torch.logical_xor(a, b)
    elif op == "EQUAL":
        y = a == b
    elif op == "GREATER":
        y = a > b
    elif op == "LESS":
        y = a < b
    else:
        raise ctx.unsupported(f"ElementWiseOperation.{op}")
    return [y]


def _select(ctx: LayerCtx, ins: list) -> list:
    cond, a, b = ins
    return [torch.where(cond.bool(), a, b)]


def _cast(ctx: LayerCtx, ins: list) -> list:
    # float -> int truncates toward zero (C cast); float -> bool is x != 0.
    return [ins[0].to(ctx.out_dtype(0))]


def _identity(ctx: LayerCtx, ins: list) -> list:
    return [ins[0].to(ctx.out_dtype(0))]


def _parametric_relu(ctx: LayerCtx, ins: list) -> list:
    x, slopes = ins
    return [torch.where(x >= 0, x, x * slopes)]


# --------------------------------------------------------------------- reductions
def _reduce(ctx: LayerCtx, ins: list) -> list:
    x = ins[0]
    layer = ctx.layer
    axes = mask_axes(layer.axes, x.dim())
    keep = bool(layer.keep_dims)
    op = name(layer.op)
    if not axes:
        return [x]
    if op == "SUM":
        y = x.sum(dim=axes, keepdim=keep, dtype=x.dtype)
    elif op == "AVG":
        y = x.float().mean(dim=axes, keepdim=keep)
    elif op == "MAX":
        y = torch.amax(x, dim=axes, keepdim=keep)
    elif op == "MIN":
        y = torch.amin(x, dim=axes, keepdim=keep)
    elif op == "PROD":
        y = x
        for ax in sorted(axes, reverse=True):
            y = torch.prod(y, dim=ax, keepdim=keep, dtype=x.dtype)
    else:
        raise ctx.unsupported(f"ReduceOperation.{op}")
    return [y]


def _softmax(ctx: LayerCtx, ins: list) -> list:
    x = ins[0].float()
    axes = mask_axes(ctx.layer.axes, x.dim())
    if len(axes) != 1:
        raise ctx.fail(f"softmax needs exactly one axis, the mask selects {axes}")
    return [torch.softmax(x, dim=axes[0])]


_CUM_IDENTITY = {"SUM": 0, "PROD": 1, "MIN": math.inf, "MAX": -math.inf}


def _cumulative(ctx: LayerCtx, ins: list) -> list:
    x, axis_t = ins
    layer = ctx.layer
    axis = int(axis_t.reshape(-1)[0]) % max(x.dim(), 1)
    op = name(layer.op)
    if op not in _CUM_IDENTITY:
        raise ctx.unsupported(f"CumulativeOperation.{op}")
    y = x.flip(axis) if layer.reverse else x
    if op == "SUM":
        c = torch.cumsum(y, axis, dtype=y.dtype)
    elif op == "PROD":
        c = torch.cumprod(y, axis, dtype=y.dtype)
    elif op == "MIN":
        c = torch.cummin(y, axis).values
    else:
        c = torch.cummax(y, axis).values
    if layer.exclusive:
        first = torch.full_like(c.narrow(axis, 0, 1), _CUM_IDENTITY[op])
        c = torch.cat([first, c.narrow(axis, 0, c.shape[axis] - 1)], dim=axis)
    return [c.flip(axis) if layer.reverse else c]


# --------------------------------------------------------------------- contractions
def _matmul(ctx: LayerCtx, ins: list) -> list:
    a, b = ins
    op0, op1 = name(ctx.layer.op0), name(ctx.layer.op1)
    if op0 == "TRANSPOSE":
        a = a.transpose(-1, -2)
    if op1 == "TRANSPOSE":
        b = b.transpose(-1, -2)
    if op0 == "VECTOR":
        a = a.unsqueeze(-2)
    if op1 == "VECTOR":
        b = b.unsqueeze(-1)
    y = torch.matmul(a, b)
    if op1 == "VECTOR":
        y = y.squeeze(-1)
    if op0 == "VECTOR":
        y = y.squeeze(-1 if op1 == "VECTOR" else -2)
    return [y]


def _einsum(ctx: LayerCtx, ins: list) -> list:
    return [torch.einsum(ctx.layer.equation, *ins)]


def _scale(ctx: LayerCtx, ins: list) -> list:
    """(x * scale + shift) ** power; per tensor, per channel or per element."""
    x = ins[0].float()
    layer = ctx.layer
    mode = name(layer.mode)
    axis = int(layer.channel_axis)

    def shaped(w):
        if w is None:
            return None
        w = w.float()
        if mode == "UNIFORM":
            return w.reshape(())
        if mode == "CHANNEL":
            shape = [1] * x.dim()
            shape[axis] = -1
            return w.reshape(shape)
        tail = x.shape[axis:]
        return w.reshape(tail if w.numel() == math.prod(tail) else x.shape)

    scale, shift, power = (shaped(weights(getattr(layer, n), ctx)) for n in ("scale", "shift", "power"))
    y = x
    if scale is not None:
        y = y * scale
    if shift is not None:
        y = y + shift
    if power is not None and not bool((power == 1).all()):
        y = torch.pow(y, power)
    return [y]


LAYERS = {
    "ACTIVATION": ("IActivationLayer", _activation),
    "UNARY": ("IUnaryLayer", _unary),
    "ELEMENTWISE": ("IElementWiseLayer", _elementwise),
    "SELECT": ("ISelectLayer", _select),
    "CAST": ("ICastLayer", _cast),
    "IDENTITY": ("IIdentityLayer", _identity),
    "PARAMETRIC_RELU": ("IParametricReLULayer", _parametric_relu),
    "REDUCE": ("IReduceLayer", _reduce),
    "SOFTMAX": ("ISoftMaxLayer", _softmax),
    "CUMULATIVE": ("ICumulativeLayer", _cumulative),
    "MATRIX_MULTIPLY": ("IMatrixMultiplyLayer", _matmul),
    "EINSUM": ("IEinsumLayer", _einsum),
    "SCALE": ("IScaleLayer", _scale),
}
