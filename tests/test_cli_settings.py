"""Every ``trtforge compile`` option that sets a compile setting reaches that setting, with the
Python API's own checks: parsed, then a real compile whose engines and builder configuration are
read back, and the refusals (before the model loads) as one line, never a traceback."""
from __future__ import annotations

import dataclasses
import json

import pytest

import trtforge
from trtforge.cli.main import build_parser, main
from trtforge.cli.settings_flags import FLAGS, byte_size, settings_from

MODEL_SRC = '''
import torch

class Head(torch.nn.Module):
    def forward(self, x):
        return torch.relu(x * 2 + x)

def make():
    return Head()
'''

#: options named otherwise than their setting (they predate the rule; each says what it sets)
OLDER_NAMES = {"--no-build": "build", "--global-partitioner": "use_fast_partitioner",
               "--torch-executed-op": "torch_executed_ops", "--pack": "packs",
               "--pinned-converter": "pinned_converters"}

#: a value to give each option that takes one, and the setting value it must become
SAMPLES = {
    "--precision": ("fp16", "fp16"), "--keep-fp32": ("mul", ("mul",)), "--min-block-size": ("3", 3),
    "--target-backend": ("tensorrt", "tensorrt"), "--backend": ("tensorrt_rtx", "tensorrt_rtx"),
    "--torch-executed-op": ("aten::relu", frozenset({"aten::relu"})), "--pack": ("toy", frozenset({"toy"})),
    "--pinned-converter": ("aten::relu=toy", {"aten::relu": "toy"}), "--validate-rtol": ("0.01", 0.01),
    "--engine-cache-dir": ("cache", "cache"), "--engine-cache-size": ("4G", 4 << 30),
    "--workspace-size": ("64M", 64 << 20), "--optimization-level": ("2", 2), "--max-aux-streams": ("3", 3),
    "--timing-cache-path": ("t.cache", "t.cache"), "--runtime-cache-path": ("r.cache", "r.cache"),
}


@pytest.fixture
def model_spec(tmp_path, monkeypatch):
    (tmp_path / "cli_settings_model.py").write_text(MODEL_SRC)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "cli_settings_model:make"


def _parse(*argv):
    return build_parser().parse_args(["compile", "m:make", "--input", "2x4", *argv])


def test_every_option_names_a_setting_and_sets_it():
    fields = {f.name for f in dataclasses.fields(trtforge.CompileSettings)}
    for flag in FLAGS:
        assert flag.setting in fields, flag
        plain = "--" + flag.setting.replace("_", "-")
        assert flag.option in (plain, "--no-" + plain[2:]) or OLDER_NAMES.get(flag.option) == flag.setting, flag
        if flag.option not in OLDER_NAMES:
            assert flag.option.startswith("--no-") == (flag.kind == "false"), flag
        if flag.kind in ("true", "false"):
            want = flag.kind == "true"
            assert settings_from(_parse(flag.option)) == {flag.setting: want}, flag.option
        else:
            text, want = SAMPLES[flag.option]
            assert settings_from(_parse(flag.option, text)) == {flag.setting: want}, flag.option
    assert settings_from(_parse()) == {}  # nothing given: every setting keeps the Python API's default


def test_repeated_options_collect_and_sizes_parse():
    got = settings_from(_parse("--torch-executed-op", "relu", "--torch-executed-op", "aten::add.Tensor",
                               "--pinned-converter", "relu=toy", "--pinned-converter", "add=toy"))
    assert got == {"torch_executed_ops": frozenset({"relu", "aten::add.Tensor"}),
                   "pinned_converters": {"relu": "toy", "add": "toy"}}
    assert [byte_size(t) for t in ("4096", "1k", "512M", "2GiB", "1t")] == [4096, 1024, 512 << 20, 2 << 30, 1 << 40]
    for bad in ("12Q", "-1", "1.5G", ""):
        with pytest.raises(Exception, match="not a size"):
            byte_size(bad)


def test_engine_options_reach_the_engines_and_the_builder(toy_manager, model_spec, tmp_path, monkeypatch):
    networks = []
    real = trtforge.compile

    def compile_and_watch(*args, **kwargs):
        return real(*args, observers=[networks.append], **kwargs)

    monkeypatch.setattr(trtforge, "compile", compile_and_watch)
    out, report = tmp_path / "p.pt2", tmp_path / "r.json"
    rc = main(["compile", model_spec, "--input", "2x4", "--enable-weight-streaming", "--sparse-weights",
               "--max-aux-streams", "2", "--optimization-level", "1", "--workspace-size", "64M",
               "--runtime-cache-path", str(tmp_path / "rt.cache"), "--json", str(report), "-o", str(out)])
    assert rc == 0
    assert json.loads(report.read_text())["engines"][0]["status"] == "built"
    (net,) = networks
    assert net.config.builder_optimization_level == 1
    assert net.config.get_memory_pool_limit(net.backend.module.MemoryPoolType.WORKSPACE) == 64 << 20
    md = trtforge.runtime.engines_of(trtforge.load(out))[0].metadata
    assert {"WEIGHT_STREAMING", "SPARSE_WEIGHTS"} <= set(md.builder_flags)
    assert md.max_aux_streams == 2 and md.runtime_cache_path == str(tmp_path / "rt.cache")


@pytest.mark.parametrize("argv, message", [
    (["--no-immutable-weights"], "these settings cannot be honoured"),
    (["--version-compatible"], "version_compatible: TensorRT-RTX cannot build version-compatible engines"),
    (["--timing-cache-path", "t.cache"], "timing_cache_path: TensorRT-RTX has no timing cache"),
    (["--strip-engine-weights"], "strip_engine_weights=True needs a refittable engine"),
    (["--optimization-level", "7"], None),
    (["--pack", "nosuchpack"], "nosuchpack"),
])
def test_refusals_are_the_python_apis_and_come_before_the_model_loads(toy_manager, argv, message, capsys):
    import torch

    from trtforge.backend import name as backend_name

    if message and "TensorRT-RTX" in message and backend_name() != "tensorrt_rtx":
        pytest.skip("the refusal is TensorRT-RTX's; another backend is installed")
    if argv == ["--no-immutable-weights"] and torch.cuda.is_available():
        pytest.skip("with a GPU, TensorRT-RTX builds refittable engines")
    # a model spec that cannot load: the settings error must come first
    rc = main(["compile", "no_such_module_anywhere:make", "--input", "2x4", *argv])
    err = capsys.readouterr().err
    assert rc == 1 and "Traceback" not in err and "no_such_module" not in err
    assert err.startswith("trtforge compile: error: ")
    if message is None:  # the same words as the Python API's
        with pytest.raises(trtforge.SettingError) as exc:
            trtforge.CompileSettings(optimization_level=7)
        message = str(exc.value)
    assert message in err


def test_a_value_argparse_cannot_read_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compile", "m:make", "--input", "2x4", "--workspace-size", "lots"])
    assert exc.value.code == 2 and "is not a size" in capsys.readouterr().err
