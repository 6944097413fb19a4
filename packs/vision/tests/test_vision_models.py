"""Whole torchvision classifiers: one engine, nothing left to PyTorch, validated by reference execution.

The models are built with ``weights=None`` and then *calibrated*: batch-norm running
statistics are taken from a random batch and zero-initialised classifier heads get
small random weights. Untouched, several of them output (near) zeros -- vit_b_16's
head is zero, mobilenet_v3/efficientnet logits are ~1e-16 -- and a comparison with
PyTorch would then prove nothing.
"""
from __future__ import annotations

import pytest
import torch

import trtforge
from trtforge.validation.validate import TOLERANCE
from trtforge.testing import check_converts

torchvision = pytest.importorskip("torchvision", reason="whole-model tests need torchvision")

MODELS = ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0", "regnet_y_400mf",
          "convnext_tiny", "vit_b_16"]


def calibrated(name: str, seed: int = 0) -> torch.nn.Module:
    """``torchvision.models.<name>(weights=None)`` with data-driven batch-norm statistics and non-zero heads."""
    torch.manual_seed(seed)
    model = getattr(torchvision.models, name)(weights=None)
    g = torch.Generator().manual_seed(seed)
    for mod in model.modules():
        if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
            mod.reset_running_stats()
            mod.momentum = None  # cumulative average over the calibration batch
        if isinstance(mod, torch.nn.Linear) and not mod.weight.detach().abs().max():
            with torch.no_grad():
                mod.weight.normal_(0, 0.02, generator=g)
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, 224, 224, generator=g))
    return model.eval()


def _assert_one_engine(result, tol: float) -> dict:
    report = result.report
    assert report.fallback == []
    assert len(report.engines) == 1, [e.name for e in report.engines]
    [engine] = report.engines
    assert engine.status == "built" and result.built
    assert engine.validation["rel_err"] <= tol, engine.validation
    return engine.validation


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_model_as_built_static_fp32(name):
    """The acceptance check as stated: weights=None untouched, 1x3x224x224."""
    model = getattr(torchvision.models, name)(weights=None).eval()
    _assert_one_engine(check_converts(model, [trtforge.Input(shape=(1, 3, 224, 224))]), TOLERANCE[torch.float32])


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_model_static_fp32(name):
    result = check_converts(calibrated(name), [trtforge.Input(shape=(1, 3, 224, 224))])
    _assert_one_engine(result, TOLERANCE[torch.float32])


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_model_dynamic_batch(name):
    spec = trtforge.Input(min_shape=(1, 3, 224, 224), opt_shape=(4, 3, 224, 224), max_shape=(16, 3, 224, 224))
    validation = _assert_one_engine(check_converts(calibrated(name), [spec]), TOLERANCE[torch.float32])
    assert validation["shape_sets"] == 3  # min, opt and max


@pytest.mark.slow
@pytest.mark.parametrize("name", MODELS)
def test_model_fp16(name):
    result = check_converts(calibrated(name), [trtforge.Input(shape=(1, 3, 224, 224))], precision=torch.float16)
    _assert_one_engine(result, TOLERANCE[torch.float16])


#: window-attention models: shifted-window masks and relative-position biases built from constants
#: (folded in lowering), in-place slice assignments, rolls. Each takes 40-180 s on 2 cores: all slow.
WINDOWED = ["swin_t", "swin_v2_t", "maxvit_t"]


@pytest.mark.slow
@pytest.mark.parametrize("name", WINDOWED)
def test_window_attention_model_static_fp32(name):
    result = check_converts(calibrated(name), [trtforge.Input(shape=(1, 3, 224, 224))])
    _assert_one_engine(result, TOLERANCE[torch.float32])
    folding = result.report.folding
    assert folding["constants"] > 0 and not [d for d in folding["not_folded"] if "LIMIT" in d["reason"]], folding
