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


def remove_noops(gm: GraphModule) -> list[str]:
    """Drop assertion nodes and identity ops (clone, alias, detach, same-dtype copies)."""
    removed = []
    for node in list(gm.graph.nodes):
        if node.op == "call_module" and node.target == "_guards_fn" and not node.users:
            # torch.export's input-shape guard: engines check their inputs against their
            # profiles, and the guard module cannot be pickled (engine cache, save)
            gm.graph.erase_node(node)
            removed.append("_guards_fn")
            continue
        if not is_noop(node):
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


<<<<<<< HEAD
def fold_constants(gm: GraphModule) -> int:
    """Evaluate nodes whose inputs are all weights (e.g. a transposed weight) once, at compile time.

    The result replaces the subgraph as a new buffer; nothing is folded that
    grows memory (an expand of a weight, or a dequantization of int8 weights to float,
    which must stay in the graph for TensorRT to run the layer in int8) or that is random.
    """
    folded = 0
    values: dict[Node, torch.Tensor] = {}
    for node in list(gm.graph.nodes):
        if node.op == "get_attr":
            v = _fetch(gm, node.target)
            if isinstance(v, torch.Tensor):
                values[node] = v
            continue
        if node.op != "call_function" or node.target is operator.getitem:
            continue
        if not node.all_input_nodes or not all(p in values for p in node.all_input_nodes):
            continue
        if isinstance(node.target, torch._ops.OpOverload) and (
            torch.Tag.nondeterministic_seeded in node.target.tags or node.target._schema.is_mutable
        ):
            continue
        args = torch.fx.node.map_arg(node.args, lambda n: values[n])
        kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: values[n])
        try:
            with torch.no_grad():
                out = node.target(*args, **kwargs)
        except Exception:
            continue
        if not isinstance(out, torch.Tensor):
            continue
        biggest = max(_nbytes(values[p]) for p in node.all_input_nodes)
        if _nbytes(out) > biggest:
            continue
        values[node] = out
    # replace the frontier: folded nodes used by non-folded ones
    for node, val in values.items():
        if node.op == "get_attr":
            continue
        if any(u not in values for u in node.users):
            replace_with_constant(gm, node, f"_folded_{node.name}", val.contiguous())
            folded += 1
    gm.graph.eliminate_dead_code()
    return folded


def _nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def replace_with_constant(gm: GraphModule, node: Node, name: str, value: torch.Tensor) -> Node:
    """Make ``value`` a (non-persistent) buffer of ``gm`` and read it where ``node`` was used."""
    gm.register_buffer(name, value, persistent=False)
    with gm.graph.inserting_before(node):
        const = gm.graph.get_attr(name)
    const.meta = dict(node.meta)
    node.replace_all_uses_with(const)
    return const


def _fetch(gm: torch.nn.Module, target: str):
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


=======
>>>>>>> main
CORE_PASSES: list[tuple[str, Callable[[GraphModule], object]]] = [
    ("remove_noops", remove_noops),
    ("fold_constants", fold_constants),
]
