"""``torch.compile(model, backend="trtforge", options={...})``: the torch.compile front door.

Registered through the ``torch_dynamo_backends`` entry point (torch finds it by
name without importing trtforge first). Dynamo hands over one FX graph per
graph-break-free region; each is exported to ATen and goes through the same
pipeline stages as ``trtforge.compile`` (:mod:`trtforge.pipeline`). Each region's
report is handed to the collectors open around the compile (:func:`collect_reports`),
or kept as the model's ``trtforge_reports`` when compiled through
``trtforge.compile(ir="torch_compile")``.
"""
from __future__ import annotations

import contextlib
import functools
import time
import warnings
from contextvars import ContextVar
from typing import Any, Callable, Iterator, Sequence

import torch

from . import pipeline
from .pipeline import NetworkObserver, Session
from .plugins.manager import PackManager, get_manager
from .dynamo_shapes import Unsupported, region_inputs
from .report import CompileReport
from .settings import CompileSettings, Input

#: the report lists regions compiled now are added to (collect_reports and compile_with_torch_compile)
_collectors: ContextVar[tuple[list[CompileReport], ...]] = ContextVar("trtforge_region_reports", default=())


@contextlib.contextmanager
def collect_reports() -> Iterator[list[CompileReport]]:
    """Collect the reports of regions compiled inside the ``with`` block."""
    out: list[CompileReport] = []
    token = _collectors.set((*_collectors.get(), out))
    try:
        yield out
    finally:
        _collectors.reset(token)


def _is_weight(node: torch.fx.Node, value: Any) -> bool:
    """Dynamo passes a module's parameters and buffers as graph inputs; recognise them."""
    if isinstance(value, torch.nn.Parameter):
        return True
    source = getattr(node.meta.get("grapharg"), "source", None)
    name = getattr(source, "name", "") or ""
    name = name() if callable(name) else str(name)
    return "._parameters[" in name or "._buffers[" in name


def freeze_weights(gm: torch.fx.GraphModule, example_inputs: Sequence[Any]) -> tuple[torch.fx.GraphModule, list[int]]:
    """Turn parameter/buffer inputs into constants of a copy of ``gm`` (converters need weights,
    not run-time tensors). Returns the copy and the positions of the inputs that remain.

    ``gm`` itself is left alone: dynamo reads its placeholders *after* the backend returns to
    decide which arguments the compiled region is called with, so erasing them in place made
    it pass only the kept inputs while ``run`` indexed them by their original positions.
    """
    import copy

    from .lowering.passes import replace_with_constant

    gm = torch.fx.GraphModule(gm, copy.deepcopy(gm.graph), class_name=type(gm).__name__)
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
        from .errors import CompilationError

        raise CompilationError(
            "immutable_weights=False is supported with trtforge.compile(ir='dynamo') only: torch.compile "
            "regions lose the model's parameter names that refit maps engine weights to"
        )


def trtforge_backend(gm: torch.fx.GraphModule, example_inputs: Sequence[Any], options: dict | None = None, *,
                     manager: PackManager | None = None, observers: Sequence[NetworkObserver] = ()) -> Callable:
    """Dynamo backend: compile one captured region; on failure, run it eagerly and record why."""
    cfg = CompileSettings.from_kwargs(**(options or {}))
    refuse_refit_through_dynamo(cfg)
    sinks = _collectors.get()
    number = len(sinks[0]) if sinks else 0
    report = CompileReport(model=f"torch.compile region {number}", precision=str(cfg.precision).replace("torch.", ""))
    for sink in sinks:
        sink.append(report)
    eager = gm.forward
    gm, keep = freeze_weights(gm, list(example_inputs))
    try:
        keep, specs, tensors = region_inputs(gm, keep, example_inputs)
    except Unsupported as exc:
        report.passes.append(f"skipped: {exc}")
        warnings.warn(f"trtforge: region left to PyTorch: {exc}", stacklevel=2)
        return eager
    try:
        session = Session.open(cfg, manager or get_manager(), report.model, observers)
        session.report = _adopt(report, session.report)
        result = _compile_region(session, gm, specs, tensors)
    except Exception as exc:
        if cfg.require_full_compilation:
            raise
        warnings.warn(f"trtforge: region left to PyTorch: {type(exc).__name__}: {exc}", stacklevel=2)
        report.passes.append(f"failed: {type(exc).__name__}: {exc}")
        return eager
    if cfg.dryrun:
        return eager
    compiled = result.forward

    def run(*args: Any) -> Any:
        return compiled(*[args[i] for i in keep])

    return run


