"""``trtforge.compile``: lowering -> partitioning -> conversion -> engines, with a report."""
from __future__ import annotations

import gc
import time
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import torch
from torch.fx import GraphModule, Node

from . import backend as _backend
from .conversion.engine import build_engine
from .conversion.interpreter import Network, build_network
from .validation.validate import validate
from .errors import BuildError, CompilationError, ConversionError, ValidationError
from .lowering import capture, lower_exported
from .partitioning.partitioner import Partitioner, PartitionResult, is_compute
from .partitioning.split import extract, stitch
from .plugins.converters import qualified_op_name
from .plugins.manager import PackManager, get_manager
from .plugins.registry import Reason, Selection
from .report import CompileReport, EngineReport, FallbackEntry
from .runtime.metadata import EngineMetadata, TensorSpec, symbolic_shape_exprs
from .runtime.module import TRTEngineModule
from .settings import CompileSettings, Input, normalize_inputs


def compile(
    model: torch.nn.Module,
    inputs: Sequence[Any] | None = None,
    *,
    ir: str = "dynamo",
    arg_inputs: Sequence[Any] | None = None,
    manager: PackManager | None = None,
    **settings: Any,
) -> Any:
    """Compile ``model`` for the given example tensors or :class:`trtforge.Input` specs.

    Returns a ``torch.fx.GraphModule`` in which TensorRT engines run what the
    installed packs convert and PyTorch runs the rest; its ``trtforge_report``
    attribute is the :class:`~trtforge.report.CompileReport`. With
    ``dryrun=True`` only the report is returned.
    """
    inputs = arg_inputs if inputs is None else inputs
    if inputs is None:
        raise TypeError("trtforge.compile needs inputs=[example tensors or trtforge.Input(...)]")
    cfg = CompileSettings.from_kwargs(**settings)
    specs, examples = normalize_inputs(inputs)
    if ir in ("torch_compile", "dynamo_compile"):
        from .dynamo_backend import compile_with_torch_compile

        return compile_with_torch_compile(model, specs, examples, cfg)
    if ir not in ("dynamo", "default", "export"):
        raise ValueError(f"unknown ir {ir!r}: use 'dynamo' (torch.export) or 'torch_compile'")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, not {type(model).__name__}")
    with _collect_only_new_objects():
        return _compile_exported(model, specs, examples, cfg, manager or get_manager())


@contextmanager
def _collect_only_new_objects() -> Iterator[None]:
    """Keep the objects that exist before a compile out of the cyclic GC while it runs.

    A compile allocates enough to trigger full collections, each of which walks the whole
    heap (0.4 s per compile of resnet50 next to a large program). Objects made during the
    compile are still collected. Skipped if the program froze objects itself (gc.freeze
    before fork): unfreezing would undo that.
    """
    if gc.get_freeze_count() or not gc.isenabled():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _compile_exported(model: torch.nn.Module, specs: Sequence[Input], examples: Sequence[torch.Tensor | None],
                      cfg: CompileSettings, manager: PackManager) -> Any:
    report = CompileReport(model=type(model).__name__, precision=str(cfg.precision).replace("torch.", ""))
    t0 = time.perf_counter()
    backend_name, target = resolve_backends(cfg)
    report.backend, report.target_backend = backend_name, target
    report.packs = [r.name for r in manager.loaded()]
    ep = capture(model, specs, examples, cfg)
    report.timings_s["export"] = time.perf_counter() - t0
    cache = key = None
    if cfg.engine_cache_dir and not cfg.dryrun:
        from .cache import EngineCache, cache_key

        cache = EngineCache(cfg.engine_cache_dir, cfg.engine_cache_size)
        packs = [(r.name, r.version) for r in manager.loaded()]
        key = cache_key(ep, specs, cfg, target, (backend_name or "", _backend.version() if backend_name else ""), packs)
        hit = cache.get(key)
        report.cache = cache.last
        if hit is not None:
            hit.trtforge_report.cache = "hit"
            hit.trtforge_report.timings_s = {"export": report.timings_s["export"], "total": time.perf_counter() - t0}
            return hit
    lowered = lower_exported(ep, cfg, manager)
    del ep  # its graph (and every FakeTensor in it) is not needed past lowering
    report.decompositions, report.passes = lowered.decompositions, lowered.passes
    report.timings_s.update(lowered.timings)
    result = compile_graph(lowered.gm, specs, examples, cfg, manager, report, target)
    report.timings_s["total"] = time.perf_counter() - t0
    if cache is not None and key is not None and not isinstance(result, CompileReport):
        cache.put(key, result)
    return result


