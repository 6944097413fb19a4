"""Lowering: torch.export, decompositions that keep ops packs convert, core and pack passes."""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
from torch.fx import GraphModule

from ..plugins.converters import qualified_op_name
from ..plugins.manager import PackManager
from ..settings import CompileSettings, Input
from . import aliasing, factories, passes
from .aliasing import written_inputs
from .canonicalize import can_rewrite, canonicalize
from .export import WRAPPED, ExportError, apply_precision, export
from .folding import FoldResult

#: ``gm.meta`` key of a refittable compile's weight tracker (lowering -> conversion)
REFIT_TRACKER = "trtforge_refit_tracker"

__all__ = ["ExportError", "Lowered", "capture", "decomposition_table", "lower_exported", "lower_graph"]


@dataclass
class Lowered:
    gm: GraphModule
    decompositions: list[str] = field(default_factory=list)
    passes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    #: what constant folding did and left (``FoldResult.to_dict``)
    folding: dict[str, Any] = field(default_factory=dict)


@functools.cache
def _core_decompositions() -> dict[Any, Any]:
    # materializing torch's table costs ~0.15 s; it is the same for every compile
    return dict(torch.export.default_decompositions().items())


def decomposition_table(manager: PackManager) -> dict[Any, Any]:
    """Core ATen decompositions, minus every op some pack converts, plus pack decompositions."""
    table = dict(_core_decompositions())
    converted = set(manager.registry.targets())
    for op, fn in manager.decompositions().items():
        table[op] = fn
    for op in list(table):
        if op in converted:
            del table[op]
    return table


def _ops_in(gm: GraphModule) -> set[Any]:
    return {n.target for n in gm.graph.nodes if n.op == "call_function"}


def lower_graph(gm: GraphModule, settings: CompileSettings, manager: PackManager) -> tuple[GraphModule, list[str]]:
    """Run the core passes, then each pack's passes; returns the graph (recompiled once, at
    the end) and the names of the passes that ran."""
    ran = []
    for name, fn in passes.CORE_PASSES:
        out = fn(gm)
        if isinstance(out, FoldResult):
            gm.meta["trtforge_folding"] = out.to_dict()
            name = out.summary()
        ran.append(name)
    for pack, fn in manager.lowering_passes():
        out = fn(gm, settings)
        if isinstance(out, GraphModule):
            gm = out
        ran.append(f"{pack}:{getattr(fn, '__name__', 'pass')}")
    gm.graph.lint()
    gm.recompile()
    return gm, ran


def capture(
    model: torch.nn.Module,
    specs: Sequence[Input],
    examples: Sequence[torch.Tensor | None],
    settings: CompileSettings,
    keywords: Sequence[str] = (),
) -> torch.export.ExportedProgram:
    """torch.export of the model at the requested precision (before decompositions); the last
    ``len(keywords)`` inputs are passed by those keywords."""
    floating = [s.dtype for s in specs if s.dtype.is_floating_point]
    io_dtype = floating[0] if floating else torch.float32
    from .._eval import eval_mode

    with eval_mode(model):  # an engine is an inference program; the caller's model is left as it was
        return export(apply_precision(model, settings.precision, io_dtype), specs, examples, keywords)


def lower_exported(ep: torch.export.ExportedProgram, settings: CompileSettings, manager: PackManager) -> Lowered:
    """Decompositions, then core and pack passes.

    ``run_decompositions`` re-traces the whole program (seconds for a large
    model) even when nothing needs decomposing. When every op of the exported
    graph is converted as it stands (in-place variants aside, which are made
    functional here when that is provably safe), the re-trace is skipped.
    """
    t1 = time.perf_counter()
    table = decomposition_table(manager)
    before = _ops_in(ep.graph_module)
    gm = _without_retrace(ep, table, set(manager.registry.targets()))
    if gm is not None:
        fired: list[str] = []
        ran = ["decompositions skipped: every op is converted as exported"]
    else:
        ep = ep.run_decompositions(table)
        fired = sorted(qualified_op_name(op) for op in before if op in table)
        gm = ep.module()
        ran = []
    if settings.refittable:
        from ..refit.tracker import seed_from_module

        tracker = seed_from_module(gm, strip_prefix=WRAPPED + "." if settings.precision != torch.float32 else "")
        with tracker:  # passes that compute weights (folding) are recorded too
            gm, more = lower_graph(gm, settings, manager)
        gm.meta[REFIT_TRACKER] = tracker
    else:
        gm, more = lower_graph(gm, settings, manager)
    return Lowered(gm, fired, ran + more, {"lowering": time.perf_counter() - t1},
                   folding=gm.meta.get("trtforge_folding", {}))


