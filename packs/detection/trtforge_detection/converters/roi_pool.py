"""``torchvision::roi_pool`` (max over integer-rounded bins) on both backends.

Bin ``p`` of a ROI covers rows ``[floor(p*bin), ceil((p+1)*bin))`` shifted by
the rounded ROI start and clipped to the map; an empty bin yields 0. The
window size depends on the data (up to the whole map), so the max is taken
with a 2-D *sparse table*: ``T[jy][jx][y, x] = max`` of the ``2^jy x 2^jx``
block at ``(y, x)``, built once per map with ``log2 H * log2 W`` shifted
maxima. Any window is the max of four (overlapping) blocks of the level
``floor(log2 len)``: four gathers per output, whatever the ROI size. Memory:
``ceil(log2 H+1) * ceil(log2 W+1)`` copies of the feature map.

Only the pooled values are converted: the ``argmax`` output (for backward)
is refused if anything reads it.
"""
from __future__ import annotations

from typing import Any

import torch
import trtforge
from trtforge.conversion.args import argument, node_argument, outputs_used, value_of

from ._ops import Ops
from ._roi import roi_fields, validate_rois


def _validate(node: Any, settings: Any) -> Any:
    ok = validate_rois(node, "roi_pool")
    if not ok:
        return ok
    dtype = value_of(node_argument(node, "input")).dtype
    if dtype != torch.float32:
        return trtforge.Refusal(f"roi_pool on {dtype}: torchvision's kernel is float32/float64 only")
    if 1 in outputs_used(node):
        return trtforge.Refusal("the argmax output (used for backward) is read; only the pooled values convert")
    if not all(isinstance(v, (int, float)) for v in _params(node.target, node.args, node.kwargs)):
        return trtforge.Refusal("roi_pool parameters must be constants")
    return True


def _params(target: Any, args: Any, kwargs: Any) -> tuple[Any, Any, Any]:
    """``(spatial_scale, pooled_height, pooled_width)`` by schema name."""
    return tuple(argument(target, args, kwargs, n) for n in ("spatial_scale", "pooled_height", "pooled_width"))


def _levels(size: int) -> int:
    """Number of sparse-table levels for windows up to ``size`` long: floor(log2 size) + 1."""
    return max(size, 1).bit_length()


def _shift(o: Ops, x: Any, axis: int, by: int) -> Any:
    """``x`` moved by ``by`` along ``axis`` (wrapping; the wrapped tail is never read)."""
    n = x.shape[axis]
    if by >= n:
        return x
    return o.concat([o.slice(x, axis, by, n - by), o.slice(x, axis, 0, by)], axis)


def _sparse_table(o: Ops, feats: Any) -> Any:
    """``[Ly*Lx*B*H*W, C]``: block maxima of every power-of-two size, level-major."""
    b, c, h, w = feats.shape
    base = o.permute(feats, [0, 2, 3, 1])  # [B, H, W, C]
    levels = []
    row = base
    for jy in range(_levels(h)):
        if jy:
            row = o.maximum(row, _shift(o, row, 1, 1 << (jy - 1)))
        block = row
        for jx in range(_levels(w)):
            if jx:
                block = o.maximum(block, _shift(o, block, 2, 1 << (jx - 1)))
            levels.append(o.reshape(block, [b * h * w, c]))
    return o.concat(levels, 0) if len(levels) > 1 else levels[0]


class _Windows:
    """Per ROI and bin: clipped ``[start, end)`` along one axis, and its sparse-table level."""

    def __init__(self, o: Ops, lo: Any, hi: Any, scale: float, pooled: int, size: int) -> None:
        start = o.round_half_away(o.mul(lo, scale))
        length = o.maximum(o.add(o.sub(o.round_half_away(o.mul(hi, scale)), start), 1.0), 1.0)
        bin_ = o.div(length, float(pooled))
        p = o.const(torch.arange(pooled).float().reshape(1, -1))
        self.start = o.clamp(o.add(o.floor(o.mul(p, bin_)), start), 0.0, float(size))  # [K, P]
        self.end = o.clamp(o.add(o.ceil(o.mul(o.add(p, 1.0), bin_)), start), 0.0, float(size))
        self.empty = o.le(self.end, self.start)
        span = o.cast(o.maximum(o.sub(self.end, self.start), 1.0), torch.int32)
        level, power = o.const(0, torch.int32), o.const(1, torch.int32)
        for j in range(1, _levels(size)):
            reached = o.cast(o.ge(span, 1 << j), torch.int32)
            level = o.add(level, reached)
            power = o.add(power, o.mul(reached, 1 << (j - 1)))
        self.level = level
        last = float(size - 1)
        self.first = o.cast(o.clamp(self.start, 0.0, last), torch.int32)
        self.second = o.cast(o.clamp(o.sub(self.end, o.cast(power, torch.float32)), 0.0, last), torch.int32)


@trtforge.converter(
    torch.ops.torchvision.roi_pool.default,
    supports_dynamic_shapes=True,
    capability_validator=_validate,
)
def convert_roi_pool(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> Any:
    """``(pooled [K, C, ph, pw], None)``: argmax is not produced (the validator checks it is unused)."""
    o = Ops(ctx)
    scale, ph, pw = _params(target, args, kwargs)
    feats, rois = ctx.to_trt(args[0]), argument(target, args, kwargs, "rois")
    b, c, h, w = feats.shape
    batch, x1, y1, x2, y2 = roi_fields(o, ctx.to_trt(rois))
    wy = _Windows(o, y1, y2, float(scale), int(ph), h)
    wx = _Windows(o, x1, x2, float(scale), int(pw), w)
    table = _sparse_table(o, feats)
    lx = _levels(w)

    def expand(v: Any, axis: int) -> Any:  # [K, P] -> [K, ph, 1] or [K, 1, pw]
        return o.unsqueeze(v, axis)

    level = o.add(o.mul(expand(wy.level, 2), lx), expand(wx.level, 1))  # [K, ph, pw]
    plane = o.mul(o.add(o.mul(level, b), o.unsqueeze(batch, 2)), h * w)
    best = None
    for row in (wy.first, wy.second):
        for col in (wx.first, wx.second):
            index = o.add(o.add(plane, o.mul(expand(row, 2), w)), expand(col, 1))
            vals = o.gather(table, index, 0)  # [K, ph, pw, C]
            best = vals if best is None else o.maximum(best, vals)
    empty = o.unsqueeze(o.or_(expand(wy.empty, 2), expand(wx.empty, 1)), 3)
    out = o.where(empty, o.const(0.0, ctx.torch_dtype(feats)), best)
    return o.permute(out, [0, 3, 1, 2]), None
