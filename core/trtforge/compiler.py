"""``trtforge.compile``: lowering -> partitioning -> conversion -> engines, with a report."""
from __future__ import annotations

import gc
import time
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Sequence

import torch
from torch.fx import GraphModule, Node

from . import backend as _backend
from ._progress import stage
from .conversion.engine import build_device, build_engine, builder_config, feature_metadata
from .conversion.interpreter import Network, build_network
from .validation.float32 import fp32_weights as model_weights, record
from .validation.validate import threads as validation_threads, validate
from .errors import BuildError, CompilationError, ConversionError, ValidationError
from .validation.inputs import with_input_hint
from .lowering import REFIT_TRACKER, capture, lower_exported
from .lowering.export import WRAPPED
from .partitioning.partitioner import Partitioner, PartitionResult
from .runtime.program import is_compute
from .partitioning.split import extract, stitch
from .plugins.converters import qualified_op_name
from .precision import AUTO, apply_keep_fp32, node_precisions
from .plugins.manager import PackManager, get_manager
from .plugins.registry import Reason, Selection
from .report import CompileReport, EngineReport, FallbackEntry
from .runtime.metadata import EngineMetadata, TensorSpec, symbolic_shape_exprs
from .runtime.module import TRTEngineModule
from .settings import CompileSettings, Input, normalize_inputs, profile_count
from .settings_checks import check_against_packs


def compile(
    model: torch.nn.Module,
    inputs: Sequence[Any] | None = None,
    *,
    ir: str = "dynamo",
    arg_inputs: Sequence[Any] | None = None,
    kwarg_inputs: Mapping[str, Any] | None = None,
    manager: PackManager | None = None,
    **settings: Any,
) -> Any:
    """Compile ``model`` for the given example tensors or :class:`trtforge.Input` specs.

    ``inputs`` (or its Torch-TensorRT name ``arg_inputs``) are passed positionally,
    ``kwarg_inputs`` (``{"input_ids": ..., "attention_mask": ...}``) by keyword; the
    compiled program takes them the same way.

    Returns a ``torch.fx.GraphModule`` in which TensorRT engines run what the
    installed packs convert and PyTorch runs the rest; its ``trtforge_report``
    attribute is the :class:`~trtforge.report.CompileReport`. With
    ``dryrun=True`` only the report is returned.
    """
    if inputs is not None and arg_inputs is not None:
        raise TypeError("trtforge.compile: give inputs= or arg_inputs= (the same thing), not both")
    inputs = arg_inputs if inputs is None else inputs
    if inputs is None and not kwarg_inputs:
        raise TypeError("trtforge.compile needs inputs=[example tensors or trtforge.Input(...)] "
                        "and/or kwarg_inputs={name: tensor or trtforge.Input(...)}")
    manager = manager or get_manager()  # first: settings may name ops that packs define
    cfg = CompileSettings.from_kwargs(**settings)
    check_against_packs(cfg, manager)
    keywords = list(kwarg_inputs or {})
    specs, examples = normalize_inputs([*(inputs or ()), *(kwarg_inputs or {}).values()],
                                       names=[None] * len(inputs or ()) + keywords)
    if ir in ("torch_compile", "dynamo_compile"):
        if keywords:
            raise ValueError("kwarg_inputs work with ir='dynamo' (torch.export); with ir='torch_compile' "
                             "call torch.compile(model, backend='trtforge') and pass keywords at the call")
        from .dynamo_backend import compile_with_torch_compile, refuse_refit_through_dynamo

        refuse_refit_through_dynamo(cfg)
        return compile_with_torch_compile(model, specs, examples, cfg)
    if ir not in ("dynamo", "default", "export"):
        raise ValueError(f"unknown ir {ir!r}: use 'dynamo' (torch.export) or 'torch_compile'")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, not {type(model).__name__}")
    with _collect_only_new_objects():
        return _compile_exported(model, specs, examples, cfg, manager, keywords)


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
                      cfg: CompileSettings, manager: PackManager, keywords: Sequence[str] = ()) -> Any:
    report = CompileReport(model=type(model).__name__, precision=str(cfg.precision).replace("torch.", ""))
    t0 = time.perf_counter()
    with report.timed("setup"):
        backend_name, target = resolve_backends(cfg)
        report.backend, report.target_backend = backend_name, target
        report.packs = [r.name for r in manager.loaded()]
    stage("exporting (torch.export)")
    with report.timed("export"):
        ep = capture(model, specs, examples, cfg, keywords)
    cache = key = None
    if cfg.engine_cache_dir and not cfg.dryrun:
        from .cache import cache_key

        stage("engine cache lookup")
        with report.timed("cache"):
            cache = _open_cache(cfg, report)
            packs = [(r.name, r.version) for r in manager.loaded()]
            key = cache_key(ep, specs, cfg, target, (backend_name or "", _backend.version() if backend_name else ""), packs)
            hit = _cache_lookup(cache, key, cfg, report)
            if hit is not None and cfg.refittable:
                hit = _refit_hit(hit, ep, model, report)
        if hit is not None:
            hit.trtforge_report.cache = report.cache
            hit.trtforge_report.warnings = [*report.warnings, *_validated_hit_note(hit.trtforge_report, cfg)]
            hit.trtforge_report.timings_s = {**report.timings_s, "total": time.perf_counter() - t0}
            return hit
    stage("lowering")
    lowered = lower_exported(ep, cfg, manager)
    if not cfg.refittable:
        del ep  # its graph (and every FakeTensor in it) is not needed past lowering
    report.decompositions, report.passes = lowered.decompositions, lowered.passes
    report.folding = lowered.folding
    report.timings_s.update(lowered.timings)
    weights = model_weights(model, WRAPPED) if cfg.precision != torch.float32 else None
    result = compile_graph(lowered.gm, specs, examples, cfg, manager, report, target, weights)
    if cache is not None and key is not None and not isinstance(result, CompileReport):
        if cfg.refittable:
            from .cache import weights_digest

            result.trtforge_weights = weights_digest(ep)
        stage("storing in the engine cache")
        with report.timed("cache"):
            _cache_store(cache, key, result, report)
    report.timings_s["total"] = time.perf_counter() - t0
    return result


