"""TRTEngineModule: input checks, errors before TensorRT, and the mode logic (with the torch test runner)."""
from __future__ import annotations

import pytest
import torch
from rt_helpers import TorchOpsTestRunner, engine_only_program, metadata, mixed_program, spec

import trtforge.runtime as rt
from trtforge.runtime import (
    ABIVersionError,
    CorruptedProgramError,
    EngineInputError,
    EngineNotBuiltError,
    IncompatibleModesError,
    NoCUDADeviceError,
    TRTEngineModule,
    WeightStreamingError,
)

FAKE_ENGINE = b"not a real engine: the test runner never deserializes it"


def relu_module(**kw):
    md = metadata(
        "relu", [spec("x", [-1, 3], profile=[[1, 3], [4, 3], [8, 3]])], [spec("y", [-1, 3])], **kw
    )
    m = TRTEngineModule(FAKE_ENGINE, md)
    runner = TorchOpsTestRunner(torch.relu)
    m.set_runner(runner)
    return m, runner


# --- construction and metadata ------------------------------------------------------------------

def test_engine_buffer_checksum_and_size_recorded():
    m, _ = relu_module()
    assert m.engine.dtype == torch.uint8 and m.engine.numel() == len(FAKE_ENGINE)
    assert m.serialized_engine == FAKE_ENGINE
    assert len(m.metadata.sha256) == 64 and m.metadata.engine_bytes == len(FAKE_ENGINE)
    assert "relu" in repr(m)


def test_checksum_mismatch_is_corruption():
    md = metadata("e", [spec("x", [2])], [spec("y", [2])], sha256="0" * 64)
    with pytest.raises(CorruptedProgramError, match="corrupted.*sha256"):
        TRTEngineModule(FAKE_ENGINE, md)


def test_other_abi_version_refused():
    md = metadata("e", [spec("x", [2])], [spec("y", [2])], abi_version=99)
    with pytest.raises(ABIVersionError, match="ABI version 99"):
        TRTEngineModule(FAKE_ENGINE, md)


def test_build_false_module_raises_clearly():
    m = TRTEngineModule(None, metadata("unbuilt", [spec("x", [2])], [spec("y", [2])]))
    with pytest.raises(EngineNotBuiltError, match="build=False"):
        m(torch.ones(2))


def test_no_gpu_error_comes_before_tensorrt(monkeypatch):
    """Without a GPU, calling raises NoCUDADeviceError and never reaches deserialization."""
    if torch.cuda.is_available():
        pytest.skip("checks the no-GPU path")
    from trtforge.runtime import runner

    def boom(*a, **k):  # pragma: no cover - must not be reached
        raise AssertionError("deserialization attempted without a GPU")

    monkeypatch.setattr(runner, "deserialize_engine", boom)
    m = TRTEngineModule(FAKE_ENGINE, metadata("e", [spec("x", [2])], [spec("y", [2])]))
    with pytest.raises(NoCUDADeviceError, match="no CUDA GPU"):
        m(torch.ones(2))


# --- input checks --------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "args, match",
    [
        ((), r"takes 1 input\(s\) \['x'\], got 0"),
        ((torch.ones(2, 3), torch.ones(2, 3)), "got 2"),
        ((torch.ones(2, 3, dtype=torch.float16),), "must be torch.float32, got torch.float16"),
        ((torch.ones(2, 3, 1),), "must have rank 2"),
        ((torch.ones(9, 3),), r"dimension 0 is 9, outside the optimization profile range \[1, 8\]"),
        ((torch.ones(0, 3),), "outside the optimization profile"),
        ((torch.ones(2, 4),), r"dimension 1 is 4, outside the optimization profile range \[3, 3\]"),
        (([1.0, 2.0],), "must be a torch.Tensor"),
    ],
)
def test_input_checks(args, match):
    m, runner = relu_module()
    with pytest.raises(EngineInputError, match=match):
        m(*args)
    assert runner.execute_calls == 0


def test_static_shape_check_without_profile():
    md = metadata("static", [spec("x", [4, 3])], [spec("y", [4, 3])])
    m = TRTEngineModule(FAKE_ENGINE, md)
    m.set_runner(TorchOpsTestRunner(torch.relu))
    with pytest.raises(EngineInputError, match=r"must have shape \[4, 3\].*dimension 0 is static"):
        m(torch.ones(2, 3))
    assert torch.equal(m(-torch.ones(4, 3)), torch.zeros(4, 3))


