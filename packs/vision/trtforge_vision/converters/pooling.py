"""Max/average pooling (1d/2d/3d, ceil_mode, padding) and adaptive average/max pooling."""
from __future__ import annotations

import math

import torch

from trtforge import Refusal
from trtforge.conversion import blocks as B
from trtforge.conversion.args import all_of, argument, node_argument, only_first_output, value_of

from ._util import converter, float_input, static_dims

aten = torch.ops.aten

_MAX = {aten.max_pool1d.default: 1, aten.max_pool2d.default: 2, aten.max_pool3d.default: 3,
        aten.max_pool2d_with_indices.default: 2, aten.max_pool3d_with_indices.default: 3}
_AVG = {aten.avg_pool1d.default: 1, aten.avg_pool2d.default: 2, aten.avg_pool3d.default: 3}


def _tuple(v, n: int, default=None) -> tuple[int, ...]:
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        v = default
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return tuple(int(x) for x in (v * n if len(v) == 1 else v))


def _torch_out(length: int, k: int, s: int, p: int, d: int, ceil: bool) -> int:
    eff = d * (k - 1) + 1
    num = length + 2 * p - eff
    out = (-(-num // s) if ceil else num // s) + 1
    if ceil and (out - 1) * s >= length + p:  # the last window may not start in the right padding
        out -= 1
    return out


def _ceil_ok(node, settings):
    """ceil_mode needs static spatial sizes (torch drops windows TensorRT keeps; sliced off statically)."""
    n = _MAX.get(node.target) or _AVG.get(node.target)
    if node_argument(node, "ceil_mode") and not static_dims(node.args[0], list(range(-n, 0))):
        return Refusal("ceil_mode with dynamic spatial dimensions")
    return True


def _dilation_ok(node, settings):
    n = _MAX[node.target]
    dil = _tuple(node_argument(node, "dilation"), n, 1)
    return True if all(d == 1 for d in dil) else Refusal(f"dilated max pooling {dil} (TensorRT pooling has no dilation)")


def _divisor_ok(node, settings):
    # avg_pool1d has no divisor_override
    if node_argument(node, "divisor_override", default=None) is not None and node_argument(node, "ceil_mode"):
        return Refusal("divisor_override with ceil_mode")
    return True


def _window(target, args, kwargs, n: int) -> tuple:
    """(kernel, stride, padding, ceil_mode) of a pooling call; an empty stride means the kernel's."""
    kernel = _tuple(argument(target, args, kwargs, "kernel_size"), n)
    stride = _tuple(argument(target, args, kwargs, "stride"), n, kernel)
    padding = _tuple(argument(target, args, kwargs, "padding"), n)
    return kernel, stride, padding, bool(argument(target, args, kwargs, "ceil_mode"))


def _pool(ctx, x, kind: str, n: int, kernel, stride, padding, ceil: bool, exclude_pad: bool = False):
    """A TensorRT pooling layer; ceil_mode windows TensorRT adds but torch drops are sliced off."""
    squeeze = len(x.shape) == n + 1  # unbatched input
    if squeeze:
        x = B.unsqueeze(ctx, x, 0)
    lifted = n == 1  # TensorRT pools 2-D and 3-D windows: 1-D is (L, 1)
    if lifted:
        x = B.unsqueeze(ctx, x, -1)
        kernel, stride, padding = kernel + (1,), stride + (1,), padding + (0,)
    m = len(kernel)
    layer = ctx.net.add_pooling_nd(x, getattr(ctx.trt.PoolingType, kind), kernel)
    layer.stride_nd, layer.padding_nd = stride, padding
    if kind == "AVERAGE":
        layer.average_count_excludes_padding = bool(exclude_pad)
    if ceil:
        layer.padding_mode = ctx.trt.PaddingMode.EXPLICIT_ROUND_UP
    y = ctx.out(layer, "pool")
    if ceil:
        spatial = x.shape[-m:]
        want = [_torch_out(spatial[i], kernel[i], stride[i], padding[i], 1, True) for i in range(m)]
        if list(y.shape[-m:]) != want:
            lead = B.sizes(ctx, y)[:-m]
            y = B.slice_nd(ctx, y, [0] * len(y.shape), lead + want, [1] * len(y.shape))
    if lifted:
        y = B.squeeze(ctx, y, [-1])
    return B.squeeze(ctx, y, [0]) if squeeze else y


@converter(*_MAX, validator=all_of(float_input, _dilation_ok, _ceil_ok,
                                   only_first_output("max-pool indices")))
def max_pool(ctx, target, args, kwargs, name):
    n = _MAX[target]
    kernel, stride, padding, ceil = _window(target, args, kwargs, n)
    y = _pool(ctx, args[0], "MAX", n, kernel, stride, padding, ceil)
    return [y, None] if "with_indices" in target._schema.name else y


@converter(*_AVG, validator=all_of(float_input, _ceil_ok, _divisor_ok))
def avg_pool(ctx, target, args, kwargs, name):
    n = _AVG[target]
    kernel, stride, padding, ceil = _window(target, args, kwargs, n)
    include_pad = bool(argument(target, args, kwargs, "count_include_pad"))
    divisor = argument(target, args, kwargs, "divisor_override", default=None)  # avg_pool1d has none
    y = _pool(ctx, args[0], "AVERAGE", n, kernel, stride, padding, ceil, exclude_pad=not include_pad and not divisor)
    if divisor:
        y = B.elementwise(ctx, "PROD", y, math.prod(kernel) / divisor)
    return y


# -- adaptive pooling -------------------------------------------------------------------
def _windows(length: int, out: int) -> list[tuple[int, int]]:
    """torch's adaptive pooling windows: [floor(i*L/out), ceil((i+1)*L/out))."""
    return [((i * length) // out, -(-((i + 1) * length) // out)) for i in range(out)]


def _out_sizes(node) -> tuple[list[int], list]:
    n = len(node.args[1])
    shape = value_of(node.args[0]).shape
    return list(node.args[1]), list(shape[-n:])


def _adaptive_ok(node, settings):
    want, have = _out_sizes(node)
    trivial = all(w == 1 for w in want)
    divisible = all(isinstance(h, int) and w and h % w == 0 for w, h in zip(want, have))
    if trivial or divisible:
        return True
    if not all(isinstance(h, int) for h in have):
        return Refusal("adaptive pooling to a size that does not divide a dynamic input")
    return True


def _adaptive(ctx, x, out, kind: str):
    n = len(out)
    have = list(x.shape[-n:])
    out = [h if o is None else int(o) for o, h in zip(out, have)]
    rank = len(x.shape)
    if all(o == 1 for o in out):
        return B.reduce(ctx, x, "AVG" if kind == "AVERAGE" else "MAX", list(range(rank - n, rank)), keepdim=True)
    if all(h >= 0 and h % o == 0 for h, o in zip(have, out)):
        k = tuple(h // o for h, o in zip(have, out))
        return _pool(ctx, x, kind, n, k, k, (0,) * n, False)
    return (_adaptive_avg_general if kind == "AVERAGE" else _adaptive_max_general)(ctx, x, have, out)


def _adaptive_avg_general(ctx, x, have, out):
    """Averages as products with constant averaging matrices, one pooled axis at a time
    (the axis swapped last, ``y @ A^T``, swapped back)."""
    dtype = ctx.torch_dtype(x)

    def matrix(length, size):
        m = torch.zeros(size, length)
        for i, (a, b) in enumerate(_windows(length, size)):
            m[i, a:b] = 1.0 / (b - a)
        return m.to(dtype)

    rank, y = len(x.shape), x
    for j, (length, size) in enumerate(zip(have, out)):
        axis = rank - len(out) + j
        if length == size:
            continue
        swap = list(range(rank))
        swap[axis], swap[-1] = rank - 1, axis
        moved = B.permute(ctx, y, swap) if axis != rank - 1 else y
        moved = B.matmul(ctx, moved, matrix(length, size), transpose_b=True)
        y = B.permute(ctx, moved, swap) if axis != rank - 1 else moved
    return y


def _adaptive_max_general(ctx, x, have, out):
    """One axis at a time: each output position is the max of its window (a slice and a reduce)."""
    y = x
    rank = len(x.shape)
    for j, (length, size) in enumerate(zip(have, out)):
        axis = rank - len(out) + j
        parts = [B.reduce(ctx, B.slice_dim(ctx, y, axis, a, b), "MAX", [axis], keepdim=True)
                 for a, b in _windows(length, size)]
        y = B.concat(ctx, parts, axis)
    return y


_ADAPTIVE_AVG = {aten.adaptive_avg_pool2d.default, aten._adaptive_avg_pool2d.default,
                 aten._adaptive_avg_pool3d.default, aten.adaptive_avg_pool3d.default}
_ADAPTIVE_MAX = {aten.adaptive_max_pool2d.default, aten.adaptive_max_pool3d.default}


@converter(*_ADAPTIVE_AVG, validator=all_of(float_input, _adaptive_ok))
def adaptive_avg_pool(ctx, target, args, kwargs, name):
    return _adaptive(ctx, args[0], list(args[1]), "AVERAGE")


@converter(*_ADAPTIVE_MAX, validator=all_of(float_input, _adaptive_ok, only_first_output("adaptive max-pool indices")))
def adaptive_max_pool(ctx, target, args, kwargs, name):
    return [_adaptive(ctx, args[0], list(args[1]), "MAX"), None]
