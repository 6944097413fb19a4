"""What the vision converters share beyond the core toolkit (``trtforge.conversion.args``):
the pack's decorator default, and validators and value helpers no other pack needs."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

import trtforge
from trtforge import Refusal
from trtforge.conversion.args import dtype_of, value_of

__all__ = ["converter", "float_input", "is_constant", "scalar_value", "static_dims"]


def converter(*targets: Any, validator: Callable | None = None, **kwargs: Any) -> Callable:
    """``@trtforge.converter`` with this pack's default: every vision converter handles dynamic
    shapes (the core's default is the opposite), so none has to say so."""
    return trtforge.converter(*targets, supports_dynamic_shapes=True, capability_validator=validator, **kwargs)


def is_constant(node: Any) -> bool:
    """A weight/buffer (get_attr) or absent: what layers that take trt.Weights need."""
    return node is None or (isinstance(node, torch.fx.Node) and node.op == "get_attr")


def static_dims(node: Any, dims: Sequence[int] | None = None) -> bool:
    """True if the dims (all when None) of the node's value are plain ints."""
    shape = list(value_of(node).shape)
    pick = range(len(shape)) if dims is None else [d % len(shape) for d in dims]
    return all(isinstance(shape[d], int) for d in pick)


def float_input(node: torch.fx.Node, settings: Any) -> Any:
    """Validator: the first input is a floating tensor."""
    dt = dtype_of(node.args[0])
    return True if dt is not None and dt.is_floating_point else Refusal(f"input dtype {dt} is not floating point")


def scalar_value(v: Any) -> Any:
    """A Python number from a scalar argument (0-d tensors included)."""
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        return v.item()
    return v