def test_runs_single_and_multi_output():
    m, runner = relu_module()
    x = torch.randn(5, 3)
    torch.testing.assert_close(m(x), torch.relu(x))
    assert runner.execute_calls == 1 and runner.allocator_calls == 0

    md = metadata("two", [spec("a", [2]), spec("b", [2])], [spec("s", [2]), spec("p", [2])])
    m2 = TRTEngineModule(FAKE_ENGINE, md)
    m2.set_runner(TorchOpsTestRunner(lambda a, b: (a + b, a * b)))
    out = m2(torch.tensor([1.0, 2.0]), torch.tensor([3.0, 4.0]))
    assert isinstance(out, tuple) and len(out) == 2
    torch.testing.assert_close(out[1], torch.tensor([3.0, 8.0]))


def test_non_contiguous_inputs_are_made_contiguous():
    m, _ = relu_module()
    x = torch.randn(3, 6)[:, ::2]
    assert not x.is_contiguous()
    torch.testing.assert_close(m(x), torch.relu(x))


def test_device_mismatch_and_safe_mode_moves_inputs():
    md = metadata("dev", [spec("x", [2, 3])], [spec("y", [2, 3])])
    m = TRTEngineModule(FAKE_ENGINE, md)
    m.set_runner(TorchOpsTestRunner(torch.relu, device="meta"))  # an engine "on another device"
    with pytest.raises(EngineInputError, match="runs on meta, but input 'x' is on cpu.*set_multi_device_safe_mode"):
        m(torch.ones(2, 3))
    with rt.set_multi_device_safe_mode(True):
        out = m(torch.ones(2, 3))
    assert out.device.type == "meta"


# --- pre-allocated outputs -------------------------------------------------------------------------

def test_pre_allocated_outputs_reused_in_place_and_restored():
    m, runner = relu_module()
    prog = engine_only_program(m)
    with rt.enable_pre_allocated_outputs(prog) as same:
        assert same is prog and m.pre_allocated_outputs_enabled
        a = prog(torch.full((2, 3), 1.0))
        b = prog(torch.full((2, 3), 2.0))
        assert a.data_ptr() == b.data_ptr()  # the same buffer: overwritten in place
        assert torch.equal(a, torch.full((2, 3), 2.0))
        c = prog(torch.full((4, 3), 3.0))  # new shape: new buffer
        assert c.shape == (4, 3) and c.data_ptr() != a.data_ptr()
    assert not m.pre_allocated_outputs_enabled and m._pre_allocated is None
    d, e = prog(torch.ones(2, 3)), prog(torch.ones(2, 3))
    assert d.data_ptr() != e.data_ptr()


def test_pre_allocated_outputs_restores_previous_flags_on_exception():
    m1, _ = relu_module()
    m2, _ = relu_module()
    m2.set_pre_allocated_outputs(True)
    root = torch.nn.Module()
    root.a, root.b = m1, m2
    with pytest.raises(KeyError):
        with rt.enable_pre_allocated_outputs(root):
            assert m1.pre_allocated_outputs_enabled and m2.pre_allocated_outputs_enabled
            raise KeyError("boom")
    assert not m1.pre_allocated_outputs_enabled
    assert m2.pre_allocated_outputs_enabled  # it was on before: still on


# --- output allocator --------------------------------------------------------------------------------

def test_output_allocator_context():
    m, runner = relu_module()
    with rt.enable_output_allocator(m):
        assert m.output_allocator_enabled
        torch.testing.assert_close(m(torch.randn(3, 3)).shape, torch.Size([3, 3]))
        assert runner.allocator_calls == 1
    assert not m.output_allocator_enabled
    m(torch.randn(3, 3))
    assert runner.allocator_calls == 1


def test_requires_output_allocator_always_uses_it():
    md = metadata("nz", [spec("x", [4])], [spec("idx", [-1, 1], dtype="int64")], requires_output_allocator=True)
    m = TRTEngineModule(FAKE_ENGINE, md)
    runner = TorchOpsTestRunner(torch.nonzero)
    m.set_runner(runner)
    out = m(torch.tensor([0.0, 1.0, 0.0, 2.0]))
    assert out.tolist() == [[1], [3]] and runner.allocator_calls == 1