def _open_cache(cfg: CompileSettings, report: CompileReport) -> Any:
    """The engine cache, checked before any work: a directory that cannot be written still serves
    hits, and the compile goes on (with a warning) rather than failing after the build."""
    from .cache import EngineCache

    try:
        cache = EngineCache(cfg.engine_cache_dir, cfg.engine_cache_size)  # type: ignore[arg-type]
    except OSError as exc:
        cache = EngineCache(cfg.engine_cache_dir, cfg.engine_cache_size, create=False)  # type: ignore[arg-type]
        _warn(report, f"engine cache {cfg.engine_cache_dir!r} cannot be created ({exc.strerror or exc}): "
                      "the program will not be stored; choose a writable engine_cache_dir")
        return cache
    why = cache.writable()
    if why:
        _warn(report, f"engine cache {why}: the program will not be stored; choose a writable engine_cache_dir")
    return cache


def _cache_lookup(cache: Any, key: str, cfg: CompileSettings, report: CompileReport) -> Any:
    hit = cache.get(key) if cache.exists else None
    report.cache = cache.last or "miss"
    if hit is not None and cfg.validate and _validated_hit_note(hit.trtforge_report, cfg) is None:
        report.cache = "miss"
        _warn(report, "validate=True: the cached program was not validated (or with a looser tolerance), so it "
                      "was compiled again and validated")
        return None
    return hit


def _refit_hit(hit: Any, ep: Any, model: torch.nn.Module, report: CompileReport) -> Any:
    """A hit for a refittable program (its key leaves the weights out): the same weights are a plain
    hit; other weights are refitted into its engines, unless PyTorch fallback segments hold weights
    of their own (then it is a miss, compiled again)."""
    from .cache import weights_digest
    from .refit import refit_module_weights
    from .runtime.module import TRTEngineModule

    digest = weights_digest(ep)
    if getattr(hit, "trtforge_weights", None) == digest:
        return hit
    engine_tensors = {id(m.engine) for m in hit.modules() if isinstance(m, TRTEngineModule)}
    own = [n for n, t in [*hit.named_parameters(), *hit.named_buffers()] if id(t) not in engine_tensors]
    if own:
        report.cache = "miss"
        _warn(report, f"engine cache: the cached program has other weights and PyTorch fallback segments with "
                      f"weights of their own ({own[:3]}...), which refit does not change: compiled again")
        return None
    refit_module_weights(hit, model, strict=False)
    hit.trtforge_weights = digest
    report.cache = "refit"
    return hit


