"""Testing tools for trtforge and for pack authors.

* :func:`run_network`: execute a TensorRT network on CPU with PyTorch (reference execution).
* :func:`check_converts`: the one-call converter test (convert, build, validate).
* :func:`pack_manager`: a fresh plugin manager with in-process packs.
* :func:`untested_converters` / :func:`undynamic_converters`: pack conformance.
"""
from __future__ import annotations

from typing import Any

from .kit import (
    Converted,
    check_converts,
    gpu_can_execute,
    module_from,
    pack_manager,
    undynamic_converters,
    untested_converters,
)

__all__ = [
    "Converted", "check_converts", "gpu_can_execute", "module_from", "pack_manager", "run_network",
    "undynamic_converters", "untested_converters",
]


def run_network(network: Any, inputs: dict, **kwargs: Any) -> dict:
    """Execute ``network`` on CPU with PyTorch; see :mod:`trtforge.validation.reference`."""
    from ..validation.reference import run_network as _run

    return _run(network, inputs, **kwargs)
