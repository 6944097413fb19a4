"""The detection pack's converters, one module per op family.

Importing torchvision registers ``torch.ops.torchvision`` (nms, roi_align, roi_pool).
Without torchvision installed no graph can contain those ops, so only the
ranking converters are offered.
"""
from __future__ import annotations

from .ranking import convert_sort, convert_topk

ALL: list = [convert_topk, convert_sort]

try:
    import torchvision  # noqa: F401  (registers the torchvision ops)
except ImportError:  # pragma: no cover - torchvision is installed wherever detection models run
    torchvision = None

if torchvision is not None:
    from .nms import convert_nms
    from .roi_align import convert_roi_align
    from .roi_pool import convert_roi_pool

    ALL += [convert_nms, convert_roi_align, convert_roi_pool]
