"""Every scaled-dot-product-attention overload an export leaves, as two matrix multiplies around a
softmax: masks (bool or additive), ``is_causal`` (also with dynamic sequence lengths), ``scale``, and
grouped-/multi-query attention (fewer key/value heads than query heads) without copying keys.

The fused overloads (flash, efficient, cuDNN, CPU flash, overrideable) compute the same function
with a different kernel; their extra outputs (log-sum-exp, RNG state, debug masks) are refused when read.
"""
from __future__ import annotations

import math

import torch

import trtforge
from trtforge import Refusal
from trtforge.conversion import blocks as B
from trtforge.conversion.args import all_of, argument, node_argument, only_first_output, value_of


aten = torch.ops.aten

#: overload -> the name of its mask argument (None: it takes no mask)
OVERLOADS = {
    aten.scaled_dot_product_attention.default: "attn_mask",
    aten._scaled_dot_product_flash_attention_for_cpu.default: "attn_mask",
    aten._scaled_dot_product_flash_attention.default: None,
    aten._scaled_dot_product_efficient_attention.default: "attn_bias",
    aten._scaled_dot_product_cudnn_attention.default: "attn_bias",
    aten._scaled_dot_product_fused_attention_overrideable.default: "attn_bias",
}


def _attention_ok(node, settings):
    dropout = node_argument(node, "dropout_p")
    if dropout:
        return Refusal(f"dropout_p={dropout}: attention dropout is random; export the model in eval mode")
    q, k, v = (value_of(node_argument(node, n)) for n in ("query", "key", "value"))
    if not q.dtype.is_floating_point:
        return Refusal(f"query dtype {q.dtype} is not floating point")
    if not isinstance(q.shape[-1], int):
        return Refusal("dynamic head dimension (the scale 1/sqrt(E) must be known when the engine is built)")
    if q.shape[:-3] != k.shape[:-3]:
        return Refusal(f"query batch dims {tuple(q.shape[:-3])} differ from key batch dims {tuple(k.shape[:-3])}")
    hq, hk = (q.shape[-3], k.shape[-3]) if q.dim() >= 3 else (1, 1)
    if hq != hk:
        if q.dim() < 4 or not all(isinstance(h, int) for h in (hq, hk, v.shape[-3])) or hq % hk or v.shape[-3] != hk:
            return Refusal(f"{hq} query heads and {hk} key/value heads: grouped-query attention needs rank-4 "
                           "inputs and static head counts, query heads a multiple of key heads")
    return True


_VALIDATOR = all_of(_attention_ok, only_first_output("attention log-sum-exp / RNG / debug"))


# priority 1: wins over the vision pack's plain attention (no GQA, no dynamic causal, two overloads)
@trtforge.converter(*OVERLOADS, supports_dynamic_shapes=True, capability_validator=_VALIDATOR, priority=1)
def attention(ctx, target, args, kwargs, name):
    mask_name = OVERLOADS[target]
    mask = argument(target, args, kwargs, mask_name) if mask_name else None
    q, k, v = (ctx.to_trt(argument(target, args, kwargs, n)) for n in ("query", "key", "value"))
    out = sdpa(ctx, q, k, v, mask,
               bool(argument(target, args, kwargs, "is_causal")), argument(target, args, kwargs, "scale"))
    if target is aten.scaled_dot_product_attention.default:
        return out
    return [out] + [None] * (len(target._schema.returns) - 1)


def sdpa(ctx, q, k, v, mask, causal: bool, scale):
    """``softmax(q k^T * scale + mask) v``; with fewer key heads, query heads are grouped onto them.

    At float16/bfloat16 the logits, the mask add and the softmax are computed in float32 and the
    probabilities cast back, as PyTorch's attention does: ``q k^T`` of float16 inputs of a few
    hundred already exceeds float16's 65504, and an ``inf`` logit makes the softmax NaN.
    """
    dtype = ctx.torch_dtype(q)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    groups = q.shape[-3] // k.shape[-3] if len(q.shape) >= 4 and q.shape[-3] != k.shape[-3] else 1
    out_shape = B.sizes(ctx, q)[:-1] + [v.shape[-1]]
    if groups > 1:  # [b, Hq, L, E] -> [b, Hk, G, L, E] against [b, Hk, 1, S, E]: keys broadcast, never copied
        q = _group_heads(ctx, q, groups)
        k, v = B.unsqueeze(ctx, k, -3), B.unsqueeze(ctx, v, -3)
    probs = _probabilities(ctx, q, k, mask, causal, scale, groups)
    out = B.matmul(ctx, B.cast(ctx, probs, dtype), v)
    return B.reshape(ctx, out, out_shape) if groups > 1 else out


def _probabilities(ctx, q, k, mask, causal: bool, scale: float, groups: int):
    """``softmax(q k^T * scale + mask)``, in float32 for float16/bfloat16 inputs (the caller casts back)."""
    q, k = B.upcast(ctx, q), B.upcast(ctx, k)
    dtype = ctx.torch_dtype(q)
    scores = B.matmul(ctx, B.elementwise(ctx, "PROD", q, scale), k, transpose_b=True)
    if causal:
        scores = B.where(ctx, causal_mask(ctx, q, k), scores, float("-inf"), dtype=dtype)
    if mask is not None:
        mask = ctx.to_trt(mask)
        if groups > 1:
            mask = _group_mask(ctx, mask, groups)
        if ctx.torch_dtype(mask) == torch.bool:
            scores = B.where(ctx, mask, scores, float("-inf"), dtype=dtype)
        else:
            scores = B.elementwise(ctx, "SUM", scores, mask, dtype=dtype)  # the mask promoted to float32
    probs = B.softmax(ctx, scores, -1)
    if mask is not None:  # torch's safe softmax: a query that may see no key attends to nothing (zeros, not NaN)
        blind = B.compare(ctx, "eq", B.reduce(ctx, scores, "MAX", [-1], keepdim=True), float("-inf"))
        probs = B.where(ctx, blind, 0.0, probs, dtype=dtype)
    return probs


def causal_mask(ctx, q, k):
    """``tril(ones(L, S))`` as bool, from the run-time lengths: key j is visible to query i when j <= i."""
    rows = B.unsqueeze(ctx, B.arange(ctx, B.size(ctx, q, -2)), 1)
    cols = B.unsqueeze(ctx, B.arange(ctx, B.size(ctx, k, -2)), 0)
    return B.compare(ctx, "le", cols, rows)


def _group_heads(ctx, q, groups: int):
    s = B.sizes(ctx, q)
    return B.reshape(ctx, q, s[:-3] + [s[-3] // groups, groups] + s[-2:])


def _group_mask(ctx, mask, groups: int):
    """A mask over query heads, regrouped like the queries: per-head masks split, shared ones broadcast."""
    mask = B.to_rank(ctx, mask, 4)
    s = B.sizes(ctx, mask)
    if not ctx.is_tensor(s[1]) and s[1] > 1:
        return B.reshape(ctx, mask, s[:1] + [s[1] // groups, groups] + s[2:])
    return B.unsqueeze(ctx, mask, 2)