def _validated_hit_note(cached: CompileReport, cfg: CompileSettings) -> list[str] | None:
    """With ``validate=True``, a hit is used only if every engine in it was validated within the
    tolerance asked for; the report then says the numbers are from when it was stored."""
    if not cfg.validate:
        return []
    from .validation.validate import TOLERANCE

    tol = cfg.validate_rtol if cfg.validate_rtol is not None else TOLERANCE.get(cfg.precision, 1e-3)
    built = [e for e in cached.engines if e.status == "built"]
    if any(not e.validation or e.validation.get("tolerance", float("inf")) > tol for e in built):
        return None
    return ["validate=True and an engine cache hit: the validation results shown were measured when the entry "
            "was stored (same graph, weights, input specs and settings); set engine_cache_dir=None to validate anew"]


def _cache_store(cache: Any, key: str, result: Any, report: CompileReport) -> None:
    """Store a compiled program; a failure is a warning: the compile's result is never thrown away."""
    from .cache import CacheStoreError

    if cache.writable():
        report.cache = "not_stored"  # the warning was given before compiling
        return
    try:
        cache.put(key, result)
    except CacheStoreError as exc:
        _warn(report, str(exc))
        report.cache = "not_stored"


def _warn(report: CompileReport, message: str) -> None:
    import warnings

    report.warnings.append(message)
    warnings.warn(f"trtforge: {message}", stacklevel=4)


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
    refused = _backend.feature_refusals(cfg.requested_features(), target,
                                        name if cfg.build and not cfg.dryrun else None,
                                        torch.cuda.is_available())
    if refused:
        raise CompilationError(
            f"these settings cannot be honoured (target backend {target!r}, building with "
            f"{name if cfg.build else 'no build'!r}):\n  " + "\n  ".join(refused)
        )
    return name, target


def symbol_ranges(gm: GraphModule, specs: Sequence[Input], profile: int | None = None) -> dict[Any, tuple[int, int, int]]:
    """Map each export symbol that is an input dimension to its (min, opt, max): over all
    optimization profiles, or in profile ``profile``."""
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
                    shapes = (spec.min_shape, spec.opt_shape, spec.max_shape)
                    if profile is not None:
                        shapes = spec.profiles[min(profile, len(spec.profiles) - 1)]  # type: ignore[index,arg-type]
                    ranges[expr] = tuple(s[i] for s in shapes)  # type: ignore[assignment,index]
    return ranges


def example_sets(specs: Sequence[Input], examples: Sequence[torch.Tensor | None]) -> list[list[torch.Tensor]]:
    """Inputs to check numerics with: the given examples, else random at min/opt/max (repeated
    shapes checked once); with several optimization profiles, at each profile's min, opt and max."""
    gen = torch.Generator().manual_seed(0)
    sets = []
    count = profile_count(specs)
    for k in range(count):
        mine: list[list[torch.Tensor]] = []
        for which in ("min", "opt", "max"):
            batch = []
            for s, e in zip(specs, examples):
                if e is not None and not s.is_dynamic:
                    batch.append(e)
                else:
                    batch.append(s.example(which, generator=gen, profile=min(k, len(s.profiles) - 1)))  # type: ignore[arg-type]
            if count > 1 or not any(all(a.shape == b.shape for a, b in zip(batch, prev)) for prev in mine):
                mine.append(batch)
        sets.extend(mine)
    return sets