def _adopt(report: CompileReport, opened: CompileReport) -> CompileReport:
    """Keep the report already handed to collectors, filled with what the session resolved."""
    report.backend, report.target_backend, report.packs = opened.backend, opened.target_backend, opened.packs
    report.timings_s.update(opened.timings_s)
    return report


def _compile_region(session: Session, gm: torch.fx.GraphModule, specs: Sequence[Input],
                    tensors: Sequence[torch.Tensor]) -> Any:
    """The same stages as ``trtforge.compile``: capture (export of the region), lower, compile_graph.

    Runs outside dynamo's tracing context: torch.export otherwise adopts dynamo's fake mode and
    shape environment (it looks for an active one first), adding its own symbols and sources to
    the guards of the frame being compiled, which then fail on the very inputs they came from.
    """
    from torch._guards import tracing

    with tracing(None):
        return _compile_region_stages(session, gm, specs, tensors)


def _compile_region_stages(session: Session, gm: torch.fx.GraphModule, specs: Sequence[Input],
                           tensors: Sequence[torch.Tensor]) -> Any:
    from .precision.select import WRAPPED
    from .validation.float32 import fp32_weights

    ep = pipeline.capture(session, gm, specs, tensors)
    lowered = pipeline.lower(session, ep)
    weights = fp32_weights(gm, WRAPPED) if session.settings.precision != torch.float32 else None
    result = pipeline.compile_graph(session, lowered, specs, tensors, weights, region=True)
    session.report.timings_s["total"] = time.perf_counter() - session.started
    return result


def compile_with_torch_compile(model: torch.nn.Module, specs: Sequence[Input], examples: Sequence[Any],
                               cfg: CompileSettings, manager: PackManager | None = None,
                               observers: Sequence[NetworkObserver] = ()) -> Any:
    """``trtforge.compile(..., ir="torch_compile")``: torch.compile with this backend.

    With ``dryrun=True`` the model runs once on the examples and the combined
    report is returned; otherwise the compiled model (compiling on first call).
    """
    import dataclasses

    options = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)}
    backend = functools.partial(trtforge_backend, options=options, manager=manager, observers=observers)
    compiled = torch.compile(model, backend=backend, dynamic=False)
    if any(s.min_shape != s.max_shape for s in specs):
        compiled.register_forward_pre_hook(_mark_dynamic(specs))
    if not cfg.dryrun:
        return compiled
    args = [e if e is not None else s.example("opt") for s, e in zip(specs, examples)]
    with collect_reports() as regions, torch.no_grad():
        torch._dynamo.reset()
        compiled(*args)
    return combine(type(model).__name__, regions)


def _mark_dynamic(specs: Sequence[Input]) -> Callable:
    """A pre-call hook that marks each input dimension a spec gives a range for as dynamic, with
    those bounds: dynamo then hands over one region with symbolic sizes (one engine covering the
    range) instead of recompiling per shape. It marks a detached alias (the caller's tensor is
    left as it was) unless the input needs gradients; sizes outside the range are left static
    (dynamo specializes sizes 0 and 1 anyway)."""
    def hook(module: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        out = list(args)
        for i, (spec, arg) in enumerate(zip(specs, args)):
            if not isinstance(arg, torch.Tensor) or spec.min_shape == spec.max_shape or arg.dim() != len(spec.min_shape):
                continue
            dims = [(d, lo, hi) for d, (lo, hi, n) in enumerate(zip(spec.min_shape, spec.max_shape, arg.shape))
                    if lo != hi and max(lo, 2) <= n <= hi]
            if dims:
                alias = arg if arg.requires_grad else arg.detach()
                for d, lo, hi in dims:
                    torch._dynamo.mark_dynamic(alias, d, min=max(lo, 2), max=hi)
                out[i] = alias
        return tuple(out)

    return hook


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
