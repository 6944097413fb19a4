"""Reading a compiled program: its engines, and whether PyTorch computes anything besides them.

:func:`is_compute` and :func:`is_fallback_op` are the one definition of "a node that
computes" used by the partitioner (which nodes it offers to converters and reports), by
the runtime (CUDA graph mode) and by ``save`` (the ``fallback_ops`` count ``trtforge
inspect`` shows).
"""
from __future__ import annotations

import operator
from typing import TYPE_CHECKING, Any

import torch

from .ops import engine_module_for_node, is_engine_node

if TYPE_CHECKING:  # pragma: no cover
    from .module import TRTEngineModule

__all__ = ["engines_of", "has_fallback", "is_compute", "is_fallback_op"]

#: op-name prefixes of graph bookkeeping (runtime asserts, symbolic sizes): not compute
_BOOKKEEPING = ("_assert", "sym_", "_check")


def is_compute(node: torch.fx.Node) -> bool:
    """A call that computes something: every ``call_function`` but tuple indexing and engine calls.

    Python arithmetic on symbolic sizes counts (a pack may convert it into the engine).
    """
    return node.op == "call_function" and node.target is not operator.getitem and not is_engine_node(node)


def is_fallback_op(node: torch.fx.Node) -> bool:
    """A PyTorch op that runs outside the engines: a compute node whose target is a torch op
    other than graph bookkeeping (plain Python on sizes is not a fallback segment)."""
    if not is_compute(node) or not isinstance(node.target, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
        return False
    t = node.target
    name = t.name() if isinstance(t, torch._ops.OpOverload) else t._qualified_op_name
    return not name.split("::")[-1].startswith(_BOOKKEEPING)


def engines_of(module: Any) -> list["TRTEngineModule"]:
    """Every engine a module runs: TRTEngineModule submodules, and the engines of
    ``trtforge::execute_engine`` nodes in a program loaded with plain ``torch.export.load``."""
    from .module import TRTEngineModule

    if isinstance(module, torch.export.ExportedProgram):
        raise TypeError(
            "pass the module, not the ExportedProgram: ep.module(), or load with trtforge.load(path)"
        )
    found: dict[int, TRTEngineModule] = {}
    if isinstance(module, torch.nn.Module):
        for m in module.modules():
            if isinstance(m, TRTEngineModule):
                found.setdefault(id(m), m)
            elif isinstance(m, torch.fx.GraphModule):
                for node in m.graph.nodes:
                    e = engine_module_for_node(m, node)
                    if e is not None:
                        found.setdefault(id(e), e)
    return list(found.values())


def has_fallback(module: Any) -> bool:
    """True if the program runs PyTorch code besides its engines (fallback segments)."""
    from .module import TRTEngineModule

    if isinstance(module, TRTEngineModule):
        return False
    if not isinstance(module, torch.fx.GraphModule):
        return True  # arbitrary Python around the engines
    for node in module.graph.nodes:
        if node.op == "call_module":
            sub = module.get_submodule(node.target)
            if isinstance(sub, TRTEngineModule) or node.target == "_guards_fn":
                continue
            if isinstance(sub, torch.fx.GraphModule) and not has_fallback(sub):
                continue
            return True
        if node.op == "call_method" or is_fallback_op(node):
            return True
    return False
