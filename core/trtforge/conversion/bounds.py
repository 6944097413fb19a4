"""How large a symbolic size can be, and what the target backend's layers allow.

A validator decides before any network exists, from the fx node. A size PyTorch recorded as a
``SymInt`` (``s0``, ``2*s0``, a data-dependent ``u0``) has a min, opt and max in the compile's
optimization profile; a converter whose layer has a limit (TopK's K, NMS's box count) must
refuse by the **max**, not by the example it was traced with. :func:`bounds` gives the three
numbers, :func:`layer_limits` the target backend's limits, so the comparison is one line.

The pipeline records the profile's symbol ranges and the target backend on the graph
(``gm.meta[COMPILE_FACTS]``) before partitioning; without them (a graph built by hand) min and
max come from the shape environment and opt from the traced example.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, NamedTuple, Sequence

import torch

from .. import backend as _backend
from ..errors import ConversionError

__all__ = ["Bounds", "COMPILE_FACTS", "CompileFacts", "bounds", "dim_range", "layer_limits", "numel_bounds",
           "shape_bounds"]

#: symbol -> (min, opt, max)
SymbolRanges = Mapping[Any, tuple[int, int, int]]

#: ``GraphModule.meta`` key of the :class:`CompileFacts` the pipeline records
COMPILE_FACTS = "trtforge_compile_facts"


@dataclass(frozen=True)
class CompileFacts:
    """What one compile knows about a graph that its nodes do not carry."""

    #: each input symbol's (min, opt, max) over the optimization profiles
    ranges: SymbolRanges = field(default_factory=dict)
    #: the backend the networks are made for (``target_backend``)
    target: str | None = None


class Bounds(NamedTuple):
    """The sizes one dimension takes: ``max`` is None when nothing bounds it (a data-dependent size)."""

    min: int
    opt: int
    max: int | None


def _facts(node: Any) -> CompileFacts:
    graph = getattr(node, "graph", None)
    owner = getattr(graph, "owning_module", None)
    facts = getattr(owner, "meta", {}).get(COMPILE_FACTS) if owner is not None else None
    return facts if isinstance(facts, CompileFacts) else CompileFacts()


def bounds(size: Any, ranges: SymbolRanges | None = None) -> Bounds:
    """:class:`Bounds` of one size: an ``int``, a ``SymInt``, or a SymInt-valued fx node (``sym_size``)."""
    if isinstance(size, torch.fx.Node):
        ranges = _facts(size).ranges if ranges is None else ranges
        size = size.meta.get("val")
    if isinstance(size, int):
        return Bounds(size, size, size)
    if not isinstance(size, torch.SymInt):
        raise TypeError(f"bounds() takes an int, a SymInt or a node holding one, not {type(size).__name__}")
    found = _from_profile(size, ranges)
    if found is not None:
        return found
    lo, hi = _from_shape_env(size)
    lo = 0 if lo is None else lo
    hint = size.node.hint
    opt = int(hint) if hint is not None else (hi if hi is not None else lo)
    return Bounds(lo, opt, hi)


def _from_profile(size: torch.SymInt, ranges: SymbolRanges | None) -> Bounds | None:
    """The bounds of ``size`` in the optimization profile, when ``ranges`` covers its every symbol."""
    expr = size.node.expr
    free = list(expr.free_symbols)
    if not (ranges and free and all(s in ranges for s in free)):
        return None
    lo, opt, hi = (int(expr.xreplace({s: ranges[s][k] for s in free})) for k in range(3))
    return Bounds(min(lo, hi), opt, max(lo, hi))


def _from_shape_env(size: torch.SymInt) -> tuple[int | None, int | None]:
    """(lower, upper) of ``size`` as torch's shape environment bounds it; None for an infinite end."""
    found = size.node.shape_env.bound_sympy(size.node.expr)
    return _finite(found.lower), _finite(found.upper)


def _finite(value: Any) -> int | None:
    """``value`` as an int, or None for an infinity (sympy's or torch's int_oo, which ``int()`` refuses)."""
    try:
        return int(value) if getattr(value, "is_finite", True) is not False else None
    except (TypeError, ValueError, OverflowError, AttributeError):
        return None


def shape_bounds(value: Any) -> list[Bounds]:
    """:class:`Bounds` of each dimension of a tensor: an fx node, or the FakeTensor it stands for."""
    ranges = _facts(value).ranges if isinstance(value, torch.fx.Node) else None
    tensor = value.meta.get("val") if isinstance(value, torch.fx.Node) else value
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"shape_bounds() takes a tensor or a node holding one, not {type(tensor).__name__}")
    return [bounds(d, ranges) for d in tensor.shape]


def numel_bounds(value: Any, dims: Sequence[int] | None = None) -> Bounds:
    """:class:`Bounds` of the element count of a tensor (of dimensions ``dims`` only, when given)."""
    each = shape_bounds(value)
    if dims is not None:
        each = [each[d] for d in dims]
    lo = opt = 1
    hi: int | None = 1
    for b in each:
        lo, opt = lo * b.min, opt * b.opt
        hi = None if hi is None or b.max is None else hi * b.max
    return Bounds(lo, opt, hi)


def layer_limits(node: Any = None, settings: Any = None) -> _backend.LayerLimits:
    """The layer limits of the backend a node's networks are made for.

    The target is the compile's (recorded on the graph), else ``settings.target_backend``, else
    the installed backend's. During conversion pass ``ctx.current_node``.
    """
    target = _facts(node).target or getattr(settings, "target_backend", None)
    return _backend.capabilities(target).limits


def dim_range(dim: Any, ranges: SymbolRanges) -> tuple[int, int, int]:
    """(min, opt, max) of an engine input dimension. A size the profile does not fix (computed
    from data) is optimized for its max; one with no finite bound cannot be an engine input."""
    if isinstance(dim, int):
        return dim, dim, dim
    found = _from_profile(dim, ranges)
    if found is not None:
        return found.min, found.opt, found.max  # type: ignore[return-value]
    lo, hi = _from_shape_env(dim)
    if lo is None or hi is None:
        raise ConversionError(
            f"dimension {dim.node.expr} has no finite bound (a data-dependent size); it cannot be an engine "
            "input dimension. Keep its producer and consumers in one engine, or bound it with "
            "torch._check"
        )
    return lo, hi, hi
