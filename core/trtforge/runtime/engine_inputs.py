"""What an engine accepts: the checks behind ``TRTEngineModule.check_inputs`` (count, dtype, rank,
static sizes, the optimization profile's range) and the placement of inputs on the engine's
device. Every refusal names the engine, the input and the fix."""
from __future__ import annotations

from typing import Any, Sequence

import torch

from ..errors import EngineInputError
from . import state
from .metadata import EngineMetadata

__all__ = ["check_inputs", "place_inputs"]


def check_inputs(md: EngineMetadata, dtypes: Sequence[torch.dtype], inputs: Sequence[Any]) -> None:
    """Raise :class:`EngineInputError` unless ``inputs`` match engine ``md``'s count, ``dtypes`` and
    shapes (static dimensions equal, dynamic ones within the optimization profile)."""
    if len(inputs) != len(md.inputs):
        raise EngineInputError(f"engine {md.name!r} takes {len(md.inputs)} input(s) {md.input_names}, got {len(inputs)}")
    for i, (spec, t, dt) in enumerate(zip(md.inputs, inputs, dtypes)):
        which = f"engine {md.name!r} input {i} ({spec.name!r})"
        if not isinstance(t, torch.Tensor):
            raise EngineInputError(f"{which} must be a torch.Tensor, got {type(t).__name__}")
        if t.dtype != dt:
            raise EngineInputError(f"{which} must be {dt}, got {t.dtype}")
        shape = tuple(t.shape)
        if len(shape) != len(spec.shape):
            raise EngineInputError(
                f"{which} must have rank {len(spec.shape)} (shape {spec.shape}, -1 = dynamic), got shape {list(shape)}"
            )
        if spec.profile:
            lo, _, hi = spec.profile
            for d, (n, a, b) in enumerate(zip(shape, lo, hi)):
                if not a <= n <= b:
                    raise EngineInputError(
                        f"{which} has shape {list(shape)}: dimension {d} is {n}, outside the optimization "
                        f"profile range [{a}, {b}] (min {lo}, max {hi}); recompile with a wider "
                        "Input(min_shape=, max_shape=)"
                    )
        for d, (n, want) in enumerate(zip(shape, spec.shape)):
            if want >= 0 and n != want:
                raise EngineInputError(f"{which} must have shape {spec.shape}, got {list(shape)} (dimension {d} is static)")


def place_inputs(md: EngineMetadata, inputs: Sequence[torch.Tensor], device: torch.device) -> list[torch.Tensor]:
    """``inputs`` contiguous on ``device``: moved there only in multi-device safe mode, else refused."""
    safe = state.get_multi_device_safe_mode()
    placed = []
    for spec, t in zip(md.inputs, inputs):
        if t.device != device:
            if not safe:
                raise EngineInputError(
                    f"engine {md.name!r} runs on {device}, but input {spec.name!r} is on "
                    f"{t.device}; move the inputs there (x.to({str(device)!r})) or turn on "
                    "trtforge.runtime.set_multi_device_safe_mode(True), which moves them"
                )
            t = t.to(device, non_blocking=True)
        placed.append(t if t.is_contiguous() else t.contiguous())
    return placed
