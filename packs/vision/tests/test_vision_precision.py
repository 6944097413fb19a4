"""Mixed precision with the vision pack's converters: float32 islands (``keep_fp32``) in float16
networks, validation against the float32 model, and the precision search (``keep_fp32="auto"``)."""
from __future__ import annotations

import json

import pytest
import torch

import trtforge
from trtforge.testing import check_converts


class Block(torch.nn.Module):
    def __init__(self, norm: str) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(16, 32)
        self.norm = torch.nn.LayerNorm(32) if norm == "layer_norm" else torch.nn.Softmax(-1)

    def forward(self, x):
        return self.norm(self.fc(x) * 1e5)  # beyond float16's 65504: overflows unless kept in float32


class Overflowing(torch.nn.Module):
    """Large activations before a LayerNorm (or a softmax), then an ordinary float16 head."""

    def __init__(self, norm: str = "layer_norm") -> None:
        super().__init__()
        self.blk = Block(norm)
        self.head = torch.nn.Linear(32, 8)

    def forward(self, x):
        return torch.softmax(self.head(torch.relu(self.blk(x))), -1)


def _x() -> torch.Tensor:
    return torch.randn(4, 16, generator=torch.Generator().manual_seed(0))


def _model(norm: str = "layer_norm") -> torch.nn.Module:
    torch.manual_seed(0)
    return Overflowing(norm).eval()


def test_overflow_fails_plain_float16_validation_against_the_float32_model():
    with pytest.raises(trtforge.ValidationError) as err:
        trtforge.compile(_model(), [_x()], precision=torch.float16, validate=True, min_block_size=1, build=False)
    msg = str(err.value)
    assert "differs from the float32 model" in msg and "First divergence: node mul " in msg
    assert "keep_fp32='auto'" in msg


@pytest.mark.parametrize("norm, reader", [("layer_norm", "layer_norm"), ("softmax", "_softmax")])
def test_precision_search_keeps_only_the_offending_nodes_and_names_them(norm, reader):
    result = check_converts(_model(norm), [_x()], precision=torch.float16, keep_fp32="auto")
    report = result.report
    kept = {k.node: k for k in report.kept_fp32}
    assert list(kept) == ["mul", reader]  # the overflowing product and the node that reads it
    assert kept["mul"].rel_err == float("inf") and kept["mul"].module == "blk"
    assert "beyond float16's range" in kept[reader].reason
    assert json.loads(report.to_json())["kept_fp32"][0]["rel_err"] == "inf"  # strict JSON has no Infinity
    precisions = report.node_precision
    assert precisions["mul"] == precisions[reader] == "float32"
    assert {precisions[n] for n in ("linear", "relu", "linear_1")} == {"float16"}
    (engine,) = report.engines
    assert engine.validation["reference"] == "float32"
    assert engine.validation["rel_err"] <= engine.validation["tolerance"] <= 0.1
    # the strongly typed network computes the kept nodes in float32 and the rest in float16
    net = result.networks[-1]  # the search converted earlier rounds too
    dtypes = {node: ts[0].dtype.name for node, ts in net.node_tensors.items()}
    assert dtypes["mul"] == dtypes[reader] == "FLOAT" and dtypes["linear_1"] == "HALF"


def test_precision_search_finds_every_overflow_in_one_round():
    """The first overflow is found by its error; the later ones (hidden behind its NaN) by their
    float32 values, in the same round."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(Block("layer_norm"), torch.nn.Linear(32, 16), Block("layer_norm")).eval()
    report = check_converts(model, [_x()], precision=torch.float16, keep_fp32="auto").report
    kept = {k.node: k.reason for k in report.kept_fp32}
    assert list(kept) == ["mul", "layer_norm", "mul_1", "layer_norm_1"]
    assert kept["mul"].startswith("at float16: rel_err inf") and "is beyond float16's range" in kept["mul_1"]


def test_bfloat16_validates_against_the_float32_model():
    """bfloat16 holds 1e5 (no overflow); its weights reach the reference executor as constants."""
    report = check_converts(_model(), [_x()], precision=torch.bfloat16).report
    (engine,) = report.engines
    assert engine.validation["reference"] == "float32" and 0 < engine.validation["torch_rel_err"]
    assert engine.validation["rel_err"] <= engine.validation["tolerance"]


def test_keep_fp32_by_op_module_path_and_class_writes_the_casts():
    for names in (["aten::mul", "aten::layer_norm"], ["blk"], ["mul", torch.nn.LayerNorm]):
        result = check_converts(_model(), [_x()], precision=torch.float16, keep_fp32=names)
        kept = [k.node for k in result.report.kept_fp32]
        want = ["linear", "mul", "layer_norm"] if names == ["blk"] else ["mul", "layer_norm"]
        assert kept == want, names
        assert all(k.reason.startswith("keep_fp32 names") for k in result.report.kept_fp32)
        data = json.loads(result.report.to_json())
        assert data["node_precision"]["layer_norm"] == "float32" and data["node_precision"]["relu"] == "float16"
        assert data["kept_fp32"][0]["op"].startswith("aten::")


def test_keep_fp32_name_that_matches_nothing_is_an_error_with_suggestions():
    with pytest.raises(trtforge.PrecisionSettingError) as err:
        trtforge.compile(_model(), [_x()], precision=torch.float16, keep_fp32=["blk.nrm", "aten::layer_norm"],
                         dryrun=True)
    assert isinstance(err.value, trtforge.SettingError)  # caught with every other misnamed setting
    unmatched = [line for line in str(err.value).splitlines() if line.startswith("  '")]
    assert len(unmatched) == 1 and unmatched[0].startswith("  'blk.nrm' (did you mean 'blk.norm'")


def test_torch_compile_regions_apply_the_names_they_hold():
    """With graph breaks a name may live in another region: a region records what it lacks."""
    report = trtforge.compile(_model(), [_x()], ir="torch_compile", precision=torch.float16,
                              keep_fp32=["mul", "blk.norm"], min_block_size=1, dryrun=True)
    assert [k.node for k in report.kept_fp32] == ["mul"] and report.node_precision["mul"] == "float32"
    (region,) = report.subgraphs
    assert "keep_fp32 names matching nothing in this region: ['blk.norm']" in region.passes


def test_precision_report_is_printed():
    from rich.console import Console

    result = check_converts(_model(), [_x()], precision=torch.float16, keep_fp32="auto")
    console = Console(record=True, width=200)
    result.report.render(console)
    text = console.export_text()
    assert "node(s) in float32" in text and "Kept in float32" in text and "beyond float16's range" in text
