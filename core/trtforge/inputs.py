"""Input specs as torch.export arguments: the example tensors to trace with and the ``Dim`` s of
their dynamic dimensions. One implementation, used by capture (``trtforge.compile``) and by
``trtforge.save``; dimensions that share a name in ``Input.dim_names`` share one ``Dim``."""
from __future__ import annotations

import re
from typing import Any, Sequence

import torch

from .settings import Input

__all__ = ["UNNAMED_DIM", "dynamic_shapes_for", "export_example"]

#: the name of the Dim of an unnamed dynamic dimension (input i, dimension d), and its pattern
UNNAMED_DIM_NAME = "input{i}_dim{d}"
UNNAMED_DIM = re.compile(r"input(\d+)_dim(\d+)")


def export_example(spec: Input) -> torch.Tensor:
    """The tensor torch.export traces with: opt shape, but never 0/1 on a dynamic dim
    (torch.export specializes sizes 0 and 1)."""
    shape = list(spec.opt_shape)  # type: ignore[arg-type]
    for d in spec.dynamic_dims:
        if shape[d] < 2:
            shape[d] = min(max(2, spec.min_shape[d]), spec.max_shape[d])  # type: ignore[index]
    return Input(shape=tuple(shape), dtype=spec.dtype, value_range=spec.value_range).example("opt", generator=torch.Generator().manual_seed(0))


def dynamic_shapes_for(specs: Sequence[Input]) -> tuple[Any, ...] | None:
    """``dynamic_shapes`` for torch.export (one entry per spec), or None when every spec is static."""
    if not any(s.is_dynamic for s in specs):
        return None
    out = []
    named: dict[str, tuple[Any, tuple[int, int]]] = {}
    for i, s in enumerate(specs):
        if not s.is_dynamic:
            out.append(None)
            continue
        dims = {}
        for d in s.dynamic_dims:
            lo, hi = s.min_shape[d], s.max_shape[d]  # type: ignore[index]
            name = (s.dim_names or {}).get(d)
            if name is None:
                dims[d] = torch.export.Dim(UNNAMED_DIM_NAME.format(i=i, d=d), min=lo, max=hi)
                continue
            if name not in named:
                named[name] = (torch.export.Dim(name, min=lo, max=hi), (lo, hi))
            elif named[name][1] != (lo, hi):
                raise ValueError(
                    f"dimension {name!r} has range {named[name][1]} in one input and {(lo, hi)} in input {i}; "
                    "dimensions sharing a name need the same min and max"
                )
            dims[d] = named[name][0]
        out.append(dims)
    return tuple(out)
