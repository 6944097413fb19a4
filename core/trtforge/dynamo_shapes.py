"""Symbolic sizes of a torch.compile region, turned into what the export pipeline takes.

Dynamo hands a region compiled with dynamic shapes (``mark_dynamic``, ``dynamic=True`` or its
automatic recompile after a second shape) as a graph whose tensor inputs have symbolic sizes,
plus one ``SymInt`` input per free size symbol. An engine needs a bounded range per dynamic
dimension (its optimization profile), so the region is compiled only when dynamo knows both
bounds; the ``SymInt`` inputs are re-derived from the tensors inside the graph (``sym_size``),
since the engine's inputs are tensors only.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from .conversion.bounds import bounds
from .settings import Input


class Unsupported(Exception):
    """The region's inputs cannot become engine inputs: it runs in PyTorch, for this reason."""


def _meta(node: torch.fx.Node) -> Any:
    return node.meta.get("example_value", node.meta.get("val"))


def _symbol(size: Any) -> Any:
    """The sympy symbol of a size that is exactly one free symbol (``s0``), else None."""
    if not isinstance(size, torch.SymInt):
        return None
    expr = size.node.expr
    return expr if getattr(expr, "is_Symbol", False) else None


def _hint(size: Any) -> int:
    if isinstance(size, torch.SymInt):
        hint = size.node.hint
        if hint is None:
            raise Unsupported(f"a dynamic size ({size}) has no example value; compile with dynamic=False")
        return int(hint)
    return int(size)


def real_example(value: Any) -> Any:
    """A real tensor for a fake (or symbolic) one, at the sizes dynamo traced with."""
    from torch._subclasses.fake_tensor import is_fake

    if isinstance(value, torch.Tensor) and is_fake(value):
        shape = tuple(_hint(d) for d in value.shape)
        t = torch.randn(shape) if value.is_floating_point() else torch.zeros(shape, dtype=value.dtype)
        return t.to(value.dtype)
    return value


def region_inputs(gm: torch.fx.GraphModule, keep: list[int], example_inputs: Sequence[Any]
                  ) -> tuple[list[int], list[Input], list[torch.Tensor]]:
    """Engine input specs and examples for the (weight-frozen) region ``gm``.

    ``keep``: the positions in ``example_inputs`` of ``gm``'s placeholders. ``SymInt``
    placeholders are replaced in ``gm`` by ``sym_size`` of a tensor input that has that size,
    and dropped from the returned positions. Raises :class:`Unsupported` when an input is
    neither a tensor nor such a size, or a dynamic size has no upper bound.
    """
    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    where: dict[Any, tuple[torch.fx.Node, int]] = {}
    for node in placeholders:
        value = _meta(node)
        if isinstance(value, torch.Tensor):
            for d, size in enumerate(value.shape):
                sym = _symbol(size)
                if sym is not None:
                    where.setdefault(sym, (node, d))
    remaining, dropped = [], 0
    last = placeholders[-1] if placeholders else None
    for node, pos in zip(placeholders, keep):
        value = _meta(node)
        if isinstance(value, torch.SymInt) or isinstance(example_inputs[pos], torch.SymInt):
            source = where.get(_symbol(value))
            if source is None:
                raise Unsupported(f"region input {node.name!r} is a size that no tensor input has "
                                  f"({value}); compile with dynamic=False")
            with gm.graph.inserting_after(last):
                size = gm.graph.call_function(torch.ops.aten.sym_size.int, source)
            node.replace_all_uses_with(size)
            gm.graph.erase_node(node)
            dropped += 1
            continue
        if not isinstance(example_inputs[pos], torch.Tensor):
            raise Unsupported(f"region input {node.name!r} is a {type(example_inputs[pos]).__name__}, "
                              "not a tensor")
        remaining.append((node, pos))
    if dropped:
        gm.recompile()
    specs, tensors = [], []
    for node, pos in remaining:
        specs.append(_spec(_meta(node), example_inputs[pos]))
        tensors.append(real_example(example_inputs[pos]))
    return [pos for _, pos in remaining], specs, tensors


def _spec(meta: Any, example: torch.Tensor) -> Input:
    shape = meta.shape if isinstance(meta, torch.Tensor) else example.shape
    if not any(isinstance(d, torch.SymInt) for d in shape):
        return Input.from_tensor(real_example(example))
    lo, opt, hi, names = [], [], [], {}
    for d, size in enumerate(shape):
        sym = _symbol(size)
        if isinstance(size, torch.SymInt) and sym is None:
            raise Unsupported(f"an input has a size that is an expression ({size}), not one symbol; "
                              "compile with dynamic=False")
        if sym is None:
            lo.append(int(size)), opt.append(int(size)), hi.append(int(size))
            continue
        found = bounds(size)  # what the shape environment knows of the symbol (mark_dynamic's min/max)
        if found.max is None:
            raise Unsupported(
                f"a dynamic size ({size.node.expr}) has no upper bound, and an engine needs one; give it with "
                "torch._dynamo.mark_dynamic(x, dim, min=..., max=...), or compile with dynamic=False "
                "(one engine per shape)"
            )
        lo.append(found.min), opt.append(_hint(size)), hi.append(found.max)
        names[d] = str(sym)
    return Input(min_shape=tuple(lo), opt_shape=tuple(opt), max_shape=tuple(hi), dtype=example.dtype,
                 dim_names=names)
