"""Normalization: batch norm (inference), layer norm, group norm, instance norm.

Half-precision inputs are normalized in float32 (a cast in, a cast out): the
variance of fp16 activations loses too much precision otherwise.
"""
from __future__ import annotations

import torch

from trtforge import Refusal
from trtforge.conversion import blocks as B
from trtforge.conversion.args import all_of, argument, node_argument, only_first_output, outputs_used, value_of

from ._util import converter, float_input, is_constant, static_dims

aten = torch.ops.aten


def _param_shape(rank: int, axis: int, n: int) -> tuple[int, ...]:
    shape = [1] * rank
    shape[axis] = n
    return tuple(shape)


def _constants_ok(*names: str):
    """Validator: the named parameters are weights (or absent), as the layers here take them."""

    def check(node, settings):
        if all(is_constant(node_argument(node, n)) for n in names):
            return True
        return Refusal("normalization parameters computed at run time")

    return check


@converter(aten._native_batch_norm_legit_no_training.default,
           validator=all_of(float_input, _constants_ok("weight", "bias", "running_mean", "running_var"), only_first_output("batch-norm mean/rstd")))
def batch_norm(ctx, target, args, kwargs, name):
    """Inference batch norm as one scale and shift per channel (TensorRT fuses it into the conv).

    After a convolution the pack's ``fold_batch_norm`` pass has already folded it away.
    Half precision subtracts the mean first, ``(x - mean) * scale + bias``, as torch does:
    ``x * scale + shift`` cancels catastrophically in fp16 where the mean is large.
    """
    x, weight, bias, mean, var, _momentum, eps = args[:7]
    scale = torch.rsqrt(var.float() + eps)
    if weight is not None:
        scale = scale * weight.float()
    bias = torch.zeros_like(scale) if bias is None else bias.float()
    shape = _param_shape(len(x.shape), 1, scale.numel())
    dtype = ctx.torch_dtype(x)
    if dtype in (torch.float16, torch.bfloat16):
        y = B.elementwise(ctx, "SUB", x, mean.reshape(shape).to(dtype))
        y = B.elementwise(ctx, "PROD", y, scale.reshape(shape).to(dtype))
        return [B.elementwise(ctx, "SUM", y, bias.reshape(shape).to(dtype)), None, None]
    shift = bias - mean.float() * scale
    y = B.elementwise(ctx, "PROD", x, scale.reshape(shape).to(dtype))
    return [B.elementwise(ctx, "SUM", y, shift.reshape(shape).to(dtype)), None, None]


def _normalize(ctx, x, axes: list[int], eps: float, scale=None, bias=None, shape=None, groups: int = 1):
    """One INormalizationLayer in float32 over ``axes``, with ``scale``/``bias`` (torch tensors) of ``shape``.

    Group norm uses unit scale and zero bias per group (the layout of per-group
    parameters differs between TensorRT versions); the caller applies the affine part.
    """
    dtype = ctx.torch_dtype(x)
    x = B.cast(ctx, x, torch.float32)
    rank = len(x.shape)
    if groups > 1:
        shape = _param_shape(rank, 1, groups)
    scale = torch.ones(shape) if scale is None or groups > 1 else scale.float().reshape(shape)
    bias = torch.zeros(shape) if bias is None or groups > 1 else bias.float().reshape(shape)
    layer = ctx.net.add_normalization(x, ctx.constant(scale), ctx.constant(bias), B.axes_mask(axes, rank))
    layer.epsilon = float(eps)
    if groups > 1:
        layer.num_groups = groups
    y = ctx.out(layer, "norm")
    return y if groups > 1 else B.cast(ctx, y, dtype)


def _affine(ctx, y, weight, bias, shape, dtype):
    """Per-channel ``y * weight + bias`` (in y's float32), then back to ``dtype``."""
    if weight is not None:
        y = B.elementwise(ctx, "PROD", y, weight.float().reshape(shape))
    if bias is not None:
        y = B.elementwise(ctx, "SUM", y, bias.float().reshape(shape))
    return B.cast(ctx, y, dtype)


def _ln_ok(node, settings):
    n = len(node.args[1])
    return True if static_dims(node.args[0], list(range(-n, 0))) else Refusal("dynamic normalized dimensions")


