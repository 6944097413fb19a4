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

    The bindings return bfloat16 weights without values: those of ``ctx.layer`` come from the
    ``constants`` validation passes (``NAME``, ``NAME#1``, ...: in the order they were handed over).

    Not a copy: the array is the memory the network was given (the model's weights, which
    the network reads by pointer), and copying every weight on every run would cost a model's
    size in time and peak memory. Layer implementations never write to their inputs.
    """
    if w is None:
        return None
    arr = np.asarray(w)
    if arr.dtype == object:  # BF16, FP8, INT4 and FP4 weights: the bindings hand out no data for them
        if ctx is not None and int(w.size):
            return _given(ctx, int(w.size))
        raise NotImplementedError(f"{w.dtype} weights cannot be read through TensorRT's Python bindings")
    if arr.size == 0:
        return None
    if not arr.flags.writeable:  # torch wants writable memory; it is only read here
        arr = arr.copy()
    return torch.from_numpy(arr.reshape(-1))


def _given(ctx: Any, size: int) -> torch.Tensor:
    constants, used = ctx.state.get("constants", {}), ctx.state.setdefault("_constants_used", set())
    name = ctx.layer.name
    for key in [name, *(f"{name}#{i}" for i in range(1, 8))]:
        t = constants.get(key)
        if t is not None and key not in used and t.numel() == size:
            used.add(key)
            return t.reshape(-1)
    raise ctx.fail("its bfloat16 weights cannot be read from the bindings, and run_network(constants=...) "
                   "does not give them")


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
