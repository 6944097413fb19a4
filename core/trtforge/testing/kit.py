"""The test kit for converter packs: a converter test in a few lines.

``check_converts(module, inputs)`` compiles with validation on, asserts the
ops were converted (no silent fallback), builds the real engine where the
backend can, checks numbers with the CPU reference executor at the min, opt
and max shapes, and executes the engine when a usable GPU is present. It
records which converters ran so a whole pack's conformance can be checked.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Sequence

import torch

from .. import backend as _backend
from ..plugins.converters import ConverterSpec, qualified_op_name
from ..plugins.manager import PackManager, get_manager, set_manager
from ..settings import parse_dtype


@dataclass
class ConverterUse:
    """How one converter was exercised."""

    spec: ConverterSpec
    dynamic: bool = False
    layer_types: set[str] = field(default_factory=set)


#: (pack, op, fn) -> use, over the test session
EXERCISED: dict[tuple[str, str, str], ConverterUse] = {}
#: (pack, op, fn) -> spec of every converter of a manager check_converts compiled with, so that
#: conformance also covers packs loaded in-process (``pack_manager``, the ``trtforge_pack`` fixture)
SEEN: dict[tuple[str, str, str], ConverterSpec] = {}


@dataclass
class Converted:
    """What :func:`check_converts` returns."""

    module: torch.nn.Module
    report: Any
    built: bool
    build_skipped_reason: str | None
    networks: list[Any]


def _key(spec: ConverterSpec) -> tuple[str, str, str]:
    return (spec.pack, qualified_op_name(spec.target), spec.fn_name)


def _observe(networks: list[Any]) -> Any:
    def observe(net: Any) -> None:
        networks.append(net)
        dynamic = any(p[0] != p[2] for p in net.profiles)
        layers_by_node: dict[str, set[str]] = {}
        for i in range(net.network.num_layers):
            layer = net.network.get_layer(i)
            layers_by_node.setdefault(layer.name.split("/")[0], set()).add(layer.type.name)
        for node_name, spec in net.converters.items():
            use = EXERCISED.setdefault(_key(spec), ConverterUse(spec))
            use.dynamic |= dynamic
            emitted = layers_by_node.get(node_name, set())
            use.layer_types |= emitted
            check_flags(spec, emitted)

    return observe


#: layers whose output size depends on data: a converter emitting one must say so
DATA_DEPENDENT_LAYERS = {"NON_ZERO", "NMS"}


def check_flags(spec: ConverterSpec, emitted: set[str]) -> None:
    """Declared flags must match what the converter emitted."""
    dds = emitted & DATA_DEPENDENT_LAYERS
    if dds and not spec.requires_output_allocator:
        raise AssertionError(
            f"converter {spec.fn_name} ({qualified_op_name(spec.target)}, pack {spec.pack!r}) emits "
            f"{sorted(dds)} layers, whose output size depends on data, but does not declare "
            "requires_output_allocator=True"
        )
    undeclared = {l for l in emitted if l in _backend_sensitive_layers()} - set(spec.emits)
    if undeclared:
        raise AssertionError(
            f"converter {spec.fn_name} ({qualified_op_name(spec.target)}, pack {spec.pack!r}) emits "
            f"{sorted(undeclared)} layers, which some backend cannot build, without listing them in "
            "emits=...; the registry could not route it away from that backend"
        )


def _backend_sensitive_layers() -> set[str]:
    return {l for caps in _backend.CAPABILITIES.values() for l in caps.unsupported_layers}


def gpu_can_execute() -> tuple[bool, str]:
    """Whether engines can run here, and why not."""
    if not torch.cuda.is_available():
        return False, "no CUDA GPU: engines cannot execute (numbers were checked by CPU reference execution)"
    if not _backend.available():
        return False, "no TensorRT backend installed"
    major, minor = torch.cuda.get_device_capability()
    caps = _backend.capabilities()
    if major * 10 + minor in caps.refused_compute_capabilities:
        return False, f"{_backend.name()} cannot run engines on compute capability {major}.{minor}"
    return True, ""


def check_converts(
    module: torch.nn.Module,
    inputs: Sequence[Any],
    *,
    ops: Sequence[Any] | None = None,
    allow_fallback: Sequence[Any] = (),
    target_backend: str | None = None,
    precision: Any = torch.float32,
    rtol: float | None = None,
    manager: PackManager | None = None,
    **settings: Any,
) -> Converted:
    """Compile ``module`` and assert it fully converts, builds where it can, and validates.

    ``ops``: ops that must appear in the converted engines. ``allow_fallback``:
    ops allowed to stay in PyTorch. ``target_backend``: a backend other than the
    installed one is checked with ``build=False`` (networks made and validated,
    not built), as is any network with a layer the installed backend lacks.
    """
    from ..compiler import compile as _compile

    manager = manager or get_manager()
    SEEN.update((_key(spec), spec) for spec in manager.registry.all_specs())
    installed = _backend.name()
    target = target_backend or installed
    build = settings.pop("build", target == installed)
    networks: list[Any] = []
    out = _compile(
        module.eval(), list(inputs), manager=manager, validate=True, validate_rtol=rtol,
        min_block_size=settings.pop("min_block_size", 1), precision=precision,
        target_backend=target, build=build, observers=[_observe(networks)], **settings,
    )
    report = out.trtforge_report
    allowed = {a if isinstance(a, str) else qualified_op_name(a) for a in allow_fallback}
    unexpected = [
        f for f in report.fallback
        if f.op not in allowed and f.op.rsplit(".", 1)[0] not in allowed
    ]
    if unexpected:
        lines = "\n".join(f"  {f.node} ({f.op}): {f.reason}" for f in unexpected)
        raise AssertionError(f"{len(unexpected)} node(s) were not converted:\n{lines}")
    converted_ops = {op for e in report.engines for op in e.ops}
    for op in ops or ():
        name = op if isinstance(op, str) else qualified_op_name(op)
        if not any(c == name or c.rsplit(".", 1)[0] == name for c in converted_ops):
            raise AssertionError(f"{name} was not converted; engines contain {sorted(converted_ops)}")
    skipped = None if build else (
        f"engine not built: target backend {target!r} is not the installed {installed!r}"
    )
    if build:
        ok, why = gpu_can_execute()
        if ok:
            _compare_on_gpu(module, out, inputs, rtol, parse_dtype(precision))
    return Converted(out, report, bool(build), skipped, networks)


def _compare_on_gpu(module: torch.nn.Module, compiled: torch.nn.Module, inputs: Sequence[Any], rtol: float | None,
                    precision: torch.dtype) -> None:
    """The engines' outputs against the float32 module, under the validation tolerance rule
    (at float16/bfloat16 scaled from PyTorch's own error at that precision)."""
    from ..lowering.export import apply_precision
    from ..validation.tolerance import tolerance
    from ..validation.validate import errors

    args = [i.example("opt") if not isinstance(i, torch.Tensor) else i for i in inputs]
    with torch.no_grad():
        ref = module(*args)
        low = apply_precision(module, precision)(*args) if precision != torch.float32 else ref
        got = compiled.cuda()(*[a.cuda() for a in args])
    refs, lows, gots = ([v] if not isinstance(v, (list, tuple)) else v for v in (ref, low, got))
    for r, lo, g in zip(refs, lows, gots):
        e_torch = errors(lo, r)[1] if precision != torch.float32 and r.is_floating_point() else 0.0
        tol = tolerance(precision, e_torch, rtol)
        _, rel = errors(g.cpu(), r)
        assert rel <= tol, f"engine output differs from eager on the GPU: rel_err {rel:.3e} > {tol}"


def untested_converters(pack: str, manager: PackManager | None = None) -> list[str]:
    """Converters of ``pack`` no :func:`check_converts` call exercised in this session."""
    return sorted(f"{k[1]} ({k[2]})" for k in converters_of(pack, manager) if k not in EXERCISED)


def converters_of(pack: str, manager: PackManager | None = None) -> set[tuple[str, str, str]]:
    """Every converter of ``pack``: installed ones, and those of in-process packs check_converts saw."""
    manager = manager or get_manager()
    installed = {_key(spec) for spec in manager.registry.all_specs() if spec.pack == pack}
    return installed | {k for k in SEEN if k[0] == pack}


def undynamic_converters(pack: str) -> list[str]:
    """Converters claiming dynamic shapes that were never exercised with a dynamic profile."""
    return sorted(
        f"{k[1]} ({k[2]})" for k, use in EXERCISED.items()
        if k[0] == pack and use.spec.supports_dynamic_shapes and not use.dynamic
    )


def installed_packs(names: Iterable[str]) -> list[tuple[str, Any, str | None]]:
    """``(name, plugin, distribution)`` of the installed packs ``names`` (entry-point names, as
    ``trtforge packs`` lists them), their pack modules imported: what a pack under test needs
    next to it (the vision pack's ordinary layers around a custom op).

    Raises :class:`~trtforge.errors.PackLoadError` for a name no installed distribution provides,
    or a pack whose module fails to import.
    """
    from ..errors import PackLoadError
    from ..plugins.manager_light import entry_points

    eps = {ep.name: ep for ep in entry_points()}
    out = []
    for name in names:
        ep = eps.get(name)
        if ep is None:
            known = ", ".join(sorted(eps)) or "none"
            raise PackLoadError(f"no installed pack named {name!r} (installed: {known}); install the distribution "
                                "that provides it, or load its module in-process as a (name, plugin) pair")
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PackLoadError(f"pack {name!r}: import of {ep.value!r} failed: {type(exc).__name__}: {exc}") from exc
        out.append((name, plugin, getattr(getattr(ep, "dist", None), "name", None)))
    return out


def add_packs(manager: PackManager, packs: Sequence[tuple[str, Any]], needs: Iterable[str] = ()) -> PackManager:
    """Add in-process ``packs`` and the installed packs named in ``needs`` to ``manager``, all in
    pack-name order (as discovery loads them, so ties between converters of equal priority break
    as they will for users). A needed pack the manager already holds is not loaded twice."""
    loaded = {name for name, rec in manager.records.items() if rec.status == "loaded"}
    wanted = [n for n in dict.fromkeys(needs) if n not in loaded]
    given = [(name, plugin, None) for name, plugin in packs]
    for name, plugin, dist in sorted(given + installed_packs(wanted), key=lambda p: p[0]):
        manager.add_pack(name, plugin, distribution=dist)
    return manager


@contextlib.contextmanager
def pack_manager(*packs: tuple[str, Any], needs: Iterable[str] = (), discover: bool = False,
                 strict: bool = True) -> Iterator[PackManager]:
    """A fresh manager holding ``packs`` (``(name, plugin)`` pairs) and the installed packs named in
    ``needs`` (``needs=["vision"]``), installed as the default for the ``with`` block.

    Packs load in name order (:func:`add_packs`). ``discover=True`` loads every installed pack
    besides (then ``needs`` has nothing to add and is refused).
    """
    needs = list(needs)
    if discover and needs:
        raise TypeError("pack_manager(needs=...) names installed packs to load next to yours; with discover=True "
                        "every installed pack loads already: pass one or the other")
    manager = PackManager(discover=discover, strict=strict, load=None if discover else set(), disable=set())
    add_packs(manager, packs, needs)
    prev = set_manager(manager)
    try:
        yield manager
    finally:
        set_manager(prev)


def module_from(fn: Any) -> torch.nn.Module:
    """An ``nn.Module`` whose ``forward`` calls ``fn``: test an op or a few lines without a class.

    ``forward`` carries ``fn``'s parameter names, so ``Input`` ranges (torch.export's
    dynamic shapes) attach to named arguments.
    """
    import inspect

    names = list(inspect.signature(fn).parameters)

    class FnModule(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fn = fn

        def forward(self, *args: Any) -> Any:
            return self.fn(*args)

    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    FnModule.forward.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter("self", kind)] + [inspect.Parameter(n, kind) for n in names]
    )
    FnModule.__name__ = FnModule.__qualname__ = f"FnModule_{getattr(fn, '__name__', 'fn')}"
    return FnModule()
