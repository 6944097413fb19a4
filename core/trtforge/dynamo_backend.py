"""``torch.compile(model, backend="trtforge", options={...})``.

Registered through the ``torch_dynamo_backends`` entry point (torch finds it by
name without importing trtforge first). Dynamo hands over one FX graph per
graph-break-free region; each is exported to ATen and goes through the same
lowering, partitioning and conversion as ``trtforge.compile``. Each region's
report is kept: ``trtforge.dynamo_backend.reports()``, or the model's
``trtforge_reports`` when compiled through ``trtforge.compile(ir="torch_compile")``.
"""
from __future__ import annotations

import contextlib
import time
import warnings
from typing import Any, Callable, Iterator, Sequence

import torch

from .report import CompileReport
from .settings import CompileSettings, Input

_REPORTS: list[CompileReport] = []


def reports() -> list[CompileReport]:
    """Reports of every region compiled by the backend in this process, oldest first."""
    return list(_REPORTS)


@contextlib.contextmanager
def collect_reports() -> Iterator[list[CompileReport]]:
    """Collect the reports of regions compiled inside the ``with`` block."""
    start = len(_REPORTS)
    out: list[CompileReport] = []
    try:
        yield out
    finally:
        out.extend(_REPORTS[start:])


def _real(t: Any) -> Any:
    if isinstance(t, torch.Tensor):
        from torch._subclasses.fake_tensor import is_fake

        if is_fake(t):
            shape = tuple(int(d) for d in t.shape)
            return (torch.randn(shape) if t.is_floating_point() else torch.zeros(shape, dtype=t.dtype)).to(t.dtype)
    return t


def _is_weight(node: torch.fx.Node, value: Any) -> bool:
    """Dynamo passes a module's parameters and buffers as graph inputs; recognise them."""
    if isinstance(value, torch.nn.Parameter):
        return True
    source = getattr(node.meta.get("grapharg"), "source", None)
    name = getattr(source, "name", "") or ""
    name = name() if callable(name) else str(name)
    return "._parameters[" in name or "._buffers[" in name


def freeze_weights(gm: torch.fx.GraphModule, example_inputs: Sequence[Any]) -> tuple[torch.fx.GraphModule, list[int]]:
    """Turn parameter/buffer inputs into constants of ``gm`` (converters need weights, not
    run-time tensors). Returns the graph and the positions of the inputs that remain."""
    from .lowering.passes import replace_with_constant

    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    keep = []
    for i, (node, value) in enumerate(zip(placeholders, example_inputs)):
        if isinstance(value, torch.Tensor) and _is_weight(node, value):
            replace_with_constant(gm, node, f"_frozen_{i}", value.detach())
            gm.graph.erase_node(node)
        else:
            keep.append(i)
    gm.recompile()
    return gm, keep


def refuse_refit_through_dynamo(cfg: CompileSettings) -> None:
    """Refit maps engine weights to the model's parameter names, which torch.compile regions
    do not keep (they see ``L__self___fc_weight``): refuse before any work."""
    if cfg.refittable:
        from .compiler import CompilationError

        raise CompilationError(
            "immutable_weights=False is supported with trtforge.compile(ir='dynamo') only: torch.compile "
            "regions lose the model's parameter names that refit maps engine weights to"
        )


def trtforge_backend(gm: torch.fx.GraphModule, example_inputs: Sequence[Any], options: dict | None = None) -> Callable:
    """Dynamo backend: compile one captured region; on failure, run it eagerly and record why."""
    from .compiler import compile_graph, resolve_backends
    from .lowering import lower
    from .lowering.export import WRAPPED
    from .validation.float32 import fp32_weights
    from .plugins.manager import get_manager

    cfg = CompileSettings.from_kwargs(**(options or {}))
    refuse_refit_through_dynamo(cfg)
    report = CompileReport(model=f"torch.compile region {len(_REPORTS)}", precision=str(cfg.precision).replace("torch.", ""))
    _REPORTS.append(report)
    eager = gm.forward
    if any(isinstance(x, torch.SymInt) for x in example_inputs):
        report.passes.append("skipped: region has symbolic-size inputs; compile with dynamic=False")
        return eager
    gm, keep = freeze_weights(gm, list(example_inputs))
    examples = [_real(example_inputs[i]) for i in keep]
    tensors = [x for x in examples if isinstance(x, torch.Tensor)]
    if len(tensors) != len(examples):
        report.passes.append("skipped: region has non-tensor inputs")
        return eager
    specs = [Input.from_tensor(t) for t in tensors]
    manager = get_manager()
    t0 = time.perf_counter()
    try:
        with report.timed("setup"):
            report.backend, report.target_backend = resolve_backends(cfg)
            report.packs = [r.name for r in manager.loaded()]
        lowered = lower(gm, specs, tensors, cfg, manager)
        report.decompositions, report.passes = lowered.decompositions, lowered.passes
        report.timings_s.update(lowered.timings)
        weights = fp32_weights(gm, WRAPPED) if cfg.precision != torch.float32 else None
        result = compile_graph(lowered.gm, specs, tensors, cfg, manager, report, report.target_backend, weights,
                               region=True)
    except Exception as exc:
        if cfg.require_full_compilation:
            raise
        warnings.warn(f"trtforge: region left to PyTorch: {type(exc).__name__}: {exc}", stacklevel=2)
        report.passes.append(f"failed: {type(exc).__name__}: {exc}")
        return eager
    report.timings_s["total"] = time.perf_counter() - t0
    if cfg.dryrun:
        return eager
    compiled = result.forward

    def run(*args: Any) -> Any:
        return compiled(*[args[i] for i in keep])

    return run


def compile_with_torch_compile(model: torch.nn.Module, specs: Sequence[Input], examples: Sequence[Any],
                               cfg: CompileSettings) -> Any:
    """``trtforge.compile(..., ir="torch_compile")``: torch.compile with this backend.

    With ``dryrun=True`` the model runs once on the examples and the combined
    report is returned; otherwise the compiled model (compiling on first call).
    """
    import dataclasses

    options = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    compiled = torch.compile(model, backend=trtforge_backend, options=options, dynamic=False)
    if not cfg.dryrun:
        return compiled
    args = [e if e is not None else s.example("opt") for s, e in zip(specs, examples)]
    with collect_reports() as regions, torch.no_grad():
        torch._dynamo.reset()
        compiled(*args)
    return combine(type(model).__name__, regions)


def combine(name: str, regions: list[CompileReport]) -> CompileReport:
    """One report for a torch.compile run: totals over regions, each region kept in ``subgraphs``."""
    out = CompileReport(model=name, subgraphs=regions)
    if regions:
        out.backend, out.target_backend, out.precision = regions[0].backend, regions[0].target_backend, regions[0].precision
        out.packs = regions[0].packs
    for r in regions:
        out.compute_nodes += r.compute_nodes
        out.engines.extend(r.engines)
        out.fallback.extend(r.fallback)
        out.kept_fp32.extend(r.kept_fp32)
        out.node_precision.update(r.node_precision)
    return out
