"""One compile session: both front doors run the same stages, the backend is chosen per compile,
and the report's stage timings add up to its total."""
from __future__ import annotations

import sys
import types

import pytest
import torch

import trtforge
from trtforge import backend, pipeline
from trtforge.runtime import TRTEngineModule

STAGES = ("capture", "lower", "partition", "convert", "validate", "build", "engine_module", "assemble")


class Small(torch.nn.Module):
    def forward(self, x):
        return torch.relu(x * 2 + 1)


@pytest.fixture
def stage_calls(monkeypatch):
    """Record every call of a pipeline stage function, by name, in order."""
    calls: list[str] = []
    for name in STAGES:
        real = getattr(pipeline, name)

        def spy(*args, _name=name, _real=real, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(pipeline, name, spy)
    return calls


def test_both_front_doors_run_the_same_stage_functions(toy_manager, stage_calls):
    x = torch.randn(3, 4)
    trtforge.compile(Small(), [x], min_block_size=1, validate=True, build=False)
    exported = list(stage_calls)
    stage_calls.clear()
    torch._dynamo.reset()
    compiled = torch.compile(Small(), backend="trtforge", options={"min_block_size": 1, "validate": True, "build": False})
    with pytest.raises(trtforge.EngineNotBuiltError):
        compiled(x)  # the region compiled; its engine was not built (build=False), so running it says so
    assert exported == ["capture", "lower", "partition", "convert", "validate", "engine_module", "assemble"]
    assert stage_calls == exported


def test_timings_include_validation_and_add_up_to_the_total(toy_manager):
    rep = trtforge.compile(Small(), [torch.randn(3, 4)], min_block_size=1, validate=True).trtforge_report
    parts = {k: v for k, v in rep.timings_s.items() if k != "total"}
    assert {"export", "lowering", "partitioning", "conversion", "validation", "build", "assembly"} <= set(parts)
    assert rep.timings_s["validation"] > 0
    assert 0.9 * rep.timings_s["total"] <= sum(parts.values()) <= rep.timings_s["total"]


@pytest.fixture
def standin_tensorrt(monkeypatch):
    """A second backend module, ``tensorrt``, standing in for full TensorRT: it is TensorRT-RTX
    underneath (so it builds here) with its own version and a count of the builders it made."""
    import tensorrt_rtx

    mod = types.ModuleType("tensorrt")
    mod.__getattr__ = lambda name: getattr(tensorrt_rtx, name)  # type: ignore[method-assign]
    mod.__version__ = "0.0-standin"
    mod.builders = []

    def Builder(logger):
        mod.builders.append(logger)
        return tensorrt_rtx.Builder(logger)

    mod.Builder = Builder
    monkeypatch.setitem(sys.modules, "tensorrt", mod)
    monkeypatch.delenv("TRTFORGE_BACKEND", raising=False)
    monkeypatch.setattr(backend, "_loaded", None)  # the process picks its default backend anew
    return mod


def _metadata(compiled):
    (engine,) = [m for m in compiled.modules() if isinstance(m, TRTEngineModule)]
    return engine.metadata


def test_backend_is_chosen_per_compile_not_per_process(toy_manager, standin_tensorrt):
    import tensorrt_rtx

    x = torch.randn(3, 4)
    first = trtforge.compile(Small(), [x], min_block_size=1)  # the default prefers full TensorRT
    assert first.trtforge_report.backend == "tensorrt" and len(standin_tensorrt.builders) == 1
    assert (_metadata(first).backend, _metadata(first).backend_version) == ("tensorrt", "0.0-standin")

    second = trtforge.compile(Small(), [x], min_block_size=1, backend="tensorrt_rtx")
    assert len(standin_tensorrt.builders) == 1, "the tensorrt_rtx compile built its network with the other module"
    assert second.trtforge_report.backend == "tensorrt_rtx"
    assert (_metadata(second).backend, _metadata(second).backend_version) == ("tensorrt_rtx", tensorrt_rtx.__version__)
    assert backend.name() == "tensorrt"  # the process default is unchanged


def test_fallback_entry_carries_the_pack_to_install_as_a_field(toy_manager):
    import torchvision

    class Boxes(torch.nn.Module):
        def forward(self, x, boxes):
            return torchvision.ops.roi_align(torch.relu(x), [boxes], output_size=2)

    boxes = torch.tensor([[0.0, 0.0, 3.0, 3.0]])
    rep = trtforge.compile(Boxes(), [torch.randn(1, 2, 4, 4), boxes], dryrun=True)
    by_op = {f.op.split(".")[0]: f for f in rep.fallback}
    assert by_op["torchvision::roi_align"].hint == "trtforge-detection"
    assert "install trtforge-detection" in by_op["torchvision::roi_align"].reason
    relu = by_op["aten::relu"]  # the toy pack converts it; its segment is below min_block_size
    assert relu.category == "its TensorRT segment is smaller than min_block_size" and relu.hint == ""


class BrokenTopKPack:
    """A third-party pack whose TopK converter forgets that TensorRT's TopK needs rank >= 2."""

    @trtforge.hookimpl
    def trtforge_pack_info(self):
        return trtforge.PackInfo("broken_topk", "0.1", "a converter TensorRT rejects")

    @trtforge.hookimpl
    def trtforge_register_converters(self, register):
        register(naive_topk)


@trtforge.converter(torch.ops.aten.topk.default)
def naive_topk(ctx, target, args, kwargs, name):
    x, k = args[0], args[1]
    layer = ctx.net.add_topk(x, ctx.trt.TopKOperation.MAX, k, 1)
    values = ctx.out(layer, "topk")
    return values, layer.get_output(1)


def test_a_tensorrt_error_in_a_converter_names_node_converter_pack_and_tensorrt_s_message():
    from trtforge.testing import pack_manager

    with pack_manager(("broken_topk", BrokenTopKPack())) as manager:
        with pytest.raises(trtforge.ConversionError) as info:
            trtforge.compile(trtforge.testing.module_from(lambda x: torch.topk(x, 3)), [torch.randn(8)],
                             manager=manager, min_block_size=1)
    err = info.value
    assert err.converter.endswith("naive_topk") and err.pack == "broken_topk" and err.node.startswith("topk")
    assert any("at least 2 dimensions are required" in e for e in err.trt_errors)
    assert "naive_topk" in str(err) and "TensorRT said:" in str(err) and "at least 2 dimensions" in str(err)
