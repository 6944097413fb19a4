"""Which graph values share memory, and which of them something writes to in place.

The passes that avoid a re-trace (dropping copies, turning ``x.add_(1)`` into ``add(x, 1)``)
are exact only when no in-place op can observe the difference: a copy must stay when the copy or
its source is later written to (else the write reaches the caller's tensor, or the value the
copy was meant to keep), and an in-place op on a view also writes its base. Read from the ops'
schemas (``Tensor(a!)`` is written, ``Tensor(a)`` is aliased by the result), so it holds for any
op, not a list.
"""
from __future__ import annotations

import operator
from typing import Any

import torch
from torch.fx import Graph, Node


def _bound_args(node: Node) -> list[tuple[Any, Any]]:
    """(schema argument, value) for each argument of ``node`` given positionally or by keyword."""
    schema = node.target._schema
    out = []
    for i, arg in enumerate(schema.arguments):
        if i < len(node.args):
            out.append((arg, node.args[i]))
        elif arg.name in node.kwargs:
            out.append((arg, node.kwargs[arg.name]))
    return out


def _nodes(value: Any) -> list[Node]:
    if isinstance(value, Node):
        return [value]
    if isinstance(value, (list, tuple)):
        return [v for v in value if isinstance(v, Node)]
    return []


def aliased_inputs(node: Node) -> list[Node]:
    """The inputs ``node``'s result shares memory with (views, in-place results, getitem of a split)."""
    if node.op != "call_function":
        return []
    if node.target is operator.getitem:  # an element of split's list views split's input; of max's tuple, fresh
        src = node.args[0]
        return aliased_inputs(src) if isinstance(src, Node) else []
    if not isinstance(node.target, torch._ops.OpOverload):
        return []
    returned = [r.alias_info for r in node.target._schema.returns if r.alias_info is not None]
    if not returned:
        return []
    sets = set().union(*(a.before_set for a in returned))
    out = []
    for arg, value in _bound_args(node):
        info = arg.alias_info
        if info is not None and (not sets or info.before_set & sets):
            out.extend(_nodes(value))
    return out


def written_inputs(node: Node) -> list[Node]:
    """The inputs ``node`` writes to in place (``Tensor(a!)`` arguments: ``add_``, ``copy_``, ``out=``)."""
    if node.op != "call_function" or not isinstance(node.target, torch._ops.OpOverload):
        return []
    return [n for arg, value in _bound_args(node)
            if arg.alias_info is not None and arg.alias_info.is_write for n in _nodes(value)]


def root(node: Node) -> Node:
    """The value whose memory ``node`` views (``node`` itself for a fresh tensor)."""
    seen = set()
    while node not in seen:
        seen.add(node)
        up = aliased_inputs(node)
        if len(up) != 1:
            return node
        node = up[0]
    return node


def written_roots(graph: Graph) -> set[Node]:
    """The roots of every value some node of ``graph`` writes to in place."""
    return {root(w) for node in graph.nodes for w in written_inputs(node)}


def has_aliases(node: Node, besides: Node) -> bool:
    """Whether a node other than ``besides`` is a view of ``node`` (views of that view are too)."""
    return any(user is not besides and node in aliased_inputs(user) for user in node.users)