def test_data_dependent_shapes_without_flag_fall_back_with_warning():
    md = metadata("nz", [spec("x", [4])], [spec("idx", [-1, 1], dtype="int64")])
    m = TRTEngineModule(FAKE_ENGINE, md)
    m.set_runner(TorchOpsTestRunner(torch.nonzero))
    with pytest.warns(UserWarning, match="data-dependent output shapes"):
        assert m(torch.tensor([1.0, 0.0, 0.0, 1.0])).tolist() == [[0], [3]]


# --- incompatible combinations -------------------------------------------------------------------------

def test_output_allocator_and_pre_allocated_outputs_are_incompatible():
    m, _ = relu_module()
    with rt.enable_pre_allocated_outputs(m):
        with pytest.raises(IncompatibleModesError, match="pre-allocated outputs"):
            with rt.enable_output_allocator(m):
                pass
        assert not m.output_allocator_enabled and m.pre_allocated_outputs_enabled
    with rt.enable_output_allocator(m):
        with pytest.raises(IncompatibleModesError, match="output allocator"):
            with rt.enable_pre_allocated_outputs(m):
                pass
        assert m.output_allocator_enabled and not m.pre_allocated_outputs_enabled
    assert not m.output_allocator_enabled and not m.pre_allocated_outputs_enabled


def test_output_allocator_and_cudagraphs_are_incompatible():
    m, _ = relu_module()
    prog = engine_only_program(m)
    with rt.enable_cudagraphs(prog):
        with pytest.raises(IncompatibleModesError, match="CUDA graphs are on"):
            with rt.enable_output_allocator(prog):
                pass
        assert not m.output_allocator_enabled
    assert not rt.get_cudagraphs_mode()
    with rt.enable_output_allocator(prog):
        with pytest.raises(IncompatibleModesError, match="output allocator"):
            with rt.enable_cudagraphs(prog):
                pass
        assert not rt.get_cudagraphs_mode() and not rt.get_whole_cudagraphs_mode()


def test_engine_requiring_output_allocator_refuses_cudagraphs():
    md = metadata("nz", [spec("x", [4])], [spec("idx", [-1, 1], dtype="int64")], requires_output_allocator=True)
    m = TRTEngineModule(FAKE_ENGINE, md)
    m.set_runner(TorchOpsTestRunner(torch.nonzero))
    with pytest.raises(IncompatibleModesError, match=r"output allocator.*\['nz'\]"):
        with rt.enable_cudagraphs(m):
            pass
    assert not rt.get_cudagraphs_mode()
    rt.set_cudagraphs_mode(True)  # the global switch: caught at call time
    with pytest.raises(IncompatibleModesError, match="incompatible with CUDA graphs"):
        m(torch.ones(4))
    with pytest.raises(IncompatibleModesError):
        with rt.enable_pre_allocated_outputs(m):
            pass


# --- CUDA graph mode state ----------------------------------------------------------------------------------

def test_enable_cudagraphs_per_engine_for_all_tensorrt_program():
    m, _ = relu_module()
    prog = engine_only_program(m)
    assert not rt.get_cudagraphs_mode()
    with rt.enable_cudagraphs(prog) as run:
        assert run is prog
        assert rt.get_cudagraphs_mode() and not rt.get_whole_cudagraphs_mode()
    assert not rt.get_cudagraphs_mode()


def test_enable_cudagraphs_whole_graph_for_program_with_fallback():
    m, _ = relu_module()
    prog = mixed_program(m)
    with rt.enable_cudagraphs(prog) as run:
        assert isinstance(run, rt.CudaGraphsModule) and run.compiled_module is prog
        assert rt.get_whole_cudagraphs_mode() and not rt.get_cudagraphs_mode()
    assert not rt.get_whole_cudagraphs_mode()


