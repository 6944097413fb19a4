"""``keep_fp32="auto"``: find the few nodes that must compute in float32.

Each round converts the graph's partitions to networks, executes them with the reference
executor and compares every node's value with the float32 reference (:mod:`.reference`).
Where an output is beyond tolerance, the nodes where the error *appears* (a node beyond its
tolerance whose inputs are all within theirs) are kept in float32, with what they need:

- a node whose float32 value is beyond the reduced format's range also keeps its readers
  (reading it back in float16 would overflow again);
- a cast back to the reduced precision that loses the value keeps its readers;
- a node already in float32 that still diverges (its float16 inputs are too coarse, e.g. a
  softmax of large logits) keeps its producers.

The search stops when every network output is within tolerance, or when a round finds
nothing more to keep (validation then fails with the usual trace).
"""
from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import torch
from torch.fx import GraphModule, Node

from ..plugins.converters import qualified_op_name
from ..report import KeptNode
from ..validation.float32 import record
from ..validation.tolerance import tolerance
from ..validation.validate import ValidationError, errors, run_reference
from .mixed import is_cast, keep_in_fp32
from .select import eligible, module_path

#: at most this many rounds (each keeps at least one more node)
MAX_ROUNDS = 16

#: ``gm -> [(network, input nodes, output nodes)]``: the partitions of ``gm`` as networks
Converter = Callable[[GraphModule], Sequence[tuple[Any, Sequence[Node], Sequence[Node]]]]


@dataclass
class _Round:
    err: dict[str, float]
    tol: dict[str, float]
    failing: list[Node]


def search(gm: GraphModule, sets: Sequence[Sequence[torch.Tensor]], precision: torch.dtype,
           fp32_weights: Mapping[str, torch.Tensor], convert: Converter, rtol: float | None = None) -> list[KeptNode]:
    """Keep nodes of ``gm`` in float32 (in place) until its networks validate; returns them."""
    shadow = [record(gm, s, float32_of=precision, fp32_weights=fp32_weights) for s in sets]
    kept: list[KeptNode] = []
    for _ in range(MAX_ROUNDS):
        r = _measure(gm, sets, shadow, precision, convert, rtol)
        if not r.failing:
            break
        chosen = _choose(gm, r, shadow, precision)
        if not chosen:
            break
        keep_in_fp32(gm, list(chosen), precision, fp32_weights)
        kept.extend(chosen.values())
    return kept


def _ref(node: Node) -> str:
    """The name of the node whose float32 reference value ``node`` stands for (casts: their source)."""
    while is_cast(node):
        node = node.args[0]  # type: ignore[assignment]
    return node.name


def _measure(gm: GraphModule, sets: Sequence[Sequence[torch.Tensor]], shadow: list[dict[str, Any]],
             precision: torch.dtype, convert: Converter, rtol: float | None) -> _Round:
    """Every node's error (TensorRT's where a network computes it, PyTorch's elsewhere) and tolerance."""
    nets = convert(gm)
    err: dict[str, float] = {}
    tol: dict[str, float] = {}
    for s, ref in zip(sets, shadow):
        torch_vals = record(gm, s)
        got = dict(torch_vals)
        for net, ins, _ in nets:
            trt_vals = run_reference(net, [torch_vals[i.name] for i in ins], keep=True)
            for name, tensors in net.node_tensors.items():
                vals = [trt_vals[t.name] for t in tensors if t.name in trt_vals]
                if vals:
                    got[name] = vals[0] if len(vals) == 1 else vals
        for n in gm.graph.nodes:
            if n.name not in got or _ref(n) not in ref or n.op in ("placeholder", "output"):
                continue
            e_torch = _rel(torch_vals[n.name], ref[_ref(n)])
            if e_torch is None:
                continue
            tol[n.name] = min(tol.get(n.name, float("inf")), tolerance(precision, e_torch, rtol))
            err[n.name] = max(err.get(n.name, 0.0), _rel(got[n.name], ref[_ref(n)]) or 0.0)
    failing = [o for _, _, outs in nets for o in outs if err.get(o.name, 0.0) > tol.get(o.name, float("inf"))]
    return _Round(err, tol, failing)


def _rel(value: Any, ref: Any) -> float | None:
    """Largest relative error over the floating tensors of ``value`` (None: nothing to compare)."""
    vals = value if isinstance(value, (list, tuple)) else [value]
    refs = ref if isinstance(ref, (list, tuple)) else [ref]
    worst = None
    for v, r in zip(vals, refs):
        if isinstance(v, torch.Tensor) and isinstance(r, torch.Tensor) and r.is_floating_point():
            try:
                rel = errors(v, r)[1]
            except ValidationError:
                rel = float("inf")
            worst = rel if worst is None else max(worst, rel)
    return worst


