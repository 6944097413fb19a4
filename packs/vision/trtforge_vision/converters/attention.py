"""Scaled dot-product attention as exported (also the path nn.MultiheadAttention takes):
softmax(q k^T * scale + mask) v, as two matrix multiplies around a softmax."""
from __future__ import annotations

import math

import torch

from trtforge import Refusal
from trtforge.conversion import blocks as B

from ._util import all_of, arg, converter, float_input, node_arg, only_first_output, static_dims, val

aten = torch.ops.aten
_FLASH_CPU = aten._scaled_dot_product_flash_attention_for_cpu.default


def _sdpa_args(node):
    """(dropout_p, is_causal, enable_gqa) of either overload."""
    if node.target is _FLASH_CPU:
        return node_arg(node, 3, "dropout_p", 0.0), node_arg(node, 4, "is_causal", False), False
    return node_arg(node, 4, "dropout_p", 0.0), node_arg(node, 5, "is_causal", False), node_arg(node, 7, "enable_gqa", False)


def _sdpa_ok(node, settings):
    dropout, causal, gqa = _sdpa_args(node)
    if dropout:
        return Refusal(f"dropout_p={dropout} (attention dropout is random)")
    if gqa:
        return Refusal("enable_gqa=True")
    q, k = val(node.args[0]), val(node.args[1])
    if not isinstance(q.shape[-1], int):
        return Refusal("dynamic head dimension")
    if q.shape[:-2] != k.shape[:-2]:
        return Refusal("query and key batch dimensions differ (grouped-query attention)")
    if causal and not (static_dims(node.args[0], [-2]) and static_dims(node.args[1], [-2])):
        return Refusal("is_causal with dynamic sequence lengths")
    return True


def _attention(ctx, q, k, v, mask, causal: bool, scale):
    dtype = ctx.torch_dtype(q)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    scores = B.matmul(ctx, B.elementwise(ctx, "PROD", q, scale), k, transpose_b=True)
    if causal:
        L, S = q.shape[-2], k.shape[-2]
        mask = torch.ones(L, S, dtype=torch.bool).tril()
    if mask is not None:
        mdtype = mask.dtype if isinstance(mask, torch.Tensor) else ctx.torch_dtype(mask)
        if mdtype == torch.bool:
            scores = B.where(ctx, mask, scores, float("-inf"), dtype=dtype)
        else:
            scores = B.elementwise(ctx, "SUM", scores, mask, dtype=dtype)
    return B.matmul(ctx, B.softmax(ctx, scores, -1), v)


@converter(aten.scaled_dot_product_attention.default, validator=all_of(float_input, _sdpa_ok))
def sdpa(ctx, target, args, kwargs, name):
    return _attention(ctx, args[0], args[1], args[2], arg(args, kwargs, 3, "attn_mask"),
                      bool(arg(args, kwargs, 5, "is_causal", False)), arg(args, kwargs, 6, "scale"))


@converter(_FLASH_CPU, validator=all_of(float_input, _sdpa_ok, only_first_output("attention logsumexp")))
def sdpa_flash_cpu(ctx, target, args, kwargs, name):
    out = _attention(ctx, args[0], args[1], args[2], kwargs.get("attn_mask"),
                     bool(arg(args, kwargs, 4, "is_causal", False)), kwargs.get("scale"))
    return [out, None]
