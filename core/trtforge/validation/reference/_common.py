"""Small helpers shared by the layer implementations."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch


def name(enum_value: Any) -> str:
    """Member name of a TensorRT enum value (``ActivationType.RELU`` -> ``"RELU"``)."""
    return getattr(enum_value, "name", str(enum_value).rsplit(".", 1)[-1])


def mask_axes(mask: int, rank: int) -> list[int]:
    """Axes selected by a TensorRT axes bitmask (bit i = dimension i)."""
    return [i for i in range(rank) if (int(mask) >> i) & 1]


def dims(d: Any, rank: int | None = None) -> tuple[int, ...] | None:
    """A TensorRT ``Dims``/``Permutation`` as a tuple (``None`` stays ``None``)."""
    if d is None:
        return None
    t = tuple(int(v) for v in d)
    return t if rank is None else t[:rank]


def weights(w: Any, ctx: Any = None) -> torch.Tensor | None:
    """A ``Weights`` value (a numpy array in the bindings) as a torch tensor; None if empty.

    The bindings return bfloat16 and float8 weights without their values; those are read from
    the tensors the conversion context handed TensorRT for this layer (``ctx``: its LayerCtx).

    Not a copy: the array is the memory the network was given (the model's weights, which
    the network reads by pointer), and copying every weight on every run would cost a model's
    size in time and peak memory. Layer implementations never write to their inputs.
    """
    if w is None:
        return None
    arr = np.asarray(w)
    if arr.dtype == object and ctx is not None:
        return _handed_weights(w, ctx)
    if arr.size == 0:
        return None
    if not arr.flags.writeable:  # torch wants writable memory; it is only read here
        arr = arr.copy()
    return torch.from_numpy(arr.reshape(-1))


def ints(t: torch.Tensor) -> list[int]:
    """Values of a small integer (shape) tensor as Python ints."""
    return [int(v) for v in t.reshape(-1).tolist()]


class _Failed:
    """Stands in for the outputs of a layer that failed inside an if-conditional.

    TensorRT evaluates conditional branches lazily; the reference evaluates both, so
    an error in the branch not taken must not abort the run. It is raised only if the
    value reaches a requested output or the taken branch of a CONDITIONAL_OUTPUT.
    """

    def __init__(self, error: BaseException) -> None:
        self.error = error


def _handed_weights(w: Any, ctx: Any) -> torch.Tensor | None:
    """The tensor behind opaque ``Weights`` of ``ctx.layer``: the next one handed over for it with
    as many elements."""
    from trtforge.conversion.context import unreadable_weights

    if not int(w.size):
        return None
    used = ctx.state.setdefault("_weights_used", set())
    for t in unreadable_weights(ctx.state["_network"], ctx.layer.name):
        if id(t) not in used and t.numel() == int(w.size):
            used.add(id(t))
            return t.reshape(-1)
    raise ctx.fail(f"cannot read its {w.dtype} weights (the bindings give no values, and the network was not "
                   "built by trtforge's conversion context)")
