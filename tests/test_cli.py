"""The CLI: packs, compile and coverage, with the toy pack and with installed packs."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from trtforge.cli.main import main
from trtforge.settings import Input

MODEL_SRC = '''
import torch

class Chain(torch.nn.Module):
    def forward(self, x):
        y = torch.relu(x * 2 + 1) + x
        return torch.relu(torch.sin(y) + y)

def make():
    return Chain()
'''


@pytest.fixture
def model_spec(tmp_path, monkeypatch):
    (tmp_path / "cli_toy_model.py").write_text(MODEL_SRC)
    monkeypatch.syspath_prepend(str(tmp_path))
    return "cli_toy_model:make"


def test_compile_writes_report_json(toy_manager, model_spec, tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["compile", model_spec, "--input", "1:2:8x4", "--min-block-size", "1", "--json", str(out)])
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["built"] is True and data["model"] == model_spec
    assert [f["op"] for f in data["fallback"]] == ["aten::sin.default"]
    assert all(e["engine_bytes"] > 0 for e in data["engines"])
    assert "in TensorRT" in capsys.readouterr().out


def test_debug_logs_each_stage_and_tensorrt_to_stderr_only_when_asked(toy_manager, model_spec, capsys):
    import logging

    from trtforge._logging import DebugHandler

    args = ["compile", model_spec, "--input", "2x4", "--min-block-size", "1"]
    assert main(args) == 0
    assert "trtforge." not in capsys.readouterr().err
    assert main([*args, "--debug"]) == 0
    out, err = capsys.readouterr()
    for stage in ("setup", "export", "lowering", "partitioning", "conversion", "build", "assembly"):
        assert f" trtforge.{stage} INFO: " in err, stage
    assert " trtforge.tensorrt INFO: " in err and "trtforge." not in out  # logs on stderr, the report on stdout
    assert not any(isinstance(h, DebugHandler) for h in logging.getLogger("trtforge").handlers)


def test_coverage_is_a_dry_run(toy_manager, model_spec, tmp_path):
    out = tmp_path / "c.json"
    assert main(["coverage", model_spec, "--input", "2x4", "--min-block-size", "1", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["built"] is False and all(e["status"] == "dryrun" for e in data["engines"])


def test_keep_fp32_option_reaches_the_report_and_unknown_names_are_errors(toy_manager, model_spec, tmp_path, capsys):
    out = tmp_path / "p.json"
    args = ["coverage", model_spec, "--input", "2x4", "--precision", "fp16", "--json", str(out)]
    assert main([*args, "--keep-fp32", "mul"]) == 0
    data = json.loads(out.read_text())
    assert [k["node"] for k in data["kept_fp32"]] == ["mul"]
    assert data["node_precision"]["mul"] == "float32" and data["node_precision"]["sin"] == "float16"
    assert main([*args, "--keep-fp32", "mull"]) == 1
    assert "did you mean 'mul'" in capsys.readouterr().err


def test_bad_input_dims_give_a_clear_error(toy_manager, model_spec, capsys):
    assert main(["compile", model_spec, "--input", "2xfour"]) == 1
    assert "MIN:OPT:MAX" in capsys.readouterr().err


def test_unknown_model_spec(capsys):
    assert main(["coverage", "no_such_module_xyz:make", "--input", "1x4"]) == 1
    assert "no_such_module_xyz" in capsys.readouterr().err


@pytest.mark.parametrize("text,expected", [
    ("1x3x224x224", Input(shape=(1, 3, 224, 224))),
    ("1:8:32x3x224x224", Input(min_shape=(1, 3, 224, 224), opt_shape=(8, 3, 224, 224), max_shape=(32, 3, 224, 224))),
    ("4x16@int64", Input(shape=(4, 16), dtype="int64")),
])
def test_input_parsing(text, expected):
    assert Input.parse(text) == expected


def test_packs_json_lists_installed_packs():
    out = subprocess.run([sys.executable, "-m", "trtforge.cli.main", "packs", "--json"],
                         check=True, capture_output=True, text=True).stdout
    packs = {p["name"]: p for p in json.loads(out)["packs"]}
    assert {"vision", "detection", "dds_ops"} <= set(packs)
    for name, dist in (("vision", "trtforge-vision"), ("detection", "trtforge-detection"), ("dds_ops", "trtforge-dds-ops")):
        assert packs[name]["status"] == "loaded" and packs[name]["distribution"] == dist
        for c in packs[name]["converters"]:
            assert set(c) >= {"op", "overload", "supports_dynamic_shapes", "requires_output_allocator", "priority", "backends"}
            assert "::" in c["op"] or c["op"].startswith(("_operator.", "torch.sym_"))  # ops, or SymInt callables


def test_packs_respects_env_blocklist():
    import os

    env = dict(os.environ, TRTFORGE_DISABLE_PACKS="detection")
    out = subprocess.run([sys.executable, "-m", "trtforge.cli.main", "packs", "--json"],
                         check=True, capture_output=True, text=True, env=env).stdout
    packs = {p["name"]: p for p in json.loads(out)["packs"]}
    assert packs["detection"]["status"] == "blocked" and packs["vision"]["status"] == "loaded"


def test_packs_listing_is_cached_and_invalidated(tmp_path, monkeypatch):
    from trtforge.cli import packs

    monkeypatch.setenv("TRTFORGE_CACHE_DIR", str(tmp_path))
    first = packs.collect()
    assert (tmp_path / "packs.json").exists()
    assert packs.collect() == first
    # a different allowlist is a different listing
    monkeypatch.setenv("TRTFORGE_DISABLE_PACKS", "vision")
    assert packs._fingerprint() != json.loads((tmp_path / "packs.json").read_text())["key"]


def test_trtforge_packs_does_not_import_torch_on_a_cache_hit(tmp_path):
    import os

    env = dict(os.environ, TRTFORGE_CACHE_DIR=str(tmp_path))
    cmd = [sys.executable, "-c", "import sys; from trtforge.cli.main import main; main(['packs', '--json']); "
           "assert 'torch' not in sys.modules, 'torch imported'"]
    subprocess.run([sys.executable, "-m", "trtforge.cli.main", "packs"], check=True, env=env, capture_output=True)
    subprocess.run(cmd, check=True, env=env, capture_output=True)
