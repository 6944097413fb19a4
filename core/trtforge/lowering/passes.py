"""The core's own graph passes: remove no-ops and checks, fold constants, drop dead code."""
from __future__ import annotations

import operator
from typing import Callable

import torch
from torch.fx import GraphModule, Node

from .folding import _fetch, fold_constants, replace_with_constant  # noqa: F401 (re-exported for factories.py)

aten = torch.ops.aten

#: nodes that only check things TensorRT's profiles already guarantee, or do nothing
_DROP = {
    aten._assert_tensor_metadata.default,
    aten._assert_scalar.default,
    aten.sym_constrain_range_for_size.default,
    aten.sym_constrain_range.default,
    aten._assert_async.msg,
}
_IDENTITY = {aten.alias.default, aten.detach.default, aten.lift_fresh_copy.default}
#: copies that only change memory layout: identity for TensorRT, but a PyTorch ``view`` after
#: them may need the contiguous layout they produce, so they stay when a view reads them
_LAYOUT = {aten.clone.default, aten.contiguous.default}
_VIEWS = {aten.view.default, aten._unsafe_view.default}
#: dropout variants: identity at inference (the ``train`` argument is checked)
_DROPOUT = {aten.dropout.default, aten.dropout_.default, aten.feature_dropout.default, aten.alpha_dropout.default}


def is_noop(node: Node) -> bool:
    """True for nodes :func:`remove_noops` removes."""
    if node.op != "call_function":
        return False
    if node.target in _DROP:
        return not node.users
    if node.target in _DROPOUT:
        train = node.args[2] if len(node.args) > 2 else node.kwargs.get("train", False)
        return train is False
    src = node.args[0] if node.args else None
    if not isinstance(src, Node):
        return False
    if node.target in _LAYOUT:
        return not _feeds_a_view(node)
    return node.target in _IDENTITY or _same_dtype_copy(node, src)


#: ops whose output aliases their input: a ``view`` after them still sees the layout before them
_ALIASING = {
    aten.select.int, aten.slice.Tensor, aten.permute.default, aten.transpose.int, aten.t.default,
    aten.unsqueeze.default, aten.squeeze.dim, aten.squeeze.dims, aten.squeeze.default,
    aten.expand.default, aten.narrow.default, aten.alias.default, aten.detach.default, aten.unbind.int,
    aten.split.Tensor, aten.split_with_sizes.default, aten.chunk.default, aten.diagonal.default,
    operator.getitem,
}


def _feeds_a_view(node: Node) -> bool:
    """Whether a ``view`` reads ``node``'s layout, directly or through aliasing ops
    (vit_b_16: clone -> select -> view)."""
    stack, seen = list(node.users), set()
    while stack:
        user = stack.pop()
        if user in seen:
            continue
        seen.add(user)
        if user.target in _VIEWS:
            return True
        if user.target in _ALIASING:
            stack.extend(user.users)
    return False


#: ops that return a new tensor with the same values: identity for TensorRT, unless something
#: writes in place to the copy or to its source (the copy is what keeps the two apart)
_COPIES = {aten.clone.default, aten.contiguous.default, aten.lift_fresh_copy.default, aten._to_copy.default,
           aten.to.dtype}


def remove_noops(gm: GraphModule) -> list[str]:
    """Drop assertion nodes and identity ops (clone, alias, detach, same-dtype copies); a copy
    stays where an in-place write reaches it or its source (``y = x.clone(); x.copy_(z)``)."""
    from .aliasing import root, written_roots

    removed = []
    written = written_roots(gm.graph)
    for node in list(gm.graph.nodes):
        if node.op == "call_module" and node.target == "_guards_fn" and not node.users:
            # torch.export's input-shape guard: engines check their inputs against their
            # profiles, and the guard module cannot be pickled (engine cache, save)
            gm.graph.erase_node(node)
            removed.append("_guards_fn")
            continue
        if not is_noop(node):
            continue
        if node.target in _COPIES and written and (node in written or root(node.args[0]) in written):
            continue
        if node.users:
            node.replace_all_uses_with(node.args[0])
        gm.graph.erase_node(node)
        removed.append(str(node.target))
    return removed


def _same_dtype_copy(node: Node, src: Node) -> bool:
    if node.target not in (aten._to_copy.default, aten.to.dtype):
        return False
    val, sval = node.meta.get("val"), src.meta.get("val")
    if not isinstance(val, torch.Tensor) or not isinstance(sval, torch.Tensor):
        return False
    extra = set(node.kwargs) - {"dtype", "layout", "device", "memory_format"}
    return val.dtype == sval.dtype and val.device == sval.device and not extra


CORE_PASSES: list[tuple[str, Callable[[GraphModule], object]]] = [
    ("remove_noops", remove_noops),
    ("fold_constants", fold_constants),
]
