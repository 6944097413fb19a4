"""Every op the pack converts, each overload, in a network with a dynamic batch: the models are
written the way PT2E and torchao leave them (scales as constants, weights as int8/float8
buffers), so no calibration is needed and each runs in seconds."""
from __future__ import annotations

import pytest
import torch

import trtforge
from trtforge.testing import check_converts

qd = torch.ops.quantized_decomposed
ao = torch.ops.torchao
BATCH = trtforge.Input(min_shape=(1, 8), opt_shape=(2, 8), max_shape=(4, 8))


def _int8(low: int, high: int, *shape: int) -> torch.Tensor:
    """Quantized weight values in [low, high), the same on every run."""
    return torch.randint(low, high + 1, shape, dtype=torch.int8, generator=torch.Generator().manual_seed(0))


class _Linear(torch.nn.Module):
    """PT2E's pattern: activation quantize/dequantize per tensor, an int8 weight dequantized per channel."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("weight", _int8(-127, 127, 6, 8))
        self.register_buffer("scales", torch.linspace(0.01, 0.02, 6))
        self.register_buffer("zero_points", torch.zeros(6, dtype=torch.int64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = qd.quantize_per_tensor.default(x, 0.02, 0, -128, 127, torch.int8)
        x = qd.dequantize_per_tensor.default(q, 0.02, 0, -128, 127, torch.int8)
        w = qd.dequantize_per_channel.default(self.weight, self.scales, self.zero_points, 0, -128, 127, torch.int8)
        return x @ w.t()


class _TensorScales(torch.nn.Module):
    """The ``.tensor`` overloads (scale and zero point as tensors) and ``.tensor2`` (the range too)."""

    def __init__(self) -> None:
        super().__init__()
        for name, value in dict(scale=torch.tensor(0.02), zero_point=torch.tensor(0), lo=torch.tensor(-128),
                                hi=torch.tensor(127)).items():
            self.register_buffer(name, value)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = qd.quantize_per_tensor.tensor(x, self.scale, self.zero_point, -128, 127, torch.int8)
        a = qd.dequantize_per_tensor.tensor(q, self.scale, self.zero_point, -128, 127, torch.int8)
        q = qd.quantize_per_tensor.tensor2(x * 2, self.scale, self.zero_point, self.lo, self.hi, torch.int8)
        return a + qd.dequantize_per_tensor.tensor2(q, self.scale, self.zero_point, self.lo, self.hi, torch.int8)


class _GroupWeight(torch.nn.Module):
    """An INT4 weight in groups of 4 along the input features (``dequantize_per_channel_group``)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("weight", _int8(-8, 7, 6, 8))
        self.register_buffer("scales", torch.linspace(0.05, 0.15, 12).reshape(6, 2))
        self.register_buffer("zero_points", torch.zeros(6, 2, dtype=torch.int8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = qd.dequantize_per_channel_group.default(self.weight, self.scales, self.zero_points, -8, 7, torch.int8, 4,
                                                    torch.float32)
        return x @ w.t()


class _AffineActivation(torch.nn.Module):
    """torchao's quantize_affine/dequantize_affine per tensor: ``block_size`` is the (dynamic) shape;
    dequantize_affine's output_dtype is left to its schema default."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor([[0.02]]))
        self.register_buffer("zero_point", torch.tensor([[0]], dtype=torch.int8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        block = list(x.shape)
        q = ao.quantize_affine.default(x, block, self.scale, self.zero_point, torch.int8, -128, 127)
        return ao.dequantize_affine.default(q, block, self.scale, self.zero_point, torch.int8, -128, 127)


class _Float8Activation(torch.nn.Module):
    """torchao's float8 quantize/dequantize of a run-time tensor, per tensor (dtypes: schema defaults)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor(0.01))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = ao.quantize_affine_float8_non_decomposed.default(x, self.scale)
        return ao.dequantize_affine_float8_non_decomposed.default(q, self.scale)


@pytest.mark.parametrize("model, ops", [
    (_Linear(), [qd.quantize_per_tensor.default, qd.dequantize_per_tensor.default, qd.dequantize_per_channel.default]),
    (_TensorScales(), [qd.quantize_per_tensor.tensor, qd.dequantize_per_tensor.tensor,
                       qd.quantize_per_tensor.tensor2, qd.dequantize_per_tensor.tensor2]),
    (_GroupWeight(), [qd.dequantize_per_channel_group.default]),
    (_AffineActivation(), [ao.quantize_affine.default, ao.dequantize_affine.default]),
    (_Float8Activation(), [ao.quantize_affine_float8_non_decomposed.default,
                           ao.dequantize_affine_float8_non_decomposed.default]),
], ids=["pt2e-linear", "tensor-overloads", "int4-groups", "torchao-affine", "torchao-float8"])
def test_converts_with_a_dynamic_batch(quant_pack, model, ops):
    result = check_converts(model, [BATCH], ops=ops)
    (engine,) = result.report.engines
    assert engine.validation["shape_sets"] == 3  # min, opt and max batch were each checked
    assert engine.validation["rel_err"] <= engine.validation["tolerance"]
    assert any(p[0] != p[2] for net in result.networks for p in net.profiles)  # the profile is dynamic



def test_block_sizes_are_compared_with_symbolic_shapes_without_specializing_them():
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv
    from trtforge_quant import schemes

    x = FakeTensorMode(shape_env=ShapeEnv()).from_tensor(torch.zeros(6, 8))  # sizes s0, s1
    assert schemes.from_block_size(x.shape, list(x.shape)) == schemes.Granularity()  # per tensor
    assert schemes.from_block_size(x.shape, [1, x.shape[1]]) == schemes.Granularity(axis=0)
    assert "dynamic size" in schemes.from_block_size(x.shape, [1, 4])  # blocks of 4 along a dynamic dim
    assert schemes.from_block_size((6, 8), [1, 4]) == schemes.Granularity(block=(1, 4))
    assert not x.shape[0].node.shape_env.guards  # nothing was specialized
