"""Which nodes ``keep_fp32=`` names: by op, node name, module path or module class.

A name may match several ways at once (``"ln"`` is both a module path and, maybe, a node
name); a node is kept if any name matches it. A name that matches no node is an error with
the closest candidates, never ignored: a typo must not silently leave a node in float16.
"""
from __future__ import annotations

import difflib
from typing import Iterable, Sequence

import torch
from torch.fx import GraphModule, Node

from ..errors import PrecisionSettingError, SettingError
from ..lowering.export import WRAPPED as _WRAPPED
from ..plugins.converters import op_name, qualified_op_name

#: the keep_fp32 value that asks for the precision search
AUTO = "auto"


def module_stack(node: Node) -> list[tuple[str, str]]:
    """``(path, type name)`` of each module around ``node``, outermost first, with paths
    relative to the user's model (the precision wrapper trtforge adds is left out)."""
    out = []
    for path, kind in (node.meta.get("nn_module_stack") or {}).values():
        kind = kind if isinstance(kind, str) else f"{kind.__module__}.{kind.__qualname__}"
        if kind.endswith("._PrecisionWrapper"):
            continue
        if path == _WRAPPED or path.startswith(_WRAPPED + "."):
            path = path[len(_WRAPPED) + 1:]
        out.append((path, kind))
    return out


def module_path(node: Node) -> str:
    """The innermost module path of ``node`` ('' at the model's top level)."""
    stack = module_stack(node)
    return stack[-1][0] if stack else ""


def floating(value: object, dtype: torch.dtype | None = None) -> bool:
    """Whether ``value`` (a node's meta value, maybe a tuple) holds a floating tensor (of ``dtype``)."""
    vals = value if isinstance(value, (list, tuple)) else [value]
    return any(isinstance(v, torch.Tensor) and v.is_floating_point() and (dtype is None or v.dtype == dtype)
               for v in vals)


def eligible(node: Node, precision: torch.dtype) -> bool:
    """A node that computes something at ``precision``: it reads or produces a tensor of that type."""
    if node.op != "call_function" or not isinstance(node.target, torch._ops.OpOverload):
        return False
    return floating(node.meta.get("val"), precision) or any(
        floating(p.meta.get("val"), precision) for p in node.all_input_nodes)


def _keys(node: Node) -> set[str]:
    """Every name ``node`` answers to."""
    keys = {node.name, op_name(node.target), qualified_op_name(node.target)}
    for path, kind in module_stack(node):
        keys.add(kind)
        keys.add(kind.rsplit(".", 1)[-1])
        parts = path.split(".") if path else []
        keys.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return keys


def normalize(value: object) -> tuple[str, ...]:
    """The ``keep_fp32`` setting as a sorted tuple of names (classes and op overloads by name)."""
    if value is None:
        return ()
    single = (str, type, torch._ops.OpOverload, torch._ops.OpOverloadPacket)
    items: Iterable[object] = [value] if isinstance(value, single) else value  # type: ignore[assignment]
    out = set()
    for item in items:
        if isinstance(item, type):
            out.add(f"{item.__module__}.{item.__qualname__}")
        elif isinstance(item, str):
            out.add(item)
        elif isinstance(item, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
            out.add(qualified_op_name(item) if isinstance(item, torch._ops.OpOverload) else item._qualified_op_name)
        else:
            raise SettingError(
                f"keep_fp32: {item!r} is a {type(item).__name__}; give op names ('aten::softmax'), node names, "
                "module paths ('encoder.norm'), module classes (torch.nn.LayerNorm) or 'auto'"
            )
    return tuple(sorted(out))


def select(gm: GraphModule, names: Sequence[str], precision: torch.dtype,
           unmatched_ok: list[str] | None = None) -> dict[Node, str]:
    """The nodes ``names`` keep in float32, each with the name that matched it.

    Raises :class:`PrecisionSettingError` for a name that matches no node computing at
    ``precision``, listing the closest node names, ops and module paths; unless
    ``unmatched_ok`` is given (a graph that is one region of several): those names go there.
    """
    wanted = [n for n in names if n != AUTO]
    chosen: dict[Node, str] = {}
    unmatched = []
    nodes = [n for n in gm.graph.nodes if eligible(n, precision)]
    keys = {n: _keys(n) for n in nodes}
    for name in wanted:
        hits = [n for n in nodes if name in keys[n]]
        if not hits:
            unmatched.append(name)
        for n in hits:
            chosen.setdefault(n, name)
    if unmatched and unmatched_ok is not None:
        unmatched_ok.extend(unmatched)
    elif unmatched:
        raise PrecisionSettingError(_explain(unmatched, keys, precision))
    return chosen


def _explain(unmatched: list[str], keys: dict[Node, set[str]], precision: torch.dtype) -> str:
    candidates = sorted(set().union(*keys.values())) if keys else []
    lines = []
    for name in unmatched:
        close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.5)
        hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
        lines.append(f"  {name!r}{hint}")
    dt = str(precision).replace("torch.", "")
    return (
        f"keep_fp32 names what no {dt} node of the lowered graph matches:\n" + "\n".join(lines) + "\n"
        "Names are node names (as in the compile report), ops ('aten::layer_norm' or "
        "'aten::layer_norm.default'), module paths ('encoder.layers.0') or module classes "
        "(torch.nn.LayerNorm or 'LayerNorm')."
    )
