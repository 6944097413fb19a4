"""Refit: new weights into compiled engines without a rebuild.

``trtforge.refit_module_weights(program, new_weights)`` maps the model's parameters onto every
refittable engine through the recipes recorded at compile time (``metadata.refit_map``, see
:mod:`trtforge.refit.tracker`), then refits each engine with TensorRT's ``Refitter``. Needs
neither the packs nor the compiler stages: only torch and the runtime.
"""
from __future__ import annotations

import warnings
from typing import Any

import torch

from ..errors import RefitError
from .replay import compute_weights, source_weights

__all__ = ["RefitError", "compute_engine_weights", "refit_module_weights"]


def compute_engine_weights(engine: Any, new_weights: Any) -> dict[str, torch.Tensor]:
    """The refittable weights of one engine (a TRTEngineModule or its EngineMetadata) computed
    from ``new_weights`` (a module, an ExportedProgram or a state dict): what the Refitter gets."""
    md = getattr(engine, "metadata", engine)
    if not md.refittable and not md.refit_map:
        raise RefitError(
            f"engine {md.name!r} is not refittable: compile with immutable_weights=False to refit it"
        )
    src = new_weights if isinstance(new_weights, dict) and _all_tensors(new_weights) else source_weights(new_weights)
    _warn_unrefittable(md, src)
    return compute_weights(md.refit_map, src, md.name)


def _all_tensors(d: dict) -> bool:
    return all(isinstance(v, torch.Tensor) for v in d.values())


def _warn_unrefittable(md: Any, src: dict[str, torch.Tensor]) -> None:
    """Parameters the compile baked into the engine keep their compile-time values: say which."""
    given = sorted(set(md.unrefittable) & set(src))
    if given:
        warnings.warn(
            f"engine {md.name!r} keeps the compile-time values of {given} (they cannot be refitted: "
            + "; ".join(f"{k}: {md.unrefittable[k]}" for k in given) + "); recompile to change them",
            stacklevel=3,
        )


def refit_module_weights(program: torch.nn.Module, new_weights: Any, *, strict: bool = True) -> torch.nn.Module:
    """Refit every engine of ``program`` (compiled or loaded) with ``new_weights`` and return it.

    All engines' weights are computed and checked first (a missing parameter, a changed shape,
    an unrefittable one raises :class:`trtforge.RefitError` before any engine changes). Each engine
    is then refitted on its GPU, or, when it is not loaded yet, when it first runs. ``strict``:
    given weights that no engine uses (PyTorch fallback segments, or not in the model) are named
    in a warning; trtforge does not change the fallback segments' own parameters.
    """
    from ..runtime.modes import engines_of

    engines = engines_of(program)
    if not engines:
        raise RefitError("the program has no TensorRT engine to refit")
    src = source_weights(new_weights)
    plans = []
    used: set[str] = set()
    for e in engines:
        md = e.metadata
        if not md.refittable:
            raise RefitError(
                f"engine {md.name!r} was built with immutable_weights=True (builder flags {md.builder_flags}); "
                "recompile with immutable_weights=False to refit it"
            )
        _warn_unrefittable(md, src)
        plans.append((e, compute_weights(md.refit_map, src, md.name)))
        used |= {n["param"] for n in md.refit_map.get("nodes", []) if "param" in n}
    unused = sorted(set(src) - used)
    if strict and unused:
        warnings.warn(
            f"{len(unused)} of the new weights are used by no engine and were not applied (PyTorch fallback "
            f"segments keep their own): {unused[:8]}{' ...' if len(unused) > 8 else ''}", stacklevel=2,
        )
    for e, weights in plans:
        e.set_weights(weights)
        if torch.cuda.is_available():
            e._runner_or_create()  # refit now, so that errors surface here
    return program
