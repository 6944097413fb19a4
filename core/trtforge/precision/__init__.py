"""Mixed precision: float32 islands in a float16/bfloat16 graph.

``keep_fp32=[names]`` keeps the named nodes in float32 (:mod:`.select`, :mod:`.mixed`);
``keep_fp32="auto"`` searches for the nodes validation needs in float32 (:mod:`.search`).
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch.fx import GraphModule

from ..plugins.converters import qualified_op_name
from ..report import KeptNode
from ..settings import CompileSettings
from .mixed import keep_in_fp32, node_precisions
from .search import Converter, search
from .select import AUTO, module_path, select

__all__ = ["AUTO", "apply_keep_fp32", "node_precisions"]


def apply_keep_fp32(gm: GraphModule, cfg: CompileSettings, sets: list[list[torch.Tensor]],
                    fp32_weights: Mapping[str, torch.Tensor], convert: Converter | None,
                    unmatched_ok: list[str] | None = None) -> list[KeptNode]:
    """Apply ``cfg.keep_fp32`` to ``gm`` in place: the named nodes, then (with ``"auto"`` and a
    ``convert``) the search. Returns every node kept in float32, in graph order, with why.

    ``unmatched_ok``: ``gm`` is one region of several (torch.compile): names matching nothing
    in it are collected there instead of raising.
    """
    named = select(gm, cfg.keep_fp32, cfg.precision, unmatched_ok)
    kept = [KeptNode(n.name, qualified_op_name(n.target), module_path(n), f"keep_fp32 names {name!r}")
            for n, name in named.items()]
    if named:
        keep_in_fp32(gm, named, cfg.precision, fp32_weights)
    if AUTO in cfg.keep_fp32 and convert is not None:
        kept += search(gm, sets, cfg.precision, fp32_weights, convert, cfg.validate_rtol)
    order = {n.name: i for i, n in enumerate(gm.graph.nodes)}
    return sorted(kept, key=lambda k: order.get(k.node, -1))