def _functional_variant(op: Any) -> Any:
    """``aten.relu_.default`` -> ``aten.relu.default`` (None if ``op`` is not an in-place variant)."""
    packet = getattr(op, "_overloadpacket", None)
    name = getattr(packet, "__name__", "")
    if not name.endswith("_") or name.startswith("_"):
        return None
    functional = getattr(torch.ops.aten, name[:-1], None)
    return getattr(functional, op._overloadname, None) if functional is not None else None


def _without_retrace(ep: torch.export.ExportedProgram, table: dict, converted: set) -> GraphModule | None:
    """The exported program as a GraphModule, if it needs no decomposition at all; else None."""
    sig = ep.graph_signature
    if getattr(sig, "buffers_to_mutate", None) or getattr(sig, "user_inputs_to_mutate", None):
        return None
    swaps: dict[str, Any] = {}

    def blocks(node: torch.fx.Node) -> bool:
        """Whether ``node`` needs the re-trace (recording in-place ops that can be made functional)."""
        if node.op != "call_function" or not isinstance(node.target, torch._ops.OpOverload):
            return False
        op = node.target
        if op in converted or passes.is_noop(node):
            return False
        functional = _functional_variant(op)
        if functional is not None and functional in converted and _safe_to_functionalize(node, swaps):
            swaps[node.name] = functional
            return False
        if can_rewrite(node, converted):
            return False
        # CompositeImplicitAutograd ops (flatten, chunk, narrow, expand_as, ...) are not keys of
        # the table, yet run_decompositions decomposes them: they need the re-trace too
        return bool(op in table or op._schema.is_mutable or torch._C._dispatch_has_kernel_for_dispatch_key(
            op.name(), "CompositeImplicitAutograd"))

    constant = set(sig.inputs_to_parameters) | set(sig.inputs_to_buffers) | set(sig.inputs_to_lifted_tensor_constants)
    folded = {n.name for n in factories.cluster(ep.graph, lambda n: n.op == "placeholder" and n.name in constant,
                                                blocks) if n.op == "call_function"}
    swaps.clear()  # recorded again below, for the nodes that stay
    if any(blocks(node) for node in ep.graph.nodes if node.name not in folded):
        return None
    gm = ep.module()
    if folded:  # the same cluster, found again where constants are attributes, evaluated
        nodes = factories.cluster(gm.graph, lambda n: n.op == "get_attr", lambda n: True)
        if {n.name for n in nodes if n.op == "call_function"} != folded or not factories.fold(gm, nodes):
            return None
    for node in gm.graph.nodes:
        if node.name in swaps:
            node.target = swaps[node.name]
    canonicalize(gm.graph, converted)
    return gm  # lower_graph lints and recompiles after the passes


def _safe_to_functionalize(node: torch.fx.Node, swapped: Any = ()) -> bool:
    """``y = x.op_()`` may become ``y = op(x)`` if nothing reads ``x`` after it (only ``y``), and
    ``x`` shares memory with nothing: a write to a view also writes its base (``y[:, 0].copy_(z)``),
    and a view taken of ``x`` before the write would see it. ``swapped``: the in-place nodes
    before it already made functional (``x.sigmoid_().add_(1)`` is a chain of fresh values)."""
    if not node.args or not isinstance(node.args[0], torch.fx.Node) or written_inputs(node) != [node.args[0]]:
        return False
    chain = [node.args[0]]
    while chain[-1].name in swapped and isinstance(chain[-1].args[0], torch.fx.Node):
        chain.append(chain[-1].args[0])
    base = chain[-1]
    if base.op == "placeholder" or aliasing.root(base) is not base:
        return False
    order = {n: i for i, n in enumerate(node.graph.nodes)}
    for value in chain:
        for user in value.users:
            if user is node or user in chain:
                continue
            if order[user] > order[node] or value in aliasing.aliased_inputs(user):
                return False
    return True