def test_cudagraph_modes_restored_when_nested_and_on_exception():
    m, _ = relu_module()
    rt.set_cudagraphs_mode(True)
    with pytest.raises(RuntimeError, match="inside"):
        with rt.enable_cudagraphs(mixed_program(m)):
            assert rt.get_whole_cudagraphs_mode()
            with rt.enable_cudagraphs(engine_only_program(m)):
                assert rt.get_cudagraphs_mode()
            assert rt.get_whole_cudagraphs_mode()
            raise RuntimeError("inside")
    assert rt.get_cudagraphs_mode()  # the state found on entry
    rt.set_cudagraphs_mode(False)
    assert not rt.get_cudagraphs_mode() and not rt.get_whole_cudagraphs_mode()


def test_cudagraphs_need_cuda():
    m, _ = relu_module()
    with rt.enable_cudagraphs(m):
        with pytest.raises(IncompatibleModesError, match="need a CUDA device"):
            m(torch.ones(2, 3))


# --- multi-device safe mode ---------------------------------------------------------------------------------

def test_multi_device_safe_mode_function_and_context_manager():
    assert not rt.get_multi_device_safe_mode()
    rt.set_multi_device_safe_mode(True)  # plain call: takes effect, stays
    assert rt.get_multi_device_safe_mode()
    with rt.set_multi_device_safe_mode(False):
        assert not rt.get_multi_device_safe_mode()
        with rt.set_multi_device_safe_mode(True):
            assert rt.get_multi_device_safe_mode()
        assert not rt.get_multi_device_safe_mode()
    assert rt.get_multi_device_safe_mode()
    with pytest.raises(ZeroDivisionError):
        with rt.set_multi_device_safe_mode(False):
            1 / 0
    assert rt.get_multi_device_safe_mode()
    rt.set_multi_device_safe_mode(False)
    assert not rt.get_multi_device_safe_mode()


# --- weight streaming -----------------------------------------------------------------------------------------

def streaming_program():
    root = torch.nn.Module()
    runners = []
    for i, size in enumerate((300, 100)):
        md = metadata(f"ws{i}", [spec("x", [2, 3])], [spec("y", [2, 3])], weight_streaming=True)
        m = TRTEngineModule(FAKE_ENGINE, md)
        r = TorchOpsTestRunner(torch.relu, streamable=size)
        m.set_runner(r)
        runners.append(r)
        setattr(root, f"_run_on_acc_{i}", m)
    plain = TRTEngineModule(FAKE_ENGINE, metadata("plain", [spec("x", [2, 3])], [spec("y", [2, 3])]))
    plain.set_runner(TorchOpsTestRunner(torch.relu))
    root.plain = plain
    return root, runners


def test_weight_streaming_budget_split_and_restored():
    root, (r0, r1) = streaming_program()
    with rt.weight_streaming(root) as ws:
        assert ws.total_device_budget == 400 and ws.device_budget == 400
        assert ws.get_automatic_weight_streaming_budget() == 150 + 50
        ws.device_budget = 200
        assert (r0.weight_streaming_budget, r1.weight_streaming_budget) == (150, 50)
        assert ws.device_budget == 200
        ws.device_budget = 0
        assert ws.device_budget == 0
        with pytest.raises(WeightStreamingError, match="between 0 and total_device_budget=400"):
            ws.device_budget = 401
    assert (r0.weight_streaming_budget, r1.weight_streaming_budget) == (300, 100)


def test_weight_streaming_restored_on_exception():
    root, (r0, r1) = streaming_program()
    with pytest.raises(ValueError):
        with rt.weight_streaming(root) as ws:
            ws.device_budget = 100
            raise ValueError("x")
    assert (r0.weight_streaming_budget, r1.weight_streaming_budget) == (300, 100)


def test_weight_streaming_needs_streaming_engines():
    m, _ = relu_module()
    with pytest.raises(WeightStreamingError, match="no engine of this module was built with weight streaming"):
        with rt.weight_streaming(m):
            pass


def test_metadata_json_roundtrip_keeps_abi_first():
    m, _ = relu_module()
    text = m.metadata_json
    assert text.startswith('{"abi_version": 1,')
    again = rt.EngineMetadata.from_json(text)
    assert again == m.metadata
    # unknown fields (from a newer writer with the same ABI) are ignored
    import json

    data = json.loads(text)
    data["future_field"] = 1
    data["inputs"][0]["future"] = 2
    assert rt.EngineMetadata.from_dict(data).inputs[0].name == "x"
