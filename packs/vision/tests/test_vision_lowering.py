"""Lowering without run_decompositions' re-trace: in-place factory clusters (swin's attention
mask), softmax, masked_fill and contiguous, checked against the eager model."""
from __future__ import annotations

import torch

import trtforge
from trtforge.lowering import lower_exported
from trtforge.lowering.export import export
from trtforge.plugins.manager import get_manager
from trtforge.settings import CompileSettings, normalize_inputs
from trtforge.testing import check_converts

SKIPPED = "decompositions skipped: every op is converted as exported"


class ShiftedWindowMask(torch.nn.Module):
    """torchvision swin's pattern: a mask built by slice assignments into ``new_zeros``."""

    def forward(self, x):  # x: [1, 2, 16, 16] attention scores over 16 tokens
        mask = x.new_zeros((4, 4))
        count = 0
        for h in (slice(0, 2), slice(2, 4)):
            for w in (slice(0, 1), slice(1, 4)):
                mask[h, w] = count
                count += 1
        m = mask.view(16)
        m = m.unsqueeze(0) - m.unsqueeze(1)
        m = m.masked_fill(m != 0, -100.0).masked_fill(m == 0, 0.0)
        return torch.softmax(x + m, dim=-1).transpose(1, 2).contiguous().view(1, 512)


class CausalMask(torch.nn.Module):
    """transformers' LLaMA pattern: a mask built from ``arange`` with ops no pack converts (diff, new_ones, &)."""

    def forward(self, x):  # x: [1, 8, 8] attention scores
        pos = torch.arange(8)
        packed = torch.diff(pos, prepend=pos[:1] - 1) != 1
        mask = x.new_ones((8, 8), dtype=torch.bool) & (pos[None, :] <= pos[:, None]) & (packed[None, :] == 0)
        return torch.softmax(x.masked_fill(mask == 0, -1e4), -1)


class ReadBeforeWrite(torch.nn.Module):
    """A factory tensor read by the program before it is written: its final value must not be used."""

    def forward(self, x):
        m = x.new_zeros(4)
        y = x + m
        m[1:3] = 5.0
        return y * 2 + m


def _lowered(model, x):
    specs, examples = normalize_inputs([x])
    ep = export(model, specs, examples)
    return lower_exported(ep, CompileSettings.from_kwargs(), get_manager())


def test_in_place_mask_is_evaluated_once_without_a_retrace():
    x = torch.randn(1, 2, 16, 16)
    lowered = _lowered(ShiftedWindowMask(), x)
    assert SKIPPED in lowered.passes
    ops = {n.target for n in lowered.gm.graph.nodes if n.op == "call_function"}
    assert not any(op._schema.is_mutable for op in ops if isinstance(op, torch._ops.OpOverload)), ops
    torch.testing.assert_close(lowered.gm(x), ShiftedWindowMask()(x), rtol=0, atol=0)
    result = check_converts(ShiftedWindowMask(), [x])
    assert len(result.report.engines) == 1


def test_mask_from_unconverted_factory_ops_is_evaluated_once_without_a_retrace():
    x = torch.randn(1, 8, 8)
    lowered = _lowered(CausalMask(), x)
    assert SKIPPED in lowered.passes
    torch.testing.assert_close(lowered.gm(x), CausalMask()(x), rtol=0, atol=0)
    assert len(check_converts(CausalMask(), [x]).report.engines) == 1


def test_factory_read_before_its_last_write_is_not_folded():
    x = torch.randn(4)
    lowered = _lowered(ReadBeforeWrite(), x)
    assert SKIPPED not in lowered.passes  # left to the re-trace, which makes it functional
    torch.testing.assert_close(lowered.gm(x), ReadBeforeWrite()(x))
