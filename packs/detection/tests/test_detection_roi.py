"""torchvision::roi_align and roi_pool from plain TensorRT layers: built by TensorRT-RTX, exact to torchvision.

ROIs are adversarial (see ``random_rois``): zero-size, sub-pixel, across and
beyond the map, larger than the map, so every branch of the kernels' sampling
rules is reached.
"""
from __future__ import annotations

import pytest
import torch
import torchvision

import trtforge
from trtforge.plugins.registry import Reason
from trtforge.testing import check_converts

ROI_ALIGN = torch.ops.torchvision.roi_align.default
ROI_POOL = torch.ops.torchvision.roi_pool.default


@pytest.mark.parametrize("sampling_ratio", [2, -1])
@pytest.mark.parametrize("aligned", [False, True])
def test_detection_roi_align_builds_and_matches(module, gen, rois, sampling_ratio, aligned):
    x = torch.randn(2, 3, 7, 9, generator=gen)
    r = rois(gen, 24, 2, 12.0)
    m = module(lambda f, b: torchvision.ops.roi_align(f, b, (3, 2), 0.5, sampling_ratio, aligned))
    out = check_converts(m, [x, r], ops=[ROI_ALIGN])
    assert out.built and out.report.engines[0].status == "built"
    assert out.report.engines[0].validation["rel_err"] < 1e-5


@pytest.mark.parametrize("sampling_ratio", [1, 3, -1])
def test_detection_roi_align_scales_and_sizes(module, gen, rois, sampling_ratio):
    """Other spatial scales, output sizes and grids; networks validated without building."""
    x = torch.randn(1, 2, 6, 11, generator=gen)
    for scale, size in ((1.0, (1, 4)), (0.25, (5, 3))):
        m = module(lambda f, b: torchvision.ops.roi_align(f, b, size, scale, sampling_ratio, False))
        out = check_converts(m, [x, rois(gen, 16, 1, 20.0)], build=False)
        assert out.report.engines[0].validation["rel_err"] < 1e-5


def test_detection_roi_align_dynamic_box_count(module):
    """The list-of-boxes form (batch index prepended in the graph), K dynamic."""
    x = torch.randn(1, 4, 8, 8)

    def fn(boxes):
        return torchvision.ops.roi_align(x, [boxes * 4.0], 3, 0.5, 2, True)

    spec = trtforge.Input(min_shape=(1, 4), opt_shape=(6, 4), max_shape=(16, 4))
    out = check_converts(module(fn), [spec], ops=[ROI_ALIGN])
    assert out.built and out.report.engines[0].validation["shape_sets"] == 3


def test_detection_roi_align_float16(module, gen, rois):
    x = torch.randn(1, 3, 8, 8, generator=gen)
    m = module(lambda f, b: torchvision.ops.roi_align(f, b, 2, 1.0, -1, True))
    out = check_converts(m, [x, rois(gen, 10, 1, 8.0)], precision=torch.float16, build=False)
    assert out.report.engines[0].validation["rel_err"] < 2e-2


def test_detection_roi_align_dynamic_feature_map_refused(module):
    spec = trtforge.Input(min_shape=(1, 2, 4, 4), opt_shape=(1, 2, 8, 8), max_shape=(1, 2, 16, 16))
    r = torch.tensor([[0.0, 1.0, 1.0, 3.0, 3.0]])
    m = module(lambda f: torchvision.ops.roi_align(f, r, 2, 1.0, 2, False))
    report = trtforge.compile(m, [spec], min_block_size=1, dryrun=True)
    (entry,) = [f for f in report.fallback if f.op == "torchvision::roi_align.default"]
    assert entry.category == Reason.VALIDATOR.value and "dynamic dimensions" in entry.reason


def test_detection_roi_pool_builds_and_matches(module, gen, rois):
    x = torch.randn(2, 3, 13, 10, generator=gen)
    m = module(lambda f, b: torchvision.ops.roi_pool(f, b, (3, 2), 0.5))
    out = check_converts(m, [x, rois(gen, 32, 2, 20.0)], ops=[ROI_POOL])
    assert out.built
    assert out.report.engines[0].validation["max_abs_err"] == 0  # max of the same values: exact


@pytest.mark.parametrize("scale, size", [(1.0, (1, 1)), (0.7, (2, 4)), (0.125, (7, 7))])
def test_detection_roi_pool_windows(module, gen, rois, scale, size):
    """Window lengths from 1 pixel to the whole map (every sparse-table level), .5 rounding cases."""
    x = torch.randn(1, 2, 33, 20, generator=gen)
    r = rois(gen, 24, 1, 60.0)
    r[:4, 1:] = torch.tensor([[2.5, 3.5, 10.5, 11.5]]) / scale  # halves: C round goes away from zero
    m = module(lambda f, b: torchvision.ops.roi_pool(f, b, size, scale))
    out = check_converts(m, [x, r], build=False)
    assert out.report.engines[0].validation["max_abs_err"] == 0


def test_detection_roi_pool_dynamic_box_count(module):
    x = torch.randn(2, 3, 9, 9)

    def fn(boxes):
        return torchvision.ops.roi_pool(x, [boxes[:3] * 6.0, boxes * 6.0], 2, 1.0)

    spec = trtforge.Input(min_shape=(3, 4), opt_shape=(5, 4), max_shape=(12, 4))
    out = check_converts(module(fn), [spec], ops=[ROI_POOL])
    assert out.built and out.report.engines[0].validation["shape_sets"] == 3


def test_detection_roi_pool_argmax_refused(module, gen, rois):
    """The argmax output (for backward) is not produced: reading it keeps the op in PyTorch."""
    x = torch.randn(1, 2, 6, 6, generator=gen)
    m = module(lambda f, b: torch.ops.torchvision.roi_pool(f, b, 1.0, 2, 2))
    report = trtforge.compile(m, [x, rois(gen, 4, 1, 6.0)], min_block_size=1, dryrun=True)
    (entry,) = [f for f in report.fallback if f.op == "torchvision::roi_pool.default"]
    assert entry.category == Reason.VALIDATOR.value and "argmax" in entry.reason
