"""The converter-author toolkit: arguments by schema name, bounds of symbolic sizes, layer limits,
``register(module)``, PackInfo defaults, and the deprecated context helpers."""
from __future__ import annotations

import textwrap
import types
import warnings

import pytest
import torch

import trtforge
from trtforge import backend
from trtforge.conversion import blocks
from trtforge.conversion.args import all_of, argument, dtype_of, node_argument, only_first_output, outputs_used
from trtforge.conversion.bounds import COMPILE_FACTS, Bounds, CompileFacts, bounds, layer_limits, numel_bounds, shape_bounds
from trtforge.plugins import PackManager
from trtforge.plugins.converters import converters_in

aten = torch.ops.aten


# -- arguments ---------------------------------------------------------------------------------
def test_argument_reads_by_name_positional_keyword_and_default():
    target = aten.sum.dim_IntList  # sum(self, dim, keepdim=False, *, dtype=None)
    assert argument(target, ("x", [1]), {}, "dim") == [1]
    assert argument(target, ("x", [1], True), {}, "keepdim") is True
    assert argument(target, ("x", [1]), {"keepdim": True}, "keepdim") is True
    assert argument(target, ("x", [1]), {}, "keepdim") is False  # the schema's default
    assert argument(target, ("x", [1]), {}, "dtype") is None


def test_argument_reads_keyword_only_arguments_from_kwargs_only():
    target = aten.scaled_dot_product_attention.default  # ..., *, scale=None, enable_gqa=False
    args = ("q", "k", "v", None, 0.0, False)
    assert argument(target, args, {"scale": 0.5}, "scale") == 0.5
    assert argument(target, args, {}, "enable_gqa") is False


def test_an_unknown_argument_name_is_a_converter_bug_unless_a_default_is_given():
    with pytest.raises(KeyError, match=r"aten::relu has no argument 'alpha'; its arguments are: self"):
        argument(aten.relu.default, ("x",), {}, "alpha")
    assert argument(aten.relu.default, ("x",), {}, "alpha", default=0.0) == 0.0
    with pytest.raises(TypeError, match="by position"):
        argument(lambda x: x, (1,), {}, "x")


def _graph(fn, example, dynamic=None):
    class M(torch.nn.Module):
        def forward(self, x):
            return fn(x)
    return torch.export.export(M(), (example,), dynamic_shapes=dynamic).graph_module


def test_node_argument_dtype_and_outputs_used_read_fx_nodes():
    gm = _graph(lambda x: torch.max(x, 1)[0] + x.sum(1, keepdim=True).squeeze(1), torch.randn(3, 4))
    by_target = {n.target: n for n in gm.graph.nodes if n.op == "call_function"}
    reduce = by_target[aten.sum.dim_IntList]
    assert node_argument(reduce, "keepdim") is True
    assert dtype_of(reduce) == torch.float32 and dtype_of(3) is None
    maximum = by_target[aten.max.dim]
    assert outputs_used(maximum) == {0}
    assert only_first_output("max")(maximum, None) is True
    refused = all_of(lambda n, s: True, lambda n, s: trtforge.Refusal("no"))(maximum, None)
    assert not refused and refused.reason == "no"


# -- bounds ------------------------------------------------------------------------------------
def test_bounds_of_a_symbolic_size_come_from_the_profile_recorded_on_the_graph():
    batch = torch.export.Dim("batch", min=2, max=64)
    gm = _graph(lambda x: torch.cat([x, x]), torch.randn(8, 3), dynamic=({0: batch},))
    cat = next(n for n in gm.graph.nodes if n.target == aten.cat.default)
    # without compile facts: min/max from the shape environment, opt from the traced example
    assert shape_bounds(cat)[0] == Bounds(4, 16, 128)
    symbol = next(iter(cat.meta["val"].shape[0].node.expr.free_symbols))
    gm.meta[COMPILE_FACTS] = CompileFacts({symbol: (2, 10, 64)}, "tensorrt")
    assert shape_bounds(cat) == [Bounds(4, 20, 128), Bounds(3, 3, 3)]
    assert numel_bounds(cat) == Bounds(12, 60, 384)
    assert bounds(5) == Bounds(5, 5, 5)
    with pytest.raises(TypeError, match="takes an int"):
        bounds("5")


