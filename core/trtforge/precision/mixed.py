"""Keeping chosen nodes of a reduced-precision graph in float32: the casts go into the graph.

The graph was exported at the reduced precision (float16 or bfloat16). A kept node reads
float32 copies of its reduced-precision inputs (one cast per producer, the model's float32
weights for its weights), computes in float32, and one cast back after it serves every
reduced-precision reader. The casts are ordinary ``aten._to_copy`` nodes, so the same graph
runs in PyTorch (fallback, validation) and converts to cast layers of the strongly typed
network: there is no second mechanism for TensorRT.
"""
from __future__ import annotations

import functools
import operator
from typing import Any, Iterable, Mapping

import torch
from torch.fx import GraphModule, Node

from .select import eligible, floating

CAST = torch.ops.aten._to_copy.default
_CASTS = {CAST, torch.ops.aten.to.dtype}
#: node meta key of the casts inserted here: "up" (to float32) or "down" (back to the precision)
CAST_META = "trtforge_precision_cast"
#: node meta key of a kept node (or its getitem) whose tensor output was reduced: that dtype
_WAS = "trtforge_fp32_was"


def is_cast(node: Node, direction: str | None = None) -> bool:
    """Whether ``node`` is a cast this module inserted (in ``direction``, if given)."""
    kind = node.meta.get(CAST_META)
    return kind is not None and (direction is None or kind == direction)


def keep_in_fp32(gm: GraphModule, nodes: Iterable[Node], precision: torch.dtype,
                 fp32_weights: Mapping[str, torch.Tensor] | None = None) -> set[Node]:
    """Make ``nodes`` compute in float32; returns every node now computing in float32.

    May be called again with more nodes (the precision search does): a newly kept node
    reads a kept producer directly instead of through its cast back.
    """
    graph = gm.graph
    todo = set(nodes)
    weights: dict[str, Node] = {}
    for n in list(graph.nodes):
        if n in todo and eligible(n, precision):
            _retype(gm, n, precision, fp32_weights or {}, weights)
            for u in list(n.users):  # a user kept earlier read n through an up-cast: no longer needed
                if is_cast(u, "up"):
                    u.replace_all_uses_with(n)
                    graph.erase_node(u)
    for n in list(graph.nodes):
        if n.meta.get(_WAS) == precision and not is_cast(n):
            _cast_back(graph, n, precision)
    graph.eliminate_dead_code()
    graph.lint()
    gm.recompile()
    return {n for n in graph.nodes if n.meta.get("trtforge_fp32")}


def _retype(gm: GraphModule, n: Node, precision: torch.dtype, fp32_weights: Mapping[str, torch.Tensor],
            weights: dict[str, Node]) -> None:
    """Point ``n`` at float32 versions of its inputs, turn its ``precision`` dtype arguments
    into float32, and recompute its meta value."""
    def lift(p: Node) -> Node:
        if is_cast(p, "down"):
            return p.args[0]  # type: ignore[return-value]
        if not floating(p.meta.get("val"), precision):
            return p
        if p.op == "get_attr":
            return _fp32_weight(gm, p, fp32_weights, weights)
        return _cast_after(gm.graph, p, torch.float32, "up")

    n.args = _swap_dtype(torch.fx.node.map_arg(n.args, lift), precision)
    n.kwargs = _swap_dtype(torch.fx.node.map_arg(n.kwargs, lift), precision)
    _refresh(n)
    for u in n.users:
        if u.op == "call_function" and u.target is operator.getitem:
            _refresh(u)


def _refresh(n: Node) -> None:
    """Recompute the meta value of a node now computing in float32, remembering its old dtype."""
    old = n.meta.get("val")
    if isinstance(old, torch.Tensor) and old.is_floating_point() and _WAS not in n.meta:
        n.meta[_WAS] = old.dtype
    n.meta["val"] = _fake_run(n)
    n.meta["trtforge_fp32"] = True


