"""Engine features at run time, over the TensorRT API shared by both backends: refit
(``Refitter``), optimization-profile selection (``set_optimization_profile_async``) and
TensorRT-RTX's runtime cache (``IRuntimeConfig`` / ``IRuntimeCache``).

Everything here needs a deserialized engine, so a CUDA GPU: it is written against the
documented API and its execution tests skip with the reason on machines without one.
"""
from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import torch

from ..errors import EngineInputError, RefitError
from .metadata import EngineMetadata


def refit(trt: Any, engine: Any, logger: Any, md: EngineMetadata, weights: Mapping[str, torch.Tensor]) -> None:
    """Hand ``weights`` (refit name -> host tensor) to a ``Refitter`` and refit ``engine`` in place."""
    if not engine.refittable:
        raise RefitError(
            f"engine {md.name!r} is not refittable: it was built with immutable_weights=True; recompile "
            "with immutable_weights=False"
        )
    mark = len(logger.errors)  # the process's one TensorRT logger: this refit's errors come after
    refitter = trt.Refitter(engine, logger)
    keep = []
    for name, t in weights.items():
        t = t.detach().to("cpu").contiguous()
        keep.append(t)
        w = trt.Weights(getattr(trt, str(t.dtype).replace("torch.", "")), t.data_ptr(), t.numel())
        if not refitter.set_named_weights(name, w):
            raise RefitError(f"TensorRT rejected new weights {name!r} of engine {md.name!r}: "
                             f"{'; '.join(logger.errors[mark:][-2:]) or 'wrong name or size'}")
    missing = list(refitter.get_missing_weights())
    if missing:
        raise RefitError(
            f"engine {md.name!r} needs these weights as well to refit (TensorRT combined them with the "
            f"new ones): {missing}; they are not computed from the model's parameters"
        )
    if not refitter.refit_cuda_engine():
        raise RefitError(f"TensorRT could not refit engine {md.name!r}: {'; '.join(logger.errors[mark:][-3:])}")


def select_profile(md: EngineMetadata, shapes: Sequence[Sequence[int]], forced: int | None) -> int:
    """The optimization profile to run ``shapes`` with: ``forced`` (checked), else the first that fits."""
    if forced is not None:
        if not 0 <= forced < md.num_profiles:
            raise EngineInputError(f"engine {md.name!r} has {md.num_profiles} optimization profile(s); "
                                   f"profile {forced} does not exist")
        if md.select_profile(shapes) is None or not _fits(md, shapes, forced):
            raise EngineInputError(
                f"engine {md.name!r}: input shapes {[list(s) for s in shapes]} are outside optimization "
                f"profile {forced} ({_ranges(md, forced)})"
            )
        return forced
    k = md.select_profile(shapes)
    if k is None:
        raise EngineInputError(
            f"engine {md.name!r}: input shapes {[list(s) for s in shapes]} fit none of its optimization "
            f"profiles: " + "; ".join(f"{i}: {_ranges(md, i)}" for i in range(md.num_profiles))
        )
    return k


def _fits(md: EngineMetadata, shapes: Sequence[Sequence[int]], k: int) -> bool:
    for spec, shape in zip(md.inputs, shapes):
        prof = spec.profiles[min(k, len(spec.profiles) - 1)] if spec.profiles else spec.profile
        if prof and not all(a <= n <= b for n, a, b in zip(shape, prof[0], prof[2])):
            return False
    return True


def _ranges(md: EngineMetadata, k: int) -> str:
    parts = []
    for spec in md.inputs:
        prof = spec.profiles[min(k, len(spec.profiles) - 1)] if spec.profiles else spec.profile
        if prof:
            parts.append(f"{spec.name} min {prof[0]} max {prof[2]}")
    return ", ".join(parts)


def execution_context(engine: Any, md: EngineMetadata) -> tuple[Any, Any]:
    """``(context, runtime_cache)``: with TensorRT-RTX's runtime cache when the metadata names a file."""
    if not md.runtime_cache_path:
        return engine.create_execution_context(), None
    config = engine.create_runtime_config()
    cache = config.create_runtime_cache()
    try:
        with open(md.runtime_cache_path, "rb") as f:
            cache.deserialize(f.read())
    except FileNotFoundError:
        pass  # the first run fills it
    config.set_runtime_cache(cache)
    return engine.create_execution_context(config), cache


def save_runtime_cache(cache: Any, path: str) -> None:
    """Write the runtime cache (kernels compiled so far) to ``path``, atomically."""
    from .._io import atomic_write

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with atomic_write(path, "runtime cache") as f:
        f.write(memoryview(cache.serialize()))
