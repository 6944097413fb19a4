"""What ``roi_align`` and ``roi_pool`` share: reading ROIs, the feature map as a gather table.

ROIs are ``[K, 5]`` rows ``(batch_index, x1, y1, x2, y2)``; K may be dynamic,
the feature map ``[B, C, H, W]`` must be static (its sizes shape the sampling
tables). Coordinates are computed in float32 whatever the feature dtype.
"""
from __future__ import annotations

from typing import Any

import torch
import trtforge
from trtforge.conversion.args import node_argument, value_of

from ._ops import Ops


def validate_rois(node: Any, what: str) -> Any:
    """Refuse what the ROI converters cannot build: a dynamic feature map or malformed ROIs."""
    feats, rois = value_of(node_argument(node, "input")), value_of(node_argument(node, "rois"))
    tensors = isinstance(feats, torch.Tensor) and isinstance(rois, torch.Tensor)
    if not tensors or feats.dim() != 4 or rois.dim() != 2:
        return trtforge.Refusal(f"{what} needs a [B, C, H, W] input and [K, 5] rois")
    if not all(isinstance(d, int) for d in feats.shape):
        return trtforge.Refusal(
            f"{what}: the feature map {tuple(feats.shape)} has dynamic dimensions; only the number "
            "of ROIs may be dynamic (the sampling tables are sized by B, C, H, W)"
        )
    if rois.shape[1] != 5:
        return trtforge.Refusal(f"{what}: rois must be [K, 5] (batch index, x1, y1, x2, y2)")
    if feats.numel() == 0:
        return trtforge.Refusal(f"{what}: empty feature map")
    return True


def roi_fields(o: Ops, rois: Any) -> tuple[Any, Any, Any, Any, Any]:
    """``(batch int32, x1, y1, x2, y2)`` as ``[K, 1]`` columns (coordinates float32)."""
    r = o.cast(rois, torch.float32)
    cols = [o.reshape(o.select(r, 1, i), [-1, 1]) for i in range(5)]
    batch = o.cast(cols[0], torch.int32)  # C's (int) cast truncates, as torchvision's kernels do
    return batch, cols[1], cols[2], cols[3], cols[4]


def pixel_table(o: Ops, feats: Any) -> Any:
    """``[B*H*W, C]``: the feature map as rows a gather can pick by flat pixel index."""
    b, c, h, w = feats.shape
    return o.reshape(o.permute(feats, [0, 2, 3, 1]), [b * h * w, c])


def flat_pixel(o: Ops, batch: Any, row: Any, col: Any, height: int, width: int) -> Any:
    """``(batch * H + row) * W + col`` (int32, broadcasting)."""
    return o.add(o.mul(o.add(o.mul(batch, height), row), width), col)
