"""The pack's identity and registrations: from pyproject metadata and ``register(converters)``."""
from __future__ import annotations

from importlib.metadata import metadata

import trtforge_detection.pack as pack
from trtforge.plugins import PackManager
from trtforge_detection import converters

RANKING = [("aten.sort.default", "convert_sort"), ("aten.sort.stable", "convert_sort"),
           ("aten.topk.default", "convert_topk")]
TORCHVISION = [("torchvision.nms.default", "convert_nms"), ("torchvision.roi_align.default", "convert_roi_align"),
               ("torchvision.roi_pool.default", "convert_roi_pool")]


def _load():
    rec = PackManager(discover=False).add_pack("detection", pack)
    assert rec.status == "loaded", rec.error
    return rec, sorted((str(s.target), s.fn.__name__) for s in rec.converters)


def test_detection_pack_registers_its_converters_package():
    rec, registered = _load()
    assert registered == sorted(RANKING + TORCHVISION)
    meta = metadata("trtforge-detection")
    assert (rec.version, rec.description, rec.api_version) == (meta["Version"], meta["Summary"], "1.1")
    assert "nms" in rec.description


def test_detection_pack_without_torchvision_registers_the_ranking_converters(monkeypatch):
    """The branch taken when torchvision is missing: the nms/roi modules name torch.ops.torchvision ops,
    so only the ranking module is registered."""
    monkeypatch.setattr(converters, "HAS_TORCHVISION", False)
    _, registered = _load()
    assert registered == RANKING
