"""The engine cache tells the truth and owns only its own files (scope 3 and 4 of issue 18)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings

import pytest
import torch

import trtforge
from trtforge.cache import EngineCache
from trtforge.cli.main import main

from .test_cache import Small, _compile

HEX = "ab" * 20


def test_clear_removes_exactly_the_caches_files(toy_manager, tmp_path, capsys):
    _compile(Small(), tmp_path)
    (key,) = [e[0] for e in EngineCache(tmp_path).entries()]
    leftovers = [f"{HEX}.check", f".{HEX}.bin.123.0badf00d.tmp", f"{HEX}.4567.tmp"]
    mine = [f"{HEX}_notes.txt", f"{HEX}.bin.bak", f"{key}.txt", f"{HEX}", "notes.txt", f"{HEX.upper()}.bin"]
    for name in leftovers + mine:
        (tmp_path / name).write_text("x")
    assert main(["cache", "info", "--dir", str(tmp_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["entries"] == 1 and sorted(o["file"] for o in info["orphans"]) == sorted(leftovers)
    assert main(["cache", "clear", "--dir", str(tmp_path)]) == 0
    assert "removed 1 entry and 3 leftover files" in capsys.readouterr().out
    assert sorted(os.listdir(tmp_path)) == sorted(mine)


def test_info_and_clear_on_a_missing_directory_create_nothing(tmp_path, capsys):
    missing = tmp_path / "never_used"
    assert main(["cache", "info", "--dir", str(missing)]) == 0
    assert "no engine cache at" in capsys.readouterr().out
    assert main(["cache", "clear", "--dir", str(missing), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["exists"] is False
    assert not missing.exists()


_KEY_SCRIPT = """
import torch
from trtforge.cache import cache_key
from trtforge.settings import CompileSettings, Input
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU())
ep = torch.export.export(model, (torch.randn(2, 4),))
cfg = CompileSettings(torch_executed_ops={"aten::sin", "aten::cos", "aten::tanh", "aten::exp", "aten::log"},
                      packs={"vision", "detection", "dds_ops", "toy"}, pinned_converters={"aten::relu": "vision",
                      "aten::add": "toy"})
print(cache_key(ep, [Input(shape=(2, 4))], cfg, "tensorrt_rtx", ("tensorrt_rtx", "1"), [("vision", "1"), ("toy", None)]))
print(list(cfg.torch_executed_ops))
"""


def test_the_key_is_the_same_in_every_process():
    """String hashing differs per process (PYTHONHASHSEED), and with it the order of a set of
    strings; the key must not. Two fixed seeds under which the set's order differs."""
    procs = [subprocess.Popen([sys.executable, "-c", _KEY_SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONHASHSEED": seed}) for seed in ("1", "2")]
    outs = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
        outs.append(out.split("\n"))
    (key_a, order_a, *_), (key_b, order_b, *_) = outs
    assert order_a != order_b, "the seeds no longer change the set's order: pick two that do"
    assert key_a == key_b


def test_a_cap_smaller_than_one_entry_is_a_warning_not_a_store_then_evict(toy_manager, tmp_path):
    with pytest.warns(UserWarning, match="is larger than engine_cache_size .*raise engine_cache_size"):
        out = _compile(Small(), tmp_path, engine_cache_size=100)
    assert out.trtforge_report.cache == "not_stored" and out.trtforge_report.built
    assert os.listdir(tmp_path) == []


def test_an_unwritable_cache_directory_warns_first_and_the_compile_returns(toy_manager, tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.warns(UserWarning, match="cannot be created .*will not be stored; choose a writable engine_cache_dir"):
        out = _compile(Small(), tmp_path / "a_file" / "cache")
    assert out.trtforge_report.built and out.trtforge_report.cache == "not_stored"
    assert any("will not be stored" in w for w in out.trtforge_report.warnings)


def test_validate_true_uses_only_validated_entries_and_says_so(toy_manager, tmp_path):
    m = Small()
    _compile(m, tmp_path)  # stored without validation
    with pytest.warns(UserWarning, match="was not validated"):
        first = _compile(m, tmp_path, validate=True)
    assert first.trtforge_report.cache == "miss"
    assert all(e.validation for e in first.trtforge_report.engines)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hit = _compile(m, tmp_path, validate=True)  # now the entry holds validation results
    assert hit.trtforge_report.cache == "hit" and all(e.validation for e in hit.trtforge_report.engines)
    assert any("measured when the entry was stored" in w for w in hit.trtforge_report.warnings)
    # a tighter tolerance than the stored entry was checked with: validated again
    with pytest.warns(UserWarning, match="was not validated"):
        assert _compile(m, tmp_path, validate=True, validate_rtol=1e-9).trtforge_report.cache == "miss"


def test_torchvision_models_on_the_command_line_have_the_same_weights_every_time():
    pytest.importorskip("torchvision")
    from trtforge.cli.compile import load_model

    a, b = load_model("torchvision:squeezenet1_0"), load_model("torchvision:squeezenet1_0")
    torch.testing.assert_close(a.state_dict(), b.state_dict(), rtol=0, atol=0)
