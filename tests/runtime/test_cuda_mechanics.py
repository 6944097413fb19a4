"""CUDA mechanics of the runtime with torch only: CUDA graph record/replay/re-record (per engine
and whole program with fallback segments), streams, pre-allocated outputs, device placement and
multi-device safe mode. Engines are played by TorchOpsTestRunner (torch ops on the GPU): these
tests check the runtime's CUDA logic, not TensorRT (see test_tensorrt.py for that).

Run on the lent GPU with: PYTHONPATH=core python -m pytest tests/runtime/test_cuda_mechanics.py
"""
from __future__ import annotations

import pytest
import torch
from rt_helpers import TorchOpsTestRunner, engine_only_program, metadata, mixed_program, spec

import trtforge
import trtforge.runtime as rt
from trtforge.runtime import EngineInputError, IncompatibleModesError, TRTEngineModule

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch only)")]

FAKE_ENGINE = b"test-runner engine: never deserialized"


def fn(x):
    return torch.relu(x) * 3 + 1  # several kernels


def expected(x):
    return torch.relu(x * 2 - 1) * 3 + 1 + x


def engine(device="cuda:0", f=fn, **kw):
    md = metadata("eng", [spec("x", [-1, 3], profile=[[1, 3], [4, 3], [64, 3]])],
                  [spec("y", [-1, 3], shape_expr=["i0_0", "3"])], **kw)
    m = TRTEngineModule(FAKE_ENGINE, md)
    r = TorchOpsTestRunner(f, device=device)
    m.set_runner(r)
    return m, r


def test_standard_run_on_current_stream():
    m, r = engine()
    x = torch.randn(5, 3, device="cuda")
    torch.testing.assert_close(m(x), fn(x))
    assert r.streams[-1] == torch.cuda.current_stream()
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        y = m(x)
    s.synchronize()
    assert r.streams[-1] == s and r.streams[-1] != torch.cuda.default_stream()
    torch.testing.assert_close(y, fn(x))


def test_per_engine_cudagraph_record_replay_and_rerecord():
    m, r = engine()
    prog = engine_only_program(m)
    with rt.enable_cudagraphs(prog) as run:
        assert run is prog
        x = torch.randn(4, 3, device="cuda")
        torch.testing.assert_close(run(x), fn(x))
        assert r.execute_calls == 2  # warm-up + capture
        outs = []
        for _ in range(3):
            x = torch.randn(4, 3, device="cuda")
            out = run(x)
            outs.append(out)
            torch.testing.assert_close(out, fn(x))
        assert r.execute_calls == 2  # replays run no Python
        assert len({o.data_ptr() for o in outs}) == 3  # cloned out of the graph's buffers
        x = torch.randn(7, 3, device="cuda")  # new shape: re-record
        torch.testing.assert_close(run(x), fn(x))
        assert r.execute_calls == 4
        graph = m._graph
        assert graph is not None and graph.key[0] == ((7, 3),)
        s = torch.cuda.Stream()  # replay on another stream
        with torch.cuda.stream(s):
            y = run(x)
        s.synchronize()
        torch.testing.assert_close(y, fn(x))
    assert m._graph is None and not rt.get_cudagraphs_mode()
    x = torch.randn(4, 3, device="cuda")
    torch.testing.assert_close(m(x), fn(x))
    assert r.execute_calls == 5


def test_per_engine_cudagraph_with_pre_allocated_outputs():
    m, r = engine()
    with rt.enable_cudagraphs(m), rt.enable_pre_allocated_outputs(m):
        a = m(torch.full((3, 3), 1.0, device="cuda"))
        b = m(torch.full((3, 3), 2.0, device="cuda"))
        assert a.data_ptr() == b.data_ptr()  # the graph's output buffer, overwritten in place
        torch.testing.assert_close(a, torch.full((3, 3), 7.0, device="cuda"))


def test_weight_streaming_budget_change_rerecords():
    m, r = engine(weight_streaming=True)
    r._streamable = r._budget = 1000
    with rt.enable_cudagraphs(m), rt.weight_streaming(m) as ws:
        x = torch.randn(4, 3, device="cuda")
        m(x)
        assert r.execute_calls == 2
        ws.device_budget = 500
        torch.testing.assert_close(m(x), fn(x))
        assert r.execute_calls == 4  # new context generation: recorded again
    assert r.weight_streaming_budget == 1000


def test_whole_program_cudagraph_with_fallback_segments():
    m, r = engine()
    prog = mixed_program(m)
    seg_calls = []
    prog._run_on_gpu_0.register_forward_hook(lambda *a: seg_calls.append(1))
    with rt.enable_cudagraphs(prog) as run:
        assert isinstance(run, rt.CudaGraphsModule) and rt.get_whole_cudagraphs_mode()
        x = torch.randn(6, 3, device="cuda")
        torch.testing.assert_close(run(x), expected(x))
        recorded_calls = (r.execute_calls, len(seg_calls))
        assert recorded_calls == (2, 2)  # warm-up + capture, engine and fallback segment alike
        for _ in range(3):
            x = torch.randn(6, 3, device="cuda")
            torch.testing.assert_close(run(x), expected(x))
        assert (r.execute_calls, len(seg_calls)) == recorded_calls  # pure replays
        x = torch.randn(2, 3, device="cuda")
        torch.testing.assert_close(run(x), expected(x))
        assert r.execute_calls == 4  # re-recorded for the new shape
        with rt.enable_pre_allocated_outputs(run):
            a = run(torch.zeros(2, 3, device="cuda"))
            b = run(torch.ones(2, 3, device="cuda"))
            assert a.data_ptr() == b.data_ptr()
        assert not run.pre_allocated_outputs
    assert not rt.get_whole_cudagraphs_mode() and run._graph is None


