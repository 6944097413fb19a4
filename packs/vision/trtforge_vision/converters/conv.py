"""Convolution and transposed convolution, 1d/2d/3d, with groups, dilation and padding."""
from __future__ import annotations

import torch

from trtforge import Refusal
from trtforge.conversion import blocks as B

from ._util import all_of, converter, is_constant, static_dims, val

aten = torch.ops.aten


def _conv_ok(node, settings):
    x, w, b = node.args[0], node.args[1], node.args[2]
    if not is_constant(w) or not is_constant(b):
        return Refusal("weight or bias computed at run time (TensorRT takes convolution weights as constants)")
    if not static_dims(x, [1]):
        return Refusal("dynamic channel dimension")
    rank = len(val(x).shape)
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
    w = w.to(ctx.torch_dtype(x))
    b = None if b is None else b.to(ctx.torch_dtype(x))
    stride, padding, dilation = _expand(stride, n), _expand(padding, n), _expand(dilation, n)
    output_padding = _expand(output_padding, n)
    if n == 1:  # TensorRT convolves 2-D and 3-D: a 1-D conv is a 2-D conv over (L, 1)
        x = B.unsqueeze(ctx, x, -1)
        w = w.unsqueeze(-1)
        stride, padding, dilation, output_padding = (stride + (1,), padding + (0,), dilation + (1,),
                                                     output_padding + (0,))
    y = (_deconv if transposed else _conv)(ctx, x, w, b, stride, padding, dilation, output_padding, groups)
    return B.squeeze(ctx, y, [-1]) if n == 1 else y


def _conv(ctx, x, w, b, stride, padding, dilation, output_padding, groups):
    layer = ctx.net.add_convolution_nd(x, w.shape[0], tuple(w.shape[2:]), ctx.weights(w),
                                       ctx.weights(b) if b is not None else None)
    layer.stride_nd, layer.padding_nd, layer.dilation_nd = stride, padding, dilation
    layer.num_groups = groups
    return ctx.out(layer, "conv")


def _deconv(ctx, x, w, b, stride, padding, dilation, output_padding, groups):
    """Transposed conv trims ``padding`` before and ``padding - output_padding`` after the full output;
    where output_padding exceeds padding, the extra rows hold only the bias (a zero pad, then the bias)."""
    k_out = w.shape[1] * groups
    extra = [max(op - p, 0) for op, p in zip(output_padding, padding)]
    bias_in_layer = b is not None and not any(extra)
    layer = ctx.net.add_deconvolution_nd(x, k_out, tuple(w.shape[2:]), ctx.weights(w),
                                         ctx.weights(b) if bias_in_layer else None)
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