def _choose(gm: GraphModule, r: _Round, shadow: list[dict[str, Any]], precision: torch.dtype) -> dict[Node, KeptNode]:
    """The nodes to keep this round: where the error appears, and what they need."""
    bad = lambda n: r.err.get(n.name, 0.0) > r.tol.get(n.name, float("inf"))  # noqa: E731
    ancestors = _ancestors(r.failing)
    origins = [n for n in gm.graph.nodes if n in ancestors and n.op == "call_function" and bad(n)
               and not any(bad(p) for p in n.all_input_nodes)]
    if not origins:  # error accumulated over many nodes: the one that grows it most
        growth = lambda n: r.err.get(n.name, 0.0) / max([r.err.get(p.name, 0.0) for p in n.all_input_nodes] + [1e-12])  # noqa: E731
        free = [n for n in ancestors if n.op == "call_function" and not n.meta.get("trtforge_fp32") and not is_cast(n)
                and eligible(n, precision)]
        origins = sorted(free, key=growth)[-1:]
    chosen: dict[Node, KeptNode] = {}
    limit = torch.finfo(precision).max
    for n in origins:
        n = n.args[0] if n.target is operator.getitem else n  # type: ignore[assignment]
        what = f"rel_err {r.err.get(n.name, float('nan')):.2e} > tolerance {r.tol.get(n.name, float('nan')):.2e}"
        if is_cast(n, "down"):
            src = n.args[0]
            for u in n.users:
                _add(chosen, u, precision, f"reads {src.name} in float32: cast back to "
                     f"{_dt(precision)} it has {what}", r)
        elif not n.meta.get("trtforge_fp32"):
            _add(chosen, n, precision, f"at {_dt(precision)}: {what}", r)
            _add_readers_of_overflow(chosen, n, shadow, limit, precision, r)
        else:
            for p in n.all_input_nodes:
                p = p.args[0] if is_cast(p, "up") else p
                if p.op == "call_function":
                    _add(chosen, p, precision, f"feeds {n.name}, which at float32 still has {what} "
                         f"from {_dt(precision)} inputs", r)
    for n in gm.graph.nodes:  # the same overflow further on: found now, not one round each
        peak = _peak_of(n, shadow)
        if n in ancestors and n.op == "call_function" and peak > limit and not is_cast(n) and n not in chosen:
            _add(chosen, n, precision, f"its float32 value ({peak:.3g}) is beyond {_dt(precision)}'s range", r)
            _add_readers_of_overflow(chosen, n, shadow, limit, precision, r)
    return chosen


def _add_readers_of_overflow(chosen: dict[Node, KeptNode], n: Node, shadow: list[dict[str, Any]], limit: float,
                             precision: torch.dtype, r: _Round) -> None:
    """Readers of a value beyond the reduced format's range compute in float32 too (recursively)."""
    peak = _peak_of(n, shadow)
    if peak <= limit:
        return
    for u in n.users:
        if u.op == "call_function" and u not in chosen:
            _add(chosen, u, precision, f"reads {n.name}, whose float32 value ({peak:.3g}) is beyond "
                 f"{_dt(precision)}'s range", r)
            _add_readers_of_overflow(chosen, u, shadow, limit, precision, r)


def _add(chosen: dict[Node, KeptNode], n: Node, precision: torch.dtype, reason: str, r: _Round) -> None:
    if n in chosen or n.meta.get("trtforge_fp32") or is_cast(n) or not eligible(n, precision):
        return
    chosen[n] = KeptNode(n.name, qualified_op_name(n.target), module_path(n), reason,
                     r.err.get(n.name), r.tol.get(n.name))


def _peak_of(n: Node, shadow: list[dict[str, Any]]) -> float:
    """The largest magnitude of ``n``'s float32 reference value over the input sets."""
    return max((_peak(s.get(n.name)) for s in shadow), default=0.0)


def _peak(value: Any) -> float:
    vals = value if isinstance(value, (list, tuple)) else [value]
    return max((v.detach().abs().max().item() for v in vals
                if isinstance(v, torch.Tensor) and v.is_floating_point() and v.numel()), default=0.0)


def _ancestors(nodes: Sequence[Node]) -> set[Node]:
    seen: set[Node] = set()
    stack = list(nodes)
    while stack:
        n = stack.pop()
        if n not in seen:
            seen.add(n)
            stack.extend(n.all_input_nodes)
    return seen


def _dt(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")
