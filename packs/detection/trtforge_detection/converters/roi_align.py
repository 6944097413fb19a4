"""``torchvision::roi_align`` from gather, elementwise, reduce and matmul layers (both backends).

Follows torchvision's kernel step by step: bin ``p`` of a ROI averages a
``g x g`` grid of bilinear samples at ``start + p*bin + ((i+0.5)*bin)/g``;
a sample outside ``[-1, size]`` contributes 0; one in ``[-1, 0)`` reads the
first pixel, one in ``[size-1, size]`` the last. The bilinear weights factor into
a row weight and a column weight, which both paths exploit:

* fixed ``sampling_ratio`` (``g`` known): for each of the ``2g`` (sample row,
  corner) pairs, gather ``[K, ph, pw*2g, C]`` pixels and add them up weighted:
  memory stays a small multiple of the output.
* adaptive (``sampling_ratio=-1``: ``g = ceil(roi_size / pooled)`` per ROI, data
  dependent): build exact per-ROI row and column weight matrices ``[K, ph, H]``
  and ``[K, pw, W]`` and contract them with the feature map by two matmuls. A
  pixel row ``r`` only receives samples lying in ``[r-1, r+1]``, and adaptive
  samples are at least 0.5 apart (or there is one), so 7 candidate samples per
  row cover every contribution whatever the ROI size. Cost: an intermediate of
  ``K*ph*C*W`` elements.
"""
from __future__ import annotations

from typing import Any

import torch
import trtforge
from trtforge.conversion.args import argument, node_argument, value_of

from ._ops import Ops
from ._roi import flat_pixel, pixel_table, roi_fields, validate_rois

#: candidate samples per pixel row in the adaptive path (at most 5 can reach a row)
_ADAPTIVE_CANDIDATES = 7
#: largest fixed sampling_ratio converted (the gather loop has 2*g steps)
MAX_SAMPLING_RATIO = 16


_PARAMS = ("spatial_scale", "pooled_height", "pooled_width", "sampling_ratio", "aligned")


def _params(target: Any, args: Any, kwargs: Any) -> tuple[Any, ...]:
    """``(spatial_scale, pooled_height, pooled_width, sampling_ratio, aligned)`` by schema name."""
    return tuple(argument(target, args, kwargs, n) for n in _PARAMS)


def _validate(node: Any, settings: Any) -> Any:
    ok = validate_rois(node, "roi_align")
    if not ok:
        return ok
    scale, ph, pw, ratio, aligned = _params(node.target, node.args, node.kwargs)
    if not all(isinstance(v, (int, float, bool)) for v in (scale, ph, pw, ratio, aligned)):
        return trtforge.Refusal("roi_align parameters must be constants")
    if ph < 1 or pw < 1:
        return trtforge.Refusal(f"output size ({ph}, {pw}) must be positive")
    if ratio > MAX_SAMPLING_RATIO:
        return trtforge.Refusal(
            f"sampling_ratio={ratio} > {MAX_SAMPLING_RATIO}: the converter unrolls 2*sampling_ratio gathers"
        )
    dtype = value_of(node_argument(node, "input")).dtype
    if dtype not in (torch.float32, torch.float16, torch.bfloat16):
        return trtforge.Refusal(f"feature dtype {dtype} (TensorRT has no float64)")
    return True


