"""Refusing a size over a layer's limit by the largest value the compile allows, and saying the fix.

The limits are the target backend's (:func:`~trtforge.conversion.bounds.layer_limits`: TopK's K,
NMS's box count); the sizes are the optimization profile's max, or torch's bound of a
data-dependent size (:mod:`trtforge.conversion.bounds`), never the traced example. A refusal
names the limit, the size and how to get under it: which Input ``max_shape`` to lower and to
what, or the ``torch._check`` that bounds a data-dependent size.
"""
from __future__ import annotations

from typing import Any, Sequence

import sympy
import torch
from torch.fx.experimental.symbolic_shapes import free_unbacked_symbols

from ..plugins.converters import Refusal
from .bounds import Bounds, shape_bounds

__all__ = ["fit_hint", "over_limit"]


def over_limit(node: torch.fx.Node, dims: Sequence[Any], size: Bounds, limit: int, what: str, why: str,
               static_fix: str = "") -> Refusal | None:
    """A refusal when ``size`` (the bounds of the product of ``dims``, ints or SymInts) can exceed
    ``limit``, else None; ``why`` says whose limit it is, ``static_fix`` what to do when the size is static.

    ``over_limit(node, [n], numel_bounds(node.args[0]), limits.topk_max_k, "the input", "TopK ...")``
    """
    fix = fit_hint(node, dims, limit) or static_fix
    tail = f"; {fix}" if fix else ""
    if size.max is None:
        return Refusal(f"{what} has no upper bound (a data-dependent size): {why}{tail}")
    if size.max > limit:
        verb = "is" if size.min == size.max else "can reach"
        return Refusal(f"{what} {verb} {size.max}: {why}{tail}")
    return None


def fit_hint(node: torch.fx.Node, dims: Sequence[Any], limit: int) -> str:
    """How to bring the product of ``dims`` (ints or SymInts of ``node``'s graph) under ``limit``:
    which Input max_shape to lower, and to what, or the ``torch._check`` that bounds a
    data-dependent size ("" when the product is static: nothing in the profile can fix it)."""
    expr = sympy.Mul(*[d.node.expr if isinstance(d, torch.SymInt) else sympy.Integer(d) for d in dims])
    symbols = sorted(expr.free_symbols, key=str)
    if not symbols:
        return ""
    if len(symbols) > 1:
        return f"lower the Input max_shape (or bound data-dependent sizes with torch._check) so that {expr} <= {limit}"
    (symbol,) = symbols
    if free_unbacked_symbols(expr):
        best = _largest_fitting(expr, symbol, 0, limit, limit)
        return (f"bound the data-dependent size {symbol} in the model before the op, torch._check(n <= {best}) "
                "on the size it stands for, or lower the Input max_shape of the tensors it comes from")
    found = _input_dim(node, symbol)
    if found is None:
        return f"lower the Input max_shape so that {expr} <= {limit}"
    name, dim, b = found
    best = _largest_fitting(expr, symbol, b.min, b.max, limit)
    if best is None:
        return f"even the profile's min of input '{name}' (dim {dim}: {b.min}) exceeds it"
    return f"lower max_shape[{dim}] of input '{name}' from {b.max} to {best} or less"


def _input_dim(node: torch.fx.Node, symbol: Any) -> tuple[str, int, Bounds] | None:
    """``(input name, dim, bounds)`` of the graph input dimension that is ``symbol``."""
    for p in node.graph.nodes:
        if p.op != "placeholder":
            continue
        for d, s in enumerate(getattr(p.meta.get("val"), "shape", ())):
            if isinstance(s, torch.SymInt) and s.node.expr == symbol:
                return p.name, d, shape_bounds(p)[d]
    return None


def _largest_fitting(expr: Any, symbol: Any, lo: int, hi: int | None, limit: int) -> int | None:
    """The largest value of ``symbol`` in ``[lo, hi]`` keeping ``expr <= limit`` (sizes grow with
    their symbols), None if even ``lo`` does not."""
    def fits(v: int) -> bool:
        return int(expr.xreplace({symbol: v})) <= limit

    if not fits(lo):
        return None
    hi = hi if hi is not None else limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid - 1)
    return lo
