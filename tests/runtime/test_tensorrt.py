"""The TensorRT-specific runner (TRTEngineRunner, output allocator, logger).

The first tests run anywhere a TensorRT backend is installed (engines are built on CPU).
The rest execute engines and need a CUDA GPU with a TensorRT that can run them: on the
project's machines there is none (TensorRT-RTX refuses Hopper, full TensorRT cannot be
installed), so they skip with that reason. They are written against the TensorRT Python API
shared by full TensorRT and TensorRT-RTX.
"""
from __future__ import annotations

import pytest
import torch
from rt_helpers import metadata, mixed_program, spec

import trtforge
import trtforge.runtime as rt
from trtforge import backend
from trtforge.runtime import EngineDeserializationError, TRTEngineModule
from trtforge.backend.trt_logger import RecentErrors, logger_for
from trtforge.runtime.output_allocator import output_allocator_class
from trtforge.runtime.runner import deserialize_engine


def _why_no_trt_gpu() -> str | None:
    if not torch.cuda.is_available():
        return "needs a CUDA GPU with a TensorRT that can execute engines (no CUDA GPU here)"
    if not backend.available():
        return "needs a CUDA GPU with a TensorRT that can execute engines (no TensorRT installed)"
    major, minor = torch.cuda.get_device_capability()
    if major * 10 + minor in backend.capabilities().refused_compute_capabilities:
        return (f"needs a CUDA GPU with a TensorRT that can execute engines ({backend.name()} refuses "
                f"compute capability {major}.{minor})")
    return None


WHY = _why_no_trt_gpu()


def needs_trt_gpu(fn):
    """Marks a test that executes engines: ``gpu`` marker, skipped (with the reason) where none can run."""
    return pytest.mark.gpu(pytest.mark.skipif(WHY is not None, reason=WHY or "")(fn))


# --- anywhere TensorRT is installed ---------------------------------------------------------------

def test_corrupted_engine_fails_deserialization_clearly(relu_engine, trt_backend):
    _, trt, _ = trt_backend
    data, make_md = relu_engine
    bad = bytearray(data)
    for i in range(64, len(bad), 97):
        bad[i] ^= 0x5A
    with pytest.raises(EngineDeserializationError, match="could not deserialize engine 'relu_engine'.*recompile"):
        deserialize_engine(trt, bytes(bad), make_md())


def test_logger_keeps_errors(trt_backend):
    """One TensorRT logger per backend module for the process (TensorRT ignores a second one while
    the first is in use); a caller reads the errors logged after its mark."""
    name, trt, _ = trt_backend
    log = logger_for(trt)
    assert backend.resolve(name).logger() is log and logger_for(trt) is log
    mark = len(log.errors)
    log.log(trt.ILogger.Severity.ERROR, "first")
    log.log(trt.ILogger.Severity.WARNING, "not an error")
    log.log(trt.ILogger.Severity.INTERNAL_ERROR, "second")
    assert log.errors[mark:] == ["first", "second"] and len(log.errors) == mark + 2


def test_recent_errors_keep_the_latest_and_index_as_if_all_were_kept():
    """The process's logger lives as long as the process: it keeps the last few errors, and a
    mark taken before a call still selects exactly that call's errors."""
    errors = RecentErrors(keep=2)
    for k in range(3):
        errors.append(f"e{k}")
    mark = len(errors)
    errors.append("e3")
    errors.append("e4")
    assert len(errors) == 5 and errors[mark:] == ["e3", "e4"] and errors[-1] == "e4"
    assert errors[1:] == ["e3", "e4"] and errors == ["e3", "e4"]  # older ones are not kept
    with pytest.raises(IndexError, match="not kept"):
        errors[0]


