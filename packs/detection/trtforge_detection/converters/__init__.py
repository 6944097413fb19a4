"""The detection pack's converters, one module per op family.

The modules of ``nms``, ``roi_align`` and ``roi_pool`` name ``torch.ops.torchvision`` ops, which
exist once torchvision is imported; without torchvision no graph can contain those ops, so the
pack registers the ranking converters alone (see ``pack.py``).
"""
from __future__ import annotations

try:
    import torchvision  # noqa: F401  (registers the torchvision ops)
except ImportError:  # pragma: no cover - torchvision is installed wherever detection models run
    HAS_TORCHVISION = False
else:
    HAS_TORCHVISION = True
