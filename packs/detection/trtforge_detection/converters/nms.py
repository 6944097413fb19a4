"""``torchvision::nms`` on TensorRT's NMS layer, with torchvision's exact semantics.

torchvision keeps box ``i`` unless a box kept before it (higher score; equal
scores: lower index first, its CPU kernel sorts stably) has IoU > threshold
with it; kept indices come out by descending score. TensorRT's NMS layer
selects a box if its IoU with every selected box is <= threshold (the same
rule) and sorts output by decreasing score, but leaves the order of equal
scores unspecified and drops scores <= its score threshold (default 0).

Both gaps are closed by feeding the layer *ranks* instead of scores: each box
gets ``n_max - rank`` where ``rank`` counts the boxes torchvision visits before
it (higher score, or equal score and lower index). The ranks are distinct and
positive, so the layer's order is torchvision's and no box is dropped. The rank
costs an ``N x N`` comparison (25 M booleans at the 5000-box limit).
"""
from __future__ import annotations

import math
from typing import Any

import torch
import trtforge

from ._ops import Ops, arg_val, dim_upper_bound
from .ranking import stable_rank

#: most boxes the NMS layer considers per batch item (its TopK limit: 5000; 2000 on SM 5.3/6.2)
TOPK_BOX_LIMIT = 5000


def _validate(node: Any, settings: Any) -> bool:
    boxes = arg_val(node, 0)
    iou = node.args[2] if len(node.args) > 2 else node.kwargs.get("iou_threshold")
    if not isinstance(iou, (int, float)) or math.isnan(iou) or iou < 0:
        return trtforge.Refusal(
            f"iou_threshold={iou!r}: the NMS layer takes a constant threshold in [0, 1] "
            "(a negative one would suppress every box but the first)"
        )
    if boxes is None or boxes.dim() != 2:
        return trtforge.Refusal("boxes must be a [N, 4] tensor")
    n_max = dim_upper_bound(boxes.shape[0])
    if n_max is None:
        return trtforge.Refusal(
            "the number of boxes has no upper bound (a data-dependent size); bound it with "
            "torch._check(n <= 5000) or a dynamic-shape range"
        )
    if not 1 <= n_max <= TOPK_BOX_LIMIT:
        return trtforge.Refusal(
            f"up to {n_max} boxes: TensorRT's NMS layer considers at most {TOPK_BOX_LIMIT} boxes "
            "(its topk_box_limit); reduce the candidates first (e.g. topk on the scores)"
        )
    return True


def _ranked_scores(o: Ops, scores: Any, n_max: int) -> Any:
    """``n_max - rank`` as float32: distinct, positive, and in torchvision's visiting order."""
    rank = stable_rank(o, o.cast(scores, torch.float32), True, n_max)
    return o.cast(o.sub(n_max, rank), torch.float32)


@trtforge.converter(
    torch.ops.torchvision.nms.default,
    supports_dynamic_shapes=True,
    requires_output_allocator=True,
    capability_validator=_validate,
    emits={"NMS"},
)
def convert_nms(ctx: Any, target: Any, args: Any, kwargs: Any, name: str) -> Any:
    """Kept indices (int64, by descending score) from one single-class NMS layer."""
    o = Ops(ctx)
    boxes, scores = ctx.to_trt(args[0]), ctx.to_trt(args[1])
    iou = float(args[2] if len(args) > 2 else kwargs["iou_threshold"])
    n_max = dim_upper_bound(arg_val(ctx.current_node, 0).shape[0])
    boxes3 = o.reshape(o.cast(boxes, torch.float32), [1, -1, 4])
    scores3 = o.reshape(_ranked_scores(o, scores, n_max), [1, -1, 1])
    max_out = o.const(torch.tensor(n_max), torch.int32)
    layer = ctx.net.add_nms(boxes3, scores3, max_out)
    layer.topk_box_limit = n_max
    # IoU <= threshold is kept by both; IoU never exceeds 1, so clamping changes nothing
    layer.set_input(3, o.const(torch.tensor(min(iou, 1.0)), torch.float32))
    selected = ctx.out(layer, "nms")  # [K, 3] rows (batch, class, box), by decreasing score
    return o.cast(o.select(selected, 1, 2), torch.int64)
