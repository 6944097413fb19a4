"""Convolution and transposed convolution, 1d/2d/3d, with groups, dilation and padding."""
from __future__ import annotations

import torch

from trtforge import Refusal
from trtforge.conversion import blocks as B
from trtforge.conversion.args import all_of, value_of

from ._util import converter, is_constant, static_dims

aten = torch.ops.aten


def _conv_ok(node, settings):
    x, w, b = node.args[0], node.args[1], node.args[2]
    if not is_constant(b):
        return Refusal("bias computed at run time (TensorRT takes convolution biases as constants)")
    if not is_constant(w) and not static_dims(w):
        # a run-time weight (e.g. dequantized INT8 weights) is the layer's input 1: its shape must be static
        return Refusal("weight computed at run time with a dynamic shape")
    if not static_dims(x, [1]):
        return Refusal("dynamic channel dimension")
    rank = len(value_of(x).shape)
    if rank not in (3, 4, 5):
        return Refusal(f"rank-{rank} input (batched 1d/2d/3d only)")
    return True


def _expand(v, n: int) -> tuple[int, ...]:
    v = list(v)
    return tuple(v * n if len(v) == 1 else v)


@converter(aten.convolution.default, validator=all_of(_conv_ok))
def convolution(ctx, target, args, kwargs, name):
    x, w, b, stride, padding, dilation, transposed, output_padding, groups = args[:9]
    n = len(w.shape) - 2
    w = B.cast(ctx, w, ctx.torch_dtype(x)) if ctx.is_tensor(w) else w.to(ctx.torch_dtype(x))
    b = None if b is None else b.to(ctx.torch_dtype(x))
    stride, padding, dilation = _expand(stride, n), _expand(padding, n), _expand(dilation, n)
    output_padding = _expand(output_padding, n)
    if n == 1:  # TensorRT convolves 2-D and 3-D: a 1-D conv is a 2-D conv over (L, 1)
        x = B.unsqueeze(ctx, x, -1)
        w = B.unsqueeze(ctx, w, -1) if ctx.is_tensor(w) else w.unsqueeze(-1)
        stride, padding, dilation, output_padding = (stride + (1,), padding + (0,), dilation + (1,),
                                                     output_padding + (0,))
    y = (_deconv if transposed else _conv)(ctx, x, w, b, stride, padding, dilation, output_padding, groups)
    return B.squeeze(ctx, y, [-1]) if n == 1 else y


def _kernel(ctx, w):
    """Weights for the layer, and the run-time weight tensor to wire in as input 1 (None if constant)."""
    if ctx.is_tensor(w):
        return ctx.trt.Weights(ctx.trt.DataType.FLOAT), w
    return ctx.weights(w), None


def _wire(layer, w_tensor):
    if w_tensor is not None:
        layer.set_input(1, w_tensor)
    return layer


def _conv(ctx, x, w, b, stride, padding, dilation, output_padding, groups):
    kernel, w_tensor = _kernel(ctx, w)
    layer = _wire(ctx.net.add_convolution_nd(x, w.shape[0], tuple(w.shape[2:]), kernel,
                                             ctx.weights(b) if b is not None else None), w_tensor)
    layer.stride_nd, layer.padding_nd, layer.dilation_nd = stride, padding, dilation
    layer.num_groups = groups
    return ctx.out(layer, "conv")


def _deconv(ctx, x, w, b, stride, padding, dilation, output_padding, groups):
    """Transposed conv trims ``padding`` before and ``padding - output_padding`` after the full output;
    where output_padding exceeds padding, the extra rows hold only the bias (a zero pad, then the bias)."""
    k_out = w.shape[1] * groups
    extra = [max(op - p, 0) for op, p in zip(output_padding, padding)]
    bias_in_layer = b is not None and not any(extra)
    kernel, w_tensor = _kernel(ctx, w)
    layer = _wire(ctx.net.add_deconvolution_nd(x, k_out, tuple(w.shape[2:]), kernel,
                                               ctx.weights(b) if bias_in_layer else None), w_tensor)
    layer.stride_nd, layer.dilation_nd = stride, dilation
    layer.pre_padding = padding
    layer.post_padding = tuple(max(p - op, 0) for op, p in zip(output_padding, padding))
    layer.num_groups = groups
    y = ctx.out(layer, "deconv")
    if any(extra):
        y = B.pad(ctx, y, [0] * (len(y.shape)), [0, 0] + extra)
        if b is not None:
            y = B.elementwise(ctx, "SUM", y, b.reshape((1, -1) + (1,) * len(extra)))
    return y