class _Axis:
    """ROI geometry along one axis: ``start`` and ``bin`` are ``[K, 1]`` float32."""

    def __init__(self, o: Ops, lo: Any, hi: Any, scale: float, pooled: int, size: int, aligned: bool) -> None:
        offset = 0.5 if aligned else 0.0
        self.o, self.pooled, self.size = o, pooled, size
        self.start = o.sub(o.mul(lo, scale), offset)
        length = o.sub(o.sub(o.mul(hi, scale), offset), self.start)
        self.length = length if aligned else o.maximum(length, 1.0)
        self.bin = o.div(self.length, float(pooled))

    def origin(self, start: Any, bin_: Any, p: Any) -> Any:
        """Where bin ``p`` starts: ``start + p*bin``."""
        return self.o.add(start, self.o.mul(p, bin_))

    def sample(self, origin: Any, bin_: Any, i: Any, grid: Any) -> Any:
        """Sample ``i`` of a bin: ``origin + ((i+0.5)*bin)/grid``, in torchvision's evaluation order."""
        o = self.o
        return o.add(origin, o.div(o.mul(o.add(i, 0.5), bin_), grid))

    def corners(self, y: Any) -> tuple[Any, Any, Any, Any]:
        """Bilinear ``(low, high, w_low, w_high)``; weights are 0 for samples outside ``[-1, size]``."""
        o, last = self.o, float(self.size - 1)
        valid = o.and_(o.ge(y, -1.0), o.le(y, float(self.size)))
        yc = o.maximum(y, 0.0)
        fl = o.floor(yc)
        edge = o.ge(fl, last)
        low = o.where(edge, last, fl)
        high = o.where(edge, last, o.add(fl, 1.0))
        frac = o.where(edge, 0.0, o.sub(yc, fl))
        w_high = o.where(valid, frac, 0.0)
        w_low = o.where(valid, o.sub(1.0, frac), 0.0)
        return o.cast(low, torch.int32), o.cast(high, torch.int32), w_low, w_high

    def fixed_samples(self, grid: int) -> tuple[Any, Any]:
        """``(indices int32, weights)``, both ``[K, pooled*grid*2]`` ordered (bin, sample, corner)."""
        o = self.o
        p = o.const(torch.arange(self.pooled).repeat_interleave(grid).reshape(1, -1).float())
        i = o.const(torch.arange(grid).repeat(self.pooled).reshape(1, -1).float())
        low, high, w_low, w_high = self.corners(self.sample(self.origin(self.start, self.bin, p), self.bin, i, float(grid)))

        def interleave(a: Any, b: Any) -> Any:
            return o.reshape(o.concat([o.unsqueeze(a, 2), o.unsqueeze(b, 2)], 2), [-1, self.pooled * grid * 2])

        return interleave(low, high), interleave(w_low, w_high)

    def adaptive_weights(self) -> Any:
        """Exact ``[K, pooled, size]`` weights: average over the ROI's own grid of each pixel's bilinear weight."""
        o = self.o
        grid = o.ceil(self.bin)  # torchvision: ceil(roi_size / pooled), per ROI
        safe = o.maximum(grid, 1.0)
        step = o.div(self.bin, safe)
        p = o.const(torch.arange(self.pooled).float().reshape(1, -1, 1, 1))
        r = o.const(torch.arange(self.size).float().reshape(1, 1, -1, 1))
        t = o.const(torch.arange(_ADAPTIVE_CANDIDATES).float().reshape(1, 1, 1, -1))
        start4, bin4, grid4, safe4, step4 = (o.reshape(v, [-1, 1, 1, 1]) for v in (self.start, self.bin, grid, safe, step))
        origin = self.origin(start4, bin4, p)  # [K, P, 1, 1]
        # first sample at or above r - 1, minus one for rounding; never below sample 0
        first = o.sub(o.ceil(o.sub(o.div(o.sub(o.sub(r, 1.0), origin), step4), 0.5)), 1.0)
        i = o.add(o.maximum(first, 0.0), t)  # [K, P, R, T] candidate sample indices
        y = self.sample(origin, bin4, i, safe4)
        valid = o.and_(o.and_(o.ge(y, -1.0), o.le(y, float(self.size))), o.lt(i, grid4))
        e = o.minimum(o.maximum(y, 0.0), float(self.size - 1))
        hat = o.maximum(o.sub(1.0, o.abs(o.sub(e, r))), 0.0)
        total = o.sum(o.where(valid, hat, 0.0), [3])  # [K, P, R]
        return o.div(total, o.reshape(safe, [-1, 1, 1]))


