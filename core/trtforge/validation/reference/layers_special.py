"""Layers with data-dependent or order-sensitive outputs: TopK, NonZero, NMS.

Where TensorRT leaves an order unspecified (TopK and NMS ties) the reference picks
a deterministic one, the lower index first, and says so in the docs.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ...backend import LayerLimits
from ._common import _Failed, mask_axes, name

if TYPE_CHECKING:  # pragma: no cover - annotations only: the executor imports this module
    from .executor import LayerCtx


#: TensorRT documents K <= 3840 for ITopKLayer (the same on both backends: one value, in the
#: capability table's layer limits); an engine with a larger K fails to build or run
TOPK_MAX_K = LayerLimits().topk_max_k


def _topk(ctx: LayerCtx, ins: list) -> list:
    layer = ctx.layer
    x = ins[0]
    axes = mask_axes(layer.axes, x.dim())
    if len(axes) != 1:
        raise ctx.fail(f"TopK needs exactly one axis, the mask selects {axes}")
    axis = axes[0]
    k = int(ins[1].reshape(-1)[0]) if len(ins) > 1 and ins[1] is not None else int(layer.k)
    if k > x.shape[axis]:
        raise ctx.fail(f"k={k} exceeds the axis length {x.shape[axis]}")
    if k > TOPK_MAX_K:
        raise ctx.fail(f"k={k} exceeds TensorRT's TopK limit of {TOPK_MAX_K}")
    descending = name(layer.op) == "MAX"
    # A stable sort puts equal values in index order (the ONNX TopK tie rule).
    values, indices = torch.sort(x, dim=axis, descending=descending, stable=True)
    return [values.narrow(axis, 0, k), indices.narrow(axis, 0, k).to(ctx.out_dtype(1))]


def _non_zero(ctx: LayerCtx, ins: list) -> list:
    """[rank, count] indices of the non-zero elements, columns in row-major order."""
    x = ins[0]
    return [torch.nonzero(x != 0).T.contiguous().to(ctx.out_dtype(0))]


def _corners(boxes: torch.Tensor, fmt: str) -> torch.Tensor:
    if fmt == "CENTER_SIZES":
        cx, cy, w, h = boxes.unbind(-1)
        return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)
    x1, y1, x2, y2 = boxes.unbind(-1)  # any pair of diagonal corners
    return torch.stack([torch.minimum(x1, x2), torch.minimum(y1, y2), torch.maximum(x1, x2), torch.maximum(y1, y2)], -1)


def _iou(box: torch.Tensor, others: torch.Tensor) -> torch.Tensor:
    lt = torch.maximum(box[:2], others[:, :2])
    rb = torch.minimum(box[2:], others[:, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    return torch.where(union > 0, inter / union, torch.zeros_like(inter))


def _nms(ctx: LayerCtx, ins: list) -> list:
    """Per batch and class greedy NMS, as the INMSLayer docstring describes.

    Candidates are (box, class) pairs whose score exceeds the score threshold; per batch
    item only the ``topk_box_limit`` best are considered. A candidate is selected if its
    IoU with every already selected box *of its class* is <= the IoU threshold, until
    ``max_output_boxes_per_class`` are selected. Rows come out by increasing batch index,
    then decreasing score (ties: lower box index, then lower class index first).
    """
    layer = ctx.layer
    boxes, scores, max_out = ins[0].float(), ins[1].float(), ins[2]
    iou_thr = float(ins[3].reshape(-1)[0]) if len(ins) > 3 and ins[3] is not None else 0.0
    score_thr = float(ins[4].reshape(-1)[0]) if len(ins) > 4 and ins[4] is not None else 0.0
    max_per_class = int(max_out.reshape(-1)[0])
    limit = int(layer.topk_box_limit)
    fmt = name(layer.bounding_box_format)
    batch, nbox, ncls = scores.shape
    per_class_boxes = boxes.dim() == 4
    corners = _corners(boxes, fmt)
    rows: list[tuple[int, int, int]] = []
    for b in range(batch):
        flat = scores[b].reshape(-1)  # index = box * ncls + class
        keep = torch.nonzero(flat > score_thr).reshape(-1)
        order = torch.sort(flat[keep], descending=True, stable=True).indices
        cand = keep[order][:limit]
        chosen: dict[int, list[int]] = {}
        picked: list[tuple[int, int]] = []
        for flat_i in cand.tolist():
            n, c = divmod(flat_i, ncls)
            sel = chosen.setdefault(c, [])
            if len(sel) >= max_per_class:
                continue
            box = corners[b, n, c] if per_class_boxes else corners[b, n]
            if sel:
                prev = corners[b, sel, c] if per_class_boxes else corners[b, sel]
                if bool((_iou(box, prev) > iou_thr).any()):
                    continue
            sel.append(n)
            picked.append((c, n))
        rows.extend((b, c, n) for c, n in picked)
    selected = torch.tensor(rows, dtype=torch.int64).reshape(-1, 3)
    return [selected.to(ctx.out_dtype(0)), torch.tensor(len(rows), dtype=ctx.out_dtype(1))]


# --------------------------------------------------------------------- if-conditionals
def _condition_key(layer) -> tuple[str, str]:
    return ("if-condition", layer.conditional.name)


def _condition(ctx: LayerCtx, ins: list) -> list:
    ctx.state[_condition_key(ctx.layer)] = bool(ins[0].reshape(-1)[0])
    return []


def _conditional_input(ctx: LayerCtx, ins: list) -> list:
    return [ins[0]]


def _conditional_output(ctx: LayerCtx, ins: list) -> list:
    """Both branches were evaluated eagerly; emit the taken one (raising its error, if any)."""
    key = _condition_key(ctx.layer)
    if key not in ctx.state:
        raise ctx.fail(f"the condition of if-conditional {key[1]!r} was not evaluated before its output")
    chosen = ins[0] if ctx.state[key] else ins[1]
    if isinstance(chosen, _Failed):
        raise chosen.error
    return [chosen]


LAYERS = {
    "CONDITION": ("IConditionLayer", _condition),
    "CONDITIONAL_INPUT": ("IIfConditionalInputLayer", _conditional_input),
    "CONDITIONAL_OUTPUT": ("IIfConditionalOutputLayer", _conditional_output),
    "TOPK": ("ITopKLayer", _topk),
    "NON_ZERO": ("INonZeroLayer", _non_zero),
    "NMS": ("INMSLayer", _nms),
}
