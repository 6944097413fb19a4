"""Scaled dot-product attention as exported (also the path nn.MultiheadAttention takes):
softmax(q k^T * scale + mask) v, as two matrix multiplies around a softmax."""
from __future__ import annotations

import math

import torch

from trtforge import Refusal
from trtforge.conversion import blocks as B
from trtforge.conversion.args import all_of, argument, node_argument, only_first_output, value_of

from ._util import converter, float_input, static_dims

aten = torch.ops.aten
_FLASH_CPU = aten._scaled_dot_product_flash_attention_for_cpu.default


def _sdpa_ok(node, settings):
    # the two overloads put these at different positions; the flash one has no enable_gqa
    dropout, causal = node_argument(node, "dropout_p"), node_argument(node, "is_causal")
    gqa = node_argument(node, "enable_gqa", default=False)
    if dropout:
        return Refusal(f"dropout_p={dropout} (attention dropout is random)")
    if gqa:
        return Refusal("enable_gqa=True")
    q, k = value_of(node.args[0]), value_of(node.args[1])
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


def _sdpa(ctx, target, args, kwargs):
    """Either overload: the arguments are read by name (attn_mask is keyword-only in the flash one)."""
    q, k, v, mask, causal, scale = (argument(target, args, kwargs, n)
                                    for n in ("query", "key", "value", "attn_mask", "is_causal", "scale"))
    return _attention(ctx, q, k, v, mask, bool(causal), scale)


@converter(aten.scaled_dot_product_attention.default, validator=all_of(float_input, _sdpa_ok))
def sdpa(ctx, target, args, kwargs, name):
    return _sdpa(ctx, target, args, kwargs)


@converter(_FLASH_CPU, validator=all_of(float_input, _sdpa_ok, only_first_output("attention logsumexp")))
def sdpa_flash_cpu(ctx, target, args, kwargs, name):
    return [_sdpa(ctx, target, args, kwargs), None]
