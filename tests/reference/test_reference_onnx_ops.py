"""Ground truth from TensorRT's ONNX parser: one small module per operator.

Each case exports a module with ``torch.onnx.export`` (TorchScript exporter, opset 17),
lets TensorRT's ONNX parser build the network (so the layers and their attributes are
TensorRT's own choice), executes it with :func:`run_network`, and compares the result
with PyTorch eager *and* onnxruntime. Each case also asserts which TensorRT layer types
the parser emitted, so it is known which layer the comparison exercises.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from trtforge.validation.reference import run_network


class Fn(nn.Module):
    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, *args: Any) -> Any:
        return self.fn(*args)


@dataclass
class Case:
    id: str
    make: Callable[[], nn.Module]
    inputs: Callable[[], tuple]
    layers: set[str]
    atol: float = 1e-4
    rtol: float = 1e-4
    ort: bool = True  # also compare with onnxruntime
    opset: int = 17
    dynamic_axes: dict | None = None


def r(*shape: int) -> Callable[[], tuple]:
    return lambda: (torch.randn(*shape),)


def seeded(make: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        torch.manual_seed(1)
        return make().eval()
    return build


def fn(f: Callable[..., Any]) -> Callable[[], nn.Module]:
    return lambda: Fn(f)


def ints(*shape: int, lo: int = -9, hi: int = 10, dtype=torch.int32) -> torch.Tensor:
    return torch.randint(lo, hi, shape, dtype=dtype)


def nonzero_ints(*shape: int) -> torch.Tensor:
    x = ints(*shape)
    return x.masked_fill(x == 0, 3)

CASES = [
    # --- convolution / deconvolution
    Case("conv1d_groups_dilation", seeded(lambda: nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2)), r(2, 4, 11), {"CONVOLUTION"}),
    Case("conv2d_groups_dilation", seeded(lambda: nn.Conv2d(6, 9, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(2, 1), groups=3)), r(1, 6, 9, 8), {"CONVOLUTION"}),
    Case("conv2d_same_asym", seeded(lambda: nn.Conv2d(3, 4, 4, padding="same")), r(1, 3, 7, 6), {"CONVOLUTION"}),
    Case("conv2d_weight_bias_input", fn(lambda x, w, b: F.conv2d(x, w, b, padding=(0, 1))), lambda: (torch.randn(1, 3, 5, 5), torch.randn(2, 3, 3, 3), torch.randn(2)), {"CONVOLUTION"}),
    Case("conv2d_depthwise", seeded(lambda: nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4, bias=False)), r(1, 4, 8, 8), {"CONVOLUTION"}),
    Case("conv3d", seeded(lambda: nn.Conv3d(2, 4, (2, 3, 3), stride=(1, 2, 2), padding=(1, 1, 0))), r(1, 2, 4, 7, 6), {"CONVOLUTION"}),
    Case("conv2d_weight_input", fn(lambda x, w: F.conv2d(x, w, stride=2, padding=1)), lambda: (torch.randn(1, 3, 7, 7), torch.randn(5, 3, 3, 3)), {"CONVOLUTION"}),
    Case("deconv2d_outpad_groups", seeded(lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)), r(1, 4, 5, 5), {"DECONVOLUTION"}),
    Case("deconv1d_dilation", seeded(lambda: nn.ConvTranspose1d(3, 2, 4, stride=3, padding=2, dilation=2)), r(2, 3, 6), {"DECONVOLUTION"}),
    Case("deconv3d", seeded(lambda: nn.ConvTranspose3d(2, 3, (2, 3, 3), stride=(2, 1, 2), padding=(0, 1, 1))), r(1, 2, 3, 4, 4), {"DECONVOLUTION"}),
    # --- pooling
    Case("maxpool2d_ceil", seeded(lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)), r(1, 2, 8, 9), {"POOLING"}),
    Case("maxpool1d", seeded(lambda: nn.MaxPool1d(3, stride=2)), r(2, 3, 10), {"POOLING"}),
    Case("maxpool3d", seeded(lambda: nn.MaxPool3d(2, stride=(1, 2, 2))), r(1, 2, 4, 6, 6), {"POOLING"}),
    Case("avgpool2d_count_pad", seeded(lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=True)), r(1, 2, 8, 7), {"POOLING"}),
    Case("avgpool2d_exclude_pad", seeded(lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)), r(1, 2, 8, 7), {"POOLING"}),
    Case("avgpool2d_ceil_count_pad", seeded(lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=True)), r(1, 2, 8, 8), {"POOLING"}),
    Case("avgpool2d_ceil_exclude_pad", seeded(lambda: nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)), r(1, 2, 8, 8), {"POOLING"}),
    Case("avgpool1d", seeded(lambda: nn.AvgPool1d(4, stride=3, padding=2)), r(2, 3, 11), {"POOLING"}),
    Case("avgpool3d", seeded(lambda: nn.AvgPool3d(2)), r(1, 2, 4, 4, 6), {"POOLING"}),
    Case("adaptive_avgpool", seeded(lambda: nn.AdaptiveAvgPool2d(1)), r(2, 3, 5, 4), {"REDUCE"}),
    # --- normalization
    Case("batchnorm2d", seeded(lambda: _bn()), r(2, 3, 4, 5), {"SCALE"}),
    Case("layernorm", seeded(lambda: nn.LayerNorm([4, 5])), r(2, 3, 4, 5), {"NORMALIZATION"}),
    Case("groupnorm", seeded(lambda: _affine(nn.GroupNorm(2, 6))), r(2, 6, 3, 4), {"NORMALIZATION"}),
    Case("instancenorm2d", seeded(lambda: _affine(nn.InstanceNorm2d(3, affine=True))), r(2, 3, 4, 5), {"NORMALIZATION"}),
    Case("lrn_via_conditional", seeded(lambda: nn.LocalResponseNorm(3, alpha=0.2, beta=0.6, k=1.5)), r(1, 6, 4, 4), {"POOLING", "CONDITION", "CONDITIONAL_OUTPUT"}),
    # --- resize
    Case("resize_nearest_x2", seeded(lambda: nn.Upsample(scale_factor=2, mode="nearest")), r(1, 2, 3, 4), {"RESIZE"}),
    Case("resize_nearest_size", seeded(lambda: nn.Upsample(size=(7, 5), mode="nearest")), r(1, 2, 3, 4), {"RESIZE"}),
    Case("resize_bilinear", seeded(lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)), r(1, 2, 3, 4), {"RESIZE"}),
    Case("resize_bilinear_align", seeded(lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)), r(1, 2, 3, 4), {"RESIZE"}),
    Case("resize_bilinear_down", fn(lambda x: F.interpolate(x, size=(3, 5), mode="bilinear", align_corners=False)), r(1, 2, 7, 9), {"RESIZE"}),
    Case("resize_bicubic", seeded(lambda: nn.Upsample(scale_factor=2, mode="bicubic", align_corners=False)), r(1, 2, 3, 4), {"RESIZE"}),
    Case("resize_bicubic_align", seeded(lambda: nn.Upsample(scale_factor=2, mode="bicubic", align_corners=True)), r(1, 2, 3, 4), {"RESIZE"}),
    Case("resize_linear1d", fn(lambda x: F.interpolate(x, scale_factor=3, mode="linear")), r(1, 2, 5), {"RESIZE"}),
    Case("resize_trilinear", fn(lambda x: F.interpolate(x, size=(3, 6, 5), mode="trilinear", align_corners=True)), r(1, 1, 2, 3, 4), {"RESIZE"}),
    # --- gather / scatter / slice / pad
    Case("gather_index_select", fn(lambda x: x[:, torch.tensor([2, 0, 2])]), r(2, 4, 3), {"GATHER"}),
    Case("gather_elements", fn(lambda x, i: torch.gather(x, 1, i)), lambda: (torch.randn(3, 5), torch.randint(0, 5, (3, 4))), {"GATHER"}),
    Case("gather_advanced_index", fn(lambda x, i, j: x[i, j]), lambda: (torch.randn(4, 5, 3), torch.tensor([0, 3, 1]), torch.tensor([4, 0, 2])), {"GATHER"}),
    Case("scatter_elements", fn(lambda x, i, u: torch.scatter(x, 1, i, u)), lambda: (torch.randn(2, 5), torch.tensor([[0, 4], [3, 1]]), torch.randn(2, 2)), {"SCATTER"}),
    Case("scatter_nd_index_put", fn(lambda x, i, u: x.index_put((i,), u)), lambda: (torch.randn(5, 3), torch.tensor([0, 3]), torch.randn(2, 3)), {"SCATTER"}),
    Case("slice_steps", fn(lambda x: x[:, 1:8:2, ::3, -3:]), r(2, 9, 7, 5), {"SLICE"}),
    Case("slice_flip", fn(lambda x: torch.flip(x, [1, 2])), r(2, 5, 3), {"SLICE"}),
    Case("expand_repeat", fn(lambda x: x.expand(3, 4, 5).repeat(1, 2, 1)), r(4, 1), {"SLICE"}),
    Case("pad_constant", fn(lambda x: F.pad(x, (2, 1, 1, 2), value=1.5)), r(1, 2, 5, 6), {"SLICE"}),
    Case("pad_reflect", fn(lambda x: F.pad(x, (2, 1, 3, 2), mode="reflect")), r(1, 2, 5, 6), {"SLICE"}),
    Case("pad_replicate", fn(lambda x: F.pad(x, (2, 1, 1, 3), mode="replicate")), r(1, 2, 5, 6), {"SLICE"}),
    Case("pad_circular", fn(lambda x: F.pad(x, (2, 1, 1, 2), mode="circular")), r(1, 2, 5, 6), {"SLICE"}),
    # --- topk / cumulative / softmax
    Case("topk_max", fn(lambda x: torch.topk(x, 3, dim=1)), r(2, 6, 3), {"TOPK"}),
    Case("topk_min_last", fn(lambda x: torch.topk(x, 2, dim=-1, largest=False)), r(3, 5), {"TOPK"}),
    Case("cumsum", fn(lambda x: torch.cumsum(x, 1)), r(2, 5, 3), {"CUMULATIVE"}),
    Case("softmax", fn(lambda x: torch.softmax(x, 1)), r(2, 5, 3), {"SOFTMAX"}),
    Case("log_softmax", fn(lambda x: torch.log_softmax(x, -1)), r(2, 5, 3), {"SOFTMAX", "UNARY"}),
    # --- matrix multiply / einsum
    Case("linear_3d", seeded(lambda: nn.Linear(5, 4)), r(2, 3, 5), {"MATRIX_MULTIPLY"}),
    Case("matmul_broadcast", fn(lambda a, b: a @ b), lambda: (torch.randn(2, 1, 3, 4), torch.randn(5, 4, 6)), {"MATRIX_MULTIPLY"}),
    Case("matmul_vector", fn(lambda a, v: a @ v), lambda: (torch.randn(2, 3, 4), torch.randn(4)), {"MATRIX_MULTIPLY"}),
    Case("matmul_transpose", fn(lambda a, b: a @ b.transpose(-1, -2)), lambda: (torch.randn(2, 3, 4), torch.randn(2, 5, 4)), {"MATRIX_MULTIPLY"}),
    Case("einsum_attention", fn(lambda q, k: torch.einsum("bhqd,bhkd->bhqk", q, k)), lambda: (torch.randn(1, 2, 3, 4), torch.randn(1, 2, 5, 4)), {"EINSUM"}),
    # --- reductions
    Case("reduce_sum_mean", fn(lambda x: x.sum((1, 3), keepdim=True) + x.mean(1, keepdim=True).mean(3, keepdim=True)), r(2, 3, 4, 5), {"REDUCE"}),
    Case("reduce_max_min", fn(lambda x: torch.amax(x, dim=(0, 2)) - torch.amin(x, dim=(0, 2))), r(2, 3, 4), {"REDUCE"}),
    Case("reduce_prod", fn(lambda x: torch.prod(x, 1)), lambda: (torch.rand(2, 4, 3) + 0.5,), {"REDUCE"}),
    # --- elementwise / select / cast
    Case("eltwise_broadcast", fn(lambda a, b, c: (a + b) * c - a / b + torch.maximum(a, c) - torch.minimum(b, c)), lambda: (torch.randn(2, 1, 4), torch.rand(1, 3, 1) + 0.5, torch.randn(2, 3, 4)), {"ELEMENTWISE"}),
    Case("eltwise_pow", fn(lambda a, b: torch.pow(a, b)), lambda: (torch.rand(3, 4) + 0.1, torch.randn(1, 4)), {"ELEMENTWISE"}),
    Case("compare_logic", fn(lambda a, b: ((a > b) & ~(a < 0)) | ((a == b) ^ (b > 0.5))), lambda: (torch.randn(3, 4).round(), torch.randn(3, 4).round()), {"ELEMENTWISE"}),
    Case("where_select", fn(lambda c, a, b: torch.where(c, a, b)), lambda: (torch.rand(2, 3) > 0.5, torch.randn(2, 3), torch.randn(1, 3)), {"SELECT"}),
    Case("int_div_trunc", fn(lambda a, b: torch.div(a, b, rounding_mode="trunc")), lambda: (ints(4, 5), nonzero_ints(4, 5)), {"ELEMENTWISE"}),
    Case("int_div_floor", fn(lambda a, b: torch.div(a, b, rounding_mode="floor")), lambda: (ints(4, 5), nonzero_ints(4, 5)), {"ELEMENTWISE"}),
    Case("int_remainder", fn(lambda a, b: torch.remainder(a, b)), lambda: (ints(4, 5), nonzero_ints(4, 5)), {"ELEMENTWISE"}),
    Case("float_floor_div", fn(lambda a, b: torch.div(a, b, rounding_mode="floor")), lambda: (torch.randn(4, 5) * 5, torch.randn(4, 5) + 3), {"ELEMENTWISE"}),
    Case("cast_chain", fn(lambda x: (x * 3).to(torch.int32).to(torch.float32) + (x > 0).to(torch.float32) + x.half().float()), r(3, 4), {"CAST"}),
    # --- activations
    *[
        Case(f"act_{n}", seeded(m), r(2, 3, 4), {"ACTIVATION"} if t is None else t, atol=1e-4)
        for n, m, t in [
            ("relu", nn.ReLU, None), ("sigmoid", nn.Sigmoid, None), ("tanh", nn.Tanh, None),
            ("leaky_relu", lambda: nn.LeakyReLU(0.13), None), ("elu", lambda: nn.ELU(0.7), None),
            ("selu", nn.SELU, None), ("softplus", lambda: nn.Softplus(beta=2.0), None),
            ("softsign", nn.Softsign, {"UNARY", "ELEMENTWISE"}), ("hardsigmoid", nn.Hardsigmoid, None),
            ("hardtanh_clip", lambda: nn.Hardtanh(-0.5, 1.25), None), ("relu6", nn.ReLU6, None),
            ("gelu_erf", nn.GELU, {"UNARY"}), ("gelu_tanh", lambda: nn.GELU("tanh"), {"ELEMENTWISE"}),
            ("hardswish", nn.Hardswish, None), ("silu", nn.SiLU, None), ("mish", nn.Mish, None),
            ("celu", lambda: nn.CELU(1.3), {"UNARY", "ELEMENTWISE"}),
            ("prelu", lambda: nn.PReLU(3, 0.2), {"PARAMETRIC_RELU"}),
        ]
    ],
    # --- unary
    *[
        Case(f"unary_{n}", fn(f), dom, {"UNARY"})
        for n, f, dom in [
            ("exp", torch.exp, r(3, 4)), ("log", torch.log, lambda: (torch.rand(3, 4) + 0.1,)),
            ("sqrt", torch.sqrt, lambda: (torch.rand(3, 4),)), ("reciprocal", torch.reciprocal, lambda: (torch.rand(3, 4) + 0.5,)),
            ("abs_neg", lambda x: -torch.abs(x), r(3, 4)), ("trig", lambda x: torch.sin(x) + torch.cos(x) + torch.tan(x * 0.3), r(3, 4)),
            ("inverse_trig", lambda x: torch.asin(x) + torch.acos(x) + torch.atan(x), lambda: (torch.rand(3, 4) * 1.8 - 0.9,)),
            ("rounding", lambda x: torch.ceil(x) + 10 * torch.floor(x) + 100 * torch.round(x), lambda: (torch.tensor([[-2.5, -1.5, -0.5, 0.5], [1.5, 2.5, 0.3, -0.7]]),)),
            ("erf_sign", lambda x: torch.erf(x) + torch.sign(x), lambda: (torch.tensor([[-2.0, 0.0, 0.5, 3.0]]),)),
            ("not_isinf_isnan", lambda x: torch.logical_not(x > 0) | torch.isinf(x) | torch.isnan(x), lambda: (torch.tensor([[1.0, float("inf"), float("nan"), -2.0]]),)),
        ]
    ],
    # --- shape manipulation, dynamic shapes, generators
    Case("dynamic_reshape", fn(lambda x: x.reshape(x.shape[0], -1) * 2), r(3, 2, 4), {"SHAPE", "SHUFFLE", "CONCATENATION"}, dynamic_axes={"in0": {0: "b"}}),
    Case("permute_squeeze_cat", fn(lambda x, y: torch.cat([x.permute(0, 2, 1).unsqueeze(1), y.squeeze(2).unsqueeze(1)], 1)), lambda: (torch.randn(2, 4, 3), torch.randn(2, 3, 1, 4)), {"SHUFFLE", "CONCATENATION"}),
    Case("arange_dynamic", fn(lambda x: x + torch.arange(x.shape[1], dtype=torch.float32)), r(2, 5), {"FILL"}, dynamic_axes={"in0": {1: "n"}}),
    Case("one_hot", fn(lambda i: F.one_hot(i, 5)), lambda: (torch.tensor([[1, 4, 0], [2, 2, 3]]),), {"ONE_HOT"}),
    # --- grid sample
    Case("grid_sample_bilinear_zeros", fn(lambda x, g: F.grid_sample(x, g, mode="bilinear", padding_mode="zeros", align_corners=False)), lambda: (torch.randn(1, 2, 4, 5), torch.rand(1, 3, 3, 2) * 2.4 - 1.2), {"GRID_SAMPLE"}),
    Case("grid_sample_nearest_border", fn(lambda x, g: F.grid_sample(x, g, mode="nearest", padding_mode="border", align_corners=True)), lambda: (torch.randn(1, 2, 4, 5), torch.rand(1, 3, 3, 2) * 2.4 - 1.2), {"GRID_SAMPLE"}),
    Case("grid_sample_bicubic_align", fn(lambda x, g: F.grid_sample(x, g, mode="bicubic", padding_mode="border", align_corners=True)), lambda: (torch.randn(1, 2, 4, 5), torch.rand(1, 3, 3, 2) * 2 - 1), {"GRID_SAMPLE"}),
    Case("grid_sample_bilinear_reflect", fn(lambda x, g: F.grid_sample(x, g, mode="bilinear", padding_mode="reflection", align_corners=False)), lambda: (torch.randn(2, 1, 4, 5), torch.rand(2, 2, 3, 2) * 2.4 - 1.2), {"GRID_SAMPLE"}),
]


def _bn() -> nn.Module:
    bn = nn.BatchNorm2d(3)
    bn.running_mean.uniform_(-1, 1)
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.uniform_(0.5, 1.5)
    bn.bias.data.uniform_(-1, 1)
    return bn


def _affine(m: nn.Module) -> nn.Module:
    m.weight.data.uniform_(0.5, 1.5)
    m.bias.data.uniform_(-1, 1)
    return m


def _as_list(out: Any) -> list[torch.Tensor]:
    if isinstance(out, torch.Tensor):
        return [out]
    return [t for t in out]


def _assert_match(ours: torch.Tensor, ref: torch.Tensor, case: Case, what: str) -> None:
    assert tuple(ours.shape) == tuple(ref.shape), f"{what}: shape {tuple(ours.shape)} != {tuple(ref.shape)}"
    if ref.dtype.is_floating_point:
        torch.testing.assert_close(ours.float(), ref.float(), atol=case.atol, rtol=case.rtol, equal_nan=True, msg=lambda m: f"{what}: {m}")
    else:
        assert not ours.dtype.is_floating_point, f"{what}: reference is {ref.dtype}, ours is {ours.dtype}"
        assert torch.equal(ours.to(torch.int64), ref.to(torch.int64)), f"{what}: {ours} != {ref}"


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_onnx_op_matches_torch_and_onnxruntime(case: Case, parse_onnx: Any, onnxruntime_run: Any) -> None:
    torch.manual_seed(0)
    model = case.make()
    args = case.inputs()
    with torch.no_grad():
        expected = _as_list(model(*args))
    parsed = parse_onnx(model, args, opset=case.opset, dynamic_axes=case.dynamic_axes)
    missing = case.layers - parsed.layer_types()
    assert not missing, f"the parser did not emit {missing}; it emitted {sorted(parsed.layer_types())}"
    feeds = dict(zip(parsed.input_names, args))
    result = run_network(parsed.network, feeds)
    ours = [result[n] for n in parsed.output_names()]
    assert len(ours) == len(expected)
    for k, (o, e) in enumerate(zip(ours, expected)):
        _assert_match(o, e, case, f"output {k} vs torch")
    if case.ort:
        for k, (o, e) in enumerate(zip(ours, onnxruntime_run(parsed.onnx_bytes, feeds))):
            _assert_match(o, e, case, f"output {k} vs onnxruntime")


def test_ceil_mode_pooling_keeps_a_window_pytorch_drops(parse_onnx: Any) -> None:
    """Canary for a TensorRT/PyTorch difference the docs record: with ceil_mode, PyTorch
    (and onnxruntime) drop a last window that starts in the right padding; TensorRT's
    EXPLICIT_ROUND_UP keeps it. The reference follows TensorRT's declared shape and agrees
    with PyTorch on every window both have."""
    model = nn.MaxPool2d(2, stride=2, padding=1, ceil_mode=True)
    x = torch.randn(1, 1, 5, 5)
    parsed = parse_onnx(model, (x,))
    assert tuple(parsed.network.get_output(0).shape) == (1, 1, 4, 4)
    expected = model(x)
    assert tuple(expected.shape) == (1, 1, 3, 3)
    ours = run_network(parsed.network, {"in0": x})[parsed.output_names()[0]]
    torch.testing.assert_close(ours[..., :3, :3], expected)
    assert bool(torch.isneginf(ours[..., 3, :]).all())  # the extra window sees only padding
