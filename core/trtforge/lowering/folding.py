"""Constant folding: what depends only on weights, buffers and constants becomes one constant.

Before partitioning, every subgraph whose inputs are all parameters, buffers or
constants (factories such as ``zeros``/``arange`` included) is evaluated once with
PyTorch and replaced by a buffer: torchvision's swin_t builds its shifted-window
attention masks from ``zeros`` and in-place slice assignments (260+ nodes once
functionalized), timm's NFNet standardises its conv weights with a batch-norm call;
both become constants, so neither costs layers nor falls back.

Rules (the report's ``folding`` entry says what each one left unfolded):

* random and mutating ops are never folded (``nondeterministic_seeded``, mutable schemas);
* no copy of a weight: a value that *is* an existing weight (an alias or detach)
  reuses its attribute, and views are registered as views, not copied;
* a size cap: a constant larger than the weights it is computed from (a broadcast,
  a factory) is folded only up to :data:`GROWTH_LIMIT_BYTES`; above it the subgraph
  stays in the graph (TensorRT computes it from the smaller inputs), and an
  ``expand`` of a constant and a plain fill (``zeros``, ``full``) always stay (a stride-0
  slice or a fill layer costs no memory);
* a float value computed from int8/float8 weights (a dequantization) always stays: folded,
  the engine would hold float weights, and TensorRT runs a layer in INT8/FP8 only when its
  weights reach it quantized (through a dequantize layer).
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.fx import GraphModule, Node

aten = torch.ops.aten

#: most bytes a folded constant may add beyond the weights it is computed from
GROWTH_LIMIT_BYTES = 4 << 20
#: ops that only broadcast: a constant made by one of them stays symbolic (its input is folded)
#: plain factories: a fill layer costs no memory in the engine, a folded constant would
_FACTORIES = {aten.arange.default, aten.arange.start, aten.arange.start_step, aten.full.default, aten.zeros.default, aten.ones.default, aten.empty.memory_format,
          aten.empty_permuted.default, aten.scalar_tensor.default, aten.new_full.default, aten.new_zeros.default,
          aten.new_ones.default, aten.new_empty.default, aten.full_like.default, aten.zeros_like.default,
          aten.ones_like.default, aten.empty_like.default}
#: weight types a dequantization starts from
_QUANTIZED = (torch.int8, torch.float8_e4m3fn, torch.float8_e5m2)
_BROADCASTS = {aten.expand.default, aten.expand_copy.default, aten.broadcast_to.default,
               torch.ops.prims.broadcast_in_dim.default}


@dataclass
class FoldResult:
    """What :func:`fold_constants` did: constants made, nodes they replaced, and what it left."""

    constants: int = 0
    nodes: int = 0
    bytes: int = 0
    not_folded: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        text = f"fold_constants: {self.nodes} node(s) -> {self.constants} constant(s), {self.bytes} bytes"
        return text + (f"; {len(self.not_folded)} left unfolded (see report.folding)" if self.not_folded else "")

    def to_dict(self) -> dict[str, Any]:
        return {"constants": self.constants, "nodes": self.nodes, "bytes": self.bytes,
                "growth_limit_bytes": GROWTH_LIMIT_BYTES, "not_folded": list(self.not_folded)}


def _foldable_op(node: Node) -> bool:
    if node.op != "call_function":
        return False
    target = node.target
    if isinstance(target, torch._ops.OpOverload):
        return torch.Tag.nondeterministic_seeded not in target.tags and not target._schema.is_mutable
    return target is operator.getitem


def _constant_nodes(gm: GraphModule) -> tuple[set[Node], dict[Node, torch.Tensor]]:
    """Nodes computed only from constants (structural, no evaluation), and the weights read."""
    weights: dict[Node, torch.Tensor] = {}
    const: set[Node] = set()
    for node in gm.graph.nodes:
        if node.op == "get_attr":
            v = _fetch(gm, node.target)
            if isinstance(v, torch.Tensor):
                weights[node] = v
        elif _foldable_op(node) and all(p in weights or p in const for p in node.all_input_nodes):
            const.add(node)
    return const, weights


def _evaluate(const: set[Node], weights: dict[Node, torch.Tensor], order: list[Node]) -> tuple[dict, list]:
    """Values of the constant nodes (in graph order); a node whose evaluation fails stays."""
    values: dict[Node, Any] = dict(weights)
    failed = []
    with torch.no_grad():
        for node in order:
            if node not in const:
                continue
            if any(p not in values for p in node.all_input_nodes):
                continue  # an input failed
            args = torch.fx.node.map_arg(node.args, lambda n: values[n])
            kwargs = torch.fx.node.map_arg(node.kwargs, lambda n: values[n])
            try:
                values[node] = node.target(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - an op that cannot run eagerly stays in the graph
                failed.append({"node": node.name, "op": str(node.target), "reason": f"evaluation failed: {exc}"[:200]})
    return values, failed


def _source_bytes(node: Node, weights: dict[Node, torch.Tensor], memo: dict[Node, frozenset]) -> int:
    return sum(weights[w].nbytes for w in _sources(node, weights, memo))


def _sources(node: Node, weights: dict, memo: dict) -> frozenset:
    """The weights a constant node is computed from."""
    if node in memo:
        return memo[node]
    stack, seen, found = [node], set(), set()
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if n in weights:
            found.add(n)
        elif n in memo:
            found |= memo[n]
        else:
            stack.extend(n.all_input_nodes)
    memo[node] = frozenset(found)
    return memo[node]


def fold_constants(gm: GraphModule) -> FoldResult:
    """Replace every maximal constant subgraph by one buffer (see the module docstring for the rules)."""
    result = FoldResult()
    const, weights = _constant_nodes(gm)
    if not const:
        return result
    order = list(gm.graph.nodes)
    values, failed = _evaluate(const, weights, order)
    result.not_folded.extend(failed)
    const = {n for n in const if n in values}
    memo: dict[Node, frozenset] = {}
    quantized: dict[Node, bool] = {}
    frontier = [n for n in order if n in const and any(u not in const for u in n.users)]
    attrs = {_identity(t): n for n, t in weights.items()}
    done: set[Node] = set()
    while frontier:
        node = frontier.pop(0)
        if node in done or node not in const:
            continue
        done.add(node)
        why = _refusal(node, values[node], _source_bytes(node, weights, memo)) or _dequantization(
            node, values, quantized)
        if why is None:
            _replace(gm, node, values[node], attrs, result)
            continue
        result.not_folded.append({"node": node.name, "op": str(node.target), "reason": why})
        frontier.extend(p for p in node.all_input_nodes if p in const)  # fold what feeds it instead
    before = len(gm.graph.nodes)
    gm.graph.eliminate_dead_code()
    result.nodes = max(before - len(gm.graph.nodes), 0)
    return result


def _refusal(node: Node, value: Any, source_bytes: int) -> str | None:
    if not isinstance(value, torch.Tensor):
        return f"its value is a {type(value).__name__}, not a tensor"
    growth = value.nbytes - source_bytes
    if node.target in _FACTORIES:
        return "a plain factory (fill, arange) stays a layer: folding it would only store it in the engine"
    if growth > 0 and node.target in _BROADCASTS:
        return "a broadcast of a constant stays symbolic (no memory in the engine)"
    if growth > GROWTH_LIMIT_BYTES:
        return (f"{value.nbytes} bytes from {source_bytes} bytes of weights: more than "
                f"trtforge.lowering.folding.GROWTH_LIMIT_BYTES ({GROWTH_LIMIT_BYTES}) of growth")
    return None


def _dequantization(node: Node, values: dict[Node, Any], memo: dict[Node, bool]) -> str | None:
    value = values[node]
    if not isinstance(value, torch.Tensor) or not value.is_floating_point() or value.dtype in _QUANTIZED:
        return None
    if _from_quantized(node, values, memo):
        return "a dequantization of int8/float8 weights stays: TensorRT needs the quantized weights for INT8/FP8 layers"
    return None


def _from_quantized(node: Node, values: dict[Node, Any], memo: dict[Node, bool]) -> bool:
    """Whether an int8/float8 value feeds this constant node (through other constant nodes)."""
    if node not in memo:
        memo[node] = False  # cycles cannot occur; this only stops re-entry
        value = values.get(node)
        memo[node] = (isinstance(value, torch.Tensor) and value.dtype in _QUANTIZED) or any(
            _from_quantized(p, values, memo) for p in node.all_input_nodes if p in values)
    return memo[node]


def _identity(t: torch.Tensor) -> tuple:
    """What makes two tensors the same data: storage, offset, shape, strides, dtype."""
    try:
        ptr = t.untyped_storage().data_ptr()
    except RuntimeError:  # a wrapper subclass (torchao's quantized weights) has no storage of its own
        return (id(t),)
    return (ptr, t.storage_offset(), tuple(t.shape), t.stride(), t.dtype)


def _replace(gm: GraphModule, node: Node, value: torch.Tensor, attrs: dict[tuple, Node], result: FoldResult) -> None:
    existing = attrs.get(_identity(value))
    if existing is not None:  # the value is a weight itself (alias, detach): no copy
        node.replace_all_uses_with(existing)
        return
    result.constants += 1
    result.bytes += value.nbytes
    replace_with_constant(gm, node, f"_folded_{node.name}", value)  # not detach(): keeps refit recipes


def replace_with_constant(gm: GraphModule, node: Node, name: str, value: torch.Tensor) -> Node:
    """Make ``value`` a (non-persistent) buffer of ``gm`` and read it where ``node`` was used."""
    gm.register_buffer(name, value, persistent=False)
    with gm.graph.inserting_before(node):
        const = gm.graph.get_attr(name)
    const.meta = dict(node.meta)
    node.replace_all_uses_with(const)
    return const


def _fetch(gm: torch.nn.Module, target: str) -> Any:
    obj: Any = gm
    for part in target.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj
