"""Rewrite a few training-IR composites to the core-ATen ops packs convert, without a re-trace.

torch.export's default IR keeps composites such as ``aten.conv2d`` and
``aten.batch_norm``; ``run_decompositions`` lowers them by re-tracing the whole
program, which costs seconds on a large model. Each rewrite here is a local,
exact, one-node replacement; a node is left alone (and the re-trace happens)
when its arguments fall outside the simple, static cases handled.
"""
from __future__ import annotations

import operator
from typing import Any, Callable

import torch
from torch.fx import Graph, Node

aten = torch.ops.aten


def _static(node: Node) -> tuple[int, ...] | None:
    val = node.meta.get("val")
    if isinstance(val, torch.Tensor) and all(isinstance(d, int) for d in val.shape):
        return tuple(val.shape)
    return None


def _conv(node: Node, graph: Graph) -> Node | None:
    args = list(node.args) + [None] * (7 - len(node.args))
    x, w, b, stride, padding, dilation, groups = args[:7]
    n = len(node.meta["val"].shape) - 2
    if isinstance(padding, str):
        return None
    stride = stride if stride is not None else [1] * n
    padding = padding if padding is not None else [0] * n
    dilation = dilation if dilation is not None else [1] * n
    return graph.call_function(
        aten.convolution.default, (x, w, b, stride, padding, dilation, False, [0] * n, groups or 1)
    )


def _batch_norm(node: Node, graph: Graph) -> Node | None:
    x, w, b, mean, var, training, momentum, eps = node.args[:8]
    if training or mean is None or var is None:
        return None
    bn = graph.call_function(aten._native_batch_norm_legit_no_training.default, (x, w, b, mean, var, momentum, eps))
    val = node.meta["val"]
    bn.meta["val"] = (val, val.new_empty((0,)), val.new_empty((0,)))
    return graph.call_function(operator.getitem, (bn, 0))


def _as_reshape(node: Node, graph: Graph) -> Node | None:
    shape = _static(node)
    return None if shape is None else graph.call_function(aten.reshape.default, (node.args[0], list(shape)))


def _transpose(node: Node, graph: Graph) -> Node | None:
    x, a, b = node.args[:3]
    rank = len(node.meta["val"].shape)
    perm = list(range(rank))
    perm[a % rank], perm[b % rank] = perm[b % rank], perm[a % rank]
    return graph.call_function(aten.permute.default, (x, perm))


def _named_call(graph: Graph, op: Any, args: tuple, kwargs: dict | None = None) -> Node:
    """A call named after the op as run_decompositions names it (``_softmax``, ``_softmax_1``...),
    so node names (which ``keep_fp32`` and reports use) do not depend on whether it re-traced."""
    return graph.create_node("call_function", op, args, kwargs or {}, name=op._overloadpacket.__name__)


def _softmax(node: Node, graph: Graph) -> Node | None:
    x, dim = node.args[:2]
    return _named_call(graph, aten._softmax.default, (x, dim, False))


def _contiguous(node: Node, graph: Graph) -> Node | None:
    # contiguous is a clone when the layout differs, else the tensor itself: same values either way,
    # and the clone's layout is what a PyTorch ``view`` after it may need
    return _named_call(graph, aten.clone.default, (node.args[0],), {"memory_format": torch.contiguous_format})


def _masked_fill(node: Node, graph: Graph) -> Node | None:
    x, mask, value = node.args[:3]
    return _named_call(graph, aten.where.ScalarSelf, (mask, value, x))


def _to(node: Node, graph: Graph) -> Node | None:
    # Tensor.to(device, dtype) on the device the tensor is on: a dtype conversion
    return _named_call(graph, aten._to_copy.default, (node.args[0],), {"dtype": node.meta["val"].dtype})


def _same_device(node: Node) -> bool:
    x, val = node.args[0], node.meta.get("val")
    xval = x.meta.get("val") if isinstance(x, Node) else None
    return isinstance(val, torch.Tensor) and isinstance(xval, torch.Tensor) and val.device == xval.device


def _same_dtype_out(node: Node) -> bool:
    """The node's result has its first input's dtype (no promotion a rewrite could get wrong)."""
    x, val = node.args[0], node.meta.get("val")
    xval = x.meta.get("val") if isinstance(x, Node) else None
    return isinstance(val, torch.Tensor) and isinstance(xval, torch.Tensor) and val.dtype == xval.dtype


#: training-IR op -> (rewrite, ops the rewrite produces: all must be converted)
REWRITES: dict[Any, tuple[Callable[[Node, Graph], Node | None], tuple[Any, ...]]] = {
    aten.conv1d.default: (_conv, (aten.convolution.default,)),
    aten.conv2d.default: (_conv, (aten.convolution.default,)),
    aten.conv3d.default: (_conv, (aten.convolution.default,)),
    aten.batch_norm.default: (_batch_norm, (aten._native_batch_norm_legit_no_training.default,)),
    aten.flatten.using_ints: (_as_reshape, (aten.reshape.default,)),
    aten.unflatten.int: (_as_reshape, (aten.reshape.default,)),
    aten.view.default: (_as_reshape, (aten.reshape.default,)),
    aten.transpose.int: (_transpose, (aten.permute.default,)),
    aten.softmax.int: (_softmax, (aten._softmax.default,)),
    aten.contiguous.default: (_contiguous, (aten.clone.default,)),
    aten.masked_fill.Scalar: (_masked_fill, (aten.where.ScalarSelf,)),
    aten.to.device: (_to, (aten._to_copy.default,)),
}


def can_rewrite(node: Node, converted: set) -> bool:
    entry = REWRITES.get(node.target)
    if entry is None or not all(op in converted for op in entry[1]):
        return False
    if entry[0] is _as_reshape:
        return _static(node) is not None
    if entry[0] is _conv:
        return not isinstance(node.args[4] if len(node.args) > 4 else None, str)
    if entry[0] is _batch_norm:
        return len(node.args) >= 8 and not node.args[5]
    if entry[0] is _softmax:  # softmax(x, dim) without a dtype is _softmax(x, dim, half_to_float=False)
        return len(node.args) == 2 and node.kwargs.get("dtype") is None and _same_dtype_out(node)
    if entry[0] is _contiguous:
        return node.kwargs.get("memory_format", torch.contiguous_format) == torch.contiguous_format
    if entry[0] is _masked_fill:  # a floating tensor keeps its dtype with a Python scalar in where
        return (_same_dtype_out(node) and node.meta["val"].dtype.is_floating_point
                and isinstance(node.args[2], (int, float)) and not isinstance(node.args[2], bool))
    if entry[0] is _to:
        return _same_device(node) and node.kwargs.get("memory_format") in (None, torch.preserve_format)
    return True


def canonicalize(graph: Graph, converted: set) -> int:
    """Apply the rewrites whose results some pack converts; returns how many nodes changed."""
    changed = 0
    for node in list(graph.nodes):
        if node.op != "call_function" or not can_rewrite(node, converted):
            continue
        with graph.inserting_before(node):
            new = REWRITES[node.target][0](node, graph)
        if new is None:
            continue
        if "val" not in new.meta:
            new.meta["val"] = node.meta.get("val")
        for key in ("stack_trace", "nn_module_stack", "source_fn_stack"):
            if key in node.meta:
                new.meta.setdefault(key, node.meta[key])
        node.replace_all_uses_with(new)
        graph.erase_node(node)
        changed += 1
    return changed
