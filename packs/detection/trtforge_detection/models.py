"""The exportable part of torchvision's one-stage detectors: backbone + head.

torchvision's detectors do not go through ``torch.export`` whole: their
pre-processing resizes by the image's own size and their post-processing
filters by score (data-dependent shapes and guards). The backbone and head
are pure tensor programs; :class:`BackboneHead` wraps them so they compile
to one engine, leaving the transform and post-processing to PyTorch (or to
a separately compiled post-processing module, see docs/detection.md).
"""
from __future__ import annotations

from typing import Any

import torch


class BackboneHead(torch.nn.Module):
    """``images -> head outputs`` of an SSD / SSDlite / RetinaNet / FCOS model.

    ``images`` are already normalized and resized (what ``model.transform``
    produces); the outputs are the head's per-anchor predictions in key order:
    ``(bbox_regression, cls_logits)``, with ``bbox_ctrness`` first for FCOS.
    """

    def __init__(self, detector: Any) -> None:
        super().__init__()
        self.backbone = detector.backbone
        self.head = detector.head

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.backbone(images)
        feats = list(features.values()) if isinstance(features, dict) else [features]
        out = self.head(feats)
        return tuple(out[k] for k in sorted(out))
