"""``trtforge.compile``: the torch.export front door of the pipeline (:mod:`trtforge.pipeline`),
with the engine cache around it."""
from __future__ import annotations

import gc
import time
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Sequence

import torch

from . import pipeline
from .errors import CompilationError
from .precision.select import WRAPPED
from .pipeline import NetworkObserver, Session
from .plugins.manager import PackManager, get_manager
from .report import CompileReport
from .settings import CompileSettings, Input, normalize_inputs
from .settings_checks import check_against_packs
from .validation.float32 import fp32_weights as model_weights

__all__ = ["CompilationError", "compile"]


def compile(
    model: torch.nn.Module,
    inputs: Sequence[Any] | None = None,
    *,
    ir: str = "dynamo",
    arg_inputs: Sequence[Any] | None = None,
    kwarg_inputs: Mapping[str, Any] | None = None,
    manager: PackManager | None = None,
    observers: Sequence[NetworkObserver] = (),
    **settings: Any,
) -> Any:
    """Compile ``model`` for the given example tensors or :class:`trtforge.Input` specs.

    ``inputs`` (or its Torch-TensorRT name ``arg_inputs``) are passed positionally,
    ``kwarg_inputs`` (``{"input_ids": ..., "attention_mask": ...}``) by keyword; the
    compiled program takes them the same way.

    Returns a ``torch.fx.GraphModule`` in which TensorRT engines run what the
    installed packs convert and PyTorch runs the rest; its ``trtforge_report``
    attribute is the :class:`~trtforge.report.CompileReport`. With
    ``dryrun=True`` only the report is returned. ``observers`` are called with every
    network constructed (before it is built).
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
        return compile_with_torch_compile(model, specs, examples, cfg, manager, observers)
    if ir not in ("dynamo", "default", "export"):
        raise ValueError(f"unknown ir {ir!r}: use 'dynamo' (torch.export) or 'torch_compile'")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, not {type(model).__name__}")
    with _collect_only_new_objects():
        session = Session.open(cfg, manager, type(model).__name__, observers)
        return _compile_exported(session, model, specs, examples, keywords)


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


def _compile_exported(session: Session, model: torch.nn.Module, specs: Sequence[Input],
                      examples: Sequence[torch.Tensor | None], keywords: Sequence[str] = ()) -> Any:
    cfg, report = session.settings, session.report
    t0 = session.started
    ep = pipeline.capture(session, model, specs, examples, keywords)
    cache = key = None
    if cfg.engine_cache_dir and not cfg.dryrun:
        from .cache import cache_key

        with session.stage("cache", "engine cache lookup") as st:
            cache = _open_cache(cfg, report)
            packs = [(r.name, r.version) for r in session.manager.loaded()]
            backend = session.backend
            key = cache_key(ep, specs, cfg, session.target, (backend.name, backend.version) if backend else ("", ""), packs)
            hit = _cache_lookup(cache, key, cfg, report)
            if hit is not None and cfg.refittable:
                hit = _refit_hit(hit, ep, model, report)
            st.note(key=key[:12], result=report.cache)
        if hit is not None:
            hit.trtforge_report.cache = report.cache
            hit.trtforge_report.warnings = [*report.warnings, *_validated_hit_note(hit.trtforge_report, cfg)]
            hit.trtforge_report.timings_s = {**report.timings_s, "total": time.perf_counter() - t0}
            return hit
    gm = pipeline.lower(session, ep)
    if not cfg.refittable:
        del ep  # its graph (and every FakeTensor in it) is not needed past lowering
    weights = model_weights(model, WRAPPED) if cfg.precision != torch.float32 else None
    result = pipeline.compile_graph(session, gm, specs, examples, weights)
    if cache is not None and key is not None and not isinstance(result, CompileReport):
        if cfg.refittable:
            from .cache import weights_digest

            result.trtforge_weights = weights_digest(ep)
        with session.stage("cache", "storing in the engine cache") as st:
            _cache_store(cache, key, result, report)
            st.note(key=key[:12], stored=report.cache != "not_stored")
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