def test_output_allocator_refused_under_graphs_at_call_time():
    m, _ = engine(f=torch.nonzero)
    m.metadata.requires_output_allocator = True
    rt.set_cudagraphs_mode(True)
    with pytest.raises(IncompatibleModesError):
        m(torch.randn(3, 3, device="cuda"))
    rt.set_cudagraphs_mode(False)
    md = metadata("nz", [spec("x", [4])], [spec("idx", [-1, 1], dtype="int64")], requires_output_allocator=True)
    nz = TRTEngineModule(FAKE_ENGINE, md)
    nz.set_runner(TorchOpsTestRunner(torch.nonzero, device="cuda"))
    out = nz(torch.tensor([0.0, 1.0, 0.0, 2.0], device="cuda"))
    assert out.device.type == "cuda" and out.tolist() == [[1], [3]]


def test_cpu_inputs_need_safe_mode():
    m, r = engine()
    with pytest.raises(EngineInputError, match="runs on cuda:0, but input 'x' is on cpu"):
        m(torch.randn(2, 3))
    with rt.set_multi_device_safe_mode(True):
        out = m(torch.randn(2, 3))
    assert out.device == torch.device("cuda", 0)


def test_module_to_cuda_keeps_engine_bytes_on_host():
    md = metadata("e", [spec("x", [2, 3])], [spec("y", [2, 3])])
    m = TRTEngineModule(FAKE_ENGINE, md)
    prog = engine_only_program(m).cuda()
    assert m.engine.device.type == "cpu"
    assert m.device == torch.device("cuda", 0)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA GPUs")
def test_multi_device_safe_mode_switches_and_restores():
    m, r = engine(device="cuda:1")
    x0 = torch.randn(3, 3, device="cuda:0")
    torch.cuda.set_device(0)
    with pytest.raises(EngineInputError, match="runs on cuda:1, but input 'x' is on cuda:0"):
        m(x0)
    x1 = x0.to("cuda:1")
    with pytest.raises(EngineInputError, match="current CUDA device is cuda:0"):
        m(x1)
    with torch.cuda.device(1):
        torch.testing.assert_close(m(x1), fn(x1))
    with rt.set_multi_device_safe_mode(True):
        out = m(x0)
        assert out.device == torch.device("cuda", 1)
        assert r.current_devices[-1] == 1  # ran with the engine's device current
        assert torch.cuda.current_device() == 0  # and switched back
        torch.testing.assert_close(out.to("cuda:0"), fn(x0))
    assert not rt.get_multi_device_safe_mode()
    with pytest.raises(EngineInputError):
        m(x0)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs 2 CUDA GPUs")
def test_per_engine_cudagraph_on_second_device():
    m, r = engine(device="cuda:1")
    with torch.cuda.device(1), rt.enable_cudagraphs(m):
        for _ in range(2):
            x = torch.randn(4, 3, device="cuda:1")
            torch.testing.assert_close(m(x), fn(x))
        assert r.execute_calls == 2


def test_saved_program_runs_and_replays_from_plain_export_load(tmp_path, monkeypatch):
    """save (no TensorRT needed) -> torch.export.load -> .cuda() -> call through the
    trtforge::execute_engine op -> whole-program CUDA graph around the loaded ATen graph."""
    from trtforge.runtime import runner

    made = []

    def factory(engine, md, device):
        made.append(TorchOpsTestRunner(fn, device=device))
        return made[-1]

    monkeypatch.setattr(runner, "_runner_factory", factory)
    m, _ = engine()
    m.set_runner(None)
    path = tmp_path / "p.pt2"
    trtforge.save(mixed_program(m), path,
                  inputs=[trtforge.Input(min_shape=(1, 3), opt_shape=(4, 3), max_shape=(64, 3))])
    loaded = torch.export.load(path).module().cuda()
    x = torch.randn(5, 3, device="cuda")
    torch.testing.assert_close(loaded(x), expected(x))
    assert made and made[-1].device == torch.device("cuda", 0)
    with rt.enable_cudagraphs(loaded) as run:
        assert isinstance(run, rt.CudaGraphsModule)
        for _ in range(3):
            x = torch.randn(5, 3, device="cuda")
            torch.testing.assert_close(run(x), expected(x))
        assert made[-1].execute_calls == 1 + 2  # the eager call, then warm-up + capture only


def test_whole_program_graph_refuses_uncapturable_fallback():
    """Last in this file: a failed capture is the one test that leaves CUDA error state behind."""
    m, _ = engine()

    class Sync(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.eng = m

        def forward(self, x):
            y = self.eng(x)
            if y.sum().item() > -1:  # host sync: cannot be captured
                return y
            return -y

    with rt.enable_cudagraphs(Sync()) as run:
        with pytest.raises(rt.TRTForgeRuntimeError, match="recording the program as one CUDA graph failed"):
            run(torch.randn(3, 3, device="cuda"))
    assert not rt.get_whole_cudagraphs_mode()
