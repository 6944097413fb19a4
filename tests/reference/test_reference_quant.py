"""QUANTIZE / DEQUANTIZE layers: TensorRT's ONNX parser builds them, onnxruntime judges.

ONNX ``QuantizeLinear`` -> ``DequantizeLinear`` models are written with ``onnx.helper``
(per tensor and per channel, INT8 and FP8 E4M3), parsed by TensorRT into its own Q/DQ
layers, executed by the reference executor and compared *exactly* with onnxruntime.
The inputs sit on rounding ties (round half to even), beyond the saturation bounds,
and between FP8 values, where a wrong rounding or clamping shows.
"""
from __future__ import annotations

from typing import Any

import pytest
import torch

from trtforge.validation.reference import run_network

onnx = pytest.importorskip("onnx", reason="the models are written with onnx.helper")


def _qdq_model(kind: str, shape: tuple[int, ...], scale: torch.Tensor, axis: int | None) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    qtype = TensorProto.INT8 if kind == "INT8" else TensorProto.FLOAT8E4M3FN
    zero = helper.make_tensor("zero", qtype, list(scale.shape), [0] * scale.numel())
    attrs = {} if axis is None else {"axis": axis}
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "scale", "zero"], ["q"], **attrs),
        helper.make_node("DequantizeLinear", ["q", "scale", "zero"], ["y"], **attrs),
    ]
    graph = helper.make_graph(
        nodes, "qdq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))],
        initializer=[numpy_helper.from_array(scale.numpy(), "scale"), zero],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    model.ir_version = 9
    return model.SerializeToString()


def _inputs(kind: str, shape: tuple[int, ...], scale: torch.Tensor, axis: int | None) -> torch.Tensor:
    torch.manual_seed(0)
    steps = torch.randint(-140, 140, shape).float()
    if kind == "INT8":
        steps = steps + 0.5 * (torch.rand(shape) < 0.5)  # ties: half of the values sit on k + 0.5
    else:
        steps = torch.randn(shape) * 120  # spans FP8 subnormals up to beyond +-448 (saturation)
    if axis is None:
        return steps * scale
    view = [1] * len(shape)
    view[axis] = -1
    return steps * scale.reshape(view)


CASES = [
    ("int8_per_tensor", "INT8", (3, 5, 4), torch.tensor(0.05), None),
    ("int8_per_channel", "INT8", (2, 4, 6), torch.tensor([0.1, 0.02, 0.5, 0.03]), 1),
    ("fp8_per_tensor", "FP8", (4, 8), torch.tensor(0.5), None),
    ("fp8_per_channel", "FP8", (3, 8), torch.tensor([0.25, 1.0, 2.0]), 0),
]


@pytest.mark.parametrize("kind, shape, scale, axis", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_qdq_matches_onnxruntime_exactly(trt: Any, builder: Any, logger: Any, onnxruntime_run: Any,
                                         kind: str, shape: tuple, scale: torch.Tensor, axis: int | None) -> None:
    data = _qdq_model(kind, shape, scale, axis)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    assert parser.parse(data), [parser.get_error(i).desc() for i in range(parser.num_errors)]
    types = {network.get_layer(i).type.name for i in range(network.num_layers)}
    assert {"QUANTIZE", "DEQUANTIZE"} <= types, types
    x = _inputs(kind, shape, scale, axis)
    ours = run_network(network, {"x": x})[network.get_output(0).name]
    (judge,) = onnxruntime_run(data, {"x": x})
    assert torch.equal(ours, judge), (ours - judge).abs().max()
    if kind == "INT8":  # the inputs did exercise ties and saturation
        assert (x.abs() > 127.5 * (scale if axis is None else scale.max())).any()


def test_int4_block_quantize_rounds_saturates_and_dequantizes(hand: Any) -> None:
    """INT4 (held as int8 values in [-8, 7]) with one scale per block of 4 along the last dim."""
    net = hand()
    trt = net.trt
    x = net.input("x", trt.float32, (2, 8))
    scale = torch.tensor([[0.5, 1.0], [0.25, 2.0]])
    s = net.const(scale.numpy())
    q = net.net.add_quantize(x, s, trt.DataType.INT4)
    q.block_shape = (1, 4)
    dq = net.net.add_dequantize(q.get_output(0), s, trt.DataType.FLOAT)
    dq.block_shape = (1, 4)
    net.output(dq.get_output(0), "y")
    values = torch.tensor([[0.25, 0.75, -4.25, 9.0, 2.5, -3.5, 100.0, -100.0],
                           [0.125, -0.375, 1.0, -2.0, 3.0, 5.0, -17.0, 15.0]])
    out = run_network(net.net, {"x": values})["y"]
    full = scale.repeat_interleave(4, dim=1)
    # independent: numpy's round is half to even too
    import numpy as np

    expected = np.clip(np.round(values.numpy() / full.numpy()), -8, 7) * full.numpy()
    assert torch.equal(out, torch.from_numpy(expected))


def test_nonzero_zero_point_is_an_error(hand: Any) -> None:
    from trtforge.validation.reference import ReferenceExecutionError

    net = hand()
    trt = net.trt
    x = net.input("x", trt.float32, (4,))
    q = net.net.add_quantize(x, net.const(torch.tensor(0.1).numpy()), trt.DataType.INT8)
    import numpy as np

    q.set_input(2, net.const(np.array(3, dtype=np.int8)))
    net.output(q.get_output(0), "q")
    with pytest.raises(ReferenceExecutionError, match="symmetric"):
        run_network(net.net, {"x": torch.randn(4)})
