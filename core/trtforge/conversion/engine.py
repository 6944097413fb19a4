"""Building a serialized engine from a constructed network."""
from __future__ import annotations

import warnings
from typing import Any

import torch

from .. import backend as _backend
from ..errors import BuildError
from ..settings import CompileSettings
from . import timing_cache
from .interpreter import Network


def builder_config(net: Network, settings: CompileSettings) -> Any:
    """The builder configuration: memory, optimization level, profiles and engine features."""
    trt = net.backend.module
    config = net.builder.create_builder_config()
    if settings.workspace_size:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(settings.workspace_size))
    if settings.optimization_level is not None:
        config.builder_optimization_level = int(settings.optimization_level)
    if net.input_names:
        for per_input in net.profile_sets or [net.profiles]:
            profile = net.builder.create_optimization_profile()
            for name, (mn, op, mx) in zip(net.input_names, per_input):
                profile.set_shape(name, mn, op, mx)
            config.add_optimization_profile(profile)
    apply_features(config, settings, net.backend)
    if settings.timing_cache_path:
        timing_cache.load(config, settings.timing_cache_path)
    return config


def apply_features(config: Any, settings: CompileSettings, backend: _backend.Backend) -> None:
    """Set the builder flags and levels of the engine-feature settings (Torch-TensorRT's meaning)."""
    trt = backend.module
    flags = []
    if settings.enable_weight_streaming:
        flags.append("WEIGHT_STREAMING")
    if settings.refittable:
        flags.append("REFIT_IDENTICAL" if settings.refit_identical_engine_weights else "REFIT")
    if settings.strip_engine_weights:
        flags.append("STRIP_PLAN")
    if settings.version_compatible:
        flags.append("VERSION_COMPATIBLE")
    if settings.sparse_weights:
        flags.append("SPARSE_WEIGHTS")
    for flag in flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    if settings.hardware_compatible and not backend.capabilities.portable_engines:
        config.hardware_compatibility_level = trt.HardwareCompatibilityLevel.AMPERE_PLUS
    if settings.max_aux_streams is not None:
        config.max_aux_streams = int(settings.max_aux_streams)


def flags_set(config: Any, backend: _backend.Backend) -> list[str]:
    """Names of the builder flags set on ``config``, read back from TensorRT (for the metadata)."""
    flags = backend.module.BuilderFlag.__members__.items()
    return sorted(name for name, flag in flags if config.get_flag(flag))


def hardware_level(config: Any, backend: _backend.Backend) -> str:
    """``"none"``, ``"ampere_plus"`` or ``"same_compute_capability"``: as set on ``config``, or
    ``"ampere_plus"`` for a backend whose engines are all portable."""
    if backend.capabilities.portable_engines:
        return "ampere_plus"
    return str(config.hardware_compatibility_level.name).lower()


def feature_metadata(config: Any, settings: CompileSettings, backend: _backend.Backend) -> dict[str, Any]:
    """The engine-metadata fields the features of ``config`` decide (read back from TensorRT)."""
    out: dict[str, Any] = {
        "builder_flags": flags_set(config, backend),
        "hardware_compatibility": hardware_level(config, backend),
        "max_aux_streams": settings.max_aux_streams,
        "runtime_cache_path": settings.runtime_cache_path or "",
    }
    flags = out["builder_flags"]
    out["weight_streaming"] = "WEIGHT_STREAMING" in flags
    out["refittable"] = "REFIT" in flags or "REFIT_IDENTICAL" in flags
    out["weights_stripped"] = "STRIP_PLAN" in flags
    out["version_compatible"] = "VERSION_COMPATIBLE" in flags
    return out


def build_device() -> dict[str, Any]:
    """Device, compute capability and GPU name an engine built now is for ("" on a CPU-only build)."""
    if not torch.cuda.is_available():
        return {}
    idx = torch.cuda.current_device()
    major, minor = torch.cuda.get_device_capability(idx)
    return {"device": idx, "compute_capability": f"{major}.{minor}", "device_name": torch.cuda.get_device_name(idx)}


def build_engine(net: Network, settings: CompileSettings, config: Any = None) -> torch.Tensor:
    """Serialize an engine for ``net``; raises :class:`BuildError` with TensorRT's own messages.

    The result is a uint8 tensor over TensorRT's own host buffer, which it keeps alive: the
    engine (as large as the weights) is never copied on its way into the compiled module.
    """
    if config is None:
        config = builder_config(net, settings)
    mark = len(net.logger.errors) if net.logger else 0  # the one shared logger: only this build's errors
    serialized = net.builder.build_serialized_network(net.network, config)
    if serialized is None:
        errors = "; ".join((net.logger.errors[mark:] if net.logger else [])[-5:]) or "no message from TensorRT"
        raise BuildError(f"{net.backend.name} could not build engine {net.name}: {errors}")
    if settings.timing_cache_path:
        timing_cache.save(config, settings.timing_cache_path)
    with warnings.catch_warnings():
        # a backend may expose the buffer read-only; nothing ever writes to an engine tensor
        warnings.filterwarnings("ignore", message=".*not writable.*")
        return torch.frombuffer(serialized, dtype=torch.uint8)
