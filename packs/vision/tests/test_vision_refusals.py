"""Argument combinations the converters do not handle fall back to PyTorch with a reason."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import trtforge

aten = torch.ops.aten
REFUSED = "converter's capability validator refused these arguments"


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _refusal(module, inputs, op_prefix: str):
    # packs={"vision"}: the refusals of this pack's converters, whatever else is installed
    report = trtforge.compile(module, inputs, min_block_size=1, dryrun=True, packs={"vision"})
    entries = [f for f in report.fallback if f.op.startswith(op_prefix)]
    assert entries, f"{op_prefix} did not fall back: {report.fallback}"
    assert entries[0].category == REFUSED, entries[0]
    return entries[0].reason


CASES = {
    "cast to float8": (lambda m, x: x.to(torch.float8_e4m3fn).float() + 1, [_x(2, 3)], "aten::to", "TensorRT has no"),
    "fractional correction": (lambda m, x: x.var(1, correction=0.5) + 1, [_x(2, 5)], "aten::var", "non-integer correction"),
    "divisor_override with ceil_mode": (lambda m, x: F.avg_pool2d(x, 2, ceil_mode=True, divisor_override=3) + 1,
                                        [_x(1, 2, 5, 5)], "aten::avg_pool2d", "divisor_override with ceil_mode"),
    "attention dropout": (lambda m, q: F.scaled_dot_product_attention(q, q, q, dropout_p=0.1) + 1, [_x(1, 2, 3, 4)],
                          "aten::scaled_dot_product_attention", "dropout_p"),
    "grouped-query attention": (lambda m, q, k: F.scaled_dot_product_attention(q, k, k, enable_gqa=True) + 1,
                                [_x(1, 4, 3, 8), _x(1, 2, 3, 8, seed=1)], "aten::scaled_dot_product_attention", "gqa"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_refused_with_reason(fn_module, case):
    fn, inputs, op, why = CASES[case]
    assert why in _refusal(fn_module(fn), inputs, op)


def test_ceil_mode_with_dynamic_spatial_dims(fn_module, dynamic_input):
    reason = _refusal(fn_module(lambda m, x: F.max_pool2d(x, 3, 1, ceil_mode=True) + 1),
                      [dynamic_input((1, 2, 9, 9), dims=(2, 3), lo=5)], "aten::max_pool2d")
    assert "ceil_mode with dynamic spatial" in reason


def test_refused_node_runs_in_pytorch_and_the_rest_converts(fn_module):
    """Compiled for real: the refused node stays in PyTorch between two validated engines.

    (Engines cannot execute on this CPU-only machine, so the stitched module is not run.)"""
    m = fn_module(lambda m, x: F.max_pool2d(torch.relu(x), 2, dilation=2) * 2)
    x = _x(1, 2, 8, 8)
    out = trtforge.compile(m, [x], min_block_size=1, validate=True)
    report = out.trtforge_report
    assert [f.op for f in report.fallback] == ["aten::max_pool2d.default"]
    assert len(report.engines) == 2 and all(e.status == "built" for e in report.engines)
    assert all(e.validation["rel_err"] <= 1e-3 for e in report.engines)
    in_torch = [n.target for n in out.graph.nodes if n.op == "call_function"]
    assert in_torch == [aten.max_pool2d.default]
