"""Every scaled-dot-product-attention overload: masks, is_causal (static and dynamic lengths),
scale, grouped- and multi-query attention, and the refusals."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import trtforge
from trtforge.testing import check_converts


aten = torch.ops.aten


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))

SDPA = aten.scaled_dot_product_attention.default


def dyn(shape, dims, lo=2, seq="seq"):
    """Dynamic batch (dim 0, shared by all inputs) and sequence (dim 2, named ``seq``) as given in ``dims``."""
    mn = tuple(lo if i in dims else s for i, s in enumerate(shape))
    mx = tuple(2 * s if i in dims else s for i, s in enumerate(shape))
    names = {d: {0: "batch", 2: seq}[d] for d in dims}
    return trtforge.Input(min_shape=mn, opt_shape=shape, max_shape=mx, dim_names=names)


def test_masks_scale_and_causal(module):
    mask = torch.rand(5, 5, generator=torch.Generator().manual_seed(2)) > 0.3
    mask[:, 0] = True
    mask[1] = False  # a query that may see no key: torch's safe softmax gives zeros, not NaN
    bias = randn(1, 3, 5, 5, seed=3)

    def f(q):
        k, v = q * 0.5 + 0.1, q.flip(-1)
        return (F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.3),
                F.scaled_dot_product_attention(q, k, v, attn_mask=bias),
                F.scaled_dot_product_attention(q, k, v, is_causal=True))

    check_converts(module(f), [randn(2, 3, 5, 8)], ops=[SDPA])
    check_converts(module(f), [randn(2, 3, 5, 8)], ops=[SDPA], precision=torch.float16)


def test_float16_logits_beyond_float16_range_are_computed_in_float32(module):
    """q k^T of about 3e5 (float16 ends at 65504): PyTorch computes the logits, the mask add and the
    softmax in float32 and casts back; so must the network, or the logits overflow to inf (NaN rows)."""
    q, k = randn(2, 2, 6, 8) * 200, randn(2, 2, 6, 8, seed=1) * 200
    v, bias = randn(2, 2, 6, 8, seed=2), randn(1, 2, 6, 6, seed=3).half() * 50
    assert (q @ k.transpose(-1, -2)).abs().max() > 2 * torch.finfo(torch.float16).max

    def f(q, k, v):
        return (F.scaled_dot_product_attention(q, k, v),
                F.scaled_dot_product_attention(q, k, v, attn_mask=bias),
                F.scaled_dot_product_attention(q, k, v, is_causal=True))

    inputs = [q.half(), k.half(), v.half()]
    assert all(o.isfinite().all() for o in module(f)(*inputs))  # PyTorch's fp16 result is finite
    result = check_converts(module(f), inputs, ops=[SDPA], rtol=2e-2)
    validation = result.report.engines[0].validation
    assert validation["rel_err"] <= 2e-2, validation


def test_causal_with_dynamic_sequence_length(module):
    def f(q, k):
        return F.scaled_dot_product_attention(q, k, k * 2, is_causal=True)

    check_converts(module(f), [dyn((2, 4, 6, 8), dims=(0, 2)), dyn((2, 4, 7, 8), dims=(0, 2), seq="kv")], ops=[SDPA])


@pytest.mark.parametrize("kv_heads", [2, 1], ids=["gqa", "mqa"])
def test_grouped_query_attention(module, kv_heads):
    bias = randn(1, 4, 6, 6, seed=4)  # one mask per query head: split into the groups
    shared = torch.rand(2, 1, 6, 6, generator=torch.Generator().manual_seed(5)) > 0.2
    shared[..., 0] = True

    def f(q, k):
        v = k.flip(-1)
        return (F.scaled_dot_product_attention(q, k, v, enable_gqa=True),
                F.scaled_dot_product_attention(q, k, v, attn_mask=bias, enable_gqa=True),
                F.scaled_dot_product_attention(q, k, v, attn_mask=shared, enable_gqa=True, is_causal=False),
                F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True))

    check_converts(module(f), [randn(2, 4, 6, 8), randn(2, kv_heads, 6, 8, seed=1)], ops=[SDPA])


def test_grouped_query_attention_dynamic(module):
    def f(q, k):
        return F.scaled_dot_product_attention(q, k, k + 1, is_causal=True, enable_gqa=True)

    check_converts(module(f), [dyn((2, 4, 6, 8), dims=(0, 2)), dyn((2, 2, 6, 8), dims=(0, 2))], ops=[SDPA])


# -- the fused overloads: CUDA kernels in torch; the tests give them a CPU kernel (the math of sdpa)
def _math(q, k, v, bias=None, causal=False, scale=None):
    """The fused kernels' definition: bias added, then the causal mask (both may be given)."""
    scores = q @ k.transpose(-1, -2) * (scale or 1 / math.sqrt(q.shape[-1]))
    if bias is not None:
        scores = scores + bias
    if causal:
        keep = torch.ones(q.shape[-2], k.shape[-2], dtype=torch.bool).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    return scores.softmax(-1) @ v


