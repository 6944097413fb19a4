"""nonzero, and the tuple forms ``nonzero(as_tuple=True)`` / ``where(cond)``: one INonZeroLayer each."""
from __future__ import annotations

from typing import Any

import torch
import trtforge
from trtforge.conversion import blocks
from trtforge.conversion.args import value_of

from . import _checks, _layers

aten = torch.ops.aten


def _nonzero_ok(node: torch.fx.Node, settings: Any) -> bool:
    x = value_of(node.args[0])  # nonzero's `self`, where's `condition`: the one positional argument
    bad = _checks.check_dtype(x)
    if bad is not None:
        return bad
    if x.dim() == 0:
        return trtforge.Refusal("0-d input: torch returns an [n, 0] tensor TensorRT's NonZero cannot make")
    return True


@trtforge.converter(
    aten.nonzero.default, supports_dynamic_shapes=True, requires_output_allocator=True,
    capability_validator=_nonzero_ok, emits={"NON_ZERO"},
)
def nonzero(ctx, target, args, kwargs, name):
    """``[N, rank]`` int64 coordinates, row-major: TensorRT's ``[rank, N]`` transposed."""
    return blocks.permute(ctx, _layers.nonzero(ctx, args[0]), (1, 0))


@trtforge.converter(
    aten.nonzero_numpy.default, aten.where.default, supports_dynamic_shapes=True, requires_output_allocator=True,
    capability_validator=_nonzero_ok, emits={"NON_ZERO"},
)
def nonzero_tuple(ctx, target, args, kwargs, name):
    """One ``[N]`` int64 tensor per dimension: the rows of TensorRT's ``[rank, N]`` output."""
    coords = _layers.nonzero(ctx, args[0])
    return tuple(_layers.gather(ctx, coords, _layers.i64(ctx, d), 0) for d in range(coords.shape[0]))