@converter(aten.layer_norm.default, validator=all_of(float_input, _ln_ok))
def layer_norm(ctx, target, args, kwargs, name):
    x, normalized = args[0], list(args[1])
    weight, bias, eps = (argument(target, args, kwargs, n) for n in ("weight", "bias", "eps"))
    return _layer_norm(ctx, x, normalized, weight, bias, eps)


def _layer_norm(ctx, x, normalized, weight, bias, eps):
    """Weights and biases computed in the network (not parameters) are applied after the layer."""
    rank = len(x.shape)
    axes = list(range(rank - len(normalized), rank))
    shape = (1,) * (rank - len(normalized)) + tuple(normalized)
    if not (ctx.is_tensor(weight) or ctx.is_tensor(bias)):
        return _normalize(ctx, x, axes, eps, weight, bias, shape)
    y = _normalize(ctx, x, axes, eps, None, None, shape)
    dtype = ctx.torch_dtype(y)
    if weight is not None:
        y = B.elementwise(ctx, "PROD", y, weight, dtype=dtype)
    return y if bias is None else B.elementwise(ctx, "SUM", y, bias, dtype=dtype)


def _stats(ctx, x, axes, eps):
    """Mean and 1/sqrt(biased var + eps) over ``axes``, kept as size-1 dimensions (float32)."""
    x = B.upcast(ctx, x)
    mean = B.reduce(ctx, x, "AVG", axes, keepdim=True)
    dev = B.elementwise(ctx, "SUB", x, mean)
    var = B.reduce(ctx, B.elementwise(ctx, "PROD", dev, dev), "AVG", axes, keepdim=True)
    rstd = B.unary(ctx, "RECIP", B.unary(ctx, "SQRT", B.elementwise(ctx, "SUM", var, float(eps))))
    return mean, rstd


@converter(aten.native_layer_norm.default, validator=all_of(float_input, _ln_ok))
def native_layer_norm(ctx, target, args, kwargs, name):
    """The normalized output, plus mean and rstd when the graph reads them."""
    x, normalized, weight, bias, eps = args[:5]
    y = _layer_norm(ctx, x, list(normalized), weight, bias, eps)
    if not outputs_used(ctx.current_node) - {0}:
        return [y, None, None]
    rank = len(x.shape)
    mean, rstd = _stats(ctx, x, list(range(rank - len(normalized), rank)), eps)
    return [y, B.cast(ctx, mean, ctx.output_dtype(1)), B.cast(ctx, rstd, ctx.output_dtype(2))]


def _gn_ok(node, settings):
    return True if static_dims(node.args[0], [1]) else Refusal("dynamic channel dimension")


@converter(aten.group_norm.default, validator=all_of(float_input, _gn_ok, _constants_ok("weight", "bias")))
def group_norm(ctx, target, args, kwargs, name):
    weight, bias, eps = (argument(target, args, kwargs, n) for n in ("weight", "bias", "eps"))
    return _group_norm(ctx, ctx.to_trt(args[0]), argument(target, args, kwargs, "num_groups"), weight, bias, eps)


def _group_norm(ctx, x, groups, weight, bias, eps):
    """A rank-2 ``(N, C)`` input is normalized as ``(N, C, 1)``."""
    if len(x.shape) == 2:
        return B.squeeze(ctx, _group_norm(ctx, B.unsqueeze(ctx, x, 2), groups, weight, bias, eps), [2])
    rank = len(x.shape)
    shape = _param_shape(rank, 1, x.shape[1])
    if groups == 1:  # one group: statistics over channels and space, like a layer norm of each sample
        return _normalize(ctx, x, list(range(1, rank)), eps, weight, bias, shape)
    y = _normalize(ctx, x, list(range(2, rank)), eps, groups=groups)
    return _affine(ctx, y, weight, bias, shape, ctx.torch_dtype(x))


@converter(aten.native_group_norm.default, validator=all_of(float_input, _gn_ok, _constants_ok("weight", "bias")))
def native_group_norm(ctx, target, args, kwargs, name):
    """``(out, mean, rstd)``; the statistics (``(N, groups)``) are computed only when read."""
    x = ctx.to_trt(args[0])
    weight, bias, groups, eps = (argument(target, args, kwargs, n) for n in ("weight", "bias", "group", "eps"))
    y = _group_norm(ctx, x, groups, weight, bias, eps)
    if not outputs_used(ctx.current_node) - {0}:
        return [y, None, None]
    n = B.size(ctx, x, 0)
    mean, rstd = _stats(ctx, B.reshape(ctx, x, [n, groups, -1]), [2], eps)
    return [y] + [B.cast(ctx, B.reshape(ctx, t, [n, groups]), ctx.output_dtype(i + 1)) for i, t in enumerate((mean, rstd))]