def _lse(q):
    return q.new_zeros(q.shape[:-1])


_CPU_KERNELS = {
    "_scaled_dot_product_flash_attention": lambda q, k, v, dropout_p=0.0, is_causal=False, return_debug_mask=False,
    scale=None: (_math(q, k, v, None, is_causal, scale), _lse(q), None, None, q.shape[-2], k.shape[-2],
                 q.new_zeros(2, dtype=torch.int64), q.new_zeros(0), q.new_zeros(0)),
    "_scaled_dot_product_efficient_attention": lambda q, k, v, attn_bias, compute_log_sumexp, dropout_p=0.0,
    is_causal=False, scale=None: (_math(q, k, v, attn_bias, is_causal, scale), _lse(q), q.new_zeros((), dtype=torch.int64),
                                  q.new_zeros((), dtype=torch.int64)),
    "_scaled_dot_product_cudnn_attention": lambda q, k, v, attn_bias, compute_log_sumexp, dropout_p=0.0,
    is_causal=False, return_debug_mask=False, scale=None: (
        _math(q, k, v, attn_bias, is_causal, scale), _lse(q), None, None, q.shape[-2], k.shape[-2],
        q.new_zeros((), dtype=torch.int64), q.new_zeros((), dtype=torch.int64), q.new_zeros(0)),
    "_scaled_dot_product_fused_attention_overrideable": lambda q, k, v, attn_bias=None, dropout_p=0.0, is_causal=False,
    return_debug_mask=False, scale=None: (
        _math(q, k, v, attn_bias, is_causal, scale), _lse(q), None, None, q.shape[-2], k.shape[-2],
        q.new_zeros((), dtype=torch.int64), q.new_zeros((), dtype=torch.int64), q.new_zeros(0)),
}


@pytest.fixture(scope="module")
def fused_cpu_kernels():
    lib = torch.library.Library("aten", "IMPL")  # noqa: TOR901 - test-only CPU kernels for CUDA-only ops
    for name, fn in _CPU_KERNELS.items():
        lib.impl(name, fn, "CPU")
    yield
    lib._destroy()


@pytest.mark.parametrize("op", [aten._scaled_dot_product_flash_attention.default,
                                aten._scaled_dot_product_efficient_attention.default,
                                aten._scaled_dot_product_cudnn_attention.default,
                                aten._scaled_dot_product_fused_attention_overrideable.default], ids=lambda o: o.name())
def test_fused_overloads(module, fused_cpu_kernels, op):
    bias = randn(1, 1, 5, 5, seed=7)
    if op is aten._scaled_dot_product_flash_attention.default:
        f = lambda q: op(q, q * 0.5, q.flip(-1), 0.0, True, scale=0.25)[0]  # noqa: E731
    elif op is aten._scaled_dot_product_fused_attention_overrideable.default:
        f = lambda q: op(q, q * 0.5, q.flip(-1), bias, 0.0, True, scale=0.25)[0]  # noqa: E731
    else:
        f = lambda q: op(q, q * 0.5, q.flip(-1), bias, False, 0.0, True, scale=0.25)[0]  # noqa: E731
    check_converts(module(f), [dyn((2, 3, 5, 8), dims=(0,))], ops=[op])


def test_flash_attention_for_cpu(module):
    op = aten._scaled_dot_product_flash_attention_for_cpu.default
    mask = randn(5, 5, seed=2)
    f = lambda q: op(q, q * 0.5, q.flip(-1), 0.0, False, attn_mask=mask, scale=1 / math.sqrt(8))[0]  # noqa: E731
    check_converts(module(f), [dyn((2, 3, 5, 8), dims=(0,))], ops=[op])


def test_refusals_name_the_reason(module):
    op = aten._scaled_dot_product_flash_attention_for_cpu.default

    def f(q):
        out, lse = op(q, q, q)
        return F.scaled_dot_product_attention(q, q, q, dropout_p=0.5) + 1, out + lse.unsqueeze(-1)

    report = trtforge.compile(module(f), [randn(1, 2, 4, 8)], min_block_size=1, dryrun=True)
    reasons = {e.op: e.reason for e in report.fallback}
    assert "dropout_p=0.5" in reasons["aten::scaled_dot_product_attention.default"]
    assert "log-sum-exp" in reasons["aten::_scaled_dot_product_flash_attention_for_cpu.default"]
