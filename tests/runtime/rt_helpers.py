"""Helpers for the runtime tests: real engines built with TensorRT(-RTX) on CPU, and a
test double of the EngineRunner interface made of torch ops.

``TorchOpsTestRunner`` is NOT a TensorRT emulation: it stands in for the small
TensorRT-specific class so that the runtime's mode logic (CUDA graphs, buffers,
device switching, restoration) can be tested on its own, on CPU here and on a
CUDA GPU with torch only.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from trtforge.runtime import EngineMetadata, EngineRunner, TensorSpec


class TorchOpsTestRunner(EngineRunner):
    """Test double: "runs the engine" by calling ``fn`` (torch ops) on the inputs."""

    def __init__(self, fn: Callable[..., Any], device: str | torch.device = "cpu", *,
                 streamable: int = 0, automatic: int | None = None) -> None:
        self.fn = fn
        self.device = torch.device(device)
        self.generation = 0
        self.prepare_calls = 0
        self.execute_calls = 0
        self.allocator_calls = 0
        self.streams: list[Any] = []
        self.current_devices: list[int] = []
        self._streamable = streamable
        self._budget = streamable
        self._automatic = automatic if automatic is not None else streamable // 2
        self.budget_history: list[int] = []

    def _as_list(self, out: Any) -> list[torch.Tensor]:
        return list(out) if isinstance(out, (tuple, list)) else [out]

    def prepare(self, inputs: Sequence[torch.Tensor]) -> list[tuple[int, ...] | None]:
        self.prepare_calls += 1
        metas = [torch.empty(t.shape, dtype=t.dtype, device="meta") for t in inputs]
        try:
            outs = self._as_list(self.fn(*metas))
        except Exception:  # data-dependent output shape (e.g. nonzero): unknown until run
            return [None]
        return [tuple(o.shape) for o in outs]

    def execute(self, inputs: Sequence[torch.Tensor], outputs: Sequence[torch.Tensor] | None,
                stream: Any) -> list[torch.Tensor]:
        self.execute_calls += 1
        self.streams.append(stream)
        if self.device.type == "cuda":
            self.current_devices.append(torch.cuda.current_device())
            ctx = torch.cuda.stream(stream)
        else:
            import contextlib

            ctx = contextlib.nullcontext()
        with ctx:
            res = self._as_list(self.fn(*inputs))
            if outputs is None:
                self.allocator_calls += 1
                return res
            for o, r in zip(outputs, res):
                o.copy_(r)
        return list(outputs)

    @property
    def streamable_weights_size(self) -> int:
        return self._streamable

    @property
    def weight_streaming_budget(self) -> int:
        return self._budget

    def set_weight_streaming_budget(self, nbytes: int) -> int:
        self._budget = int(nbytes)
        self.budget_history.append(self._budget)
        self.generation += 1
        return self._budget

    def automatic_weight_streaming_budget(self) -> int:
        return self._automatic


def spec(name: str, shape: Sequence[int], dtype: str = "float32",
         profile: Sequence[Sequence[int]] | None = None, shape_expr: Any = None) -> TensorSpec:
    return TensorSpec(name=name, dtype=dtype, shape=list(shape),
                      profile=[list(p) for p in profile] if profile else None, shape_expr=shape_expr)


def metadata(name: str, inputs: list[TensorSpec], outputs: list[TensorSpec], **kw: Any) -> EngineMetadata:
    kw.setdefault("backend", "tensorrt_rtx")
    return EngineMetadata(name=name, inputs=inputs, outputs=outputs, **kw)


# --- real engines, built on CPU with the installed backend -------------------------------------

def build_relu_engine(trt: Any, dynamic: bool = True) -> bytes:
    """x: float32 [-1, 3] (profile 1..8 rows) -> y = relu(x)."""
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (-1, 3) if dynamic else (4, 3))
    y = net.add_activation(x, trt.ActivationType.RELU).get_output(0)
    y.name = "y"
    net.mark_output(y)
    cfg = builder.create_builder_config()
    if dynamic:
        prof = builder.create_optimization_profile()
        prof.set_shape("x", (1, 3), (4, 3), (8, 3))
        cfg.add_optimization_profile(prof)
    data = builder.build_serialized_network(net, cfg)
    assert data is not None, "engine build failed"
    return bytes(data)


def build_two_output_engine(trt: Any) -> bytes:
    """a, b: float32 [2, 3] -> s = a + b, p = a * b."""
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    net = builder.create_network(0)
    a = net.add_input("a", trt.float32, (2, 3))
    b = net.add_input("b", trt.float32, (2, 3))
    s = net.add_elementwise(a, b, trt.ElementWiseOperation.SUM).get_output(0)
    p = net.add_elementwise(a, b, trt.ElementWiseOperation.PROD).get_output(0)
    s.name, p.name = "s", "p"
    net.mark_output(s)
    net.mark_output(p)
    data = builder.build_serialized_network(net, builder.create_builder_config())
    assert data is not None, "engine build failed"
    return bytes(data)


def relu_metadata(backend: str, version: str, dynamic: bool = True, **kw: Any) -> EngineMetadata:
    if dynamic:
        x = spec("x", [-1, 3], profile=[[1, 3], [4, 3], [8, 3]])
        y = spec("y", [-1, 3], shape_expr=["i0_0", "3"])
    else:
        x, y = spec("x", [4, 3]), spec("y", [4, 3])
    return metadata("relu_engine", [x], [y], backend=backend, backend_version=version,
                    source_nodes=["relu"], **kw)


def two_output_metadata(backend: str, version: str, **kw: Any) -> EngineMetadata:
    return metadata("addmul_engine", [spec("a", [2, 3]), spec("b", [2, 3])],
                    [spec("s", [2, 3]), spec("p", [2, 3])], backend=backend, backend_version=version, **kw)


def mixed_program(engine_module: torch.nn.Module) -> torch.fx.GraphModule:
    """A compiled-program look-alike: PyTorch segment -> engine -> PyTorch op.

    forward(x) = engine(x * 2 - 1) + x
    """
    seg_graph = torch.fx.Graph()
    sx = seg_graph.placeholder("x")
    m = seg_graph.call_function(torch.ops.aten.mul.Tensor, (sx, 2))
    s = seg_graph.call_function(torch.ops.aten.sub.Tensor, (m, 1))
    seg_graph.output(s)
    seg = torch.fx.GraphModule(torch.nn.Module(), seg_graph)

    root = torch.nn.Module()
    root._run_on_gpu_0 = seg
    root._run_on_acc_1 = engine_module
    g = torch.fx.Graph()
    x = g.placeholder("x")
    a = g.call_module("_run_on_gpu_0", (x,))
    b = g.call_module("_run_on_acc_1", (a,))
    c = g.call_function(torch.ops.aten.add.Tensor, (b, x))
    g.output(c)
    return torch.fx.GraphModule(root, g)


def engine_only_program(engine_module: torch.nn.Module) -> torch.fx.GraphModule:
    root = torch.nn.Module()
    root._run_on_acc_0 = engine_module
    g = torch.fx.Graph()
    x = g.placeholder("x")
    y = g.call_module("_run_on_acc_0", (x,))
    g.output(y)
    return torch.fx.GraphModule(root, g)


def two_output_program(engine_module: torch.nn.Module) -> torch.fx.GraphModule:
    """forward(a, b) = (s - 1, p) for an engine returning (s, p)."""
    root = torch.nn.Module()
    root._run_on_acc_0 = engine_module
    g = torch.fx.Graph()
    a, b = g.placeholder("a"), g.placeholder("b")
    out = g.call_module("_run_on_acc_0", (a, b))
    s = g.call_function(__import__("operator").getitem, (out, 0))
    p = g.call_function(__import__("operator").getitem, (out, 1))
    s1 = g.call_function(torch.ops.aten.sub.Tensor, (s, 1))
    g.output((s1, p))
    return torch.fx.GraphModule(root, g)
