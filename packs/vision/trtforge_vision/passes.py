"""Lowering passes of the vision pack."""
from __future__ import annotations

import operator
from typing import Any

import torch
from torch.fx import GraphModule, Node

aten = torch.ops.aten
_BN = aten._native_batch_norm_legit_no_training.default


def _fetch(gm: GraphModule, node: Any) -> torch.Tensor | None:
    if node is None:
        return None
    obj: Any = gm
    for part in node.target.split("."):
        obj = getattr(obj, part)
    return obj


def _foldable(node: Node) -> bool:
    """An inference batch norm that only a (non-transposed) convolution with constant weights feeds."""
    if node.op != "call_function" or node.target is not _BN:
        return False
    conv = node.args[0]
    if not (isinstance(conv, Node) and conv.target is aten.convolution.default and len(conv.users) == 1):
        return False
    if conv.args[6]:  # transposed: output channels are not the weight's first dimension
        return False
    consts = [conv.args[1], conv.args[2], *node.args[1:5]]
    if not all(c is None or (isinstance(c, Node) and c.op == "get_attr") for c in consts):
        return False
    if node.args[3] is None or node.args[4] is None:
        return False
    return all(u.target is operator.getitem and u.args[1] == 0 for u in node.users)


def fold_batch_norm(gm: GraphModule, settings: Any = None) -> GraphModule:
    """Fold inference batch norm into a half-precision convolution (weights computed in float32).

    In half precision the separate scale and shift lose precision where the batch mean
    is large; folding gives one rounding instead of four. Float32 convolutions are left
    alone: TensorRT fuses conv + scale at build time with the same result, and folding
    here would hold a second copy of every convolution weight during the build.
    """
    count = 0
    for bn in list(gm.graph.nodes):
        if not _foldable(bn):
            continue
        conv = bn.args[0]
        w, b = _fetch(gm, conv.args[1]), _fetch(gm, conv.args[2])
        if w.dtype == torch.float32:
            continue
        gamma, beta, mean, var = (_fetch(gm, a) for a in bn.args[1:5])
        eps = bn.args[6]
        scale = torch.rsqrt(var.float() + eps)
        if gamma is not None:
            scale = scale * gamma.float()
        bias = torch.zeros_like(scale) if b is None else b.float()
        bias = (bias - mean.float()) * scale + (0 if beta is None else beta.float())
        weight = w.float() * scale.reshape((-1,) + (1,) * (w.dim() - 1))
        names = []
        for kind, value in (("weight", weight.to(w.dtype)), ("bias", bias.to(w.dtype))):
            name = f"_bn_folded_{conv.name}_{kind}"
            gm.register_buffer(name, value.detach().contiguous(), persistent=False)
            with gm.graph.inserting_before(conv):
                attr = gm.graph.get_attr(name)
            attr.meta["val"] = getattr(gm, name)
            names.append(attr)
        args = list(conv.args)
        args[1], args[2] = names
        conv.args = tuple(args)
        for getitem in list(bn.users):
            getitem.replace_all_uses_with(conv)
            gm.graph.erase_node(getitem)
        gm.graph.erase_node(bn)
        count += 1
    if count:
        gm.graph.eliminate_dead_code()
    return gm
