"""The compile pipeline: one :class:`Session` per compile, and the stages as plain functions.

Stages, in order (each takes the session and returns a value):

``capture`` (model -> ExportedProgram) -> ``lower`` (-> lowered GraphModule) -> ``keep_fp32``
(reduced precision only) -> ``partition`` (-> PartitionResult) -> for each partition:
``convert`` (-> Network), ``validate`` (-> numbers), ``build`` (-> serialized engine),
``engine_module`` (-> TRTEngineModule) -> ``assemble`` (-> the compiled GraphModule).

Both front doors, :func:`trtforge.compile` and the ``torch.compile`` backend, open a session
and call these same functions (:func:`compile_graph` runs everything after lowering). The
session holds what a compile shares: settings, the resolved backend, the pack registry,
network observers and the report, whose ``timings_s`` it records per stage.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch
from torch.fx import GraphModule, Node

from .conversion.bounds import COMPILE_FACTS, CompileFacts
from .conversion.engine import build_device, build_engine, builder_config, feature_metadata
from .conversion.interpreter import Network, build_network
from .errors import BuildError, CompilationError, ConversionError, ValidationError
from .lowering import REFIT_TRACKER, Lowered, capture as _capture, lower_exported
from .partitioning.partitioner import Partitioner, PartitionResult
from .partitioning.split import extract, stitch
from .precision import AUTO, apply_keep_fp32, node_precisions
from .precision.select import WRAPPED
from .records import engine_metadata, engine_report, note_unloaded_packs, record_failed_partition, record_fallback
from .report import CompileReport
from .runtime.module import TRTEngineModule
from .runtime.program import is_compute
from .session import NetworkObserver, Session, resolve_backends
from .settings import Input, profile_count
from .validation.float32 import record
from .validation.inputs import with_input_hint
from .validation.validate import threads as validation_threads, validate as _validate

__all__ = [
    "NetworkObserver", "Session", "assemble", "build", "capture", "compile_graph", "convert", "engine_module",
    "example_sets", "keep_fp32", "lower", "partition", "reference_values", "resolve_backends", "symbol_ranges",
    "validate",
]


# --- capture and lowering --------------------------------------------------------------------

def capture(session: Session, model: torch.nn.Module, specs: Sequence[Input],
            examples: Sequence[torch.Tensor | None], keywords: Sequence[str] = ()) -> torch.export.ExportedProgram:
    """torch.export of the model at the requested precision; the last ``len(keywords)`` inputs
    are passed by those keywords."""
    with session.stage("export", "exporting (torch.export)") as st:
        ep = _capture(model, specs, examples, session.settings, keywords)
        st.note(nodes=len(ep.graph.nodes))
        return ep


def lower(session: Session, ep: torch.export.ExportedProgram) -> GraphModule:
    """Decompositions, core and pack passes; records what ran in the report."""
    with session.stage("lowering") as st:
        lowered: Lowered = lower_exported(ep, session.settings, session.manager)
        st.note(nodes=len(lowered.gm.graph.nodes), decompositions=len(lowered.decompositions),
                passes=len(lowered.passes))
    session.report.decompositions, session.report.passes = lowered.decompositions, lowered.passes
    session.report.folding = lowered.folding
    return lowered.gm


# --- after lowering: both front doors -----------------------------------------------------------

def compile_graph(session: Session, gm: GraphModule, specs: Sequence[Input],
                  examples: Sequence[torch.Tensor | None],
                  fp32_weights: Mapping[str, torch.Tensor] | None = None, region: bool = False) -> Any:
    """Partition a lowered graph, convert, validate and build each partition, and assemble the
    program (the report with ``dryrun=True``). ``region``: ``gm`` is one torch.compile region of several.

    ``fp32_weights``: the model's float32 weights by graph attribute name, for nodes kept in
    float32 and the float32 reference of validation under a reduced precision.

    Stage timings go to ``report.timings_s``: precision (keep_fp32), partitioning, conversion
    (networks), validation (PyTorch's boundary values and the reference execution), build, and
    assembly (cutting the graph into partitions, stitching engines and PyTorch parts together).
    """
    cfg, report = session.settings, session.report
    checking = cfg.validate or AUTO in cfg.keep_fp32
    tracker = gm.meta.pop(REFIT_TRACKER, None)
    for name, t in (fp32_weights or {}).items() if tracker is not None else ():
        tracker.seed(name[len(WRAPPED) + 1:] if name.startswith(WRAPPED + ".") else name, t)  # keep_fp32's
    with session.stage("partitioning", "reading the symbolic sizes", announce=False) as st:
        ranges = symbol_ranges(gm, specs)
        gm.meta[COMPILE_FACTS] = CompileFacts(ranges, session.target)  # what validators' bounds() read
        st.note(symbols=len(ranges))
    sets: list[list[torch.Tensor]] = []
    if checking and not cfg.dryrun:
        with session.stage("validation", "making example inputs", announce=False) as st:
            sets = example_sets(specs, examples)
            st.note(input_sets=len(sets))
    if cfg.keep_fp32:
        keep_fp32(session, gm, sets, fp32_weights, ranges, region)
    if cfg.precision != torch.float32:
        report.node_precision = node_precisions(gm, cfg.precision)
    part = partition(session, gm)
    if cfg.dryrun:
        gm.meta.pop(COMPILE_FACTS, None)
        report.engines += [engine_report(p.name, p.nodes, status="dryrun") for p in part.partitions]
        return report
    for name in ("conversion", "validation", "build"):
        report.timings_s.setdefault(name, 0.0)
    n_profiles = profile_count(specs)
    profile_ranges = [symbol_ranges(gm, specs, k) for k in range(n_profiles)] if n_profiles > 1 else []
    with session.stage("assembly", "cutting the graph into partitions", announce=False) as st:
        subs = [extract(gm, p.nodes, p.name) for p in part.partitions]
        st.note(partitions=len(subs))
    refs = reference_values(session, gm, subs, specs, examples, sets, fp32_weights) if checking else None
    modules: list[torch.nn.Module] = []
    for k, (p, (sub, ins, outs)) in enumerate(zip(part.partitions, subs), 1):
        of = f"{p.name} ({k}/{len(subs)}, {len(p.compute_nodes())} nodes)"
        er = engine_report(p.name, p.nodes, status="network_only")
        try:
            net = convert(session, p, part, sub, ins, outs, ranges, of, profile_ranges, tracker)
            er.requires_output_allocator = net.requires_output_allocator
            if refs is not None:
                er.validation = validate(session, net, sub, ins, outs, refs, of)
            engine = build(session, net, of) if cfg.build else None
            if engine is not None:
                er.engine_bytes, er.status = engine.numel(), "built"
            modules.append(engine_module(session, net, p.nodes, ins, outs, engine))
        except (ConversionError, BuildError, ValidationError) as exc:
            if not cfg.fallback_on_error or isinstance(exc, ValidationError):
                raise
            record_failed_partition(report, p, exc)
            er.status = "fallback"
            modules.append(sub)
        report.engines.append(er)
    report.built = cfg.build and any(e.status == "built" for e in report.engines)
    gm.meta.pop(COMPILE_FACTS, None)  # compile-time facts (sympy symbols) do not belong in the program
    return assemble(session, gm, part, modules)


def keep_fp32(session: Session, gm: GraphModule, sets: list[list[torch.Tensor]],
              fp32_weights: Mapping[str, torch.Tensor] | None, ranges: Mapping[Any, tuple[int, int, int]],
              region: bool = False) -> None:
    """Mark the nodes that compute in float32 under a reduced precision (``keep_fp32``); in a
    torch.compile region, names matching nothing there may match in another region."""
    cfg, report = session.settings, session.report
    search = AUTO in cfg.keep_fp32
    with session.stage("precision", "keeping nodes in float32" + (" (precision search)" if search else "")) as st:
        convert_all = None if cfg.dryrun else (lambda g: _networks(session, g, ranges))
        elsewhere: list[str] | None = [] if region else None
        report.kept_fp32 = apply_keep_fp32(gm, cfg, sets, fp32_weights or {}, convert_all, elsewhere)
        st.note(kept_fp32=len(report.kept_fp32))
    if elsewhere:
        report.passes.append(f"keep_fp32 names matching nothing in this region: {elsewhere}")
    if convert_all is None and search:
        report.passes.append("keep_fp32='auto' not searched: dryrun converts nothing")


def partition(session: Session, gm: GraphModule) -> PartitionResult:
    """Select a converter for every node and group the converted ones into engine partitions;
    raises with ``require_full_compilation`` if any node would stay in PyTorch."""
    report = session.report
    with session.stage("partitioning") as st:
        part = Partitioner(session.registry, session.settings, session.target).run(gm.graph)
        gm.recompile()  # partitioning gives each reader of a symbolic size its own copy of it
        report.compute_nodes = sum(1 for n in gm.graph.nodes if is_compute(n))
        record_fallback(report, part)
        note_unloaded_packs(report, session.manager)
        st.note(compute_nodes=report.compute_nodes, partitions=len(part.partitions),
                pytorch_nodes=len(report.fallback))
        if session.settings.require_full_compilation and part.fallback:
            lines = "\n".join(f"  {f.node} ({f.op}): {f.reason}" for f in report.fallback)
            raise CompilationError(
                f"require_full_compilation=True but {len(report.fallback)} node(s) would run in PyTorch:\n{lines}"
            )
    return part


def reference_values(session: Session, gm: GraphModule, subs: Sequence[tuple[GraphModule, list[Node], list[Node]]],
                     specs: Sequence[Input], examples: Sequence[torch.Tensor | None], sets: list[list[torch.Tensor]],
                     fp32_weights: Mapping[str, torch.Tensor] | None) -> dict[str, Any]:
    """PyTorch's values at every partition boundary, per example set (and the float32 reference's
    under a reduced precision): what validation compares each network with."""
    cfg = session.settings
    boundary = {n.name for _, ins, outs in subs for n in (*ins, *outs)}
    with session.stage("validation", "running the model in PyTorch for validation") as st, validation_threads():
        captured = with_input_hint(lambda: [record(gm, s, boundary) for s in sets], specs, examples)
        outs32 = [record(gm, s, boundary, float32_of=cfg.precision, fp32_weights=fp32_weights) for s in sets] \
            if cfg.precision != torch.float32 else None
        st.note(input_sets=len(sets), boundary_values=len(boundary), float32_reference=outs32 is not None)
    return {"captured": captured, "float32": outs32}


def convert(session: Session, p: Any, part: PartitionResult, sub: GraphModule, ins: Sequence[Node],
            outs: Sequence[Node], ranges: Mapping[Any, tuple[int, int, int]], of: str = "",
            profile_ranges: Sequence[Mapping[Any, tuple[int, int, int]]] = (), tracker: Any = None) -> Network:
    """The TensorRT network of partition ``p`` (not built), made with the session's backend, with
    its builder configuration (``net.config``: profiles and engine features)."""
    with session.stage("conversion", f"converting {of or p.name}") as st:
        st.note(nodes=len(p.compute_nodes()))
        net = _network(session, p, part, sub, ins, outs, ranges, profile_ranges, tracker)
        net.config = builder_config(net, session.settings)
        st.note(layers=net.network.num_layers, inputs=len(net.input_names), outputs=len(net.output_names))
        return net


def validate(session: Session, net: Network, sub: GraphModule, ins: Sequence[Node], outs: Sequence[Node],
             refs: dict[str, Any], of: str = "") -> dict[str, Any]:
    """Run ``net`` by reference execution on every example set and compare with PyTorch's values,
    recorded in the one PyTorch run of the whole graph (running ``sub`` again would only recompute them)."""
    cfg = session.settings
    with session.stage("validation", f"validating {of or net.name} by reference execution") as st, \
            validation_threads():
        captured, outs32 = refs["captured"], refs["float32"]
        per_set = [[vals[i.name] for i in ins] for vals in captured]
        expected = [vals[outs[0].name] if len(outs) == 1 else tuple(vals[o.name] for o in outs) for vals in captured]
        refs32 = [[vals[o.name] for o in outs] for vals in outs32] if outs32 is not None else None
        st.note(input_sets=len(per_set))
        numbers = _validate(net, sub, per_set, cfg.precision, cfg.validate_rtol, refs32, expected=expected)
        st.note(rel_err=f"{numbers['rel_err']:.2e}", tolerance=f"{numbers['tolerance']:.1e}")
        return numbers


def build(session: Session, net: Network, of: str = "") -> torch.Tensor:
    """The serialized engine of ``net``, built by the backend that made it."""
    with session.stage("build", f"building engine {of or net.name}") as st:
        engine = build_engine(net, session.settings, net.config)
        st.note(engine_bytes=engine.numel())
        return engine


def engine_module(session: Session, net: Network, nodes: Sequence[Node], ins: Sequence[Node],
                  outs: Sequence[Node], engine: torch.Tensor | None) -> TRTEngineModule:
    """The module that runs ``engine`` (or holds the checked network when not built)."""
    with session.stage("assembly", f"engine module of {net.name}", announce=False) as st:
        md = engine_metadata(net, nodes, ins, outs, engine)
        st.note(built=engine is not None, inputs=len(md.inputs), outputs=len(md.outputs))
        for k, v in {**feature_metadata(net.config, session.settings, net.backend),
                     **(build_device() if engine is not None else {})}.items():
            setattr(md, k, v)
        md.refit_map, md.unrefittable = net.refit_map, net.unrefittable
        return TRTEngineModule(engine, md)


def assemble(session: Session, gm: GraphModule, part: PartitionResult, modules: list[torch.nn.Module]) -> GraphModule:
    """The compiled program: ``gm`` with each partition replaced by its module; carries the report."""
    with session.stage("assembly", "stitching engines and PyTorch parts together", announce=False) as st:
        out = stitch(gm, [p.nodes for p in part.partitions], modules, [p.name for p in part.partitions])
        engines = [m for m in modules if isinstance(m, TRTEngineModule)]
        st.note(engines=len(engines), built=sum(m.engine is not None for m in engines),
                engine_bytes=sum(m.metadata.engine_bytes for m in engines),
                fallback_partitions=len(modules) - len(engines), pytorch_nodes=len(session.report.fallback))
    out.trtforge_report = session.report
    return out


# --- helpers ------------------------------------------------------------------------------------

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


def _network(session: Session, p: Any, part: PartitionResult, sub: GraphModule, ins: Sequence[Node],
             outs: Sequence[Node], ranges: Mapping[Any, tuple[int, int, int]],
             profile_ranges: Sequence[Mapping[Any, tuple[int, int, int]]] = (), tracker: Any = None) -> Network:
    specs_by_node = {n: part.selections[n].spec for n in p.nodes if n in part.selections}
    constants = {a: getattr(sub, a.replace(".", "_")) for a in _attrs(p.nodes)}
    return build_network(p.name, p.nodes, ins, outs, specs_by_node, session.settings, ranges, constants,
                         profile_ranges, tracker, backend=session.backend, observers=session.observers)


def _networks(session: Session, gm: GraphModule,
              ranges: Mapping[Any, tuple[int, int, int]]) -> list[tuple[Network, list[Node], list[Node]]]:
    """Every partition of ``gm`` as a network, with its input and output nodes (the precision search;
    with ``fallback_on_error`` a partition that does not convert is left out: it will run in PyTorch)."""
    part = Partitioner(session.registry, session.settings, session.target).run(gm.graph)
    out = []
    for p in part.partitions:
        sub, ins, outs = extract(gm, p.nodes, p.name)
        try:
            out.append((_network(session, p, part, sub, ins, outs, ranges), ins, outs))
        except ConversionError:
            if not session.settings.fallback_on_error:
                raise
    return out


def _attrs(nodes: Sequence[Node]) -> list[str]:
    seen: dict[str, None] = {}
    for n in nodes:
        for p in n.all_input_nodes:
            if p.op == "get_attr":
                seen[p.target] = None
    return list(seen)
