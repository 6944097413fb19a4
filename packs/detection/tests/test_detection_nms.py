"""torchvision::nms on TensorRT's NMS layer: exact torchvision semantics, checked by reference execution.

TensorRT-RTX cannot build the NMS layer, so these networks are made and
validated for full TensorRT (``target_backend="tensorrt"``, build=False); on
TensorRT-RTX the op falls back with the capability table's reason.
"""
from __future__ import annotations

import pytest
import torch
import torchvision

import trtforge
from trtforge.plugins.registry import Reason
from trtforge.testing import check_converts
from trtforge.validation.reference import run_network

NMS = torch.ops.torchvision.nms.default


def _nms(threshold):
    return lambda b, s: torchvision.ops.nms(b, s, threshold)


@pytest.mark.parametrize(
    "n, clusters, score_levels, threshold",
    [
        (40, 0, 0, 0.5),      # distinct scores, scattered boxes
        (60, 4, 3, 0.5),      # heavy overlap, three score values: many ties
        (50, 3, 1, 0.3),      # every score equal: order is the index order
        (30, 2, 5, 0.0),      # threshold 0: any overlap suppresses
        (30, 2, 5, 1.0),      # threshold 1: nothing is suppressed
    ],
)
def test_detection_nms_matches_torchvision(module, gen, boxes, n, clusters, score_levels, threshold):
    b = boxes(gen, n, clusters=clusters, max_wh=20.0)
    if score_levels:
        s = torch.randint(0, score_levels, (n,), generator=gen).float() - 1.0  # negative scores too
    else:
        s = torch.randn(n, generator=gen)
    m = module(_nms(threshold))
    kept = m(b, s)
    assert 0 < kept.numel() <= n
    if threshold == 1.0:
        assert kept.numel() == n
    elif clusters:
        assert kept.numel() < n, "the case should exercise suppression"
    out = check_converts(m, [b, s], ops=[NMS], target_backend="tensorrt")
    engine = out.report.engines[0]
    assert engine.requires_output_allocator
    assert engine.validation["max_abs_err"] == 0  # int64 indices, exact


def test_detection_nms_ties_do_not_depend_on_tensorrt_tie_order(module, gen, boxes):
    """TensorRT leaves equal scores in unspecified order: the layer must only ever see distinct scores."""
    n = 24
    b = boxes(gen, n, clusters=2)
    s = torch.full((n,), 0.5)
    out = check_converts(module(_nms(0.5)), [b, s], target_backend="tensorrt")
    net = out.networks[0].network
    layer = next(net.get_layer(i) for i in range(net.num_layers) if net.get_layer(i).type.name == "NMS")
    ranked = run_network(net, {"input_0": b, "input_1": s}, outputs=[layer.get_input(1).name])
    fed = next(iter(ranked.values())).reshape(-1)
    assert fed.unique().numel() == n, "scores reaching the NMS layer must be distinct"
    assert torch.equal(torch.argsort(fed, descending=True), torch.arange(n)), "equal scores: lower index first"
    assert bool((fed > 0).all()), "the layer drops scores <= its score threshold (0)"


def _nms_of_raw(raw):
    """One input ``[N, 5]`` (boxes and score): valid boxes are built in the engine."""
    xy = raw[:, :2] * 10.0
    boxes = torch.cat([xy, xy + raw[:, 2:4].abs() * 10.0 + 1.0], 1)
    return torchvision.ops.nms(boxes, raw[:, 4], 0.4)


def _raw_boxes(n_max):
    return trtforge.Input(min_shape=(2, 5), opt_shape=(24, 5), max_shape=(n_max, 5))


def test_detection_nms_dynamic_box_count(module):
    """N dynamic, up to 64 boxes."""
    out = check_converts(module(_nms_of_raw), [_raw_boxes(64)], ops=[NMS], target_backend="tensorrt")
    assert out.report.engines[0].validation["shape_sets"] == 3
    assert len(out.report.engines) == 1


def test_detection_nms_falls_back_on_tensorrt_rtx(module, gen, boxes):
    b, s = boxes(gen, 10), torch.rand(10, generator=gen)
    report = trtforge.compile(module(_nms(0.5)), [b, s], min_block_size=1, dryrun=True, target_backend="tensorrt_rtx")
    (entry,) = [f for f in report.fallback if f.op == "torchvision::nms.default"]
    assert entry.category == Reason.BACKEND.value
    assert "NMS" in entry.reason and "target_backend='tensorrt'" in entry.reason


@pytest.mark.parametrize(
    "n, threshold, why",
    [(8, -0.1, "iou_threshold"), (5001, 0.5, "at most 5000 boxes")],
)
def test_detection_nms_refusals_say_why(module, gen, boxes, n, threshold, why):
    b, s = boxes(gen, n), torch.rand(n, generator=gen)
    report = trtforge.compile(module(_nms(threshold)), [b, s], min_block_size=1, dryrun=True, target_backend="tensorrt")
    (entry,) = [f for f in report.fallback if f.op == "torchvision::nms.default"]
    assert entry.category == Reason.VALIDATOR.value
    assert why in entry.reason


def _nms_fallback(module, fn, inputs):
    report = trtforge.compile(module(fn), inputs, min_block_size=1, dryrun=True, target_backend="tensorrt")
    refused = [f for f in report.fallback if f.op == "torchvision::nms.default"]
    converted = any("torchvision::nms.default" in e.ops for e in report.engines)
    assert converted != bool(refused)
    return refused[0].reason if refused else None


def test_detection_nms_box_limit_goes_by_the_profile_max(module):
    """The traced example has 24 boxes; the profile's max decides: 5000 fits the layer, 5001 does not."""
    assert _nms_fallback(module, _nms_of_raw, [_raw_boxes(5000)]) is None
    reason = _nms_fallback(module, _nms_of_raw, [_raw_boxes(5001)])
    assert "the number of boxes can reach 5001" in reason and "at most 5000 boxes" in reason
    assert "nms_max_boxes" in reason and "lower max_shape[0] of input 'raw' from 5001 to 5000 or less" in reason


def _nms_of_selected(checked):
    def fn(b, s):
        keep = s > 0.5
        b, s = b[keep], s[keep]
        if checked:
            torch._check(b.shape[0] <= 5000)  # what the refusal tells the user to write
        return torchvision.ops.nms(b, s, 0.5)

    return fn


def test_detection_nms_of_a_data_dependent_box_count_is_refused_until_bounded(module, gen, boxes):
    b, s = boxes(gen, 6000), torch.rand(6000, generator=gen)
    reason = _nms_fallback(module, _nms_of_selected(False), [b, s])
    assert "can reach 6000" in reason and "at most 5000 boxes" in reason and "torch._check(n <= 5000)" in reason
    assert _nms_fallback(module, _nms_of_selected(True), [b, s]) is None