def test_output_allocator_gives_torch_memory_and_records_shapes(trt_backend):
    _, trt, _ = trt_backend
    cls = output_allocator_class(trt)
    assert issubclass(cls, trt.IOutputAllocator)
    alloc = cls(torch.device("cpu"))
    ptr = alloc.reallocate_output_async("idx", 0, 64, 256, 0)
    assert ptr == alloc.buffers["idx"].data_ptr()
    alloc.notify_shape("idx", (3, 2))
    out = alloc.take("idx", torch.int64)
    assert out.shape == (3, 2) and out.dtype == torch.int64 and out.data_ptr() == ptr
    assert alloc.buffers == {} and alloc.shapes == {}
    assert alloc.reallocate_output_async("empty", 0, 0, 256, 0) != 0  # zero-size outputs get memory too


# --- engines executing on a GPU -------------------------------------------------------------------

@pytest.fixture
def relu_module(relu_engine):
    data, make_md = relu_engine
    return TRTEngineModule(data, make_md())


@needs_trt_gpu
def test_runs_relu_engine_at_every_profile_size(relu_module):
    for n in (1, 4, 8):
        x = torch.randn(n, 3, device="cuda")
        torch.testing.assert_close(relu_module(x), torch.relu(x))
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        y = relu_module(x)
    s.synchronize()
    torch.testing.assert_close(y, torch.relu(x))


@needs_trt_gpu
def test_runs_two_output_engine(two_output_engine):
    data, make_md = two_output_engine
    m = TRTEngineModule(data, make_md())
    a, b = torch.randn(2, 3, device="cuda"), torch.randn(2, 3, device="cuda")
    s, p = m(a, b)
    torch.testing.assert_close(s, a + b)
    torch.testing.assert_close(p, a * b)


@needs_trt_gpu
def test_modes_with_a_real_engine(relu_module):
    prog = mixed_program(relu_module).cuda()

    def ref(x):
        return torch.relu(x * 2 - 1) + x

    with rt.enable_cudagraphs(relu_module):
        for n in (4, 4, 6):
            x = torch.randn(n, 3, device="cuda")
            torch.testing.assert_close(relu_module(x), torch.relu(x))
    with rt.enable_cudagraphs(prog) as run:
        for n in (4, 4, 2):
            x = torch.randn(n, 3, device="cuda")
            torch.testing.assert_close(run(x), ref(x))
    with rt.enable_pre_allocated_outputs(prog):
        a = prog(torch.randn(4, 3, device="cuda"))
        b = prog(torch.randn(4, 3, device="cuda"))
    with rt.enable_output_allocator(prog):
        x = torch.randn(5, 3, device="cuda")
        torch.testing.assert_close(prog(x), ref(x))
    del a, b


@needs_trt_gpu
def test_save_load_and_run(tmp_path, relu_module):
    path = tmp_path / "p.pt2"
    trtforge.save(mixed_program(relu_module).cuda(), path,
                  inputs=[trtforge.Input(min_shape=(1, 3), opt_shape=(4, 3), max_shape=(8, 3))])
    loaded = trtforge.load(path).cuda()
    x = torch.randn(3, 3, device="cuda")
    torch.testing.assert_close(loaded(x), torch.relu(x * 2 - 1) + x)
    plain = torch.export.load(path).module().cuda()
    torch.testing.assert_close(plain(x), torch.relu(x * 2 - 1) + x)


@needs_trt_gpu
def test_metadata_that_does_not_match_the_engine(relu_engine):
    data, make_md = relu_engine
    md = make_md()
    md.inputs[0].name = "not_x"
    with pytest.raises(EngineDeserializationError, match="does not match its metadata"):
        TRTEngineModule(data, md)(torch.randn(2, 3, device="cuda"))


@needs_trt_gpu
def test_data_dependent_output_runs_with_output_allocator(trt_backend):
    name, trt, version = trt_backend
    if not backend.capabilities(name).supports("NON_ZERO"):
        pytest.skip(backend.capabilities(name).why_not("NON_ZERO"))
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (8,))
    nz = net.add_non_zero(x).get_output(0)  # [1, N]
    shuf = net.add_shuffle(nz)
    shuf.first_transpose = (1, 0)  # torch.nonzero layout: [N, 1]
    out = shuf.get_output(0)
    out.name = "idx"
    net.mark_output(out)
    data = builder.build_serialized_network(net, builder.create_builder_config())
    assert data is not None
    md = metadata("nonzero", [spec("x", [8])], [spec("idx", [-1, 1], dtype="int64")],
                  backend=name, backend_version=version, requires_output_allocator=True)
    m = TRTEngineModule(bytes(data), md)
    v = torch.tensor([0, 1, 0, 2, 0, 0, 3, 0], dtype=torch.float32, device="cuda")
    torch.testing.assert_close(m(v), torch.nonzero(v))
    with pytest.raises(rt.IncompatibleModesError):
        with rt.enable_cudagraphs(m):
            pass


