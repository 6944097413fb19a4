"""What a compile writes down: the report's entries (engines, nodes left to PyTorch and why) and
each engine's metadata record.

Pure bookkeeping, kept out of :mod:`trtforge.pipeline` so that the stage functions there read
as the steps they are; nothing here converts, builds or runs anything.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch.fx import Node

from .conversion.interpreter import Network
from .errors import BuildError
from .partitioning.partitioner import PartitionResult
from .plugins.converters import qualified_op_name
from .plugins.manager import PackManager
from .plugins.registry import Reason, Selection
from .report import CompileReport, EngineReport, FallbackEntry
from .runtime.metadata import EngineMetadata, TensorSpec, symbolic_shape_exprs
from .runtime.program import is_compute

__all__ = ["engine_metadata", "engine_report", "note_unloaded_packs", "record_failed_partition", "record_fallback"]


def engine_report(name: str, nodes: Sequence[Node], status: str) -> EngineReport:
    """The report entry of one partition: its compute nodes and their ops."""
    compute = [n for n in nodes if is_compute(n)]
    ops = sorted({qualified_op_name(n.target) for n in compute})
    return EngineReport(name=name, nodes=len(compute), ops=ops, status=status)


def note_unloaded_packs(report: CompileReport, manager: PackManager) -> None:
    """Nodes left to PyTorch for want of a converter that an installed but disabled (or failed)
    pack has: say so on each, and once per pack in the warnings."""
    from .plugins.registry import unloaded_pack_note

    counts: dict[str, list[str]] = {}
    for f in report.fallback:
        if f.category == Reason.NO_CONVERTER.value:
            note = unloaded_pack_note(f.op, manager.records)
            if note:
                f.reason += f"; {note}"
                counts.setdefault(note, []).append(f.op)
    for note, ops in counts.items():
        report.warnings.append(f"{note[0].upper()}{note[1:]}; {len(ops)} node(s) stay in PyTorch for want of it "
                               f"({', '.join(sorted(set(ops)))}); enable it to convert them")


def record_fallback(report: CompileReport, part: PartitionResult) -> None:
    """One report entry per compute node the partitioner left to PyTorch, with its reasons."""
    for node, rejections in part.fallback.items():
        if not is_compute(node):
            continue
        primary = Selection(None, list(rejections)).primary
        report.fallback.append(
            FallbackEntry(
                node=node.name,
                op=qualified_op_name(node.target),
                reason="; ".join(str(r) for r in rejections) or primary.reason.value,
                category=primary.reason.value,
                hint=primary.hint,
            )
        )


def record_failed_partition(report: CompileReport, p: Any, exc: Exception) -> None:
    """With ``fallback_on_error``: every node of a partition that failed to convert or build stays in PyTorch."""
    reason = Reason.BUILD_FAILED if isinstance(exc, BuildError) else Reason.CONVERTER_FAILED
    for n in p.compute_nodes():
        report.fallback.append(FallbackEntry(n.name, qualified_op_name(n.target), f"{reason.value}: {exc}", reason.value))


def engine_metadata(net: Network, nodes: Sequence[Node], ins: Sequence[Node], outs: Sequence[Node],
                    engine: torch.Tensor | None) -> EngineMetadata:
    """The metadata record of the engine built from ``net`` (what the runtime needs to run it)."""
    def dt(d: torch.dtype) -> str:
        return str(d).replace("torch.", "")

    inputs = [
        TensorSpec(name, dt(d), [mn if mn == mx else -1 for mn, mx in zip(prof[0], prof[2])], [list(s) for s in prof],
                   profiles=[[list(s) for s in ps[i]] for ps in net.profile_sets] or None)
        for i, (name, d, prof) in enumerate(zip(net.input_names, net.input_dtypes, net.profiles))
    ]
    shape = lambda n: tuple(getattr(n.meta.get("val"), "shape", ()))  # noqa: E731
    exprs = symbolic_shape_exprs([shape(n) for n in ins], [shape(n) for n in outs])
    outputs = [
        TensorSpec(n, dt(d), list(s), shape_expr=e if any(x is not None for x in e) else None)
        for n, d, s, e in zip(net.output_names, net.output_dtypes, net.output_shapes, exprs)
    ]
    return EngineMetadata(
        name=net.name,
        backend=net.backend.name,
        backend_version=net.backend.version,
        inputs=inputs,
        outputs=outputs,
        requires_output_allocator=net.requires_output_allocator,
        source_nodes=[n.name for n in nodes if is_compute(n)],
        engine_bytes=engine.numel() if engine is not None else 0,
    )
