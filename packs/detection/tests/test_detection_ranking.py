"""aten.topk and aten.sort (score ranking): TopK layer, or stable rank + scatter for sort(stable=True)."""
from __future__ import annotations

import dataclasses

import pytest
import torch

import trtforge
from trtforge.plugins.registry import Reason
from trtforge.testing import check_converts

TOPK, SORT, SORT_STABLE = torch.ops.aten.topk.default, torch.ops.aten.sort.default, torch.ops.aten.sort.stable


def _ranking(x):
    v, i = x.topk(3)
    v2, i2 = x.topk(2, dim=0, largest=False)
    s, j = torch.sort(x, descending=True)
    s2, j2 = torch.sort(x, dim=0)
    return v, i, v2, i2, s, j, s2, j2


def test_detection_topk_and_sort(module, gen):
    """Distinct values: the one case where torch's (unstable) order is defined."""
    out = check_converts(module(_ranking), [torch.randn(5, 7, generator=gen)], ops=[TOPK, SORT])
    assert out.built and out.report.engines[0].validation["max_abs_err"] == 0


def test_detection_topk_and_sort_dynamic(module):
    spec = trtforge.Input(min_shape=(3, 7), opt_shape=(5, 7), max_shape=(9, 7))
    out = check_converts(module(_ranking), [spec], ops=[TOPK, SORT])
    assert out.built and out.report.engines[0].validation["shape_sets"] == 3


def test_detection_stable_sort_ties(module, gen):
    """Few distinct values, many ties: stable=True puts lower indices first, exactly like torch."""

    def fn(x):
        a, i = torch.sort(x, dim=0, stable=True)
        b, j = torch.sort(x, dim=1, stable=True, descending=True)
        return a, i, b, j, torch.argsort(x[0], stable=True)

    x = torch.randint(0, 3, (6, 9), generator=gen).float()
    out = check_converts(module(fn), [x], ops=[SORT_STABLE])
    assert out.built and out.report.engines[0].validation["max_abs_err"] == 0


def test_detection_stable_sort_dynamic(module):
    def fn(x):
        return torch.sort(x.floor(), dim=0, stable=True, descending=True)

    spec = trtforge.Input(min_shape=(2, 4), opt_shape=(6, 4), max_shape=(12, 4))
    out = check_converts(module(fn), [spec], ops=[SORT_STABLE])
    assert out.built and out.report.engines[0].validation["shape_sets"] == 3


@pytest.mark.parametrize(
    "fn, why",
    [
        (lambda x: x.topk(2, sorted=False), "sorted=False"),
        (lambda x: x.reshape(-1).topk(4000), "k=4000"),
    ],
)
def test_detection_topk_refusals_say_why(module, gen, fn, why):
    report = trtforge.compile(module(fn), [torch.randn(50, 100, generator=gen)], min_block_size=1, dryrun=True)
    (entry,) = [f for f in report.fallback if f.op == "aten::topk.default"]
    assert entry.category == Reason.VALIDATOR.value and why in entry.reason


# -- TopK's limits are the backend's, checked at the largest size the compile allows ----------------
def _refusal(model, inputs, op):
    report = trtforge.compile(model, inputs, min_block_size=1, dryrun=True)
    (entry,) = [f for f in report.fallback if f.op == op]
    assert entry.category == Reason.VALIDATOR.value
    return entry.reason


def _columns(n_max):
    """Dynamic columns: the traced example (opt) has 8, the profile's max ``n_max``."""
    return trtforge.Input(min_shape=(2, 1), opt_shape=(2, 8), max_shape=(2, n_max))


def _topk_all(x):
    return x.topk(x.shape[1])  # k is a size, not a constant


def test_detection_topk_with_a_size_for_k_converts(module):
    out = check_converts(module(_topk_all), [_columns(64)], ops=[TOPK])
    assert out.report.engines[0].validation["shape_sets"] == 3


@pytest.mark.parametrize(
    "fn, op, n_max, what",
    [
        (_topk_all, "aten::topk.default", 3841, "k ("),
        (lambda x: torch.sort(x), "aten::sort.default", 3841, "the sorted axis (TopK's k) can reach 3841"),
        (lambda x: torch.sort(x, stable=True), "aten::sort.stable", 5000, "the sorted axis can reach 5000"),
    ],
    ids=["topk", "sort", "sort_stable"],
)
def test_detection_ranking_refused_when_the_profile_max_exceeds_the_limit(module, fn, op, n_max, what):
    """The example (8 columns) fits; the profile's max does not: the reason says limit, bound and fix."""
    reason = _refusal(module(fn), [_columns(n_max)], op)
    limit = 4096 if "stable" in op else 3840
    assert what in reason and str(limit) in reason, reason
    assert "lower max_shape[1] of input" in reason and f"from {n_max} to {limit} or less" in reason, reason


def test_detection_sort_at_the_topk_limit_converts(module):
    """7680 random floats hold ties, which torch and TopK order differently: the values are compared."""
    out = check_converts(module(lambda x: torch.sort(x, descending=True)[0]), [_columns(3840)], ops=[SORT])
    assert out.report.engines[0].validation["shape_sets"] == 3


def _topk_inputs(out):
    net = out.networks[0].network
    return [net.get_layer(i).get_input(0) for i in range(net.num_layers) if net.get_layer(i).type.name == "TOPK"]


def test_detection_topk_lifts_1d_inputs_by_the_backends_rank_rule(module, gen, monkeypatch):
    """TopK needs min_input_rank dims (2 on both backends): a 1-D input is lifted, whatever the rule says."""
    from trtforge_detection.converters import ranking

    def fn(x):
        return x.topk(3), torch.sort(x, descending=True)

    x = torch.randn(50, generator=gen)
    out = check_converts(module(fn), [x], ops=[TOPK, SORT])
    assert sorted(len(t.shape) for t in _topk_inputs(out)) == [2, 2]
    real = ranking.layer_limits
    monkeypatch.setattr(ranking, "layer_limits",
                        lambda node, settings=None: dataclasses.replace(real(node, settings), min_input_rank={"TOPK": 3}))
    out = check_converts(module(fn), [x], ops=[TOPK, SORT])
    assert sorted(len(t.shape) for t in _topk_inputs(out)) == [3, 3]
    assert out.report.engines[0].validation["max_abs_err"] == 0
