"""Constant folding in lowering: subgraphs of weights and constants become one constant,
within a size cap, without copying weights, never folding random ops."""
from __future__ import annotations

import torch

from trtforge.lowering import folding
from trtforge.lowering.folding import fold_constants

aten = torch.ops.aten


def _graph(module: torch.nn.Module, *inputs: torch.Tensor) -> torch.fx.GraphModule:
    return torch.export.export(module.eval(), inputs).run_decompositions().module()


def _ops(gm) -> set:
    return {n.target for n in gm.graph.nodes if n.op == "call_function"}


class ShiftedWindowMask(torch.nn.Module):
    """swin_t's pattern: a zeros factory, in-place slice assignments, then arithmetic on the result."""

    def forward(self, x):
        mask = torch.zeros(8, 8)
        count = 0
        for h in (slice(0, 4), slice(4, 6), slice(6, None)):
            for w in (slice(0, 4), slice(4, 6), slice(6, None)):
                mask[h, w] = count
                count += 1
        windows = mask.view(2, 4, 2, 4).permute(0, 2, 1, 3).reshape(4, 16)
        attn = windows.unsqueeze(1) - windows.unsqueeze(2)
        attn = attn.masked_fill(attn != 0, -100.0)
        return x + attn


def test_factory_with_in_place_slice_assignments_becomes_one_constant():
    module, x = ShiftedWindowMask(), torch.randn(4, 16, 16)
    gm = _graph(module, x)
    assert aten.slice_scatter.default in _ops(gm)
    result = fold_constants(gm)
    gm.recompile()
    assert result.constants == 1 and result.nodes > 10 and not result.not_folded, result.to_dict()
    assert _ops(gm) == {aten.add.Tensor}
    torch.testing.assert_close(gm(x)[0] if isinstance(gm(x), tuple) else gm(x), module(x))


class StandardizedConv(torch.nn.Module):
    """timm NFNet's weight standardisation: batch_norm in training mode over the conv weight."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(4, 3, 3, 3))
        self.gain = torch.nn.Parameter(torch.rand(4) + 0.5)

    def forward(self, x):
        w = torch.nn.functional.batch_norm(self.weight.reshape(1, 4, -1), None, None, weight=self.gain,
                                           training=True, momentum=0.0, eps=1e-5).reshape_as(self.weight)
        return torch.nn.functional.conv2d(x, w)


def test_weight_standardisation_is_folded():
    module, x = StandardizedConv(), torch.randn(1, 3, 8, 8)
    gm = _graph(module, x)
    result = fold_constants(gm)
    gm.recompile()
    assert result.constants == 1, result.to_dict()
    assert _ops(gm) == {aten.convolution.default}, _ops(gm)
    torch.testing.assert_close(gm(x)[0] if isinstance(gm(x), tuple) else gm(x), module(x))


class Views(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(6, 5))

    def forward(self, x):
        return x @ self.w.t()


def test_a_view_of_a_weight_is_not_copied():
    gm = _graph(Views(), torch.randn(2, 5))
    weight = gm.w
    result = fold_constants(gm)
    folded = [getattr(gm, n.target) for n in gm.graph.nodes if n.op == "get_attr"]
    assert result.constants == 1 and len(folded) == 1
    assert folded[0].untyped_storage().data_ptr() == weight.untyped_storage().data_ptr()


class Grows(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.v = torch.nn.Parameter(torch.randn(1, 1024))

    def forward(self, x):
        big = self.v.expand(2048, 1024) * 2  # 8 MiB from 4 KiB of weights
        return x + self.v.expand(4, 1024), x.sum() + big


def test_size_cap_and_broadcasts_are_reported_not_folded():
    x = torch.randn(4, 1024)
    gm = _graph(Grows(), x)
    result = fold_constants(gm)
    reasons = {d["op"]: d["reason"] for d in result.not_folded}
    assert any("GROWTH_LIMIT_BYTES" in r for r in reasons.values()), reasons
    assert any("broadcast of a constant stays symbolic" in r for r in reasons.values()), reasons
    gm.recompile()
    assert aten.expand.default in _ops(gm)
    assert all(getattr(gm, n.target).nbytes <= 4096 * 2 for n in gm.graph.nodes if n.op == "get_attr")
    assert folding.GROWTH_LIMIT_BYTES < 8 << 20


class Random(torch.nn.Module):
    def forward(self, x):
        return x + torch.rand(3) * torch.ones(3)


class Fills(torch.nn.Module):
    def forward(self, x):
        return x + torch.full((3, 1), 2.0) + torch.zeros(3)


def test_plain_fills_stay_fill_layers():
    gm = _graph(Fills(), torch.randn(3, 3))
    result = fold_constants(gm)
    assert result.constants == 0 and {d["op"] for d in result.not_folded} == {"aten.full.default"}, result.to_dict()


def test_random_ops_are_not_folded():
    gm = _graph(Random(), torch.randn(3))
    fold_constants(gm)
    gm.recompile()
    assert any("rand" in str(t) for t in _ops(gm)), _ops(gm)
