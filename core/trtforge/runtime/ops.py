"""The ``trtforge::execute_engine`` operator: how an engine appears in an exported program.

``trtforge::execute_engine(Tensor[] inputs, Tensor engine, str metadata) -> Tensor[]``
takes the engine's inputs, its serialized bytes as a 1-D uint8 tensor (a buffer
of the exported program) and its metadata record as JSON. Its fake kernel
derives output shapes from the metadata, so ``torch.export`` can trace it; its
real kernel runs the engine. Importing :mod:`trtforge.runtime` registers it,
which is all a plain ``torch.export.load`` of a saved program needs.
"""
from __future__ import annotations

import json
import threading
from functools import lru_cache
from typing import Any

import torch

from ..errors import SavedProgramError
from .metadata import EngineMetadata, check_abi_version, eval_shape_expr, torch_dtype

__all__ = ["clear_engine_cache", "clear_loaded_engines", "engine_module_for", "execute_engine", "is_engine_node"]


@lru_cache(maxsize=256)
def _parse_metadata(text: str) -> EngineMetadata:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SavedProgramError(f"engine metadata record is not valid JSON: {exc}") from None
    check_abi_version(data, f"engine record {data.get('name', '?')!r}" if isinstance(data, dict) else "an engine record")
    return EngineMetadata.from_dict(data)


@torch.library.custom_op("trtforge::execute_engine", mutates_args=())
def execute_engine(inputs: list[torch.Tensor], engine: torch.Tensor, metadata: str) -> list[torch.Tensor]:
    """Run one serialized engine on ``inputs`` (see the module docstring)."""
    module = engine_module_for(engine, metadata, inputs)
    return list(module.run(inputs))


@execute_engine.register_fake
def _execute_engine_fake(inputs: list[torch.Tensor], engine: torch.Tensor, metadata: str) -> list[torch.Tensor]:
    md = _parse_metadata(metadata)
    env = {f"i{k}_{d}": size for k, t in enumerate(inputs) for d, size in enumerate(t.shape)}
    device = inputs[0].device if inputs else engine.device
    outs = []
    for spec in md.outputs:
        shape = []
        for d, size in enumerate(spec.shape):
            expr = spec.shape_expr[d] if spec.shape_expr and d < len(spec.shape_expr) else None
            if expr is not None:
                shape.append(eval_shape_expr(expr, env))
            elif size >= 0:
                shape.append(size)
            else:  # unknown until run: a fresh (unbacked) size
                shape.append(torch.library.get_ctx().new_dynamic_size())
        outs.append(torch.empty(shape, dtype=torch_dtype(spec.dtype), device=device))
    return outs


# --- engines of programs loaded with plain torch.export.load -------------------------------------

#: the engine modules loaded for ``execute_engine`` nodes, by (metadata record, device): an
#: in-process memo, not the on-disk compile cache (``engine_cache_dir``, :mod:`trtforge.cache`)
_loaded: dict[tuple[str, str], Any] = {}
_lock = threading.Lock()


def engine_module_for(engine: torch.Tensor, metadata: str, inputs: list[torch.Tensor] | None = None) -> Any:
    """The TRTEngineModule (loaded once, then kept) that runs ``engine`` with ``metadata``.

    Keyed by the metadata record (which holds the engine's sha256) and the device
    of the inputs, so every node of every loaded copy of one engine shares it.
    """
    from .module import TRTEngineModule

    device = None
    for t in inputs or ():
        if t.device.type == "cuda":
            device = t.device
            break
    key = (metadata, str(device))
    mod = _loaded.get(key)
    if mod is None:
        with _lock:
            mod = _loaded.get(key)
            if mod is None:
                md = EngineMetadata.from_dict(_parse_metadata(metadata).to_dict())
                mod = TRTEngineModule(engine, md)  # verifies the sha256
                if device is not None:
                    mod._device_override = device
                _loaded[key] = mod
    return mod


def clear_loaded_engines() -> None:
    """Forget the engines loaded for ``trtforge::execute_engine`` nodes (frees their GPU memory).

    Programs loaded with a plain ``torch.export.load`` run each engine through a module kept
    here, per engine and device; the next call loads it again.
    """
    with _lock:
        _loaded.clear()


def clear_engine_cache() -> None:
    """Deprecated name of :func:`clear_loaded_engines`.

    "Engine cache" is the on-disk compile cache (``engine_cache_dir``, ``trtforge cache``);
    this function never touched it, hence the new name.
    """
    import warnings

    warnings.warn(
        "trtforge.runtime.clear_engine_cache() is deprecated: it clears the engines loaded in this "
        "process, not the engine cache on disk; call trtforge.runtime.clear_loaded_engines()",
        DeprecationWarning, stacklevel=2,
    )
    clear_loaded_engines()


def is_engine_node(node: torch.fx.Node) -> bool:
    return node.op == "call_function" and node.target in (
        torch.ops.trtforge.execute_engine.default, torch.ops.trtforge.execute_engine,
    )


def engine_module_for_node(gm: torch.fx.GraphModule, node: torch.fx.Node) -> Any:
    """The loaded engine module of an ``execute_engine`` node whose engine is a get_attr, else None."""
    if not is_engine_node(node):
        return None
    _, engine_arg, metadata = node.args[:3]
    if not isinstance(engine_arg, torch.fx.Node) or engine_arg.op != "get_attr":
        return None
    tensor = _get_attr(gm, engine_arg.target)
    device = None
    if torch.cuda.is_available():
        device = torch.device("cuda", torch.cuda.current_device())
    return engine_module_for(tensor, metadata, [torch.empty(0, device=device)] if device else None)


def _get_attr(gm: torch.nn.Module, target: str) -> Any:
    obj: Any = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj
