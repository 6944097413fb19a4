"""Whole models through the ONNX parser, and proof that the networks are buildable.

torchvision resnet18 and mobilenet_v3_small (random weights, 1x3x224x224) are parsed
by TensorRT, executed with :func:`run_network` and compared with PyTorch eager and
onnxruntime. A few networks are also built into serialized engines with TensorRT-RTX,
which proves that what the reference executes is a network TensorRT accepts.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from trtforge import backend
from trtforge.validation.reference import run_network

torchvision = pytest.importorskip("torchvision", reason="the whole-model ground truth uses torchvision models")


def _model(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    for m in model.modules():  # non-trivial BatchNorm statistics, so the SCALE path matters
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize("name,build", [("resnet18", True), ("mobilenet_v3_small", False)])
def test_torchvision_model_matches_torch_and_onnxruntime(name: str, build: bool, parse_onnx: Any, onnxruntime_run: Any, builder: Any) -> None:
    model = _model(name)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        expected = model(x)
    parsed = parse_onnx(model, (x,))
    assert {"CONVOLUTION", "POOLING", "MATRIX_MULTIPLY"} <= parsed.layer_types() or {"CONVOLUTION", "REDUCE"} <= parsed.layer_types()
    out = run_network(parsed.network, {"in0": x}, keep_intermediates=True)
    ours = out[parsed.output_names()[0]]
    scale = expected.abs().max().item()
    torch.testing.assert_close(ours, expected, atol=1e-4 * max(scale, 1.0), rtol=1e-3)
    ort = onnxruntime_run(parsed.onnx_bytes, {"in0": x})[0]
    torch.testing.assert_close(ours, ort, atol=1e-4 * max(scale, 1.0), rtol=1e-3)
    # keep_intermediates returns every layer output, in a form a divergence search can use
    for i in range(parsed.network.num_layers):
        layer = parsed.network.get_layer(i)
        for j in range(layer.num_outputs):
            assert layer.get_output(j).name in out
    if build:  # the executed network is one TensorRT accepts: it builds into an engine
        engine = _build(builder, parsed.network)
        assert engine is not None and engine.nbytes > 0


def _build(builder: Any, network: Any) -> Any:
    config = builder.create_builder_config()
    return builder.build_serialized_network(network, config)


def test_parsed_networks_build_into_engines(parse_onnx: Any, builder: Any) -> None:
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2, ceil_mode=True), torch.nn.Upsample(scale_factor=2, mode="bilinear"),
        torch.nn.Flatten(), torch.nn.Linear(8 * 10 * 10, 5), torch.nn.Softmax(-1),
    ).eval()
    x = torch.randn(2, 3, 9, 9)
    parsed = parse_onnx(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(run_network(parsed.network, {"in0": x})[parsed.output_names()[0]], model(x), atol=1e-5, rtol=1e-4)
    engine = _build(builder, parsed.network)
    assert engine is not None and engine.nbytes > 0


def test_nonzero_and_nms_build_only_where_the_backend_can(hand: Any, trt: Any, builder: Any) -> None:
    caps = backend.capabilities()
    for layer_type in ("NON_ZERO", "NMS"):
        h = hand()
        if layer_type == "NON_ZERO":
            x = h.input("x", trt.float32, (3, 4))
            h.output(h.net.add_non_zero(x).get_output(0), "y")
            feeds = {"x": torch.tensor([[0.0, 1, 0, 2]] * 3)}
        else:
            b = h.input("b", trt.float32, (1, 5, 4))
            s = h.input("s", trt.float32, (1, 5, 2))
            nms = h.net.add_nms(b, s, h.const(np.array(2, dtype=np.int32), ()))
            h.output(nms.get_output(0), "y")
            h.output(nms.get_output(1), "n")
            feeds = {"b": torch.rand(1, 5, 4).sort(-1).values, "s": torch.rand(1, 5, 2)}
        # the network is valid and executes on the reference either way ...
        assert "y" in run_network(h.net, feeds)
        # ... and builds exactly when the capability table says so (RTX: no runner)
        built = _build(builder, h.net) is not None
        assert built == caps.supports(layer_type), f"{layer_type}: built={built}, capability table says {caps.supports(layer_type)}"