def _fixed(o: Ops, feats: Any, batch: Any, ay: _Axis, ax: _Axis, grid: int, dtype: torch.dtype) -> Any:
    """Gather-and-accumulate over the ``2*grid`` (sample row, corner) pairs of each bin."""
    _, c, h, w = feats.shape
    ph, pw = ay.pooled, ax.pooled
    table = pixel_table(o, feats)
    y_idx, y_w = (o.reshape(v, [-1, ph, 2 * grid]) for v in ay.fixed_samples(grid))
    x_idx, x_w = (o.unsqueeze(v, 1) for v in ax.fixed_samples(grid))  # [K, 1, pw*2g]
    acc = None
    for j in range(2 * grid):
        pick = o.const(torch.tensor(j), torch.int32)
        rows, wy = o.gather(y_idx, pick, 2), o.gather(y_w, pick, 2)  # [K, ph]
        index = flat_pixel(o, o.unsqueeze(batch, 2), o.unsqueeze(rows, 2), x_idx, h, w)  # [K, ph, pw*2g]
        weight = o.cast(o.unsqueeze(o.mul(o.unsqueeze(wy, 2), x_w), 3), dtype)
        vals = o.mul(o.gather(table, index, 0), weight)  # [K, ph, pw*2g, C]
        part = o.sum(o.reshape(vals, [-1, ph, pw, 2 * grid, c]), [3])
        acc = part if acc is None else o.add(acc, part)
    out = o.div(acc, o.const(float(max(grid * grid, 1)), dtype))
    return o.permute(out, [0, 3, 1, 2])


def _adaptive(o: Ops, feats: Any, batch: Any, ay: _Axis, ax: _Axis, dtype: torch.dtype) -> Any:
    """``out[k] = Wy[k] @ feats[batch[k]] @ Wx[k]^T`` with batch selection folded into the first matmul."""
    b, c, h, w = feats.shape
    ph, pw = ay.pooled, ax.pooled
    wy, wx = ay.adaptive_weights(), ax.adaptive_weights()  # [K, ph, H], [K, pw, W]
    onehot = o.cast(o.eq(batch, o.const(torch.arange(b).reshape(1, -1), torch.int32)), torch.float32)  # [K, B]
    wy_b = o.mul(o.unsqueeze(wy, 2), o.reshape(onehot, [-1, 1, b, 1]))  # [K, ph, B, H]
    rows = o.reshape(o.cast(wy_b, dtype), [-1, b * h])
    table = o.reshape(o.permute(feats, [0, 2, 1, 3]), [b * h, c * w])
    mid = o.permute(o.reshape(o.matmul(rows, table), [-1, ph, c, w]), [0, 2, 1, 3])  # [K, C, ph, W]
    cols = o.cast(o.unsqueeze(o.permute(wx, [0, 2, 1]), 1), dtype)  # [K, 1, W, pw]
    return o.matmul(mid, cols)


@trtforge.converter(
    torch.ops.torchvision.roi_align.default,
    supports_dynamic_shapes=True,
    capability_validator=_validate,
)
def convert_roi_align(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> Any:
    """``[K, C, ph, pw]`` bilinear ROI averages, exact to torchvision's kernel."""
    o = Ops(ctx)
    scale, ph, pw, ratio, aligned = _params(target, args, kwargs)
    feats, rois = ctx.to_trt(args[0]), argument(target, args, kwargs, "rois")
    dtype = ctx.torch_dtype(feats)
    _, _, h, w = feats.shape
    batch, x1, y1, x2, y2 = roi_fields(o, ctx.to_trt(rois))
    ay = _Axis(o, y1, y2, float(scale), int(ph), h, bool(aligned))
    ax = _Axis(o, x1, x2, float(scale), int(pw), w, bool(aligned))
    if ratio > 0:
        return _fixed(o, feats, batch, ay, ax, int(ratio), dtype)
    return _adaptive(o, feats, batch, ay, ax, dtype)
