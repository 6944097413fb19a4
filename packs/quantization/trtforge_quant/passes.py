"""Lowering pass: torchao's quantized weights, as exported, back into one dequantize op each.

torchao 0.18 quantizes with tensor subclasses (``Int8Tensor``, ``IntxUnpackedToInt8Tensor``,
``Float8Tensor``) that export to plain ATen: the quantized weight is a constant cast to
float (``_to_copy``), then scaled (``mul``, after a ``sub`` of a zero point), or, for
INT8 weight-only, the matmul runs on the cast weight and its output is scaled per
column. Converted as they stand, these would compute in float32 from a weight cast to
float, and TensorRT would never see a quantized weight. This pass rewrites each into
``torchao::dequantize_affine`` (``dequantize_affine_float8_non_decomposed`` for FP8), which
the pack converts to TensorRT's dequantize layer. The rewritten graph computes the same
values (the column scale moves before the matmul: equal up to float rounding); validation
compares the engine with it.
"""
from __future__ import annotations

from typing import Any

import torch
from torch.fx import GraphModule, Node

from .schemes import constant_value

aten = torch.ops.aten
_QUANTIZED = (torch.int8, torch.float8_e4m3fn)


def torchao_weights_to_dequantize(gm: GraphModule, settings: Any) -> None:
    if not hasattr(torch.ops, "torchao") or not hasattr(torch.ops.torchao, "dequantize_affine"):
        return  # torchao is not imported: no graph can hold its tensors
    for node in list(gm.graph.nodes):
        weight = _quantized_weight_cast(node)
        if weight is None:
            continue
        for rewrite in (_scaled_weight, _scaled_matmul):
            if rewrite(gm, node, weight):
                break
    gm.graph.eliminate_dead_code()


def _quantized_weight_cast(node: Node) -> torch.Tensor | None:
    """The constant of a ``_to_copy`` that casts an int8/float8 constant to a float type."""
    if node.op != "call_function" or node.target != aten._to_copy.default or len(node.users) != 1:
        return None
    src = constant_value(node.args[0])
    out = node.meta.get("val")
    if src is None or src.dtype not in _QUANTIZED or out is None or not out.dtype.is_floating_point:
        return None
    return src


def _single_user(node: Node) -> Node | None:
    return next(iter(node.users)) if len(node.users) == 1 else None


def _is_call(node: Node | None, *targets: Any) -> bool:
    return node is not None and node.op == "call_function" and node.target in targets


def _other(node: Node, this: Node) -> Any:
    return node.args[1] if node.args[0] is this else node.args[0]


def _scaled_weight(gm: GraphModule, cast: Node, q: torch.Tensor) -> bool:
    """``(q.float() [- zero_point]) * scale [viewed back to 2-D]`` -> one dequantize op."""
    prev, user = cast, _single_user(cast)
    if _is_call(user, aten.sub.Tensor) and user.args[0] is cast:
        zero_point = user.args[1]
        zp = constant_value(zero_point.args[0]) if _is_call(zero_point, aten._to_copy.default) else None
        if zp is None or bool((zp != 0).any()):
            return False  # asymmetric: left as float arithmetic, which TensorRT computes exactly
        prev, user = user, _single_user(user)
    if not _is_call(user, aten.mul.Tensor):
        return False
    scale = constant_value(_other(user, prev))
    if scale is None or scale.dim() > q.dim():
        return False
    scale = scale.reshape((1,) * (q.dim() - scale.dim()) + tuple(scale.shape))
    end, q_shape, s_shape = user, tuple(q.shape), tuple(scale.shape)
    after = _single_user(user)
    if q.dim() == 3 and s_shape[2] == 1 and _is_call(after, aten.view.default, aten.reshape.default, aten._unsafe_view.default):
        # group-wise weights are exported as [N, groups, group_size] * [N, groups, 1], then viewed to [N, K]
        n, groups, size = q_shape
        end, q, scale = after, q.reshape(n, groups * size), scale.reshape(n, groups)
        q_shape, s_shape = tuple(q.shape), tuple(scale.shape)
    if any(s not in (1, n) or n % s for n, s in zip(q_shape, s_shape)):
        return False
    block = [n // s for n, s in zip(q_shape, s_shape)]
    _replace(gm, end, q, scale, block, end.meta["val"].dtype, end.meta)
    return True


def _scaled_matmul(gm: GraphModule, cast: Node, q: torch.Tensor) -> bool:
    """``(x @ q.float()) * column_scale`` -> ``x @ dequantize(q, column_scale)``."""
    mm = _single_user(cast)
    if not _is_call(mm, aten.mm.default) or mm.args[1] is not cast or q.dim() != 2:
        return False
    mul = _single_user(mm)
    if not _is_call(mul, aten.mul.Tensor):
        return False
    scale = constant_value(_other(mul, mm))
    if scale is None or scale.numel() != q.shape[1] or scale.shape[-1] != q.shape[1]:
        return False
    dq = _replace(gm, cast, q, scale.reshape(1, -1), [q.shape[0], 1], cast.meta["val"].dtype, cast.meta)
    mm.replace_input_with(cast, dq)
    mul.replace_all_uses_with(mm)
    return True


def _replace(gm: GraphModule, node: Node, q: torch.Tensor, scale: torch.Tensor, block: list[int],
             out_dtype: torch.dtype, meta: dict) -> Node:
    """A dequantize op reading ``q`` and ``scale`` as new buffers, in place of ``node``."""
    base = f"_dequantized_{node.name}"
    gm.register_buffer(f"{base}_q", q.contiguous(), persistent=False)
    gm.register_buffer(f"{base}_scale", scale.float().contiguous(), persistent=False)
    with gm.graph.inserting_before(node):
        q_node = gm.graph.get_attr(f"{base}_q")
        s_node = gm.graph.get_attr(f"{base}_scale")
        if q.dtype == torch.float8_e4m3fn:
            dq = gm.graph.call_function(torch.ops.torchao.dequantize_affine_float8_non_decomposed.default,
                                        (q_node, s_node), {"output_dtype": out_dtype})
        else:
            dq = gm.graph.call_function(torch.ops.torchao.dequantize_affine.default,
                                        (q_node, block, s_node, None, torch.int8, -128, 127),
                                        {"output_dtype": out_dtype})
    dq.meta = dict(meta)
    fake_mode = getattr(meta.get("val"), "fake_mode", None)
    if fake_mode is not None:  # validators and the partitioner read shapes from meta["val"]
        q_node.meta["val"] = fake_mode.from_tensor(q)
        s_node.meta["val"] = fake_mode.from_tensor(scale.float())
    node.replace_all_uses_with(dq)
    return dq
