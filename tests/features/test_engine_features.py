"""Engine-feature settings: the builder flags TensorRT-RTX really sets and builds with on CPU, the
metadata and `trtforge inspect --json`, refusals before any work, several optimization profiles,
the timing cache file, and the runtime paths up to where TensorRT must execute."""
from __future__ import annotations

import json
import pytest
import torch

import trtforge
from trtforge.cli import inspect as inspect_cli

MLP = lambda: torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.ReLU(), torch.nn.Linear(32, 4)).eval()  # noqa: E731
ONE = dict(min_block_size=1)


def _inspect(tmp_path, compiled, inputs, capsys) -> tuple[dict, str]:
    """``trtforge inspect FILE --json`` and ``trtforge inspect FILE``: (first engine, text)."""
    path = tmp_path / "p.pt2"
    trtforge.save(compiled, path, inputs=inputs)
    assert inspect_cli.main([str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert inspect_cli.main([str(path)]) == 0
    return info["engines"][0], capsys.readouterr().out


def test_buildable_features_set_their_flags_and_reach_inspect(tmp_path, capsys):
    x = torch.randn(4, 16)
    compiled = trtforge.compile(MLP(), [x], enable_weight_streaming=True, sparse_weights=True, max_aux_streams=2,
                                hardware_compatible=True, **ONE)
    engine = trtforge.runtime.engines_of(compiled)[0]
    assert engine.engine is not None and engine.metadata.engine_bytes > 0  # really built
    info, text = _inspect(tmp_path, compiled, [x], capsys)
    feats = info["features"]
    assert {"WEIGHT_STREAMING", "SPARSE_WEIGHTS"} <= set(feats["builder_flags"])
    assert "REFIT" not in feats["builder_flags"] and not feats["refittable"] and not feats["weights_stripped"]
    assert feats["max_aux_streams"] == 2 and info["flags"]["weight_streaming"] is True
    assert info["flags"]["hardware_compatibility"] == "ampere_plus"  # TensorRT-RTX engines are portable
    assert "WEIGHT_STREAMING" in text and "max_aux_streams=2" in text


def test_defaults_set_no_feature_flag():
    compiled = trtforge.compile(MLP(), [torch.randn(4, 16)], **ONE)
    md = trtforge.runtime.engines_of(compiled)[0].metadata
    assert not {"WEIGHT_STREAMING", "SPARSE_WEIGHTS", "REFIT", "STRIP_PLAN"} & set(md.builder_flags)
    assert md.max_aux_streams is None and not md.weight_streaming and md.compute_capability == ""


@pytest.mark.parametrize("settings, cause", [
    (dict(immutable_weights=False), "refittable weights only with a CUDA GPU"),
    (dict(immutable_weights=False, strip_engine_weights=True), "strip_engine_weights=True: TensorRT-RTX"),
    (dict(version_compatible=True), "libnvinfer_lean.so.1"),
    (dict(timing_cache_path="tc.bin"), "use runtime_cache_path"),
])
def test_unhonourable_settings_are_refused_before_any_work(settings, cause):
    if torch.cuda.is_available() and "immutable_weights" in settings:
        pytest.skip("a GPU is present: TensorRT-RTX can build refittable engines here")

    class Exploding(torch.nn.Module):
        def forward(self, x):
            raise AssertionError("the model ran: the refusal came too late")

    with pytest.raises(trtforge.CompilationError, match="cannot be honoured") as err:
        trtforge.compile(Exploding(), [torch.randn(2, 2)], backend="tensorrt_rtx", **settings)
    assert cause in str(err.value) and "tensorrt_rtx" in str(err.value)


def test_runtime_cache_is_refused_for_full_tensorrt_even_network_only():
    with pytest.raises(trtforge.CompilationError, match="runtime_cache_path is TensorRT-RTX's"):
        trtforge.compile(MLP(), [torch.randn(4, 16)], build=False, target_backend="tensorrt",
                         runtime_cache_path="rc.bin", **ONE)


def test_settings_that_need_refit_say_so():
    with pytest.raises(ValueError, match="strip_engine_weights=True needs a refittable engine.*immutable_weights=False"):
        trtforge.CompileSettings(strip_engine_weights=True)


def test_runtime_cache_path_is_recorded_for_tensorrt_rtx(tmp_path):
    compiled = trtforge.compile(MLP(), [torch.randn(4, 16)], runtime_cache_path=tmp_path / "rtx.cache", **ONE)
    md = trtforge.runtime.engines_of(compiled)[0].metadata
    assert md.runtime_cache_path == str(tmp_path / "rtx.cache")


def test_refittable_and_stripped_networks_are_checked_network_only():
    compiled = trtforge.compile(MLP(), [torch.randn(4, 16)], immutable_weights=False, strip_engine_weights=True,
                                refit_identical_engine_weights=True, build=False, target_backend="tensorrt", **ONE)
    md = trtforge.runtime.engines_of(compiled)[0].metadata
    assert {"REFIT_IDENTICAL", "STRIP_PLAN"} <= set(md.builder_flags) and "REFIT" not in md.builder_flags
    assert md.refittable and md.weights_stripped and len(md.refit_map["weights"]) == 4


def test_two_profiles_build_and_validate_at_six_shape_sets():
    x = trtforge.Input(profiles=[{"min": (1, 16), "opt": (1, 16), "max": (1, 16)},
                                 {"min": (1, 16), "opt": (16, 16), "max": (32, 16)}])
    compiled = trtforge.compile(MLP(), [x], validate=True, **ONE)
    report = compiled.trtforge_report
    assert report.engines[0].status == "built" and report.engines[0].validation["shape_sets"] == 6
    md = trtforge.runtime.engines_of(compiled)[0].metadata
    assert md.num_profiles == 2 and md.inputs[0].profiles[1] == [[1, 16], [16, 16], [32, 16]]
    assert md.inputs[0].profile == [[1, 16], [1, 16], [32, 16]]  # the envelope
    assert md.select_profile([(1, 16)]) == 0 and md.select_profile([(2, 16)]) == 1
    assert md.select_profile([(33, 16)]) is None


def test_profile_selection_errors_name_the_profiles():
    from trtforge.errors import EngineInputError
    from trtforge.runtime.trt_features import select_profile

    x = trtforge.Input(profiles=[((1, 16), (2, 16), (4, 16)), ((16, 16), (24, 16), (32, 16))])
    compiled = trtforge.compile(MLP(), [x], build=False, **ONE)
    md = trtforge.runtime.engines_of(compiled)[0].metadata
    assert select_profile(md, [(3, 16)], None) == 0 and select_profile(md, [(20, 16)], None) == 1
    with pytest.raises(EngineInputError, match=r"fit none of its optimization profiles: 0: .*max \[4, 16\]; 1: "):
        select_profile(md, [(8, 16)], None)
    with pytest.raises(EngineInputError, match="outside optimization profile 1"):
        select_profile(md, [(2, 16)], 1)
    with trtforge.runtime.optimization_profile(compiled, 1):
        assert trtforge.runtime.engines_of(compiled)[0].forced_profile == 1
    assert trtforge.runtime.engines_of(compiled)[0].forced_profile is None


def test_profiles_need_matching_counts():
    a = trtforge.Input(profiles=[((1, 4), (1, 4), (1, 4)), ((1, 4), (2, 4), (8, 4))])
    b = trtforge.Input(profiles=[((1, 4), (1, 4), (1, 4))] * 3)
    with pytest.raises(ValueError, match="different numbers of optimization profiles"):
        trtforge.settings.profile_count([a, b])


def test_timing_cache_file_round_trip_with_the_real_api(tmp_path):
    """The timing-cache load/save code against TensorRT-RTX's (no-op, but real) timing-cache API."""
    from trtforge.conversion import timing_cache

    trt = trtforge.backend.trt
    path = tmp_path / "sub" / "timing.cache"
    config = trt.Builder(trt.Logger()).create_builder_config()
    with pytest.warns(DeprecationWarning):
        timing_cache.load(config, str(path))  # no file yet: an empty cache
        timing_cache.save(config, str(path))
    assert path.exists() and not [p for p in path.parent.iterdir() if p != path]  # no temporary left
    data = path.read_bytes()
    with pytest.warns(DeprecationWarning):
        timing_cache.load(config, str(path))
        assert config.get_timing_cache() is not None and path.read_bytes() == data


def test_weight_streaming_program_reaches_the_runtime():
    compiled = trtforge.compile(MLP(), [torch.randn(4, 16)], enable_weight_streaming=True, **ONE)
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: tests/runtime/test_tensorrt.py runs weight streaming there")
    with pytest.raises(trtforge.runtime.NoCUDADeviceError):  # selected, then TensorRT must run
        with trtforge.runtime.weight_streaming(compiled):
            pass
    plain = trtforge.compile(MLP(), [torch.randn(4, 16)], **ONE)
    with pytest.raises(trtforge.runtime.WeightStreamingError, match="enable_weight_streaming=True"):
        with trtforge.runtime.weight_streaming(plain):
            pass


def test_strip_weights_refuses_immutable_engines(tmp_path):
    x = torch.randn(4, 16)
    compiled = trtforge.compile(MLP(), [x], **ONE)
    with pytest.raises(trtforge.RefitError, match="immutable_weights=False"):
        trtforge.save(compiled, tmp_path / "s.pt2", inputs=[x], strip_weights=True)
    assert not (tmp_path / "s.pt2").exists()
