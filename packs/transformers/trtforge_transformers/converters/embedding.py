"""Token embeddings: ``embedding`` (a gather of weight rows) and ``embedding_bag`` (bags of rows
reduced by sum, mean or max, as one-hot matrix products: no data-dependent shapes)."""
from __future__ import annotations

import torch

import trtforge
from trtforge import Refusal
from trtforge.conversion import blocks as B
from trtforge.conversion.args import all_of, argument, dtype_of, node_argument, only_first_output, value_of


aten = torch.ops.aten
_RENORM = aten.embedding_renorm.default
_BAG_OPS = (aten.embedding_bag.default, aten.embedding_bag.padding_idx, aten._embedding_bag.default)
_MODES = {0: "sum", 1: "mean", 2: "max"}


def _static_weight(node, settings):
    """``max_norm`` exports as ``embedding_renorm``, which rewrites rows of the weight on every call."""
    weight = node_argument(node, "weight")
    if isinstance(weight, torch.fx.Node) and weight.op == "call_function" and weight.target is _RENORM:
        max_norm = node_argument(weight, "max_norm")
        return Refusal(f"max_norm={max_norm}: the embedding renormalises (mutates) its weight rows on every call, "
                       "which an engine cannot do; drop max_norm or renormalise the weight once before compiling")
    return True


def _int_indices(node, settings):
    dt = dtype_of(node_argument(node, "indices"))
    return True if dt in (torch.int32, torch.int64) else Refusal(f"indices have dtype {dt}, not int32/int64")


def _rows(ctx, weight, indices):
    """``weight[indices]``; padding_idx changes only gradients, so the forward is a plain gather."""
    return ctx.out(ctx.net.add_gather(ctx.to_trt(weight), B.cast(ctx, ctx.to_trt(indices), torch.int32), 0), "rows")


@trtforge.converter(aten.embedding.default, supports_dynamic_shapes=True,
                    capability_validator=all_of(_int_indices, _static_weight))
def embedding(ctx, target, args, kwargs, name):
    return _rows(ctx, argument(target, args, kwargs, "weight"), argument(target, args, kwargs, "indices"))


def _bag_ok(node, settings):
    mode = node_argument(node, "mode")
    if mode not in _MODES:
        return Refusal(f"embedding_bag mode {mode}")
    if len(value_of(node_argument(node, "indices")).shape) != 1:
        return Refusal("embedding_bag indices of rank 2 without offsets (export flattens them; this graph did not)")
    if node_argument(node, "per_sample_weights") is not None and mode != 0:
        return Refusal("per_sample_weights with a mode other than sum (torch refuses it too)")
    return True


@trtforge.converter(*_BAG_OPS, supports_dynamic_shapes=True,
                    capability_validator=all_of(_int_indices, _static_weight, _bag_ok,
                                                only_first_output("embedding_bag offset2bag/bag_size/max_indices")))
def embedding_bag(ctx, target, args, kwargs, name):
    return [_bag(ctx, target, args, kwargs), None, None, None]  # offset2bag, bag_size, max_indices: refused if read


def _bag(ctx, target, args, kwargs):
    weight = argument(target, args, kwargs, "weight")
    indices, offsets = (ctx.to_trt(argument(target, args, kwargs, n)) for n in ("indices", "offsets"))
    mode = _MODES[argument(target, args, kwargs, "mode")]
    padding_idx = argument(target, args, kwargs, "padding_idx", default=None)  # embedding_bag.default has none
    weights = argument(target, args, kwargs, "per_sample_weights")
    rows = _rows(ctx, weight, indices)  # [N, D]
    dtype = ctx.torch_dtype(rows)
    if weights is not None:
        rows = B.elementwise(ctx, "PROD", rows, B.unsqueeze(ctx, ctx.to_trt(weights), 1), dtype=dtype)
    count = B.size(ctx, offsets, 0)
    if argument(target, args, kwargs, "include_last_offset"):
        count = B.dim_arith(ctx, "sub", count, 1)
        offsets = B.slice_dim(ctx, offsets, 0, 0, count)
    # bag of position j: how many offsets are <= j, minus one; member[b, j] = (bag(j) == b) and j is not padding
    positions = B.arange(ctx, B.size(ctx, indices, 0))
    starts = B.compare(ctx, "le", B.unsqueeze(ctx, B.cast(ctx, offsets, torch.int64), 0), B.unsqueeze(ctx, positions, 1))
    bag = B.elementwise(ctx, "SUB", B.reduce(ctx, B.cast(ctx, starts, torch.int32), "SUM", [1]), 1)
    member = B.compare(ctx, "eq", B.unsqueeze(ctx, B.arange(ctx, count), 1), B.unsqueeze(ctx, B.cast(ctx, bag, torch.int64), 0))
    if padding_idx is not None and padding_idx >= 0:
        member = B.logical(ctx, "and", member, B.unsqueeze(ctx, B.compare(ctx, "ne", indices, padding_idx), 0))
    if mode == "max":
        spread = B.where(ctx, B.unsqueeze(ctx, member, 2), B.unsqueeze(ctx, rows, 0), float("-inf"), dtype=dtype)
        best = B.reduce(ctx, spread, "MAX", [1])
        filled = B.reduce(ctx, B.cast(ctx, member, torch.int32), "MAX", [1], keepdim=True)
        return B.where(ctx, B.cast(ctx, filled, torch.bool), best, 0.0, dtype=dtype)  # empty bags are zeros
    total = B.matmul(ctx, B.cast(ctx, member, dtype), rows)  # [B, N] @ [N, D]
    if mode == "sum":
        return total
    sizes = B.reduce(ctx, B.cast(ctx, member, dtype), "SUM", [1], keepdim=True)
    return B.elementwise(ctx, "DIV", total, B.elementwise(ctx, "MAX", sizes, 1.0, dtype=dtype), dtype=dtype)
