"""Backend routing and runtime contract of engines with data-dependent output shapes.

* On TensorRT-RTX (no NonZero layer) every NonZero-based op falls back to
  PyTorch with the capability table's reason; the select form of index_put
  still builds a real engine.
* Engines holding these ops are marked ``requires_output_allocator``; the
  runtime then uses an output allocator without being asked, and refuses CUDA
  graphs and pre-allocated outputs. No TensorRT engine can execute here, so the
  runtime is driven through its ``EngineRunner`` interface by a test double that
  executes the constructed *network* with the CPU reference executor.
"""
from __future__ import annotations

from typing import Any, Sequence

import pytest
import torch

import trtforge
from trtforge import runtime as rt
from trtforge.plugins.registry import Reason
from trtforge.testing import check_converts
from trtforge.validation.reference import run_network

DDS_OPS = {"aten::nonzero.default", "aten::masked_select.default", "aten::index.Tensor",
           "aten::_unique2.default", "aten::unique_dim.default", "aten::unique_consecutive.default",
           "aten::where.default", "aten::index_put.default"}


def _all_ops(x, m, y, v):
    return (torch.nonzero(m), torch.masked_select(x, m), x[m], torch.unique(y), torch.unique(y, dim=0),
            torch.unique_consecutive(y), torch.where(m), torch.index_put(x, (m,), v))


def _inputs(gen):
    m = torch.rand(3, 4, generator=gen) > 0.5
    return [torch.randn(3, 4, generator=gen), m, torch.randint(0, 3, (5, 2), generator=gen),
            torch.randn(int(m.sum()), generator=gen)]


def test_rtx_falls_back_for_nonzero_ops_with_reason(module, gen):
    rep = trtforge.compile(module(_all_ops), _inputs(gen), min_block_size=1, target_backend="tensorrt_rtx",
                           dryrun=True)
    fell = {f.op: f for f in rep.fallback}
    assert set(fell) == DDS_OPS
    for f in fell.values():
        assert f.category == Reason.BACKEND.value
        assert "no runner for NonZero" in f.reason and "[dds_ops]" in f.reason


def test_full_tensorrt_converts_all_in_one_marked_engine(module, gen):
    r = check_converts(module(_all_ops), _inputs(gen), target_backend="tensorrt", rtol=0.0, ops=sorted(DDS_OPS))
    (engine,) = r.report.engines
    assert engine.requires_output_allocator and engine.status == "network_only"
    (trt_mod,) = _engines(r.module)
    assert trt_mod.metadata.requires_output_allocator


def test_select_form_of_index_put_is_not_marked(module):
    x, m = torch.randn(3, 4), torch.rand(3, 4) > 0.5
    r = check_converts(module(lambda a, b, c: torch.index_put(a, (b,), c)), [x, m, torch.tensor(1.0)], rtol=0.0)
    assert r.built and not r.report.engines[0].requires_output_allocator


# -- runtime ---------------------------------------------------------------------------------------
class ReferenceRunner(rt.EngineRunner):
    """Test double for the TensorRT runner: executes the network with the CPU reference executor.

    ``prepare`` reports every output shape as unknown until execution, which is
    what TensorRT does for data-dependent shapes; ``allocator_calls`` counts runs
    where the runtime let the runner allocate outputs (the output-allocator path).
    """

    def __init__(self, net: Any) -> None:
        self.net, self.device, self.generation = net, torch.device("cpu"), 0
        self.allocator_calls = self.buffer_calls = 0

    def prepare(self, inputs: Sequence[torch.Tensor]) -> list:
        return [None] * len(self.net.output_names)

    def execute(self, inputs: Sequence[torch.Tensor], outputs: Sequence[torch.Tensor] | None, stream: Any) -> list:
        got = run_network(self.net.network, dict(zip(self.net.input_names, inputs)))
        results = [got[n] for n in self.net.output_names]
        if outputs is None:
            self.allocator_calls += 1
            return results
        self.buffer_calls += 1
        for o, r in zip(outputs, results):
            o.copy_(r)
        return list(outputs)


def _engines(gm: torch.nn.Module) -> list[Any]:
    return [m for m in gm.modules() if isinstance(m, rt.TRTEngineModule)]


def _runnable(module, gen) -> tuple[torch.nn.Module, list[ReferenceRunner], list[torch.Tensor]]:
    """A full-TensorRT compile (build=False) whose engine modules run through ReferenceRunner."""
    inputs = _inputs(gen)[:2]
    r = check_converts(module(lambda x, m: (x[m], torch.nonzero(m))), inputs, target_backend="tensorrt",
                       rtol=0.0)
    nets = {n.name: n for n in r.networks}
    runners = []
    for name, sub in list(r.module.named_children()):
        if isinstance(sub, rt.TRTEngineModule):
            stand_in = rt.TRTEngineModule(b"engine bytes stand-in", sub.metadata)
            runners.append(ReferenceRunner(nets[sub.metadata.name]))
            stand_in.set_runner(runners[-1])
            setattr(r.module, name, stand_in)
    return r.module, runners, inputs


def test_runtime_uses_output_allocator_automatically(module, gen):
    compiled, runners, (x, m) = _runnable(module, gen)
    values, idx = compiled(x, m)
    assert torch.equal(values, x[m]) and torch.equal(idx, torch.nonzero(m)) and idx.dtype == torch.int64
    assert [r.allocator_calls for r in runners] == [1] and [r.buffer_calls for r in runners] == [0]


def test_runtime_refuses_cuda_graphs_and_pre_allocated_outputs(module, gen):
    compiled, runners, (x, m) = _runnable(module, gen)
    with pytest.raises(rt.IncompatibleModesError, match="output allocator"):
        with rt.enable_cudagraphs(compiled):
            pass
    with pytest.raises(rt.IncompatibleModesError, match="output allocator"):
        with rt.enable_pre_allocated_outputs(compiled):
            pass
    rt.set_cudagraphs_mode(True)  # the global switch is checked when the engine runs
    try:
        with pytest.raises(rt.IncompatibleModesError, match="incompatible with CUDA graphs"):
            compiled(x, m)
    finally:
        rt.set_cudagraphs_mode(False)
    assert runners[0].allocator_calls == 0