@needs_trt_gpu
def test_weight_streaming_with_a_real_engine(trt_backend):
    name, trt, version = trt_backend
    logger = trt.Logger(trt.Logger.ERROR)
    builder = trt.Builder(logger)
    net = builder.create_network(0)
    x = net.add_input("x", trt.float32, (4, 1024))
    w = torch.randn(1024, 1024) / 32
    wc = net.add_constant((1024, 1024), trt.Weights(w.numpy())).get_output(0)
    y = net.add_matrix_multiply(x, trt.MatrixOperation.NONE, wc, trt.MatrixOperation.NONE).get_output(0)
    y.name = "y"
    net.mark_output(y)
    cfg = builder.create_builder_config()
    cfg.set_flag(trt.BuilderFlag.WEIGHT_STREAMING)
    data = builder.build_serialized_network(net, cfg)
    assert data is not None
    md = metadata("ws", [spec("x", [4, 1024])], [spec("y", [4, 1024])], backend=name,
                  backend_version=version, weight_streaming=True)
    m = TRTEngineModule(bytes(data), md)
    xin = torch.randn(4, 1024, device="cuda")
    ref = xin @ w.cuda()
    with rt.weight_streaming(m) as ws:
        assert ws.total_device_budget > 0
        before = ws.device_budget
        ws.device_budget = ws.total_device_budget // 2
        torch.testing.assert_close(m(xin), ref, rtol=1e-3, atol=1e-3)
        ws.device_budget = 0
        torch.testing.assert_close(m(xin), ref, rtol=1e-3, atol=1e-3)
    assert m._runner_or_create().weight_streaming_budget == before



# --- engine features (refit, several profiles, runtime cache) ---------------------------------

def _mlp(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4)).eval().cuda()


@needs_trt_gpu
def test_refit_module_weights_changes_what_the_engine_computes():
    x = torch.randn(2, 16, device="cuda")
    compiled = trtforge.compile(_mlp(0), [x], min_block_size=1, immutable_weights=False)
    new = _mlp(1)
    trtforge.refit_module_weights(compiled, new)  # Refitter.set_named_weights + refit_cuda_engine
    torch.testing.assert_close(compiled(x), new(x), rtol=1e-3, atol=1e-3)


@needs_trt_gpu
def test_two_profiles_run_and_switch_with_the_shapes():
    spec_ = trtforge.Input(profiles=[((1, 16), (1, 16), (1, 16)), ((1, 16), (16, 16), (32, 16))])
    model = _mlp(0)
    compiled = trtforge.compile(model, [spec_], min_block_size=1)
    for batch in (1, 16, 1, 32):  # set_optimization_profile_async on each switch
        x = torch.randn(batch, 16, device="cuda")
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-3, atol=1e-3)
    with rt.optimization_profile(compiled, 1):
        x = torch.randn(1, 16, device="cuda")
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-3, atol=1e-3)


@needs_trt_gpu
def test_runtime_cache_is_written_after_the_first_run(tmp_path):
    if backend.name() != "tensorrt_rtx":
        pytest.skip("the runtime cache is TensorRT-RTX's")
    path = tmp_path / "kernels.cache"
    compiled = trtforge.compile(_mlp(0), [torch.randn(2, 16, device="cuda")], min_block_size=1,
                                runtime_cache_path=path)
    compiled(torch.randn(2, 16, device="cuda"))
    assert path.exists() and path.stat().st_size > 0
