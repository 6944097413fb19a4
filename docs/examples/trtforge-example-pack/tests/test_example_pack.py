# file: tests/test_example_pack.py
"""Tests of the example pack, written with trtforge's test kit (public API only)."""
import pytest
import torch

import trtforge
from trtforge.testing import check_converts
from trtforge_example_pack import pack
from trtforge_example_pack.ops import scaled_softsign

OP = torch.ops.example.scaled_softsign.default


class ScaledSoftsign(torch.nn.Module):
    """A user model calling the custom op."""

    def __init__(self, scale: float = 2.0) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return scaled_softsign(x, self.scale)


@pytest.fixture
def example_pack(trtforge_pack):
    """Only this pack is loaded for the test (from its module: no install needed)."""
    return trtforge_pack("example", pack)


def test_converts_static_shapes(example_pack):
    result = check_converts(ScaledSoftsign(), [torch.randn(2, 8)], ops=[OP])
    assert result.built  # a real engine, built by the installed TensorRT


def test_converts_dynamic_shapes(example_pack):
    x = trtforge.Input(min_shape=(1, 8), opt_shape=(4, 8), max_shape=(16, 8))
    result = check_converts(ScaledSoftsign(scale=0.5), [x], ops=[OP])
    assert result.report.engines[0].validation["shape_sets"] == 3  # min, opt and max were checked


def test_converts_float16(example_pack):
    # a float16 model input: the engine computes in float16, validated with a float16 tolerance
    check_converts(ScaledSoftsign(), [torch.randn(3, 5).half()], ops=[OP], rtol=2e-2)


def test_scale_left_out_is_the_schemas_default(example_pack):
    class Default(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return scaled_softsign(x)  # scale=1.0: the converter reads it from the op's schema

    check_converts(Default(), [torch.randn(2, 8)], ops=[OP])


@pytest.fixture
def example_with_vision(trtforge_pack):
    """This pack next to the installed vision pack, which converts the ordinary layers around the op."""
    return trtforge_pack("example", pack, needs=["vision"])


def test_converts_between_ordinary_layers(example_with_vision):
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), ScaledSoftsign(), torch.nn.ReLU())
    x = trtforge.Input(min_shape=(1, 8), opt_shape=(4, 8), max_shape=(16, 8))
    result = check_converts(model, [x], ops=[OP, torch.ops.aten.relu.default])
    assert len(result.report.engines) == 1  # the op and the layers around it: one engine


def test_float64_input_stays_in_pytorch_with_the_reason(example_pack):
    report = trtforge.compile(ScaledSoftsign(), [torch.randn(2, 8, dtype=torch.float64)],
                              min_block_size=1, dryrun=True)
    (entry,) = report.fallback
    assert entry.op == "example::scaled_softsign.default"
    assert entry.category == "TensorRT has no data type for a tensor of this node"
    assert "torch.float64" in entry.reason


@pytest.fixture
def installed_example_pack(monkeypatch):
    """Load only this pack from the installed entry points, so another pack's state cannot interfere."""
    monkeypatch.setenv("TRTFORGE_LOAD_PACKS", "example")


def test_installed_pack_is_discovered(installed_example_pack, trtforge_manager):
    record = trtforge_manager.records["example"]
    assert record.status == "loaded", record.error
    assert record.distribution == "trtforge-example-pack"
    assert record.version == "0.1.0" and "example::scaled_softsign" in record.description  # from pyproject.toml
    assert record.api_version == "1.1"
    assert [spec.target for spec in record.converters] == [OP]
