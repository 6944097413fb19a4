from __future__ import annotations

import os
import sys

import pytest

# the helpers module sits next to this file (tests are not a package)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from trtforge.runtime import ops, state


@pytest.fixture(autouse=True)
def _clean_runtime_state():
    """Every test starts and ends with default modes and no cached engines."""
    state.set_cudagraphs_mode(False)
    state.set_multi_device_safe_mode(False)
    yield
    state.set_cudagraphs_mode(False)
    state.set_multi_device_safe_mode(False)
    ops.clear_loaded_engines()


@pytest.fixture(scope="session")
def trt_backend():
    """(name, module, version) of the installed TensorRT backend; skips if none is installed."""
    from trtforge import backend

    if not backend.available():
        pytest.skip("no TensorRT backend installed (install trtforge[rtx] or trtforge[tensorrt])")
    name, mod = backend.load()
    return name, mod, backend.version()


@pytest.fixture(scope="session")
def relu_engine(trt_backend):
    from rt_helpers import build_relu_engine, relu_metadata

    name, trt, version = trt_backend
    data = build_relu_engine(trt)
    return data, lambda **kw: relu_metadata(name, version, **kw)


@pytest.fixture(scope="session")
def two_output_engine(trt_backend):
    from rt_helpers import build_two_output_engine, two_output_metadata

    name, trt, version = trt_backend
    data = build_two_output_engine(trt)
    return data, lambda **kw: two_output_metadata(name, version, **kw)


@pytest.fixture
def runner_factory(monkeypatch):
    """Make new TRTEngineModules run through TorchOpsTestRunner (fn chosen per engine name)."""
    from rt_helpers import TorchOpsTestRunner

    from trtforge.runtime import runner

    real = runner._runner_factory
    assert real is runner.TRTEngineRunner
    fns = {}
    made = []

    def factory(engine, md, device):
        if md.name not in fns:  # not registered: the real TensorRT runner
            return runner.TRTEngineRunner(engine, md, device)
        r = TorchOpsTestRunner(fns[md.name], device=fns.get((md.name, "device"), "cpu"))
        made.append(r)
        return r

    monkeypatch.setattr(runner, "_runner_factory", factory)
    factory.fns = fns
    factory.made = made
    return factory
