"""scaled_dot_product_attention (masks, causal, scale) and nn.MultiheadAttention as exported."""
from __future__ import annotations

import torch
import torch.nn.functional as F

import trtforge
from trtforge.testing import check_converts

aten = torch.ops.aten


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_sdpa_variants(fn_module, dynamic_input):
    def f(m, q):
        k, v = q * 0.5 + 0.1, q.flip(-1)
        return (F.scaled_dot_product_attention(q, k, v), F.scaled_dot_product_attention(q, k, v, scale=0.3),
                F.scaled_dot_product_attention(q, k, v, attn_mask=m.bool_mask),
                F.scaled_dot_product_attention(q, k, v, attn_mask=m.float_mask))

    mask = torch.rand(5, 5, generator=torch.Generator().manual_seed(2)) > 0.3
    mask[:, 0] = True
    m = fn_module(f, bool_mask=mask, float_mask=_x(5, 5, seed=3))
    ops = [aten.scaled_dot_product_attention.default]
    check_converts(m, [_x(2, 3, 5, 8)], ops=ops)
    check_converts(m, [dynamic_input((2, 3, 5, 8))], ops=ops)
    check_converts(m, [_x(2, 3, 5, 8)], ops=ops, precision=torch.float16)


def test_sdpa_causal(fn_module):
    m = fn_module(lambda m, q, k: F.scaled_dot_product_attention(q, k, k * 2, is_causal=True))
    check_converts(m, [_x(2, 4, 8), _x(2, 6, 8, seed=1)], ops=[aten.scaled_dot_product_attention.default])


def test_sdpa_causal_dynamic_length_falls_back(fn_module, dynamic_input):
    m = fn_module(lambda m, q: F.scaled_dot_product_attention(q, q, q, is_causal=True) + 1)
    # packs={"vision"}: this pack's own converter (trtforge-transformers converts the dynamic case)
    report = trtforge.compile(m, [dynamic_input((1, 4, 8), dims=(1,), lo=2)], min_block_size=1, dryrun=True,
                              packs={"vision"})
    [entry] = [f for f in report.fallback if "scaled_dot_product" in f.op]
    assert "is_causal with dynamic" in entry.reason


def test_flash_attention_for_cpu_overload(fn_module, dynamic_input):
    m = fn_module(lambda m, q: aten._scaled_dot_product_flash_attention_for_cpu.default(q, q * 0.5, q, scale=0.2)[0])
    check_converts(m, [dynamic_input((2, 3, 5, 8))], ops=[aten._scaled_dot_product_flash_attention_for_cpu.default])


def test_multihead_attention(dynamic_input):
    torch.manual_seed(0)
    mha = torch.nn.MultiheadAttention(16, 4, batch_first=True).eval()

    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = mha

        def forward(self, x):
            a, _ = self.mha(x, x, x, need_weights=False)
            b, w = self.mha(x, x * 0.5, x)  # need_weights=True: explicit softmax path, averaged weights
            return a, b, w

    check_converts(M(), [_x(2, 5, 16)], ops=[aten.scaled_dot_product_attention.default, aten.linear.default])
    check_converts(M(), [dynamic_input((2, 5, 16), dims=(0, 1), lo=2)])
