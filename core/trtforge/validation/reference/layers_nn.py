"""Neural-network layers: convolution, deconvolution, pooling, normalization, LRN,
resize and grid sample.

Padding is computed explicitly from TensorRT's pre/post/SAME/round-up rules, so they are
all visible here; ``F.pad`` then applies it and the torch op runs with no padding, except
for a convolution padded the same on both sides, which pads itself (identical numbers).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from ._common import dims, mask_axes, name, weights

if TYPE_CHECKING:  # pragma: no cover - annotations only: the executor imports this module
    from .executor import LayerCtx


_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_DECONV = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}
_MAXPOOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVGPOOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _torch_pads(pre, post) -> list[int]:
    """F.pad wants (last_pre, last_post, second_last_pre, ...)."""
    pads: list[int] = []
    for p, q in zip(reversed(list(pre)), reversed(list(post))):
        pads += [int(p), int(q)]
    return pads


def _window_padding(layer, spatial, kernel, stride, dilation):
    """(pre, post) per spatial dim following PaddingMode; post includes round-up extension."""
    n = len(spatial)
    mode = name(layer.padding_mode)
    pre = list(dims(layer.pre_padding, n))
    post = list(dims(layer.post_padding, n))
    extra = [0] * n  # positions past the padded input used only by EXPLICIT_ROUND_UP
    for i in range(n):
        eff = (kernel[i] - 1) * dilation[i] + 1
        if mode in ("SAME_UPPER", "SAME_LOWER"):
            out = -(-spatial[i] // stride[i])
            total = max((out - 1) * stride[i] + eff - spatial[i], 0)
            small, big = total // 2, total - total // 2
            pre[i], post[i] = (small, big) if mode == "SAME_UPPER" else (big, small)
        elif mode == "EXPLICIT_ROUND_UP":
            padded = spatial[i] + pre[i] + post[i]
            out = -(-(padded - eff) // stride[i]) + 1
            extra[i] = max((out - 1) * stride[i] + eff - padded, 0)
    return pre, post, extra


def _conv_params(ctx: LayerCtx, ins: list):
    """What a (de)convolution layer computes with: input, spatial rank, kernel size, groups,
    output maps, stride, dilation, and the kernel and bias from attributes or inputs 1 and 2."""
    layer = ctx.layer
    x = ins[0].float()
    n = x.dim() - 2
    k = ins[1] if len(ins) > 1 and ins[1] is not None else weights(layer.kernel, ctx)
    b = ins[2] if len(ins) > 2 and ins[2] is not None else weights(layer.bias, ctx)
    if k is None:
        raise ctx.fail("no kernel weights (neither the kernel attribute nor input 1)")
    b = None if b is None else b.float().reshape(-1)
    stride, dil = dims(layer.stride_nd, n), dims(layer.dilation_nd, n)
    return x, n, dims(layer.kernel_size_nd, n), int(layer.num_groups), int(layer.num_output_maps), stride, dil, k.float(), b


def _convolution(ctx: LayerCtx, ins: list) -> list:
    layer = ctx.layer
    x, n, ks, groups, kout, stride, dil, k, b = _conv_params(ctx, ins)
    k = k.reshape((kout, x.shape[1] // groups) + tuple(ks))  # GKCRS == [K, C/G, *kernel]
    pre, post, extra = _window_padding(layer, list(x.shape[2:]), ks, stride, dil)
    post = [p + e for p, e in zip(post, extra)]
    if pre == post:  # symmetric: the conv pads itself (same numbers as F.pad first, a third less time)
        return [_CONV[n](x, k, b, stride=stride, padding=pre, dilation=dil, groups=groups)]
    x = F.pad(x, _torch_pads(pre, post))
    return [_CONV[n](x, k, b, stride=stride, padding=0, dilation=dil, groups=groups)]


def _deconvolution(ctx: LayerCtx, ins: list) -> list:
    layer = ctx.layer
    x, n, ks, groups, kout, stride, dil, k, b = _conv_params(ctx, ins)
    k = k.reshape((x.shape[1], kout // groups) + tuple(ks))  # CKRS == [C, K/G, *kernel]
    y = _DECONV[n](x, k, None, stride=stride, padding=0, dilation=dil, groups=groups)
    mode = name(layer.padding_mode)
    if mode in ("SAME_UPPER", "SAME_LOWER"):
        pre, post = [], []
        for i in range(n):
            total = y.shape[2 + i] - x.shape[2 + i] * stride[i]
            small, big = total // 2, total - total // 2
            p, q = (small, big) if mode == "SAME_UPPER" else (big, small)
            pre.append(p)
            post.append(q)
    else:  # explicit: pre/post padding trims the full transposed output
        pre, post = list(dims(layer.pre_padding, n)), list(dims(layer.post_padding, n))
    y = F.pad(y, [-p for p in _torch_pads(pre, post)])
    if b is not None:
        y = y + b.reshape((1, -1) + (1,) * n)
    return [y]


def _pooling(ctx: LayerCtx, ins: list) -> list:
    layer = ctx.layer
    x = ins[0].float()
    kind = name(layer.type)  # PoolingType after the cast
    ws = dims(layer.window_size_nd)
    n = len(ws)
    stride = dims(layer.stride_nd, n)
    spatial = list(x.shape[-n:])
    pre, post, extra = _window_padding(layer, spatial, ws, stride, [1] * n)
    lead = x.shape[:-n]
    x4 = x.reshape((-1, 1) + tuple(spatial))  # fold leading dims into a batch for F.*pool
    results = {}
    if kind in ("MAX", "MAX_AVERAGE_BLEND"):
        xp = F.pad(x4, _torch_pads(pre, [p + e for p, e in zip(post, extra)]), value=-math.inf)
        results["MAX"] = _MAXPOOL[n](xp, ws, stride)
    if kind in ("AVERAGE", "MAX_AVERAGE_BLEND"):
        full = [p + e for p, e in zip(post, extra)]
        xp = F.pad(x4, _torch_pads(pre, full))
        vol = math.prod(ws)
        total = _AVGPOOL[n](xp, ws, stride) * vol
        # Count what the divisor covers: the input, plus the explicit padding unless
        # average_count_excludes_padding; never the round-up extension.
        ones = torch.ones((1, 1) + tuple(spatial))
        if bool(layer.average_count_excludes_padding):
            counted = F.pad(ones, _torch_pads(pre, full))
        else:
            counted = F.pad(F.pad(ones, _torch_pads(pre, post), value=1.0), _torch_pads([0] * n, extra))
        count = _AVGPOOL[n](counted, ws, stride) * vol
        results["AVERAGE"] = total / count
    if kind == "MAX_AVERAGE_BLEND":
        bf = float(layer.blend_factor)
        y = (1 - bf) * results["MAX"] + bf * results["AVERAGE"]
    elif kind in results:
        y = results[kind]
    else:
        raise ctx.unsupported(f"PoolingType.{kind}")
    return [y.reshape(tuple(lead) + tuple(y.shape[2:]))]


def _normalization(ctx: LayerCtx, ins: list) -> list:
    """(x - mean) / sqrt(var + eps) * scale + bias over the masked axes; groups split dim 1."""
    layer = ctx.layer
    x, scale, bias = ins[0].float(), ins[1].float(), ins[2].float()
    axes = mask_axes(layer.axes, x.dim())
    g = int(layer.num_groups)
    eps = float(layer.epsilon)
    if g > 1:
        c = x.shape[1]
        xg = x.reshape((x.shape[0], g, c // g) + tuple(x.shape[2:]))
        red = sorted({2} | {a + 1 for a in axes if a >= 2})
        mean = xg.mean(dim=red, keepdim=True)
        var = ((xg - mean) ** 2).mean(dim=red, keepdim=True)
        y = ((xg - mean) / torch.sqrt(var + eps)).reshape(x.shape)
        if scale.dim() > 1 and scale.shape[1] == g and g != c:  # v1 layer: per-group scale/bias
            scale = scale.repeat_interleave(c // g, dim=1)
            bias = bias.repeat_interleave(c // g, dim=1)
    else:
        mean = x.mean(dim=axes, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=axes, keepdim=True)
        y = (x - mean) / torch.sqrt(var + eps)
    return [y * scale + bias]


def _lrn(ctx: LayerCtx, ins: list) -> list:
    layer = ctx.layer
    x = ins[0].float()
    return [F.local_response_norm(x, int(layer.window_size), float(layer.alpha), float(layer.beta), float(layer.k))]


# --------------------------------------------------------------------- resize
def _cubic_weights(t: torch.Tensor, a: float) -> torch.Tensor:
    """Keys cubic kernel weights for taps at offsets -1, 0, 1, 2 from floor(x)."""
    def k(s):
        s = s.abs()
        return torch.where(
            s <= 1, ((a + 2) * s - (a + 3)) * s * s + 1,
            torch.where(s < 2, ((a * s - 5 * a) * s + 8 * a) * s - 4 * a, torch.zeros_like(s)),
        )
    return torch.stack([k(t + 1), k(t), k(1 - t), k(2 - t)], dim=-1)


def _resize_axis(ctx: LayerCtx, x: torch.Tensor, axis: int, out: int, scale: float | None) -> torch.Tensor:
    layer = ctx.layer
    n_in = x.shape[axis]
    if out == n_in and scale in (None, 1.0):
        return x
    mode = name(layer.resize_mode)
    coord = name(layer.coordinate_transformation)
    ratio = (1.0 / scale) if scale else n_in / out
    i = torch.arange(out, dtype=torch.float64)
    if coord == "ALIGN_CORNERS":
        src = i * ((n_in - 1) / (out - 1)) if out > 1 else torch.zeros_like(i)
    elif coord == "ASYMMETRIC":
        src = i * ratio
    elif coord == "HALF_PIXEL":
        src = (i + 0.5) * ratio - 0.5
    else:
        raise ctx.unsupported(f"ResizeCoordinateTransformation.{coord}")
    if out == 1 and name(layer.selector_for_single_pixel) == "UPPER":
        src = torch.zeros_like(src)
    if mode == "NEAREST":
        rnd = name(layer.nearest_rounding)
        idx = {"HALF_UP": lambda s: torch.floor(s + 0.5), "HALF_DOWN": lambda s: torch.ceil(s - 0.5),
               "FLOOR": torch.floor, "CEIL": torch.ceil}[rnd](src)
        return x.index_select(axis, idx.long().clamp(0, n_in - 1))
    x0 = torch.floor(src)
    t = src - x0
    if mode == "LINEAR":
        offsets, w = [0, 1], torch.stack([1 - t, t], dim=-1)
    elif mode == "CUBIC":
        offsets, w = [-1, 0, 1, 2], _cubic_weights(t, float(layer.cubic_coeff))
    else:
        raise ctx.unsupported(f"InterpolationMode.{mode}")
    taps = torch.stack([x0.long() + o for o in offsets], dim=-1)
    if mode == "CUBIC" and bool(layer.exclude_outside):
        w = torch.where((taps >= 0) & (taps < n_in), w, torch.zeros_like(w))
        w = w / w.sum(dim=-1, keepdim=True)
    taps = taps.clamp(0, n_in - 1)
    xm = x.movedim(axis, -1).double()
    y = (xm[..., taps] * w).sum(-1)  # [..., out, ntaps] -> [..., out]
    return y.to(x.dtype).movedim(-1, axis)


def _resize(ctx: LayerCtx, ins: list) -> list:
    layer = ctx.layer
    x = ins[0].float()
    r = x.dim()
    scales: list[float] | None = None
    if len(ins) > 1 and ins[1] is not None:
        if ins[1].dtype.is_floating_point:
            scales = [float(v) for v in ins[1].reshape(-1)]
        else:
            shape = [int(v) for v in ins[1].reshape(-1)]
    elif len(layer.scales) > 0:
        scales = [float(v) for v in layer.scales]
    else:
        shape = list(dims(layer.shape))
    if scales is not None:
        shape = [int(math.floor(d * s)) for d, s in zip(x.shape, scales)]
    y = x
    for ax in range(r):
        y = _resize_axis(ctx, y, ax, shape[ax], None if scales is None else scales[ax])
    return [y]


def _grid_sample(ctx: LayerCtx, ins: list) -> list:
    layer = ctx.layer
    x, grid = ins[0].float(), ins[1].float()
    interp = {"LINEAR": "bilinear", "NEAREST": "nearest", "CUBIC": "bicubic"}[name(layer.interpolation_mode)]
    pad = {"FILL": "zeros", "CLAMP": "border", "REFLECT": "reflection"}.get(name(layer.sample_mode))
    if pad is None:
        raise ctx.unsupported(f"grid sample with SampleMode.{name(layer.sample_mode)}")
    return [F.grid_sample(x, grid, mode=interp, padding_mode=pad, align_corners=bool(layer.align_corners))]


LAYERS = {
    "CONVOLUTION": ("IConvolutionLayer", _convolution),
    "DECONVOLUTION": ("IDeconvolutionLayer", _deconvolution),
    "POOLING": ("IPoolingLayer", _pooling),
    "NORMALIZATION": ("INormalizationLayer", _normalization),
    "LRN": ("ILRNLayer", _lrn),
    "RESIZE": ("IResizeLayer", _resize),
    "GRID_SAMPLE": ("IGridSampleLayer", _grid_sample),
}