def compile_graph(
    gm: GraphModule,
    specs: Sequence[Input],
    examples: Sequence[torch.Tensor | None],
    cfg: CompileSettings,
    manager: PackManager,
    report: CompileReport,
    target: str,
    fp32_weights: Mapping[str, torch.Tensor] | None = None,
    region: bool = False,
) -> Any:
    """Partition a lowered graph and convert each partition (shared by export and torch.compile).

    ``fp32_weights``: the model's float32 weights by graph attribute name, for nodes kept in
    float32 and the float32 reference of validation under a reduced precision.

    Stage timings go to ``report.timings_s``: precision (keep_fp32), partitioning, conversion
    (networks), validation (PyTorch's boundary values and the reference execution), build, and
    assembly (cutting the graph into partitions, stitching engines and PyTorch parts together).
    """
    reduced = cfg.precision != torch.float32
    checking = cfg.validate or AUTO in cfg.keep_fp32
    tracker = gm.meta.pop(REFIT_TRACKER, None)
    for name, t in (fp32_weights or {}).items() if tracker is not None else ():
        tracker.seed(name[len(WRAPPED) + 1:] if name.startswith(WRAPPED + ".") else name, t)  # keep_fp32's
    with report.timed("partitioning"):
        ranges = symbol_ranges(gm, specs)
    with report.timed("validation"):
        sets = example_sets(specs, examples) if checking and not cfg.dryrun else []
    if cfg.keep_fp32:
        stage("keeping nodes in float32" + (" (precision search)" if AUTO in cfg.keep_fp32 else ""))
        convert = None if cfg.dryrun else (lambda g: _networks(g, cfg, manager, target, ranges))
        with report.timed("precision"):
            elsewhere: list[str] | None = [] if region else None
        report.kept_fp32 = apply_keep_fp32(gm, cfg, sets, fp32_weights or {}, convert, elsewhere)
        if elsewhere:
            report.passes.append(f"keep_fp32 names matching nothing in this region: {elsewhere}")
        if convert is None and AUTO in cfg.keep_fp32:
            report.passes.append("keep_fp32='auto' not searched: dryrun converts nothing")
    if reduced:
        report.node_precision = node_precisions(gm, cfg.precision)
    stage("partitioning")
    with report.timed("partitioning"):
        part = Partitioner(manager.registry, cfg, target).run(gm.graph)
        gm.recompile()  # partitioning gives each reader of a symbolic size its own copy of it
        report.compute_nodes = sum(1 for n in gm.graph.nodes if is_compute(n))
        _record_fallback(report, part)
        _note_unloaded_packs(report, manager)
    if cfg.require_full_compilation and part.fallback:
        lines = "\n".join(f"  {f.node} ({f.op}): {f.reason}" for f in report.fallback)
        raise CompilationError(
            f"require_full_compilation=True but {len(report.fallback)} node(s) would run in PyTorch:\n{lines}"
        )
    if cfg.dryrun:
        for p in part.partitions:
            report.engines.append(_engine_report(p.name, p.nodes, status="dryrun"))
        return report
    for name in ("conversion", "validation", "build"):
        report.timings_s.setdefault(name, 0.0)
    n_profiles = profile_count(specs)
    profile_ranges = [symbol_ranges(gm, specs, k) for k in range(n_profiles)] if n_profiles > 1 else []
    with report.timed("assembly"):
        subs = [extract(gm, p.nodes, p.name) for p in part.partitions]
    boundary = {n.name for _, ins, outs in subs for n in (*ins, *outs)}
    if checking:
        stage("running the model in PyTorch for validation")
    with report.timed("validation"), validation_threads():
        captured = with_input_hint(lambda: [record(gm, s, boundary) for s in sets], specs, examples)
        outs32 = [record(gm, s, boundary, float32_of=cfg.precision, fp32_weights=fp32_weights) for s in sets] \
            if reduced else None
    modules: list[torch.nn.Module] = []
    for k, (p, (sub, ins, outs)) in enumerate(zip(part.partitions, subs), 1):
        of = f"{p.name} ({k}/{len(subs)}, {len(p.compute_nodes())} nodes)"
        er = _engine_report(p.name, p.nodes, status="network_only")
        try:
            stage(f"converting {of}")
            with report.timed("conversion"):
                net = _network(p, part, sub, ins, outs, cfg, ranges, profile_ranges, tracker)
                config = builder_config(net, cfg)
            er.requires_output_allocator = net.requires_output_allocator
            if checking:
                stage(f"validating {of} by reference execution")
                with report.timed("validation"), validation_threads():
                    er.validation = _validate(net, sub, ins, outs, captured, outs32, cfg)
            engine = None
            if cfg.build:
                stage(f"building engine {of}")
                with report.timed("build"):
                    engine = build_engine(net, cfg, config)
                er.engine_bytes, er.status = engine.numel(), "built"
            with report.timed("assembly"):
                md = _metadata(net, p.nodes, ins, outs, engine, report.backend or target)
                for k, v in {**feature_metadata(config, cfg), **(build_device() if engine is not None else {})}.items():
                    setattr(md, k, v)
                md.refit_map, md.unrefittable = net.refit_map, net.unrefittable
                modules.append(TRTEngineModule(engine, md))
        except (ConversionError, BuildError, ValidationError) as exc:
            if not cfg.fallback_on_error or isinstance(exc, ValidationError):
                raise type(exc)(f"{exc}") from exc
            reason = Reason.BUILD_FAILED if isinstance(exc, BuildError) else Reason.CONVERTER_FAILED
            er.status = "fallback"
            for n in p.compute_nodes():
                report.fallback.append(FallbackEntry(n.name, qualified_op_name(n.target), f"{reason.value}: {exc}", reason.value))
            modules.append(sub)
        report.engines.append(er)
    report.built = cfg.build and any(e.status == "built" for e in report.engines)
    with report.timed("assembly"):
        out = stitch(gm, [p.nodes for p in part.partitions], modules, [p.name for p in part.partitions])
    out.trtforge_report = report
    return out


