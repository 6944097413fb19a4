"""Graph surgery: cut partitions out into submodules and stitch the top-level graph back."""
from __future__ import annotations

import copy
import heapq
from typing import Sequence

import torch
from torch.fx import Graph, GraphModule, Node

from ..errors import PartitioningError


def _fetch_attr(gm: torch.nn.Module, target: str):
    obj = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def io_of(nodes: Sequence[Node]) -> tuple[list[Node], list[Node]]:
    """``(inputs, outputs)``: external non-constant producers read by ``nodes`` (first-use
    order) and member nodes read outside (graph order)."""
    members = set(nodes)
    inputs: list[Node] = []
    seen: set[Node] = set()
    outputs: list[Node] = []
    for n in nodes:
        for p in n.all_input_nodes:
            if p not in members and p not in seen and p.op != "get_attr":
                seen.add(p)
                inputs.append(p)
        if any(u not in members for u in n.users):
            outputs.append(n)
    return inputs, outputs


def extract(gm: GraphModule, nodes: Sequence[Node], name: str) -> tuple[GraphModule, list[Node], list[Node]]:
    """A GraphModule computing ``nodes``; weights are shared with ``gm``, never copied."""
    inputs, outputs = io_of(nodes)
    graph = Graph()
    env: dict[Node, Node] = {}
    root = torch.nn.Module()
    for p in inputs:
        ph = graph.placeholder(p.name)
        ph.meta = dict(p.meta)
        env[p] = ph
    members = set(nodes)
    for n in nodes:
        for p in n.all_input_nodes:
            if p.op == "get_attr" and p not in env:
                attr = p.target.replace(".", "_")
                setattr(root, attr, _fetch_attr(gm, p.target))
                ga = graph.get_attr(attr)
                ga.meta = dict(p.meta)
                env[p] = ga
        env[n] = graph.node_copy(n, lambda x: env[x])
    out = tuple(env[o] for o in outputs)
    graph.output(out[0] if len(out) == 1 else out)
    del members
    return GraphModule(root, graph, class_name=name), inputs, outputs


def stitch(gm: GraphModule, groups: Sequence[Sequence[Node]], modules: Sequence[torch.nn.Module],
           names: Sequence[str]) -> GraphModule:
    """A new GraphModule where each group of nodes is replaced by a call to its module.

    Units (groups, and every other node) are emitted in a topological order of
    the contracted graph, preferring original order, so partitions must be
    convex (the partitioners guarantee it).
    """
    owner: dict[Node, int] = {}
    for gi, group in enumerate(groups):
        for n in group:
            owner[n] = gi
    order = {n: i for i, n in enumerate(gm.graph.nodes)}
    unit_of = lambda n: ("g", owner[n]) if n in owner else ("n", n)  # noqa: E731
    units: dict[object, list[Node]] = {}
    for n in gm.graph.nodes:
        units.setdefault(unit_of(n), []).append(n)
    preds: dict[object, set] = {u: set() for u in units}
    succs: dict[object, set] = {u: set() for u in units}
    for u, members in units.items():
        for n in members:
            for p in n.all_input_nodes:
                pu = unit_of(p)
                if pu != u:
                    preds[u].add(pu)
                    succs[pu].add(u)
    first = {u: min(order[n] for n in members) for u, members in units.items()}
    indeg = {u: len(preds[u]) for u in units}
    heap = [(first[u], i, u) for i, u in enumerate(units) if indeg[u] == 0]
    uid = {u: i for i, u in enumerate(units)}
    heapq.heapify(heap)
    new = Graph()
    # keep torch.export's pytree calling convention (a single output stays a single tensor)
    new._codegen = copy.deepcopy(gm.graph._codegen)
    env: dict[Node, Node] = {}
    emitted = 0
    while heap:
        _, _, u = heapq.heappop(heap)
        emitted += 1
        if u[0] == "n":
            n = u[1]
            # A weight read only inside engines is never copied: an erased node would still be held
            # (with its meta) by the new graph's namespace, and with it the weight.
            if not (n.op == "get_attr" and n.users and all(x in owner for x in n.users)):
                env[n] = new.node_copy(n, lambda x: env[x])
        else:
            gi = u[1]
            inputs, outputs = io_of(groups[gi])
            call = new.call_module(names[gi], tuple(env[p] for p in inputs))
            if len(outputs) == 1:
                env[outputs[0]] = call
                call.meta = dict(outputs[0].meta)
            else:
                for k, o in enumerate(outputs):
                    item = new.call_function(__import__("operator").getitem, (call, k))
                    item.meta = dict(o.meta)
                    env[o] = item
        for s in succs[u]:
            indeg[s] -= 1
            if indeg[s] == 0:
                heapq.heappush(heap, (first[s], uid[s], s))
    if emitted != len(units):
        raise PartitioningError("partitions are not convex: the contracted graph has a cycle (a partitioner bug)")
    # Only what the new graph references is kept: weights folded into engines are released.
    new.eliminate_dead_code(is_impure_node=lambda n: n.op not in ("call_module", "get_attr") and n.is_impure())
    parts = dict(zip(names, modules))
    root: dict[str, object] = {}
    for n in new.nodes:
        if n.op in ("get_attr", "call_module") and n.target not in root:
            root[n.target] = parts[n.target] if n.target in parts else _fetch_attr(gm, n.target)
    out = GraphModule(root, new, class_name=gm.__class__.__name__)
    for attr in ("_in_spec", "_out_spec"):
        if hasattr(gm, attr):
            setattr(out, attr, getattr(gm, attr))
    out.recompile()
    return out
