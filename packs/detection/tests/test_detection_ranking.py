"""aten.topk and aten.sort (score ranking): TopK layer, or stable rank + scatter for sort(stable=True)."""
from __future__ import annotations

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
