"""The executor's contract: input validation, output selection, intermediates, errors."""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from trtforge.validation import reference
from trtforge.validation.reference import (
    ReferenceExecutionError,
    UnsupportedLayerError,
    run_network,
    supported_layer_types,
    torch_dtype,
    trt_dtype,
)


def _small_net(hand: Any, trt: Any) -> tuple[Any, Any]:
    h = hand()
    x = h.input("x", trt.float32, (-1, 3))
    relu = h.net.add_activation(x, trt.ActivationType.RELU)
    relu.name = "the_relu"
    add = h.net.add_elementwise(relu.get_output(0), h.const(np.ones((1, 3), np.float32)), trt.ElementWiseOperation.SUM)
    h.output(add.get_output(0), "y")
    return h, relu


def test_outputs_intermediates_and_dynamic_dims(hand: Any, trt: Any) -> None:
    h, relu = _small_net(hand, trt)
    x = torch.tensor([[-1.0, 0.5, 2.0], [3.0, -4.0, 0.0]])
    out = run_network(h.net, {"x": x})
    assert list(out) == ["y"]
    torch.testing.assert_close(out["y"], torch.relu(x) + 1)
    mid = relu.get_output(0).name
    only = run_network(h.net, {"x": x}, outputs=[mid])
    assert list(only) == [mid] and torch.equal(only[mid], torch.relu(x))
    every = run_network(h.net, {"x": x}, keep_intermediates=True)
    assert {"x", mid, "y"} <= set(every)
    with pytest.raises(ReferenceExecutionError, match="no tensor named"):
        run_network(h.net, {"x": x}, outputs=["nope"])


@pytest.mark.parametrize("feeds,match", [
    ({}, "missing \\['x'\\]"),
    ({"x": torch.zeros(2, 3), "z": torch.zeros(1)}, "unexpected \\['z'\\]"),
    ({"x": torch.zeros(2, 3, dtype=torch.float16)}, "dtype torch.float16"),
    ({"x": torch.zeros(2, 3, 1)}, "shape \\(2, 3, 1\\)"),
    ({"x": torch.zeros(2, 4)}, "declares \\(-1, 3\\)"),
    ({"x": [[1.0, 2.0, 3.0]]}, "must be a torch.Tensor"),
])
def test_input_validation(feeds: dict, match: str, hand: Any, trt: Any) -> None:
    h, _ = _small_net(hand, trt)
    with pytest.raises(ReferenceExecutionError, match=match):
        run_network(h.net, feeds)


def test_unsupported_layer_names_layer_and_type(hand: Any, trt: Any) -> None:
    h = hand()
    x = h.input("x", trt.float32, (2, 32))
    # FP4 dynamic (block) quantization: a layer the reference executor does not implement
    q = h.net.add_dynamic_quantize(x, 1, 16, trt.DataType.FP4, trt.DataType.FP8)
    q.name = "my_quant"
    h.output(q.get_output(0), "y")
    with pytest.raises(NotImplementedError) as info:
        run_network(h.net, {"x": torch.ones(2, 32)})
    assert isinstance(info.value, UnsupportedLayerError) and isinstance(info.value, ReferenceExecutionError)
    assert "my_quant" in str(info.value) and "DYNAMIC_QUANTIZE" in str(info.value)
    assert "DYNAMIC_QUANTIZE" not in supported_layer_types()


def test_shape_disagreement_with_tensorrt_is_reported(hand: Any, trt: Any, monkeypatch: Any) -> None:
    """The walk checks every computed shape against TensorRT's inferred one."""
    h, relu = _small_net(hand, trt)
    from trtforge.validation.reference import executor

    bad = ("IActivationLayer", lambda ctx, ins: [ins[0][:, :2]])
    monkeypatch.setitem(executor._table(), "ACTIVATION", bad)
    with pytest.raises(ReferenceExecutionError, match="the_relu.*computed with shape \\(2, 2\\)"):
        run_network(h.net, {"x": torch.zeros(2, 3)})


def test_dtype_maps_and_supported_list(trt: Any) -> None:
    for name, dtype in [("FLOAT", torch.float32), ("HALF", torch.float16), ("BF16", torch.bfloat16),
                        ("INT32", torch.int32), ("INT64", torch.int64), ("INT8", torch.int8),
                        ("UINT8", torch.uint8), ("BOOL", torch.bool)]:
        assert torch_dtype(getattr(trt.DataType, name)) == dtype
        assert trt_dtype(dtype) == getattr(trt.DataType, name)
    assert torch_dtype(trt.DataType.FP8) == torch.float8_e4m3fn
    assert torch_dtype(trt.DataType.INT4) == torch.int8  # INT4 values are held in int8 tensors
    with pytest.raises(UnsupportedLayerError):
        torch_dtype(trt.DataType.FP4)
    assert set(reference.__all__) >= {"run_network", "ReferenceExecutionError"}
    required = {
        "CONSTANT", "ACTIVATION", "UNARY", "ELEMENTWISE", "CAST", "SHUFFLE", "CONCATENATION", "SLICE",
        "GATHER", "SCATTER", "SELECT", "REDUCE", "MATRIX_MULTIPLY", "SOFTMAX", "CONVOLUTION",
        "DECONVOLUTION", "POOLING", "NORMALIZATION", "SCALE", "RESIZE", "PADDING", "TOPK", "CUMULATIVE",
        "SHAPE", "IDENTITY", "FILL", "GRID_SAMPLE", "EINSUM", "ASSERTION", "SQUEEZE", "UNSQUEEZE",
        "NON_ZERO", "NMS", "ONE_HOT", "REVERSE_SEQUENCE", "PARAMETRIC_RELU", "LRN",
    }
    assert required <= set(supported_layer_types())
    assert set(supported_layer_types()) <= set(trt.LayerType.__members__)


def test_layers_out_of_order_are_deferred(hand: Any, trt: Any) -> None:
    h = hand()
    x = h.input("x", trt.float32, (3,))
    first = h.net.add_unary(x, trt.UnaryOperation.NEG)  # will be rewired to read a later layer
    second = h.net.add_activation(x, trt.ActivationType.RELU)
    first.set_input(0, second.get_output(0))
    h.output(first.get_output(0), "y")
    got = run_network(h.net, {"x": torch.tensor([-1.0, 2.0, -3.0])})["y"]
    assert got.tolist() == [0.0, -2.0, 0.0]


def test_caller_held_layer_objects_are_left_alone(hand: Any, trt: Any) -> None:
    h, _ = _small_net(hand, trt)
    held = [h.net.get_layer(i) for i in range(h.net.num_layers)]
    classes = [type(layer) for layer in held]
    run_network(h.net, {"x": torch.zeros(1, 3)})
    assert [type(layer) for layer in held] == classes
    assert held[0].type == trt.LayerType.ACTIVATION