def test_a_data_dependent_size_has_no_max_unless_checked():
    gm = _graph(lambda x: x.nonzero(), torch.randn(4, 5))
    nz = next(n for n in gm.graph.nodes if n.target == aten.nonzero.default)
    count = shape_bounds(nz)[0]
    assert count.min == 0 and count.max in (None, 20)  # torch bounds nonzero by numel in newer releases


# -- layer limits ------------------------------------------------------------------------------
def test_layer_limits_are_named_values_of_the_target_backend():
    for name in backend.CAPABILITIES:
        limits = backend.capabilities(name).limits
        assert limits.topk_max_k == 3840 and limits.nms_max_boxes == 5000 and limits.max_rank == 8
        assert limits.rank_refusal("TOPK", 1) and limits.rank_refusal("TOPK", 2) is None
        assert "at most 8" in limits.rank_refusal("SHUFFLE", 9)
    gm = _graph(lambda x: x + 1, torch.randn(2))
    node = next(n for n in gm.graph.nodes if n.op == "call_function")
    gm.meta[COMPILE_FACTS] = CompileFacts({}, "tensorrt_rtx")
    assert layer_limits(node) is backend.capabilities("tensorrt_rtx").limits


# -- register(module) --------------------------------------------------------------------------
def _package(tmp_path, monkeypatch, name: str) -> types.ModuleType:
    root = tmp_path / name
    (root / "converters").mkdir(parents=True)
    (root / "__init__.py").write_text('"""A pack made by the test."""\n')
    (root / "converters" / "__init__.py").write_text("")
    (root / "converters" / "b_second.py").write_text(textwrap.dedent("""
        import torch, trtforge
        @trtforge.converter(torch.ops.aten.relu.default)
        def relu(ctx, target, args, kwargs, name):
            return args[0]
        def helper():
            return 1
    """))
    (root / "converters" / "a_first.py").write_text(textwrap.dedent("""
        import torch, trtforge
        from .b_second import relu  # imported, registered once
        @trtforge.converter(torch.ops.aten.neg.default)
        @trtforge.converter(torch.ops.aten.abs.default)
        def two_ops(ctx, target, args, kwargs, name):
            return args[0]
    """))
    (root / "pack.py").write_text(textwrap.dedent("""
        import trtforge
        @trtforge.hookimpl
        def trtforge_pack_info():
            return trtforge.PackInfo(api_version="1.1")
        @trtforge.hookimpl
        def trtforge_register_converters(register):
            from . import converters
            register(converters)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    return importlib.import_module(f"{name}.pack")


def test_register_accepts_a_package_of_decorated_converters(tmp_path, monkeypatch):
    plugin = _package(tmp_path, monkeypatch, "toolkit_pack_a")
    import toolkit_pack_a.converters as package  # its modules are imported by converters_in

    fns = converters_in(package)
    assert [f.__name__ for f in fns] == ["two_ops", "relu"]  # module order, each once, no helper
    manager = PackManager(discover=False)
    rec = manager.add_pack("tk", plugin)
    assert rec.status == "loaded", rec.error
    assert sorted(s.op_name for s in rec.converters) == ["aten::abs", "aten::neg", "aten::relu"]
    # PackInfo defaults: no distribution ships this pack, so its version is unknown
    assert rec.version == "unknown" and rec.api_version == "1.1" and rec.name == "tk"


def test_register_of_a_module_without_converters_fails_the_pack_with_the_reason(tmp_path, monkeypatch):
    plugin = _package(tmp_path, monkeypatch, "toolkit_pack_b")
    (tmp_path / "toolkit_pack_b" / "empty.py").write_text("X = 1\n")
    bad = types.ModuleType("toolkit_pack_b_bad")
    bad.trtforge_pack_info = plugin.trtforge_pack_info

    @trtforge.hookimpl
    def trtforge_register_converters(register):
        import toolkit_pack_b.empty as empty

        register(empty)

    bad.trtforge_register_converters = trtforge_register_converters
    rec = PackManager(discover=False).add_pack("bad", bad)
    assert rec.status == "error" and "toolkit_pack_b.empty" in rec.error and "@trtforge.converter" in rec.error


def test_pack_info_defaults_come_from_the_distribution_metadata():
    rec = PackManager().load_all().records["vision"]
    from importlib.metadata import metadata

    meta = metadata(rec.distribution)
    assert rec.version == meta["Version"]
    assert rec.description  # said by the pack or its metadata; never empty


# -- one way to do each thing ------------------------------------------------------------------
def test_the_deprecated_context_helpers_warn_at_the_callers_line_and_match_blocks():
    trt = backend.trt
    logger = backend.logger()
    net = backend.create_network(trt.Builder(logger))
    ctx = trtforge.ConversionContext(net)
    x = net.add_input("x", trt.float32, (2, -1))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cast = ctx.cast(x, torch.int32)
        shape = ctx.shape_of(x)
        (a, b) = ctx.broadcast(x, ctx.constant(torch.ones(3)))
    assert [w.category for w in caught] == [DeprecationWarning] * 3
    assert all(w.filename == __file__ for w in caught), [w.filename for w in caught]
    assert "blocks.cast(ctx, t, dtype)" in str(caught[0].message)
    assert cast.dtype == trt.int32 and blocks.cast(ctx, x, torch.float32) is x
    assert tuple(shape.shape) == (2,) and len(a.shape) == len(b.shape) == 2
    assert not hasattr(ctx, "tensors") and not hasattr(ctx, "shape")


def test_one_decorator_declares_several_overloads_and_needs_at_least_one():
    @trtforge.converter(aten.add.Tensor, aten.sub.Tensor, supports_dynamic_shapes=True)
    def arith(ctx, target, args, kwargs, name):
        return args[0]

    from trtforge.plugins import specs_of

    specs = specs_of(arith)
    assert [s.op_name for s in specs] == ["aten::add", "aten::sub"] and all(s.supports_dynamic_shapes for s in specs)
    with pytest.raises(TypeError, match="needs the op"):
        trtforge.converter()


def test_one_line_hooks_make_a_pack_the_core_loads_like_a_hand_written_one(tmp_path, monkeypatch):
    from trtforge.plugins import converters_hook, info_hook

    _package(tmp_path, monkeypatch, "toolkit_pack_c")
    plugin = types.ModuleType("toolkit_pack_c_hooks")
    plugin.trtforge_pack_info = info_hook(api_version="1.1", description="one-line hooks")
    plugin.trtforge_register_converters = converters_hook("toolkit_pack_c.converters")
    rec = PackManager(discover=False).add_pack("oneline", plugin)
    assert rec.status == "loaded", rec.error
    assert rec.description == "one-line hooks" and len(rec.converters) == 3
    with pytest.raises(TypeError, match="absolute module names"):
        converters_hook(".converters")


def test_a_size_over_a_limit_is_refused_by_the_profile_max_with_the_input_to_lower():
    from trtforge.conversion.refusals import over_limit

    n = torch.export.Dim("n", min=2, max=5000)
    gm = _graph(lambda x: x.sort().values, torch.randn(8), dynamic=({0: n},))
    sort = next(n for n in gm.graph.nodes if n.target == aten.sort.default)
    x = sort.args[0]
    size = shape_bounds(x)[0]
    refusal = over_limit(sort, [x.meta["val"].shape[0]], size, 3840, "the input", "TopK's K limit")
    assert not refusal
    assert refusal.reason == ("the input can reach 5000: TopK's K limit; lower max_shape[0] of input 'x' "
                              "from 5000 to 3840 or less")
    assert over_limit(sort, [x.meta["val"].shape[0]], size, 5000, "the input", "TopK's K limit") is None
