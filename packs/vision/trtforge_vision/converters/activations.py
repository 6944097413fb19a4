"""Activations: one TensorRT activation layer where one exists, else two or three layers."""
from __future__ import annotations

import torch

from trtforge import Refusal
from trtforge.conversion import blocks as B
from trtforge.conversion.args import all_of, argument, node_argument

from ._util import converter, float_input, scalar_value

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
    lo, hi = argument(target, args, kwargs, "min_val"), argument(target, args, kwargs, "max_val")
    return B.activation(ctx, "CLIP", args[0], alpha=lo, beta=hi)


@converter(aten.leaky_relu.default, validator=float_input)
def leaky_relu(ctx, target, args, kwargs, name):
    return B.activation(ctx, "LEAKY_RELU", args[0], alpha=scalar_value(argument(target, args, kwargs, "negative_slope")))


def _elu_ok(node, settings):
    scale = node_argument(node, "input_scale")
    return True if scale == 1 else Refusal(f"elu input_scale={scale} (only 1 converts)")


@converter(aten.elu.default, validator=all_of(float_input, _elu_ok))
def elu(ctx, target, args, kwargs, name):
    """elu with scale s: s*x if x > 0 else s*alpha*(exp(x)-1): TensorRT's SELU with (alpha, s)."""
    alpha = scalar_value(argument(target, args, kwargs, "alpha"))
    scale = scalar_value(argument(target, args, kwargs, "scale"))
    if scale == 1:
        return B.activation(ctx, "ELU", args[0], alpha=alpha)
    return B.activation(ctx, "SELU", args[0], alpha=alpha, beta=scale)


@converter(aten.selu.default, validator=float_input)
def selu(ctx, target, args, kwargs, name):
    return B.activation(ctx, "SELU", args[0], alpha=1.6732632423543772, beta=1.0507009873554805)


def _gelu_ok(node, settings):
    approx = node_argument(node, "approximate")
    return True if approx in ("none", "tanh") else Refusal(f"gelu approximate={approx!r}")


@converter(aten.gelu.default, validator=all_of(float_input, _gelu_ok))
def gelu(ctx, target, args, kwargs, name):
    kind = "GELU_TANH" if argument(target, args, kwargs, "approximate") == "tanh" else "GELU_ERF"
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
    beta = scalar_value(argument(target, args, kwargs, "beta"))
    threshold = scalar_value(argument(target, args, kwargs, "threshold"))
    return _softplus(ctx, args[0], float(beta), float(threshold))


@converter(aten.mish.default, validator=float_input)
def mish(ctx, target, args, kwargs, name):
    """x * tanh(softplus(x))."""
    t = B.activation(ctx, "TANH", _softplus(ctx, args[0], 1.0, 20.0))
    return B.elementwise(ctx, "PROD", args[0], t)


def _dropout_off(node, settings):
    train, p = node_argument(node, "train"), node_argument(node, "p")
    return True if train is False or p == 0 else Refusal("native_dropout in training mode draws random masks")


@converter(aten.native_dropout.default, validator=_dropout_off)
def native_dropout(ctx, target, args, kwargs, name):
    """Inference dropout: the input unchanged and a mask that keeps every element."""
    x = ctx.to_trt(args[0])
    return [x, B.fill(ctx, B.sizes(ctx, x), True, torch.bool)]