def resolve_backends(cfg: CompileSettings) -> tuple[str | None, str]:
    """``(backend in use, target backend)``; errors say which package to install."""
    if cfg.dryrun and cfg.backend is None:
        name = _backend.name() if _backend.available() else None
    else:
        name = _backend.load(cfg.backend)[0]
    target = cfg.target_backend or name or "tensorrt"
    if cfg.build and not cfg.dryrun and name is not None and target != name:
        raise CompilationError(
            f"target_backend={target!r} differs from the backend in use ({name!r}): engines for "
            f"{target!r} cannot be built here. Pass build=False to construct and validate the "
            f"networks for {target!r} without building them."
        )
    return name, target


def symbol_ranges(gm: GraphModule, specs: Sequence[Input]) -> dict[Any, tuple[int, int, int]]:
    """Map each export symbol that is an input dimension to its (min, opt, max)."""
    ranges: dict[Any, tuple[int, int, int]] = {}
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    for node, spec in zip(placeholders, specs):
        val = node.meta.get("val")
        if not isinstance(val, torch.Tensor):
            continue
        for i, d in enumerate(val.shape):
            if isinstance(d, torch.SymInt):
                expr = d.node.expr
                if getattr(expr, "is_Symbol", False):
                    ranges[expr] = (spec.min_shape[i], spec.opt_shape[i], spec.max_shape[i])  # type: ignore[index]
    return ranges


def example_sets(specs: Sequence[Input], examples: Sequence[torch.Tensor | None]) -> list[list[torch.Tensor]]:
    """Inputs to check numerics with: the given examples, else random at min/opt/max."""
    gen = torch.Generator().manual_seed(0)
    sets = []
    for which in ("min", "opt", "max"):
        batch = []
        for s, e in zip(specs, examples):
            batch.append(e if e is not None and not s.is_dynamic else s.example(which, generator=gen))
        if not any(all(a.shape == b.shape for a, b in zip(batch, prev)) for prev in sets):
            sets.append(batch)
    return sets


def _capture_boundaries(gm: GraphModule, sets: list[list[torch.Tensor]], wanted: set[Node]) -> list[dict[str, Any]]:
    """Run ``gm`` in PyTorch, keeping only the values partitions read or produce."""
    captured = []
    names = {n.name for n in wanted}
    for inputs in sets:
        values: dict[str, Any] = {}

        class Recorder(torch.fx.Interpreter):
            def run_node(self, n):  # noqa: ANN001
                out = super().run_node(n)
                if n.name in names:
                    values[n.name] = out
                return out

        with torch.no_grad():
            Recorder(gm).run(*inputs)
        captured.append(values)
    return captured


