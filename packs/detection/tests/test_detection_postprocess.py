"""Detection post-processing as torch.export sees it: box utilities, BoxCoder decode, ranking, batched_nms.

The box utilities are plain ATen programs (converted by the vision pack;
``remove_small_boxes`` ends in ``nonzero``, from the dds_ops pack); the
post-processing module joins them with this pack's topk and nms into one
engine for full TensorRT.
"""
from __future__ import annotations

import torch
import torchvision
from torchvision.models.detection._utils import BoxCoder
from torchvision.ops import boxes as box_ops

from trtforge.testing import check_converts


def test_detection_box_utilities(module, gen, boxes):
    def fn(b):
        return (
            box_ops.box_convert(b, "xyxy", "cxcywh"),
            box_ops.box_convert(box_ops.box_convert(b, "xyxy", "xywh"), "xywh", "cxcywh"),
            box_ops.box_convert(box_ops.box_convert(b, "xyxy", "cxcywh"), "cxcywh", "xyxy"),
            box_ops.box_area(b),
            box_ops.box_iou(b, b[:5]),
            box_ops.clip_boxes_to_image(b - 20.0, (60, 80)),
        )

    out = check_converts(module(fn), [boxes(gen, 12)])
    assert out.built and len(out.report.engines) == 1


def test_detection_remove_small_boxes(module, gen, boxes):
    b = boxes(gen, 20, max_wh=4.0)
    kept = box_ops.remove_small_boxes(b, 3.0)
    assert 0 < kept.numel() < 20
    check_converts(module(lambda x: box_ops.remove_small_boxes(x, 3.0)), [b], target_backend="tensorrt")


class PostProcess(torch.nn.Module):
    """One level of RetinaNet's post-processing for one image, without the score filter."""

    def __init__(self, image_size=(64, 80), topk=40, iou=0.5) -> None:
        super().__init__()
        self.coder = BoxCoder(weights=(10.0, 10.0, 5.0, 5.0))
        self.image_size, self.topk, self.iou = image_size, topk, iou

    def forward(self, rel_codes, anchors, logits):
        boxes = self.coder.decode_single(rel_codes, anchors)
        boxes = box_ops.clip_boxes_to_image(boxes, self.image_size)
        num_classes = logits.shape[-1]
        scores, idx = torch.sigmoid(logits).flatten().topk(self.topk)
        labels = idx % num_classes
        boxes = boxes[torch.div(idx, num_classes, rounding_mode="floor")]
        keep = box_ops.batched_nms(boxes, scores, labels, self.iou)
        return boxes[keep], scores[keep], labels[keep]


def test_detection_postprocess_one_engine(gen, boxes):
    anchors = boxes(gen, 60, extent=50.0, clusters=6, max_wh=25.0)
    codes = torch.randn(60, 4, generator=gen) * 0.3
    logits = torch.randn(60, 3, generator=gen)
    m = PostProcess()
    assert m(codes, anchors, logits)[0].shape[0] < m.topk, "NMS should suppress some candidates"
    out = check_converts(
        m, [codes, anchors, logits], target_backend="tensorrt",
        ops=[torch.ops.torchvision.nms.default, torch.ops.aten.topk.default],
    )
    (engine,) = out.report.engines
    assert engine.requires_output_allocator and engine.validation["max_abs_err"] == 0
    assert engine.nodes == out.report.compute_nodes
