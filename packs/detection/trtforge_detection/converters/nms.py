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
from trtforge.conversion.args import argument, node_argument, value_of
from trtforge.conversion.bounds import layer_limits, shape_bounds

from trtforge.conversion.refusals import over_limit
from ._ops import Ops
from .ranking import stable_rank


def _validate(node: Any, settings: Any) -> bool:
    iou = node_argument(node, "iou_threshold")
    if not isinstance(iou, (int, float)) or math.isnan(iou) or iou < 0:
        return trtforge.Refusal(
            f"iou_threshold={iou!r}: the NMS layer takes a constant threshold in [0, 1] "
            "(a negative one would suppress every box but the first)"
        )
    dets = node_argument(node, "dets")
    boxes = value_of(dets)
    if boxes is None or boxes.dim() != 2:
        return trtforge.Refusal("boxes must be a [N, 4] tensor")
    count = shape_bounds(dets)[0]
    if count.max is not None and count.max < 1:
        return trtforge.Refusal("no boxes: the NMS layer needs at least one")
    limit = layer_limits(node).nms_max_boxes
    refused = over_limit(
        node, [boxes.shape[0]], count, limit, "the number of boxes",
        f"TensorRT's NMS layer considers at most {limit} boxes (its topk_box_limit; nms_max_boxes of the target "
        "backend's layer limits)",
        static_fix="reduce the candidates first (e.g. topk on the scores)",
    )
    return refused if refused is not None else True


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
    boxes, scores = ctx.to_trt(args[0]), ctx.to_trt(argument(target, args, kwargs, "scores"))
    iou = float(argument(target, args, kwargs, "iou_threshold"))
    n_max = shape_bounds(node_argument(ctx.current_node, "dets"))[0].max  # the profile's max: what the layer must hold
    boxes3 = o.reshape(o.cast(boxes, torch.float32), [1, -1, 4])
    scores3 = o.reshape(_ranked_scores(o, scores, n_max), [1, -1, 1])
    max_out = o.const(torch.tensor(n_max), torch.int32)
    layer = ctx.net.add_nms(boxes3, scores3, max_out)
    layer.topk_box_limit = n_max
    # IoU <= threshold is kept by both; IoU never exceeds 1, so clamping changes nothing
    layer.set_input(3, o.const(torch.tensor(min(iou, 1.0)), torch.float32))
    selected = ctx.out(layer, "nms")  # [K, 3] rows (batch, class, box), by decreasing score
    return o.cast(o.select(selected, 1, 2), torch.int64)
