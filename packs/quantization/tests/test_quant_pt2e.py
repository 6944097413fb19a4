"""PT2E (torchao's prepare_pt2e / convert_pt2e): quantized_decomposed ops as TensorRT Q/DQ layers."""
from __future__ import annotations

import pytest
import torch

import trtforge
from trtforge.testing import check_converts
from trtforge_quant.pt2e import quantize_int8

from models import ConvNet

qd = torch.ops.quantized_decomposed


def _calibrated(model: torch.nn.Module, shape: tuple[int, ...], batches: int = 4, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    example = torch.randn(shape)
    return quantize_int8(model.eval(), [example], [[torch.randn(shape)] for _ in range(batches)], **kw)


def _quant_layers(result) -> dict[str, int]:
    counts: dict[str, int] = {}
    for net in result.networks:
        for i in range(net.network.num_layers):
            name = net.network.get_layer(i).type.name
            if name in ("QUANTIZE", "DEQUANTIZE"):
                counts[name] = counts.get(name, 0) + 1
    return counts


def test_int8_convnet_is_one_engine_with_qdq_layers(quant_pack):
    model = _calibrated(ConvNet(), (2, 3, 16, 16))
    result = check_converts(model, [torch.randn(2, 3, 16, 16)],
                            ops=[qd.quantize_per_tensor.default, qd.dequantize_per_tensor.default,
                                 qd.dequantize_per_channel.default])
    assert len(result.report.engines) == 1 and result.report.coverage == 1.0
    layers = _quant_layers(result)
    # three activation quantizers, their dequantizers, and three per-channel weight dequantizers
    assert layers["QUANTIZE"] >= 3 and layers["DEQUANTIZE"] >= 6, layers
    # the codes of every activation quantizer were compared with PyTorch's
    assert "quantization_flip_err" in result.report.engines[0].validation


@pytest.mark.slow
def test_int8_convnet_dynamic_batch(quant_pack):
    model = _calibrated(ConvNet(), (2, 3, 16, 16), dynamic_shapes=({0: torch.export.Dim.DYNAMIC},))
    x = trtforge.Input(min_shape=(1, 3, 16, 16), opt_shape=(2, 3, 16, 16), max_shape=(4, 3, 16, 16))
    result = check_converts(model, [x])
    assert result.report.engines[0].validation["shape_sets"] == 3


class _TensorOverloads(torch.nn.Module):
    """The ``.tensor`` overloads (scale and zero point as tensors), as some quantizers emit."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor(0.02))
        self.register_buffer("zero_point", torch.tensor(0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = qd.quantize_per_tensor.tensor(x, self.scale, self.zero_point, -128, 127, torch.int8)
        return qd.dequantize_per_tensor.tensor(q, self.scale, self.zero_point, -128, 127, torch.int8) * 2


def test_tensor_overloads_round_half_to_even_and_saturate(quant_pack):
    # values on rounding ties (k + 0.5 steps) and far outside the range: exact agreement required
    x = torch.tensor([[0.01, 0.03, -0.01, -0.03, 0.05, 5.0, -5.0, 2.54]])
    result = check_converts(_TensorOverloads(), [x], ops=[qd.quantize_per_tensor.tensor])
    assert result.report.engines[0].validation["max_abs_err"] == 0.0


class _Asymmetric(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = qd.quantize_per_tensor.default(x, 0.02, 10, 0, 255, torch.uint8)
        return qd.dequantize_per_tensor.default(q, 0.02, 10, 0, 255, torch.uint8)


class _NarrowRange(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = qd.quantize_per_tensor.default(x, 0.02, 0, -127, 127, torch.int8)
        return qd.dequantize_per_tensor.default(q, 0.02, 0, -127, 127, torch.int8)


class _PerChannelActivation(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scales", torch.full((4,), 0.02))
        self.register_buffer("zero_points", torch.zeros(4, dtype=torch.int64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = qd.quantize_per_channel.default(x, self.scales, self.zero_points, 1, -128, 127, torch.int8)
        return qd.dequantize_per_channel.default(q, self.scales, self.zero_points, 1, -128, 127, torch.int8)


class _ZeroScale(torch.nn.Module):
    """torchao gives an all-zero weight a zero scale (torchvision's ViT head starts at zero)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = qd.quantize_per_tensor.default(x, 0.0, 0, -128, 127, torch.int8)
        return qd.dequantize_per_tensor.default(q, 0.0, 0, -128, 127, torch.int8)


@pytest.mark.parametrize("model, reason", [
    (_Asymmetric(), "unsigned 8-bit"),
    (_ZeroScale(), "strictly positive"),
    (_NarrowRange(), "saturates to [-128, 127]"),
    (_PerChannelActivation(), "per-channel scales on a run-time tensor"),
])
def test_schemes_tensorrt_cannot_express_stay_in_pytorch_with_the_reason(quant_pack, model, reason):
    report = trtforge.compile(model, [torch.randn(2, 4)], min_block_size=1, dryrun=True)
    refused = [f for f in report.fallback if f.op.startswith("quantized_decomposed::quantize")]
    assert refused and reason in refused[0].reason, [(f.op, f.reason) for f in report.fallback]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_large"])
def test_torchvision_int8_models_are_one_engine(quant_pack, name):
    import torchvision

    model = _with_batch_statistics(getattr(torchvision.models, name)(weights=None))
    model = _calibrated(model, (1, 3, 224, 224), batches=2)
    result = check_converts(model, [torch.randn(1, 3, 224, 224)])
    assert len(result.report.engines) == 1 and result.report.coverage == 1.0
    assert _quant_layers(result)["QUANTIZE"] > 10
    validation = result.report.engines[0].validation
    assert validation["rel_err"] <= validation["tolerance"] == max(1e-3, validation["quantization_flip_err"])


def _with_batch_statistics(model: torch.nn.Module) -> torch.nn.Module:
    """Random-init batch norms with running statistics of random batches.

    With torchvision's initial statistics (mean 0, variance 1) mobilenet_v3_large's activations
    shrink to 1e-8 by the last block: every code is zero and the comparison says nothing.
    """
    torch.manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # a plain average over the batches
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, 3, 224, 224))
    return model.eval()
