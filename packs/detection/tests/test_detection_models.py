"""Whole torchvision detectors: the two routes of docs/detection.md (slow: seconds to a minute each).

* export route: ``BackboneHead`` (backbone + head, the exportable part) compiles
  to one engine with the vision pack, built by TensorRT-RTX and validated;
* torch.compile route: ``backend="trtforge"`` with ``dryrun`` reports, per
  region Dynamo hands over, what converts and why the rest does not.
Weights are random (nothing is downloaded): conversion does not depend on them.
"""
from __future__ import annotations

import pytest
import torch
import torchvision
from torchvision.models import detection

from trtforge.testing import check_converts
from trtforge_detection.models import BackboneHead

pytestmark = pytest.mark.slow

_DETECTORS = {
    "ssdlite320_mobilenet_v3_large": (detection.ssdlite320_mobilenet_v3_large, {}),
    "retinanet_resnet50_fpn": (detection.retinanet_resnet50_fpn, {"min_size": 320, "max_size": 320}),
    "fasterrcnn_mobilenet_v3_large_320_fpn": (detection.fasterrcnn_mobilenet_v3_large_320_fpn, {}),
}


def _detector(name: str) -> torch.nn.Module:
    ctor, kwargs = _DETECTORS[name]
    torch.manual_seed(0)
    return ctor(weights=None, weights_backbone=None, **kwargs).eval()


@pytest.mark.parametrize(
    "name, size",
    [("ssdlite320_mobilenet_v3_large", 320), ("retinanet_resnet50_fpn", 256)],
)
def test_detection_backbone_head_one_engine(name, size):
    model = BackboneHead(_detector(name))
    images = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    out = check_converts(model, [images])
    (engine,) = out.report.engines
    assert out.built and engine.status == "built"
    assert engine.nodes == out.report.compute_nodes
    assert engine.validation["rel_err"] < 1e-4
    with torch.no_grad():
        regression, logits = model(images)
    assert regression.shape[:2] == logits.shape[:2]  # per-anchor predictions


@pytest.fixture(scope="module")
def dynamo_regions():
    """``name -> (detections, region reports)`` of a torch.compile dry run, computed once per detector."""
    from trtforge.dynamo_backend import collect_reports

    cache: dict = {}

    def run(name: str):
        if name not in cache:
            compiled = torch.compile(_detector(name), backend="trtforge", options={"dryrun": True}, dynamic=False)
            with collect_reports() as regions, torch.no_grad():
                out = compiled([torch.rand(3, 320, 320, generator=torch.Generator().manual_seed(0))])
            cache[name] = (out, list(regions))
        return cache[name]

    return run


@pytest.mark.parametrize("name", sorted(_DETECTORS))
def test_detection_torch_compile_dryrun_reports_each_region(dynamo_regions, name):
    detections, regions = dynamo_regions(name)
    assert isinstance(detections, list) and {"boxes", "scores", "labels"} <= set(detections[0])
    assert len(regions) > 1, "post-processing breaks the graph: several regions"
    compute = sum(r.compute_nodes for r in regions)
    converted = sum(e.nodes for r in regions for e in r.engines)
    assert compute > 300 and converted > 0
    for region in regions:
        for entry in region.fallback:
            assert entry.reason, f"{entry.node} ({entry.op}) fell back without a reason"
        # no detection-pack op is ever left without a converter
        assert not any(f.op.startswith("torchvision::") and f.category.startswith("no converter")
                       for f in region.fallback)


@pytest.mark.parametrize("name", sorted(_DETECTORS))
def test_detection_torch_compile_converts_nearly_everything(dynamo_regions, name):
    _, regions = dynamo_regions(name)
    compute = sum(r.compute_nodes for r in regions)
    converted = sum(e.nodes for r in regions for e in r.engines)
    assert converted / compute > 0.95
