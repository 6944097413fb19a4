"""Runtime side of the engine features, with the torch test runner standing in for TensorRT:
new weights reach the runner's refit when the engine is (or gets) a runner; weight-stripped
engines refuse to run without weights; the device check names hardware_compatible. The
TensorRT calls themselves (Refitter, set_optimization_profile_async) are in trt_features and
need a GPU with a working TensorRT (none here)."""
from __future__ import annotations

import pytest
import torch
from rt_helpers import TorchOpsTestRunner, metadata, spec

import trtforge
from trtforge.runtime import TRTEngineModule


class RefitRecorder(TorchOpsTestRunner):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.refits = []

    def refit(self, weights):
        self.refits.append(dict(weights))
        self.generation += 1


def _engine(**kw):
    md = metadata("eng", [spec("x", [2, 3])], [spec("y", [2, 3])], refittable=True, **kw)
    return TRTEngineModule(b"test-runner engine: never deserialized", md)


def test_new_weights_are_refitted_by_the_runner_now_or_when_it_is_created(monkeypatch):
    m = _engine()
    runner = RefitRecorder(torch.relu)
    m.set_runner(runner)
    m.set_weights({"w": torch.ones(3)})
    assert runner.refits and torch.equal(runner.refits[0]["w"], torch.ones(3)) and m._pending_weights is None

    later = _engine()
    later.set_weights({"w": torch.zeros(3)})
    assert later._pending_weights is not None
    created = RefitRecorder(torch.relu)
    monkeypatch.setattr(trtforge.runtime.runner, "_runner_factory", lambda *a: created)
    later(torch.randn(2, 3))  # the first call creates the runner, which refits first
    assert len(created.refits) == 1 and created.execute_calls == 1 and later._pending_weights is None


def test_a_weight_stripped_engine_refuses_to_run_without_weights():
    m = _engine(weights_stripped=True)
    with pytest.raises(trtforge.RefitError, match=r"saved without its weights.*weights=model"):
        m(torch.randn(2, 3))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch only)")
def test_an_engine_built_for_another_gpu_names_hardware_compatible():
    from trtforge.runtime.checks import check_device_supported

    major, minor = torch.cuda.get_device_capability(0)
    other = "8.6" if (major, minor) != (8, 6) else "8.9"
    md = metadata("eng", [], [], backend="tensorrt", compute_capability=other)
    with pytest.raises(trtforge.runtime.UnsupportedDeviceError, match="hardware_compatible=True"):
        check_device_supported(md, torch.device("cuda", 0))
    md.hardware_compatibility = "ampere_plus"
    check_device_supported(md, torch.device("cuda", 0))  # hardware-compatible: allowed
    md.hardware_compatibility, md.compute_capability = "none", f"{major}.{minor}"
    check_device_supported(md, torch.device("cuda", 0))  # the GPU it was built for


def test_version_compatible_engines_load_without_the_version_warning(tmp_path, recwarn):
    from trtforge.runtime.loading import _check_backends

    installed = trtforge.backend.version()
    older = ".".join(["0"] + installed.split(".")[1:]) if installed.split(".")[0] != "0" else installed
    same_major_older = installed.split(".")[0] + ".0"
    rec = lambda v, vc: {"metadata": metadata("e", [], [], backend=trtforge.backend.name(),  # noqa: E731
                                              backend_version=v, version_compatible=vc).to_dict()}
    _check_backends({"engines": [rec(same_major_older, True)]})
    assert not [w for w in recwarn if "was built with" in str(w.message)]
    with pytest.warns(UserWarning, match="was built with"):
        _check_backends({"engines": [rec(same_major_older, False)]})
    with pytest.warns(UserWarning, match="was built with"):
        _check_backends({"engines": [rec(older if older != installed else "999.0", True)]})
