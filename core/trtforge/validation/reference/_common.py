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


def weights(w: Any) -> torch.Tensor | None:
    """A ``Weights`` value (a numpy array in the bindings) as a torch tensor; None if empty.

    Not a copy: the array is the memory the network was given (the model's weights, which
    the network reads by pointer), and copying every weight on every run would cost a model's
    size in time and peak memory. Layer implementations never write to their inputs.
    """
    if w is None:
        return None
    arr = np.asarray(w)
    if arr.dtype == object:  # FP8, INT4 and FP4 weights: the bindings hand out no buffer for them
        raise NotImplementedError(f"{w.dtype} weights cannot be read through TensorRT's Python bindings")
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
