"""Every setting is read as meant or refused with its name and the fix (scope 5 of issue 18)."""
from __future__ import annotations

import pytest
import torch

import trtforge
from trtforge import CompileSettings, SettingError
from trtforge.plugins.manager import PackRecord
from trtforge.settings import Input
from trtforge.settings_checks import check_against_packs

FLAGS = ["require_full_compilation", "use_fast_partitioner", "build", "validate", "fallback_on_error", "dryrun", "debug"]


@pytest.mark.parametrize("name", FLAGS)
def test_flags_take_only_true_or_false(name):
    with pytest.raises(SettingError, match=f"^{name} must be True or False, not 'no' \\(str\\)"):
        CompileSettings(**{name: "no"})


@pytest.mark.parametrize("name, value, message", [
    ("min_block_size", "5", "min_block_size must be a whole number, not '5' (str)"),
    ("min_block_size", 2.5, "min_block_size must be a whole number, not 2.5 (float)"),
    ("min_block_size", True, "min_block_size must be a whole number, not True (bool)"),
    ("min_block_size", 0, "min_block_size must be >= 1, got 0"),
    ("workspace_size", -1, "workspace_size must be >= 0, got -1"),
    ("workspace_size", "1GB", "workspace_size must be a whole number"),
    ("optimization_level", 6, "optimization_level must be in 0..5, got 6"),
    ("optimization_level", "3", "optimization_level must be a whole number"),
    ("engine_cache_size", 0, "engine_cache_size must be >= 1, got 0"),
    ("engine_cache_size", 1.5e9, "engine_cache_size must be a whole number"),
    ("validate_rtol", -0.1, "validate_rtol must be a number >= 0"),
    ("validate_rtol", "1e-3", "validate_rtol must be a number >= 0"),
    ("engine_cache_dir", "", "engine_cache_dir must be a directory path or None"),
    ("engine_cache_dir", 5, "engine_cache_dir must be a directory path or None"),
    ("backend", "trt", "backend must be 'tensorrt' or 'tensorrt_rtx'"),
])
def test_values_of_the_wrong_type_or_range_name_the_setting(name, value, message):
    with pytest.raises(SettingError) as info:
        CompileSettings(**{name: value})
    assert str(info.value).startswith(message), str(info.value)


@pytest.mark.parametrize("value, want", [
    ({"aten::relu"}, {"aten::relu"}),
    ({"relu"}, {"aten::relu"}),  # the short names `trtforge packs --op` accepts
    (["relu.default", "aten::add.Tensor"], {"aten::relu.default", "aten::add.Tensor"}),
    ({torch.ops.aten.relu}, {"aten::relu"}),  # an op packet: every overload
    ({torch.ops.aten.relu.default}, {"aten::relu.default"}),
    (("_operator.getitem",), {"_operator.getitem"}),
])
def test_torch_executed_ops_names_are_resolved(value, want):
    assert CompileSettings(torch_executed_ops=value).torch_executed_ops == want


@pytest.mark.parametrize("value, message", [
    ("aten::relu", r"torch_executed_ops must be a set of names, not 'aten::relu' \(str\); e.g. torch_executed_ops={'aten::relu'}"),
    ({"aten::rellu"}, r"torch_executed_ops: no op named 'aten::rellu'; did you mean 'aten::relu'"),
    ({"rellu"}, r"no op named 'rellu'; did you mean 'aten::relu'"),
    ({"aten::relu.nosuch"}, r"op aten::relu has no overload 'nosuch'; its overloads are default, out"),
    ({"nosuchns::op"}, r"no op of namespace 'nosuchns' is registered"),
    ({3}, r"3 \(int\) is not an op"),
])
def test_torch_executed_ops_that_name_nothing_are_refused(value, message, toy_manager):
    with pytest.raises(SettingError, match=message):
        CompileSettings(torch_executed_ops=value)


def test_a_short_op_name_keeps_the_op_in_pytorch(toy_manager):
    class M(torch.nn.Module):
        def forward(self, x):
            return torch.relu(x + x) * x

    report = trtforge.compile(M(), [torch.randn(2, 4)], min_block_size=1, dryrun=True, torch_executed_ops={"relu"})
    assert [(f.op, f.category) for f in report.fallback] == [
        ("aten::relu.default", "user asked for it to run in PyTorch (torch_executed_ops)")]


def test_packs_must_be_a_set_of_installed_loaded_packs(toy_manager):
    with pytest.raises(SettingError, match=r"packs must be a set of names, not 'toy' \(str\); e.g. packs={'vision'}"):
        CompileSettings(packs="toy")
    with pytest.raises(SettingError, match=r"packs names pack 'tyo', which is not installed; did you mean 'toy'\?"):
        check_against_packs(CompileSettings(packs={"tyo"}), toy_manager)
    toy_manager.records["off"] = PackRecord("off", "blocked", error="blocked (TRTFORGE_DISABLE_PACKS)")
    with pytest.raises(SettingError, match="pack 'off', which is disabled by TRTFORGE_LOAD_PACKS/TRTFORGE_DISABLE_PACKS"):
        check_against_packs(CompileSettings(packs={"off", "toy"}), toy_manager)
    check_against_packs(CompileSettings(packs={"toy"}), toy_manager)
    with pytest.raises(SettingError, match="not installed"):  # the compile checks before any work
        trtforge.compile(torch.nn.ReLU(), [torch.randn(2)], packs={"tyo"})


def test_pinned_converters_name_an_op_and_a_pack_that_converts_it(toy_manager):
    assert CompileSettings(pinned_converters={"relu": "toy"}).pinned_converters == {"aten::relu": "toy"}
    check_against_packs(CompileSettings(pinned_converters={"aten::relu": "toy"}), toy_manager)
    with pytest.raises(SettingError, match="pinned_converters pins whole ops: write 'aten::relu', not 'aten::relu.default'"):
        CompileSettings(pinned_converters={"aten::relu.default": "toy"})
    with pytest.raises(SettingError, match="must be a mapping of op to pack"):
        CompileSettings(pinned_converters="toy")
    with pytest.raises(SettingError, match=r"pinned_converters\['aten::relu'\] names pack 'vison', which is not installed"):
        check_against_packs(CompileSettings(pinned_converters={"aten::relu": "vison"}), toy_manager)
    with pytest.raises(SettingError, match="pins aten::tanh to pack 'toy', which has no converter for it"):
        check_against_packs(CompileSettings(pinned_converters={"aten::tanh": "toy"}), toy_manager)


@pytest.mark.parametrize("text", ["4:8:4", "8:4:16x3", "2x1:9:4"])
def test_cli_input_ranges_obey_the_rule_of_input(text):
    with pytest.raises(ValueError, match="must satisfy min <= opt <= max"):
        Input.parse(text)
    assert Input.parse("4:4:4x3") == Input(shape=(4, 3))
