"""Fixtures for the reference-executor ground-truth tests.

Ground truth never comes from the executor itself: networks are built by TensorRT's
own ONNX parser from ``torch.onnx.export`` output and compared with PyTorch eager and
onnxruntime, or built by hand and compared with independent torch/numpy/torchvision
computations.
"""
from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import pytest
import torch


@dataclass
class ParsedNet:
    """A network parsed from ONNX. The parser owns the weights: keep it alive with the network."""

    network: Any
    parser: Any
    onnx_bytes: bytes
    input_names: list[str]

    def layer_types(self) -> set[str]:
        return {self.network.get_layer(i).type.name for i in range(self.network.num_layers)}

    def output_names(self) -> list[str]:
        return [self.network.get_output(i).name for i in range(self.network.num_outputs)]


def export_onnx(model: torch.nn.Module, args: Sequence[torch.Tensor], *, opset: int = 17,
                dynamic_axes: dict | None = None) -> tuple[bytes, list[str]]:
    names = [f"in{i}" for i in range(len(args))]
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, tuple(args), f, dynamo=False, opset_version=opset, input_names=names,
            dynamic_axes=dynamic_axes,
        )
    return f.getvalue(), names


def run_onnxruntime(onnx_bytes: bytes, feeds: dict[str, torch.Tensor]) -> list[torch.Tensor]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    sess = ort.InferenceSession(onnx_bytes, opts, providers=["CPUExecutionProvider"])
    outs = sess.run(None, {k: v.numpy() for k, v in feeds.items()})
    return [torch.from_numpy(o) for o in outs]


@pytest.fixture(scope="session")
def trt() -> Any:
    from trtforge import backend

    if not backend.available():
        pytest.skip("no TensorRT backend is installed: these tests build real networks")
    return backend.trt


@pytest.fixture(scope="session")
def logger(trt: Any) -> Any:
    # One logger for the whole session: TensorRT keeps the first one it sees anyway.
    return trt.Logger(trt.Logger.ERROR)


@pytest.fixture(scope="module")
def builder(trt: Any, logger: Any) -> Any:
    return trt.Builder(logger)


@pytest.fixture
def parse_onnx(trt: Any, builder: Any, logger: Any) -> Callable[..., ParsedNet]:
    def parse(model: torch.nn.Module, args: Sequence[torch.Tensor], **kw: Any) -> ParsedNet:
        data, names = export_onnx(model, args, **kw)
        network = builder.create_network(0)
        parser = trt.OnnxParser(network, logger)
        if not parser.parse(data):
            errors = [parser.get_error(i).desc() for i in range(parser.num_errors)]
            raise AssertionError(f"the TensorRT ONNX parser rejected the export: {errors}")
        return ParsedNet(network, parser, data, names)

    return parse




@pytest.fixture(scope="session")
def onnxruntime_run() -> Callable[[bytes, dict], list[torch.Tensor]]:
    pytest.importorskip("onnxruntime", reason="onnxruntime is the second ground truth")
    return run_onnxruntime


class HandNet:
    """A network built by hand. Keeps the numpy arrays behind weights alive: the
    TensorRT bindings do not copy them."""

    def __init__(self, trt: Any, builder: Any) -> None:
        self.trt = trt
        self.builder = builder
        self.net = builder.create_network(0)
        self._keep: list[Any] = []

    def input(self, name: str, dtype: Any, shape: Sequence[int]) -> Any:
        return self.net.add_input(name, dtype, tuple(shape))

    def const(self, value: Any, shape: Sequence[int] | None = None) -> Any:
        import numpy as np

        arr = np.ascontiguousarray(np.asarray(value))
        self._keep.append(arr)
        dims = tuple(arr.shape) if shape is None else tuple(shape)
        return self.net.add_constant(dims, arr).get_output(0)

    def weights(self, value: Any) -> Any:
        import numpy as np

        arr = np.ascontiguousarray(np.asarray(value, dtype=np.float32))
        self._keep.append(arr)
        return arr

    def output(self, tensor: Any, name: str | None = None) -> Any:
        if name:
            tensor.name = name
        self.net.mark_output(tensor)
        return tensor


@pytest.fixture
def hand(trt: Any, builder: Any) -> Callable[[], HandNet]:
    return lambda: HandNet(trt, builder)