def _validate(net: Network, sub: GraphModule, ins: Sequence[Node], outs: Sequence[Node],
              captured: list[dict[str, Any]], outs32: list[dict[str, Any]] | None, cfg: CompileSettings) -> dict:
    """Validate one network with the values recorded in the one PyTorch run of the whole graph:
    its inputs, and its outputs as ``sub`` would return them (running ``sub`` again would only
    recompute them)."""
    per_set = [[vals[i.name] for i in ins] for vals in captured]
    expected = [vals[outs[0].name] if len(outs) == 1 else tuple(vals[o.name] for o in outs) for vals in captured]
    refs32 = [[vals[o.name] for o in outs] for vals in outs32] if outs32 is not None else None
    return validate(net, sub, per_set, cfg.precision, cfg.validate_rtol, refs32, expected=expected)


def _network(p: Any, part: PartitionResult, sub: GraphModule, ins: Sequence[Node], outs: Sequence[Node],
             cfg: CompileSettings, ranges: Mapping[Any, tuple[int, int, int]],
             profile_ranges: Sequence[Mapping[Any, tuple[int, int, int]]] = (), tracker: Any = None) -> Network:
    """The TensorRT network of partition ``p`` (not built)."""
    specs_by_node = {n: part.selections[n].spec for n in p.nodes if n in part.selections}
    constants = {a: getattr(sub, a.replace(".", "_")) for a in _attrs(p.nodes)}
    return build_network(p.name, p.nodes, ins, outs, specs_by_node, cfg, ranges, constants, profile_ranges, tracker)


def _networks(gm: GraphModule, cfg: CompileSettings, manager: PackManager, target: str,
              ranges: Mapping[Any, tuple[int, int, int]]) -> list[tuple[Network, list[Node], list[Node]]]:
    """Every partition of ``gm`` as a network, with its input and output nodes (the precision search;
    with ``fallback_on_error`` a partition that does not convert is left out: it will run in PyTorch)."""
    part = Partitioner(manager.registry, cfg, target).run(gm.graph)
    out = []
    for p in part.partitions:
        sub, ins, outs = extract(gm, p.nodes, p.name)
        try:
            out.append((_network(p, part, sub, ins, outs, cfg, ranges), ins, outs))
        except ConversionError:
            if not cfg.fallback_on_error:
                raise
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


def _note_unloaded_packs(report: CompileReport, manager: PackManager) -> None:
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
        backend=backend_name,
        backend_version=_backend.version() if _backend.available() else "",
        inputs=inputs,
        outputs=outputs,
        requires_output_allocator=net.requires_output_allocator,
        source_nodes=[n.name for n in nodes if is_compute(n)],
        engine_bytes=engine.numel() if engine is not None else 0,
    )
