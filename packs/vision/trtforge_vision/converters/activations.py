"""Activations: one TensorRT activation layer where one exists, else two or three layers."""
from __future__ import annotations

import torch

from trtforge import Refusal
from trtforge.conversion import blocks as B

from ._util import all_of, arg, converter, float_input, node_arg, scalar_value

aten = torch.ops.aten


@converter(aten.relu.default, validator=float_input)
def relu(ctx, target, args, kwargs, name):
    return B.activation(ctx, "RELU", args[0])


@converter(aten.sigmoid.default, aten.tanh.default)
def sigmoid_tanh(ctx, target, args, kwargs, name):
    x = B.cast(ctx, args[0], ctx.output_dtype())
    return B.activation(ctx, "SIGMOID" if target is aten.sigmoid.default else "TANH", x)


@converter(aten.hardtanh.default, validator=float_input)
def hardtanh(ctx, target, args, kwargs, name):
    """relu6 and hardtanh: one CLIP."""
    lo, hi = arg(args, kwargs, 1, "min_val", -1.0), arg(args, kwargs, 2, "max_val", 1.0)
    return B.activation(ctx, "CLIP", args[0], alpha=lo, beta=hi)


@converter(aten.leaky_relu.default, validator=float_input)
def leaky_relu(ctx, target, args, kwargs, name):
    return B.activation(ctx, "LEAKY_RELU", args[0], alpha=scalar_value(arg(args, kwargs, 1, "negative_slope", 0.01)))


def _elu_ok(node, settings):
    scale = node_arg(node, 3, "input_scale", 1)
    return True if scale == 1 else Refusal(f"elu input_scale={scale} (only 1 converts)")


@converter(aten.elu.default, validator=all_of(float_input, _elu_ok))
def elu(ctx, target, args, kwargs, name):
    """elu with scale s: s*x if x > 0 else s*alpha*(exp(x)-1): TensorRT's SELU with (alpha, s)."""
    alpha = scalar_value(arg(args, kwargs, 1, "alpha", 1.0))
    scale = scalar_value(arg(args, kwargs, 2, "scale", 1.0))
    if scale == 1:
        return B.activation(ctx, "ELU", args[0], alpha=alpha)
    return B.activation(ctx, "SELU", args[0], alpha=alpha, beta=scale)


@converter(aten.selu.default, validator=float_input)
def selu(ctx, target, args, kwargs, name):
    return B.activation(ctx, "SELU", args[0], alpha=1.6732632423543772, beta=1.0507009873554805)


def _gelu_ok(node, settings):
    approx = node_arg(node, 1, "approximate", "none")
    return True if approx in ("none", "tanh") else Refusal(f"gelu approximate={approx!r}")


@converter(aten.gelu.default, validator=all_of(float_input, _gelu_ok))
def gelu(ctx, target, args, kwargs, name):
    kind = "GELU_TANH" if arg(args, kwargs, 1, "approximate", "none") == "tanh" else "GELU_ERF"
    return B.activation(ctx, kind, args[0])


@converter(aten.silu.default, validator=float_input)
def silu(ctx, target, args, kwargs, name):
    return B.elementwise(ctx, "PROD", args[0], B.activation(ctx, "SIGMOID", args[0]))


@converter(aten.hardsigmoid.default, validator=float_input)
def hardsigmoid(ctx, target, args, kwargs, name):
    return B.activation(ctx, "HARD_SIGMOID", args[0], alpha=1 / 6, beta=0.5)


@converter(aten.hardswish.default, validator=float_input)
def hardswish(ctx, target, args, kwargs, name):
    gate = B.activation(ctx, "HARD_SIGMOID", args[0], alpha=1 / 6, beta=0.5)
    return B.elementwise(ctx, "PROD", args[0], gate)


def _softplus(ctx, x, beta: float, threshold: float):
    """(1/beta) * log(1 + exp(beta*x)); torch returns x itself above the threshold.

    Past threshold 15 the difference is below float32 resolution, so one layer suffices.
    """
    y = B.activation(ctx, "SOFTPLUS", x, alpha=1 / beta, beta=beta)
    if threshold >= 15:
        return y
    above = B.compare(ctx, "gt", B.elementwise(ctx, "PROD", x, beta), threshold)
    return B.where(ctx, above, x, y)


@converter(aten.softplus.default, validator=float_input)
def softplus(ctx, target, args, kwargs, name):
    beta = scalar_value(arg(args, kwargs, 1, "beta", 1.0))
    threshold = scalar_value(arg(args, kwargs, 2, "threshold", 20.0))
    return _softplus(ctx, args[0], float(beta), float(threshold))


@converter(aten.mish.default, validator=float_input)
def mish(ctx, target, args, kwargs, name):
    """x * tanh(softplus(x))."""
    t = B.activation(ctx, "TANH", _softplus(ctx, args[0], 1.0, 20.0))
    return B.elementwise(ctx, "PROD", args[0], t)


def _dropout_off(node, settings):
    train, p = node_arg(node, 2, "train"), node_arg(node, 1, "p", 0.0)
    return True if train is False or p == 0 else Refusal("native_dropout in training mode draws random masks")


@converter(aten.native_dropout.default, validator=_dropout_off)
def native_dropout(ctx, target, args, kwargs, name):
    """Inference dropout: the input unchanged and a mask that keeps every element."""
    x = ctx.to_trt(args[0])
    return [x, B.fill(ctx, B.sizes(ctx, x), True, torch.bool)]
