"""Registration and argument helpers of this pack: arguments are read by their schema name.

Validator helpers shared with the vision pack (this pack depends on it) are imported from there.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from trtforge_vision.converters._util import all_of, only_first_output, val

import trtforge

__all__ = ["ALL", "all_of", "argument", "converter", "iota", "node_argument", "only_first_output", "val"]

#: every converter function of the pack, in registration order
ALL: list[Callable[..., Any]] = []


def converter(*targets: Any, validator: Callable | None = None, **kwargs: Any) -> Callable:
    """``@trtforge.converter`` (dynamic shapes supported) for several targets; records the function in :data:`ALL`."""

    def deco(fn: Callable) -> Callable:
        for t in targets:
            fn = trtforge.converter(t, supports_dynamic_shapes=True, capability_validator=validator, **kwargs)(fn)
        if fn not in ALL:
            ALL.append(fn)
        return fn

    return deco


def argument(target: Any, args: Any, kwargs: dict, name: str) -> Any:
    """The argument called ``name`` in ``target``'s schema, positional or keyword, else its default.

    The overloads of one op put the same argument at different positions (attention's
    ``scale`` is the 7th argument of one and keyword-only in another): by name, one
    converter reads them all.
    """
    for i, a in enumerate(target._schema.arguments):
        if a.name == name:
            if not a.kwarg_only and i < len(args):
                return args[i]
            if name in kwargs:
                return kwargs[name]
            return a.default_value if a.has_default_value() else None
    return None


def node_argument(node: torch.fx.Node, name: str) -> Any:
    """:func:`argument` on an fx node (what validators see)."""
    return argument(node.target, node.args, node.kwargs, name)


def iota(ctx: Any, count: Any) -> Any:
    """``arange(count)`` as an int64 tensor; ``count`` is an int or a 1-element shape tensor."""
    from trtforge.conversion import blocks as B

    if not ctx.is_tensor(count):
        return ctx.constant(torch.arange(int(count), dtype=torch.int64))
    layer = ctx.net.add_fill((1,), ctx.trt.FillOperation.LINSPACE, ctx.trt.DataType.INT64)
    layer.set_input(0, B.as_size_tensor(ctx, count))
    layer.set_input(1, ctx.constant(torch.tensor(0, dtype=torch.int64)))
    layer.set_input(2, ctx.constant(torch.tensor([1], dtype=torch.int64)))
    return ctx.out(layer, "iota")