def compile_graph(
    gm: GraphModule,
    specs: Sequence[Input],
    examples: Sequence[torch.Tensor | None],
    cfg: CompileSettings,
    manager: PackManager,
    report: CompileReport,
    target: str,
) -> Any:
    """Partition a lowered graph and convert each partition (shared by export and torch.compile)."""
    t = time.perf_counter()
    part = Partitioner(manager.registry, cfg, target).run(gm.graph)
    report.timings_s["partitioning"] = time.perf_counter() - t
    report.compute_nodes = sum(1 for n in gm.graph.nodes if is_compute(n))
    _record_fallback(report, part)
    if cfg.require_full_compilation and part.fallback:
        lines = "\n".join(f"  {f.node} ({f.op}): {f.reason}" for f in report.fallback)
        raise CompilationError(
            f"require_full_compilation=True but {len(report.fallback)} node(s) would run in PyTorch:\n{lines}"
        )
    if cfg.dryrun:
        for p in part.partitions:
            report.engines.append(_engine_report(p.name, p.nodes, status="dryrun"))
        return report
    ranges = symbol_ranges(gm, specs)
    sets = example_sets(specs, examples) if cfg.validate else []
    subs = [extract(gm, p.nodes, p.name) for p in part.partitions]
    boundary = {n for _, ins, outs in subs for n in (*ins, *outs)}
    captured = _capture_boundaries(gm, sets, boundary) if cfg.validate else []
    modules: list[torch.nn.Module] = []
    conv_t = build_t = 0.0
    for p, (sub, ins, outs) in zip(part.partitions, subs):
        specs_by_node = {n: part.selections[n].spec for n in p.nodes if n in part.selections}
        constants = {a: getattr(sub, a.replace(".", "_")) for a in _attrs(p.nodes)}
        er = _engine_report(p.name, p.nodes, status="network_only")
        try:
            t = time.perf_counter()
            net = build_network(p.name, p.nodes, ins, outs, specs_by_node, cfg, ranges, constants)
            conv_t += time.perf_counter() - t
            er.requires_output_allocator = net.requires_output_allocator
            if cfg.validate:
                per_set = [[vals[i.name] for i in ins] for vals in captured]
                er.validation = validate(net, sub, per_set, cfg.precision, cfg.validate_rtol)
            engine = None
            if cfg.build:
                t = time.perf_counter()
                engine = build_engine(net, cfg)
                build_t += time.perf_counter() - t
                er.engine_bytes, er.status = engine.numel(), "built"
            modules.append(TRTEngineModule(engine, _metadata(net, p.nodes, ins, outs, engine, report.backend or target)))
        except (ConversionError, BuildError, ValidationError) as exc:
            if not cfg.fallback_on_error or isinstance(exc, ValidationError):
                raise type(exc)(f"{exc}") from exc
            reason = Reason.BUILD_FAILED if isinstance(exc, BuildError) else Reason.CONVERTER_FAILED
            er.status = "fallback"
            for n in p.compute_nodes():
                report.fallback.append(FallbackEntry(n.name, qualified_op_name(n.target), f"{reason.value}: {exc}", reason.value))
            modules.append(sub)
        report.engines.append(er)
    report.timings_s["conversion"] = conv_t
    report.timings_s["build"] = build_t
    report.built = cfg.build and any(e.status == "built" for e in report.engines)
    out = stitch(gm, [p.nodes for p in part.partitions], modules, [p.name for p in part.partitions])
    out.trtforge_report = report
    return out


def _attrs(nodes: Sequence[Node]) -> list[str]:
    seen: dict[str, None] = {}
    for n in nodes:
        for p in n.all_input_nodes:
            if p.op == "get_attr":
                seen[p.target] = None
    return list(seen)


def _engine_report(name: str, nodes: Sequence[Node], status: str) -> EngineReport:
    compute = [n for n in nodes if is_compute(n)]
    ops = sorted({qualified_op_name(n.target) for n in compute})
    return EngineReport(name=name, nodes=len(compute), ops=ops, status=status)


def _record_fallback(report: CompileReport, part: PartitionResult) -> None:
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
            )
        )


def _metadata(net: Network, nodes: Sequence[Node], ins: Sequence[Node], outs: Sequence[Node],
              engine: torch.Tensor | None, backend_name: str) -> EngineMetadata:
    def dt(d: torch.dtype) -> str:
        return str(d).replace("torch.", "")

    inputs = [
        TensorSpec(name, dt(d), [mn if mn == mx else -1 for mn, mx in zip(prof[0], prof[2])], [list(s) for s in prof])
        for name, d, prof in zip(net.input_names, net.input_dtypes, net.profiles)
    ]
    shape = lambda n: tuple(getattr(n.meta.get("val"), "shape", ()))  # noqa: E731
    exprs = symbolic_shape_exprs([shape(n) for n in ins], [shape(n) for n in outs])
    outputs = [
        TensorSpec(n, dt(d), list(s), shape_expr=e if any(x is not None for x in e) else None)
        for n, d, s, e in zip(net.output_names, net.output_dtypes, net.output_shapes, exprs)
    ]
    return EngineMetadata(
        name=net.name,
        backend=backend_name,
        backend_version=_backend.version() if _backend.available() else "",
        inputs=inputs,
        outputs=outputs,
        requires_output_allocator=net.requires_output_allocator,
        source_nodes=[n.name for n in nodes if is_compute(n)],
        engine_bytes=engine.numel() if engine is not None else 0,
    )