def _swap_dtype(value: Any, precision: torch.dtype) -> Any:
    """``precision`` dtype arguments (``dtype=torch.float16``) become float32."""
    if value is precision:
        return torch.float32
    if isinstance(value, (list, tuple)):
        return type(value)(_swap_dtype(v, precision) for v in value)
    if isinstance(value, dict):
        return {k: _swap_dtype(v, precision) for k, v in value.items()}
    return value


def _cast_after(graph: torch.fx.Graph, src: Node, dtype: torch.dtype, kind: str) -> Node:
    """The one ``kind`` cast of ``src`` (made on first use, right after ``src``)."""
    for u in src.users:
        if u.meta.get(CAST_META) == kind:
            return u
    with graph.inserting_after(src):
        cast = graph.call_function(CAST, (src,), {"dtype": dtype})
    cast._rename(f"{src.name}_{'fp32' if dtype == torch.float32 else str(dtype).replace('torch.', '')}")
    cast.meta[CAST_META] = kind
    for key in ("nn_module_stack", "stack_trace"):
        if key in src.meta:
            cast.meta[key] = src.meta[key]
    cast.meta["val"] = _fake_run(cast)
    return cast


def _cast_back(graph: torch.fx.Graph, n: Node, precision: torch.dtype) -> None:
    """Readers of float32 ``n`` that are not kept read it cast back to ``precision``."""
    readers = [u for u in n.users if not u.meta.get("trtforge_fp32") and not is_cast(u)]
    if not readers:
        return
    down = _cast_after(graph, n, precision, "down")
    for u in readers:
        u.replace_input_with(n, down)


def _fp32_weight(gm: GraphModule, p: Node, fp32_weights: Mapping[str, torch.Tensor], made: dict[str, Node]) -> Node:
    """A get_attr of the model's float32 weight for ``p`` (its reduced value upcast if the
    weight was derived by a pass, e.g. a folded constant)."""
    if p.target in made:
        return made[p.target]
    current = functools.reduce(getattr, str(p.target).split("."), gm)
    original = fp32_weights.get(p.target)  # type: ignore[arg-type]
    ok = original is not None and original.shape == current.shape and original.is_floating_point()
    value = (original if ok else current).detach().to(torch.float32)
    name = "_fp32_" + str(p.target).replace(".", "_")
    gm.register_buffer(name, value, persistent=False)
    with gm.graph.inserting_after(p):
        node = gm.graph.get_attr(name)
    node.meta["val"] = _fake_like(p.meta["val"], torch.float32)
    made[p.target] = node  # type: ignore[index]
    return node


def _fake_like(val: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    mode = torch._guards.detect_fake_mode([val])
    if mode is None:
        return val.to(dtype)
    with mode:
        return val.to(dtype)


def _fake_run(n: Node) -> Any:
    """``n``'s output value computed on its inputs' meta values (shapes and dtypes only)."""
    args = torch.fx.node.map_arg(n.args, lambda p: p.meta.get("val"))
    kwargs = torch.fx.node.map_arg(n.kwargs, lambda p: p.meta.get("val"))
    flat = [v for v in torch.utils._pytree.tree_leaves((args, kwargs)) if isinstance(v, torch.Tensor)]
    mode = torch._guards.detect_fake_mode(flat)
    if mode is None:  # no FakeTensors: the values are real (a graph traced without export)
        return n.target(*args, **kwargs)
    with mode:
        return n.target(*args, **kwargs)  # type: ignore[operator]


def node_precisions(gm: GraphModule, precision: torch.dtype) -> dict[str, str]:
    """Each node computing with floating values -> the dtype it computes in."""
    out = {}
    for n in gm.graph.nodes:
        if not (eligible(n, precision) or eligible(n, torch.float32)) or n.target in _CASTS:
            continue  # a cast converts between precisions; it computes in neither
        vals = [n.meta.get("val"), *(p.meta.get("val") for p in n.all_input_nodes)]
        for v in vals:
            v = v[0] if isinstance(v, (list, tuple)) and v else v
            if isinstance(v, torch.Tensor) and v.is_floating_point():
                out[n.name] = str(v.dtype).replace("torch.", "")
                break
    return out
