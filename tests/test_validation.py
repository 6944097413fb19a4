"""Compile-time validation by CPU reference execution, with the per-layer divergence trace."""
from __future__ import annotations

import pytest
import torch

import trtforge
from trtforge.validation.validate import ValidationError


class Chain(torch.nn.Module):
    def forward(self, x):
        y = torch.relu(x * 2 + 1)
        y = torch.relu(y + x)
        return y * y + x


def test_validation_records_errors_per_engine(toy_manager):
    spec = trtforge.Input(min_shape=(1, 4), opt_shape=(3, 4), max_shape=(9, 4))
    out = trtforge.compile(Chain(), [spec], min_block_size=1, validate=True)
    (engine,) = out.trtforge_report.engines
    v = engine.validation
    assert v["shape_sets"] == 3  # min, opt and max
    assert v["rel_err"] < 1e-6 and v["max_abs_err"] < 1e-5


def test_validation_works_without_building(toy_manager):
    out = trtforge.compile(Chain(), [torch.randn(2, 4)], min_block_size=1, validate=True, build=False)
    assert out.trtforge_report.engines[0].validation["rel_err"] < 1e-6
    assert out.trtforge_report.engines[0].engine_bytes is None


@pytest.fixture
def wrong_add(toy_manager):
    @trtforge.converter(torch.ops.aten.add.Tensor, priority=10, supports_dynamic_shapes=True)
    def add_that_subtracts(ctx, target, args, kwargs, name):
        from trtforge.conversion import blocks

        return blocks.elementwise(ctx, ctx.trt.ElementWiseOperation.SUB, args[0], args[1])

    class Wrong:
        @trtforge.hookimpl
        def trtforge_pack_info(self):
            return trtforge.PackInfo("wrong", "0", "")

        @trtforge.hookimpl
        def trtforge_register_converters(self, register):
            register(add_that_subtracts)

    toy_manager.add_pack("wrong", Wrong())
    return toy_manager


def test_wrong_converter_fails_validation_naming_the_first_diverging_node(wrong_add):
    with pytest.raises(ValidationError) as err:
        trtforge.compile(Chain(), [torch.randn(2, 4)], min_block_size=1, validate=True, build=False)
    msg = str(err.value)
    assert "First divergence: node add " in msg and "add_that_subtracts" in msg and "'wrong'" in msg


def test_tolerance_depends_on_precision():
    from trtforge.validation.validate import TOLERANCE

    assert TOLERANCE[torch.float32] < TOLERANCE[torch.float16] < TOLERANCE[torch.bfloat16]


def test_fp16_precision_compiles_with_casts_at_the_boundary(toy_manager):
    out = trtforge.compile(Chain(), [torch.randn(2, 4)], min_block_size=1, validate=True, build=False,
                           precision="float16", torch_executed_ops={"aten::_to_copy"})
    rep = out.trtforge_report
    assert rep.precision == "float16"
    eng = out._run_on_trt_0.metadata
    assert eng.inputs[0].dtype == "float16" and eng.outputs[0].dtype == "float16"
    assert rep.engines[0].validation["rel_err"] < 2e-2


def test_validation_uses_one_thread_only_on_an_oversubscribed_machine(monkeypatch):
    from trtforge.validation import validate as v

    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        monkeypatch.setattr(v.os, "getloadavg", lambda: (4.0 * (v.os.cpu_count() or 1), 0.0, 0.0))
        with v.threads():
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        monkeypatch.setattr(v.os, "getloadavg", lambda: (0.0, 0.0, 0.0))
        with v.threads():
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
