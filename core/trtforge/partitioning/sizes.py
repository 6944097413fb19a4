"""Symbolic sizes stay next to the ops that read them.

With dynamic shapes an exported graph computes sizes once (``sym_size``, SymInt arithmetic) and
many ops read them (``reshape``, ``expand``, ``arange``...). Engines exchange tensors only, so an op
reading a size computed in another segment used to be pushed back to PyTorch, and the pieces left
behind fell under ``min_block_size``: one unconverted op cost most of a model.

:func:`localize_sizes` gives every op that reads a size its own copy of the size computation,
placed right before it, and reads each size from a tensor the op already reads where one has that
size (else from the tensor the original read). The copy then lands in the op's own segment and is
recomputed there from the engine's inputs; no size ever crosses an engine boundary.
"""
from __future__ import annotations

import operator
from typing import Any

import torch
from torch.fx import Graph, Node
from torch.fx.node import map_arg

#: targets of size arithmetic: their values are SymInts computed from tensor shapes
SIZE_TARGETS = frozenset({
    torch.ops.aten.sym_size.int, operator.add, operator.sub, operator.mul, operator.floordiv,
    operator.mod, operator.neg, torch.sym_max, torch.sym_min,
})


def is_size_node(n: Any) -> bool:
    """A SymInt computed from tensor shapes (not a constant: torch specializes those to ints)."""
    return (isinstance(n, Node) and n.op == "call_function" and n.target in SIZE_TARGETS
            and isinstance(n.meta.get("val"), torch.SymInt))


def localize_sizes(graph: Graph) -> int:
    """Copy size computations to each reader (see the module docstring); returns the copies made."""
    readers = [n for n in graph.nodes if n.op == "call_function" and not is_size_node(n)
               and any(is_size_node(p) for p in n.all_input_nodes)]
    copies = 0
    for n in readers:
        memo: dict[Node, Node] = {}
        with graph.inserting_before(n):
            for p in n.all_input_nodes:
                if is_size_node(p):
                    _copy(graph, p, n, memo)
        n.args = map_arg(n.args, lambda a: memo.get(a, a))
        n.kwargs = map_arg(n.kwargs, lambda a: memo.get(a, a))
        copies += len(memo)
    for n in reversed(list(graph.nodes)):
        if is_size_node(n) and not n.users:
            graph.erase_node(n)
    return copies


def _copy(graph: Graph, size: Node, reader: Node, memo: dict[Node, Node]) -> Node:
    if size in memo:
        return memo[size]
    if size.target is torch.ops.aten.sym_size.int:
        source = _tensor_with_size(reader, size.meta["val"]) or (size.args[0], size.args[1])
        new = graph.call_function(size.target, source)
    else:
        new = graph.call_function(size.target, map_arg(size.args, lambda a: _copy(graph, a, reader, memo)
                                                       if is_size_node(a) else a), dict(size.kwargs))
    new.meta = dict(size.meta)
    memo[size] = new
    return new


def _tensor_with_size(reader: Node, size: torch.SymInt) -> tuple[Node, int] | None:
    """``(tensor, dim)`` among the reader's own tensor inputs whose dimension has this size."""
    expr = size.node.expr
    for p in reader.all_input_nodes:
        val = p.meta.get("val")
        if isinstance(val, torch.Tensor):
            for d, s in enumerate(val.shape):
                if isinstance(s, torch.SymInt) and s.node.expr == expr:
                    return p, d
    return None
