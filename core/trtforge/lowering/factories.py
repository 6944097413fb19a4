"""Tensors a program builds from factories that would cost a re-trace, evaluated once at compile time.

torchvision's ``swin_t`` builds its shifted-window attention mask with ``new_zeros`` and
slice assignments (``fill_`` on views of it); transformers' LLaMA builds its causal mask from
``arange`` with ``diff``, ``new_ones`` and ``&``. In-place ops on views, and ops no pack
converts, are what only ``run_decompositions``' re-trace of the whole program handles
(seconds: more than the export itself). Such a cluster depends on nothing the caller passes
(static sizes and constants only), so it is evaluated here in program order, which is
exactly what the program computes, and its results are read as constants: no re-trace is
needed for it. Clusters that need no re-trace are left to constant folding after lowering.

A cluster is evaluated only if it is safe to read its final values: every in-place op
writes a tensor the cluster created (never a weight), and nothing outside the cluster
reads that tensor (or a view of it) before the last write to it.
"""
from __future__ import annotations

import operator
from typing import Callable

import torch
from torch.fx import Graph, GraphModule, Node

from .passes import _ALIASING, _VIEWS, _fetch, replace_with_constant

aten = torch.ops.aten

#: ops that create a tensor from sizes and scalars (``new_*`` read their first argument's dtype only)
_META_ONLY = {aten.new_zeros.default, aten.new_ones.default, aten.new_full.default}
_FACTORIES = _META_ONLY | {
    aten.zeros.default, aten.ones.default, aten.full.default, aten.scalar_tensor.default,
    aten.arange.default, aten.arange.start, aten.arange.start_step,
}
#: results past this many elements stay in the program (a folded constant is stored in the engine)
MAX_ELEMENTS = 1 << 22


def _mutates(node: Node) -> bool:
    return isinstance(node.target, torch._ops.OpOverload) and node.target._schema.is_mutable


def _inputs(node: Node) -> list[Node]:
    ins = node.all_input_nodes
    if node.target in _META_ONLY and node.args and isinstance(node.args[0], Node):
        ins = [p for p in ins if p is not node.args[0]]
    return ins


def _static(node: Node) -> bool:
    val = node.meta.get("val")
    return isinstance(val, torch.Tensor) and all(isinstance(d, int) for d in val.shape)


def _computable(graph: Graph, is_constant: Callable[[Node], bool]) -> tuple[set[Node], set[Node]]:
    """(nodes whose values are known at compile time, those of them derived from a factory)."""
    known: set[Node] = set()
    fresh: set[Node] = set()
    for node in graph.nodes:
        if is_constant(node):
            known.add(node)
            continue
        if node.op != "call_function":
            continue
        target = node.target
        if isinstance(target, torch._ops.OpOverload):
            if torch.Tag.nondeterministic_seeded in target.tags:
                continue
        elif target is not operator.getitem:
            continue
        ins = _inputs(node)
        if target in _FACTORIES:
            if _static(node) and all(p in known for p in ins):
                known.add(node)
                fresh.add(node)
        elif ins and all(p in known for p in ins):
            known.add(node)
            if any(p in fresh for p in ins):
                fresh.add(node)
    return known, fresh


def _alias_root(node: Node) -> Node:
    """The tensor whose memory ``node`` shares (through views and in-place ops)."""
    while node.op == "call_function" and (node.target in _ALIASING or node.target in _VIEWS
                                          or node.target is aten.reshape.default or _mutates(node)):
        src = node.args[0] if node.args else None
        if not isinstance(src, Node):
            break
        node = src
    return node


def cluster(graph: Graph, is_constant: Callable[[Node], bool], needs_retrace: Callable[[Node], bool]) -> list[Node]:
    """Nodes to evaluate at compile time (in program order), or [] when no factory-built value
    needs the re-trace (an in-place op, or an op ``needs_retrace`` names) or folding is not safe."""
    known, fresh = _computable(graph, is_constant)
    mutations = [n for n in fresh if _mutates(n)]
    if not (mutations or any(needs_retrace(n) for n in fresh)) or any(_mutates(n) and n not in fresh for n in known):
        return []
    order = {n: i for i, n in enumerate(graph.nodes)}
    last_write: dict[Node, int] = {}
    for m in mutations:
        root = _alias_root(m)
        if root not in fresh or root.target not in _FACTORIES:
            return []
        last_write[root] = max(last_write.get(root, -1), order[m])
    needed = set(fresh)
    stack = list(fresh)
    while stack:  # constants the fresh nodes read (lifted scalars, weights)
        for p in _inputs(stack.pop()):
            if p not in needed:
                needed.add(p)
                stack.append(p)
    for n in fresh:
        outside = [order[u] for u in n.users if u not in needed]
        root = _alias_root(n)
        if outside and root in last_write and min(outside) < last_write[root]:
            return []
    return sorted(needed, key=order.__getitem__)


def _stand_in(node: Node) -> torch.Tensor:
    val = node.meta["val"]
    return torch.empty((), dtype=val.dtype, device=val.device)


def fold(gm: GraphModule, nodes: list[Node]) -> int:
    """Evaluate ``nodes`` (from :func:`cluster`) in order and read the values the rest of the
    program uses as constants; returns how many constants were made (0: nothing changed)."""
    values: dict[Node, torch.Tensor] = {}
    members = set(nodes)
    with torch.no_grad():
        for node in nodes:
            if node.op == "get_attr":
                values[node] = _fetch(gm, node.target)
                continue
            args = list(node.args)
            if node.target in _META_ONLY:
                args[0] = _stand_in(node.args[0])
            args = torch.fx.node.map_arg(tuple(args), lambda n: values[n])
            kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: values[n])
            values[node] = node.target(*args, **kwargs)
    fresh: set[Node] = set()
    for n in nodes:
        if n.target in _FACTORIES or any(p in fresh for p in _inputs(n)):
            fresh.add(n)
    # only what a factory produced becomes a constant; weights and values read from them stay as they are
    frontier = [n for n in nodes if n in fresh and any(u not in members for u in n.users)]
    if any(not isinstance(values[n], torch.Tensor) for n in frontier) or \
            sum(values[n].numel() for n in frontier) > MAX_ELEMENTS:
        return 0
    for n in frontier:
        replace_with_constant(gm, n, f"_folded_{n.name}", values[n].clone(memory_format=torch.contiguous_format))
    for n in reversed(nodes):  # in-place ops have no users but are not dead code: erase them explicitly
        if n.op != "get_attr" and not n.users:
            gm.graph.erase_node(n)
    return len(frontier)
