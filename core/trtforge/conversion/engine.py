"""Building a serialized engine from a constructed network."""
from __future__ import annotations

import warnings
from typing import Any

import torch

from .. import backend as _backend
from ..errors import BuildError
from ..settings import CompileSettings
from .interpreter import Network


def builder_config(net: Network, settings: CompileSettings) -> Any:
    trt = _backend.trt
    config = net.builder.create_builder_config()
    if settings.workspace_size:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(settings.workspace_size))
    if settings.optimization_level is not None:
        config.builder_optimization_level = int(settings.optimization_level)
    if net.input_names:
        profile = net.builder.create_optimization_profile()
        for name, (mn, op, mx) in zip(net.input_names, net.profiles):
            profile.set_shape(name, mn, op, mx)
        config.add_optimization_profile(profile)
    return config


def build_engine(net: Network, settings: CompileSettings) -> torch.Tensor:
    """Serialize an engine for ``net``; raises :class:`BuildError` with TensorRT's own messages.

    The result is a uint8 tensor over TensorRT's own host buffer, which it keeps alive: the
    engine (as large as the weights) is never copied on its way into the compiled module.
    """
    config = builder_config(net, settings)
    serialized = net.builder.build_serialized_network(net.network, config)
    if serialized is None:
        errors = "; ".join((net.logger.errors if net.logger else [])[-5:]) or "no message from TensorRT"
        raise BuildError(f"{_backend.name()} could not build engine {net.name}: {errors}")
    with warnings.catch_warnings():
        # a backend may expose the buffer read-only; nothing ever writes to an engine tensor
        warnings.filterwarnings("ignore", message=".*not writable.*")
        return torch.frombuffer(serialized, dtype=torch.uint8)