_BN_NO_STATS = aten._native_batch_norm_legit.no_stats


def _bn_parts(target, args, kwargs):
    """(x, weight, bias, running_mean, running_var, batch statistics?, eps) of any batch-norm overload
    (``no_stats`` has no running statistics: it always normalizes with the batch's own)."""
    x, w, b, rm, rv, training, eps = (
        argument(target, args, kwargs, n, default=None)
        for n in ("input", "weight", "bias", "running_mean", "running_var", "training", "eps"))
    return x, w, b, rm, rv, bool(training) or rm is None, eps


def _bn_ok(node, settings):
    _x, _w, _b, running_mean, _rv, batch_stats, _eps = _bn_parts(node.target, node.args, node.kwargs)
    if batch_stats and running_mean is not None:
        return Refusal("training-mode batch norm updates its running statistics in place (TensorRT cannot)")
    if not static_dims(node.args[0], [1]):
        return Refusal("dynamic channel dimension")
    if not batch_stats and outputs_used(node) - {0}:
        return Refusal("batch-norm saved mean/invstd of an inference call are read")
    return True


@converter(aten.native_batch_norm.default, aten._native_batch_norm_legit.default, _BN_NO_STATS,
           validator=all_of(float_input, _bn_ok))
def native_batch_norm(ctx, target, args, kwargs, name):
    """With running statistics: inference batch norm. In training mode or without running
    statistics (NFNet's weight standardisation): the batch's own mean and biased variance."""
    x, w, b, rm, rv, batch_stats, eps = _bn_parts(target, args, kwargs)
    if not batch_stats and not any(ctx.is_tensor(t) for t in (w, b, rm, rv)):
        return batch_norm(ctx, target, [x, w, b, rm, rv, 0.0, eps], {}, name)
    x = ctx.to_trt(x)
    rank, channels, dtype = len(x.shape), x.shape[1], ctx.torch_dtype(x)
    shape = list(_param_shape(rank, 1, channels))
    if batch_stats:
        mean, rstd = _stats(ctx, x, [0] + list(range(2, rank)), eps)
    else:
        mean = B.cast(ctx, B.reshape(ctx, rm, shape), torch.float32)
        var = B.elementwise(ctx, "SUM", B.cast(ctx, B.reshape(ctx, rv, shape), torch.float32), float(eps))
        rstd = B.unary(ctx, "RECIP", B.unary(ctx, "SQRT", var))
    y = B.elementwise(ctx, "PROD", B.elementwise(ctx, "SUB", B.upcast(ctx, x), mean), rstd)
    if w is not None:
        y = B.elementwise(ctx, "PROD", y, B.cast(ctx, B.reshape(ctx, w, shape), torch.float32))
    if b is not None:
        y = B.elementwise(ctx, "SUM", y, B.cast(ctx, B.reshape(ctx, b, shape), torch.float32))
    if not batch_stats:
        return [B.cast(ctx, y, dtype), None, None]
    return [B.cast(ctx, y, dtype)] + [B.cast(ctx, B.reshape(ctx, t, [channels]), ctx.output_dtype(i + 1))
                                     for i, t in enumerate((mean, rstd))]


def _in_ok(node, settings):
    use_input_stats = node_argument(node, "use_input_stats")
    if not use_input_stats:
        return Refusal("instance norm with running statistics (use_input_stats=False)")
    if not static_dims(node.args[0], [1]) or len(value_of(node.args[0]).shape) < 3:
        return Refusal("dynamic channel dimension or rank < 3")
    return True


@converter(aten.instance_norm.default, validator=all_of(float_input, _in_ok, _constants_ok("weight", "bias")))
def instance_norm(ctx, target, args, kwargs, name):
    x = args[0]
    weight, bias, eps = (argument(target, args, kwargs, n) for n in ("weight", "bias", "eps"))
    rank = len(x.shape)
    return _normalize(ctx, x, list(range(2, rank)), eps, weight, bias, _param_shape(rank, 1, x.shape[1]))
