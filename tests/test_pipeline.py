"""The compiler pipeline end to end with the toy pack: partitions, reasons, profiles, errors."""
from __future__ import annotations

import pytest
import torch

import trtforge
from trtforge.compiler import CompilationError
from trtforge.conversion.context import ConversionError
from trtforge.runtime import TRTEngineModule
from toy_models import Chain


def engines(gm):
    return {n: m for n, m in gm.named_children() if isinstance(m, TRTEngineModule)}


def test_compile_builds_engines_around_unsupported_op(toy_manager):
    out = trtforge.compile(Chain(), [torch.randn(2, 4)], min_block_size=1)
    rep = out.trtforge_report
    assert len(engines(out)) == 2 and rep.built
    assert all(e.engine_bytes and e.engine_bytes > 1000 for e in rep.engines)
    assert [(f.op, f.category) for f in rep.fallback] == [("aten::sin.default", "no converter in any installed pack")]
    assert rep.compute_nodes == 8 and rep.converted_nodes == 7
    assert set(rep.timings_s) >= {"export", "lowering", "partitioning", "conversion", "build", "total"}


def test_stage_timings_add_up_to_the_total(toy_manager):
    """Every stage a compile spends time in is reported: the parts add up to the total."""
    out = trtforge.compile(Chain(), [torch.randn(2, 4)], min_block_size=1, validate=True)
    t = dict(out.trtforge_report.timings_s)
    total = t.pop("total")
    assert set(t) >= {"setup", "export", "lowering", "partitioning", "conversion", "validation", "build", "assembly"}
    assert t["validation"] > 0 and all(v >= 0 for v in t.values())
    assert abs(sum(t.values()) - total) <= 0.03 * total, t


def test_report_json_shape(toy_manager, tmp_path):
    import json

    out = trtforge.compile(Chain(), [torch.randn(2, 4)], min_block_size=1, build=False)
    data = json.loads(out.trtforge_report.to_json(str(tmp_path / "r.json")))
    assert set(data) >= {"model", "backend", "target_backend", "built", "engines", "fallback", "decompositions", "timings_s"}
    assert data["built"] is False
    assert set(data["engines"][0]) >= {"name", "nodes", "ops", "requires_output_allocator", "engine_bytes", "validation"}
    assert set(data["fallback"][0]) >= {"node", "op", "reason"}


def test_min_block_size_sends_small_segments_to_pytorch(toy_manager):
    rep = trtforge.compile(Chain(), [torch.randn(2, 4)], min_block_size=4, dryrun=True)
    # segment 1 has 4 compute nodes (mul, add, relu, add); segment 2 has 3 -> too small
    assert [e.nodes for e in rep.engines] == [4]
    small = [f for f in rep.fallback if f.category == "its TensorRT segment is smaller than min_block_size"]
    assert len(small) == 3


def test_torch_executed_ops(toy_manager):
    rep = trtforge.compile(Chain(), [torch.randn(2, 4)], min_block_size=1, dryrun=True,
                           torch_executed_ops={"aten::relu"})
    relus = [f for f in rep.fallback if f.op == "aten::relu.default"]
    assert len(relus) == 2 and all("torch_executed_ops" in f.reason for f in relus)


def test_require_full_compilation_lists_every_node(toy_manager):
    with pytest.raises(CompilationError) as err:
        trtforge.compile(Chain(), [torch.randn(2, 4)], require_full_compilation=True, build=False)
    assert "sin" in str(err.value) and "1 node(s)" in str(err.value)


class Reasons(torch.nn.Module):
    def forward(self, x):
        a = torch.sigmoid(x)          # static-only converter
        b = a * 3                      # validator refuses
        c = torch.nonzero(b > 0)       # backend lacks NonZero on TensorRT-RTX
        return b, c


def test_fallback_reason_for_each_case(toy_manager):
    spec = trtforge.Input(min_shape=(1, 4), opt_shape=(2, 4), max_shape=(8, 4))
    rep = trtforge.compile(Reasons(), [spec], min_block_size=1, dryrun=True, target_backend="tensorrt_rtx")
    reasons = {f.op: f.category for f in rep.fallback}
    assert reasons["aten::sigmoid.default"].startswith("node has dynamic shapes")
    assert reasons["aten::mul.Tensor"].startswith("converter's capability validator refused")
    assert reasons["aten::nonzero.default"].startswith("target backend cannot build")
    assert reasons["aten::gt.Scalar"].startswith("no converter")
    detail = {f.op: f.reason for f in rep.fallback}
    assert "multiplying by 3" in detail["aten::mul.Tensor"]
    assert "NonZero" in detail["aten::nonzero.default"]
    rep = trtforge.compile(Reasons(), [spec], min_block_size=1, dryrun=True, target_backend="tensorrt")
    assert "aten::nonzero.default" not in {f.op for f in rep.fallback}
    rep = trtforge.compile(Reasons(), [torch.randn(2, 4)], min_block_size=1, dryrun=True, packs=set())
    assert all(f.category.startswith(("its converter's pack is excluded", "no converter")) for f in rep.fallback)


def test_partitions_are_deterministic(toy_manager):
    def layout(fast):
        rep = trtforge.compile(Chain(), [torch.randn(2, 4)], min_block_size=1, dryrun=True, use_fast_partitioner=fast)
        return [(e.nodes, e.ops) for e in rep.engines]

    assert layout(True) == layout(True)
    assert layout(False) == layout(False)


class Branches(torch.nn.Module):
    """Two supported branches separated in graph order by an unsupported op."""

    def forward(self, x):
        a = torch.relu(x + 1)
        s = torch.sin(x)
        b = torch.relu(x * 2)
        return a + b, s


def test_global_partitioner_merges_non_adjacent_nodes(toy_manager):
    fast = trtforge.compile(Branches(), [torch.randn(3)], min_block_size=1, dryrun=True)
    glob = trtforge.compile(Branches(), [torch.randn(3)], min_block_size=1, dryrun=True, use_fast_partitioner=False)
    assert len(fast.engines) == 2
    assert len(glob.engines) == 1 and glob.engines[0].nodes == 5


def test_dynamic_shapes_become_profiles(toy_manager):
    spec = trtforge.Input(min_shape=(1, 4), opt_shape=(4, 4), max_shape=(16, 4))
    out = trtforge.compile(Chain(), [spec], min_block_size=1)
    first = engines(out)["_run_on_trt_0"].metadata.inputs[0]
    assert first.shape == [-1, 4] and first.profile == [[1, 4], [4, 4], [16, 4]]


def test_min_opt_max_checked_before_anything_runs():
    with pytest.raises(ValueError, match="min <= opt <= max"):
        trtforge.Input(min_shape=(4, 4), opt_shape=(2, 4), max_shape=(8, 4))


@pytest.fixture
def broken_manager(toy_manager):
    @trtforge.converter(torch.ops.aten.sin.default)
    def broken_sin(ctx, target, args, kwargs, name):
        raise ValueError("deliberately broken")

    class Broken:
        @trtforge.hookimpl
        def trtforge_pack_info(self):
            return trtforge.PackInfo("broken", "0", "")

        @trtforge.hookimpl
        def trtforge_register_converters(self, register):
            register(broken_sin)

    toy_manager.add_pack("broken", Broken())
    return toy_manager


def test_converter_that_raises(broken_manager):
    with pytest.raises(ConversionError) as err:
        trtforge.compile(Chain(), [torch.randn(2, 4)], min_block_size=1, build=False)
    msg = str(err.value)
    assert "broken_sin" in msg and "'broken'" in msg and "sin" in msg and "deliberately broken" in msg
    out = trtforge.compile(Chain(), [torch.randn(2, 4)], min_block_size=1, build=False, fallback_on_error=True)
    rep = out.trtforge_report
    assert any(e.status == "fallback" for e in rep.engines)
    assert any("converter raised" in f.category for f in rep.fallback)
    x = torch.randn(2, 4)
    fell_back = [n for n, m in out.named_children() if not isinstance(m, TRTEngineModule)]
    assert fell_back, "the failing partition must run in PyTorch"


def test_build_false_makes_networks_not_engines(toy_manager):
    out = trtforge.compile(Chain(), [torch.randn(2, 4)], min_block_size=1, build=False)
    assert not out.trtforge_report.built
    assert all(m.serialized_engine is None for m in engines(out).values())
    with pytest.raises(RuntimeError, match="build=False"):
        out(torch.randn(2, 4))


def test_target_backend_other_than_installed_needs_build_false(toy_manager):
    with pytest.raises(CompilationError, match="build=False"):
        trtforge.compile(Chain(), [torch.randn(2, 4)], target_backend="tensorrt")


def test_unknown_setting_suggests_the_right_name(toy_manager):
    with pytest.raises(TypeError, match="min_block_size"):
        trtforge.compile(Chain(), [torch.randn(2, 4)], min_blocksize=2)


def test_torch_compile_backend_produces_graph_and_report(toy_manager):
    from trtforge.dynamo_backend import collect_reports

    def f(x):
        y = torch.relu(x * 2 + 1)
        if y.sum() > 0:  # data-dependent branch: a graph break
            y = y + 1
        return torch.relu(y + y)

    if torch.cuda.is_available():
        pytest.skip("engine execution is checked on GPU machines by the runtime tests")
    torch._dynamo.reset()
    compiled = torch.compile(f, backend="trtforge", options={"min_block_size": 1})
    with collect_reports() as regions:
        # Engines were built; running them needs a CUDA GPU with TensorRT, which this machine lacks.
        with pytest.raises(trtforge.NoCUDADeviceError):
            compiled(torch.randn(3, 4))
    assert regions and regions[0].engines and regions[0].engines[0].status == "built"
    # the branch's condition (sum, then > 0) is what the toy pack cannot convert
    assert {f.op.split(".")[0] for f in regions[0].fallback} == {"aten::sum", "aten::gt"}


def test_ir_torch_compile_dryrun_reports_each_region(toy_manager):
    class Breaky(torch.nn.Module):
        def forward(self, x):
            y = torch.relu(x * 2 + 1)
            if y.sum() > 0:  # graph break
                y = y + 1
            return torch.relu(y + y)

    torch._dynamo.reset()
    rep = trtforge.compile(Breaky(), [torch.randn(3, 4)], ir="torch_compile", dryrun=True, min_block_size=1)
    assert len(rep.subgraphs) >= 2
    assert rep.compute_nodes == sum(r.compute_nodes for r in rep.subgraphs)
    assert rep.converted_nodes >= 5 and any(f.op.startswith("aten::sum") for f in rep.fallback)


def test_inputs_can_share_a_named_dynamic_dimension(toy_manager):
    class Two(torch.nn.Module):
        def forward(self, x, y):
            return torch.relu(x + y)

    a = trtforge.Input(min_shape=(1, 4), opt_shape=(2, 4), max_shape=(8, 4), dim_names={0: "batch"})
    b = trtforge.Input(min_shape=(1, 4), opt_shape=(2, 4), max_shape=(8, 4), dim_names={0: "batch"})
    out = trtforge.compile(Two(), [a, b], min_block_size=1, build=False, validate=True)
    assert out.trtforge_report.engines[0].validation["shape_sets"] == 3
    c = trtforge.Input(min_shape=(1, 4), opt_shape=(2, 4), max_shape=(4, 4), dim_names={0: "batch"})
    with pytest.raises(ValueError, match="same min and max"):
        trtforge.compile(Two(), [a, c], min_block_size=1, build=False)


def test_export_constraint_errors_name_the_input_dimension_and_the_fix(toy_manager):
    from trtforge.lowering import ExportError

    class Two(torch.nn.Module):
        def forward(self, a, b):
            return torch.relu(a + b)

    class FixedBatch(torch.nn.Module):
        def forward(self, a):
            return torch.relu(a.reshape(2, -1))

    rng = dict(min_shape=(1, 4), opt_shape=(2, 4), max_shape=(4, 4))
    with pytest.raises(ExportError, match=r"input 0 dim 0 must always equal input 1 dim 0.*dim_names=\{0: 'batch'\}"):
        trtforge.compile(Two(), [trtforge.Input(**rng), trtforge.Input(**rng)], dryrun=True)
    with pytest.raises(ExportError, match=r"input 0 dim 0 is dynamic.*only works with size 2.*min = opt = max = 2"):
        trtforge.compile(FixedBatch(), [trtforge.Input(**rng)], dryrun=True)


def test_layout_copy_stays_when_a_view_reads_it_through_aliasing_ops():
    from trtforge.lowering.passes import remove_noops

    class M(torch.nn.Module):
        def forward(self, x):
            y = x.transpose(1, 2).contiguous()
            return y[0].view(-1), x.clone() + 1  # the second clone is a no-op

    x = torch.randn(2, 3, 4)
    gm = torch.export.export(M(), (x,), strict=False).module()
    removed = remove_noops(gm)
    gm.recompile()
    assert removed.count("aten.clone.default") == 1, removed
    torch.testing.assert_close(gm(x)[0], M()(x)[0])  # view() of a transposed tensor would raise


def test_varargs_forward_with_dynamic_inputs(toy_manager):
    class Sum(torch.nn.Module):
        def forward(self, first, *rest):
            out = first
            for r in rest:
                out = out + r
            return torch.relu(out)

    spec = trtforge.Input(min_shape=(1, 4), opt_shape=(2, 4), max_shape=(4, 4), dim_names={0: "batch"})
    out = trtforge.compile(Sum(), [spec, spec, spec], min_block_size=1, build=False, validate=True)
    [engine] = out.trtforge_report.engines
    assert engine.validation["shape_sets"] == 3 and engine.nodes == 3


def test_compiled_program_releases_weights_folded_into_engines(toy_manager):
    out = trtforge.compile(Chain(), [torch.randn(2, 4)], min_block_size=1, build=False)
    assert sum(p.numel() for p in out.parameters()) == 0  # `w` lives in the engine only
    assert {n for n, _ in out.named_children()} == {"_run_on_trt_0", "_run_on_trt_1"}


def test_stitched_program_holds_no_weight_read_only_inside_engines():
    # A pass that folds weights stores real tensors in node.meta; the output graph must not keep
    # them alive (e.g. through a node it copied and then erased), or compile memory doubles.
    import gc
    import weakref

    from trtforge.partitioning.split import stitch

    class M(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("w", torch.randn(64, 64))

        def forward(self, x):
            return torch.relu(x @ self.w)

    gm = torch.fx.symbolic_trace(M())
    weight = next(n for n in gm.graph.nodes if n.op == "get_attr")
    weight.meta["val"] = gm.w
    group = [n for n in gm.graph.nodes if n.op == "call_function"]
    out = stitch(gm, [group], [torch.nn.Identity()], ["_run_on_trt_0"])
    ref = weakref.ref(gm.w)
    del gm, weight, group
    gc.collect()
    assert ref() is None, "the stitched program still references a weight only the engine reads"
    assert [n.op for n in out.graph.nodes] == ["placeholder", "call_module", "output"]


def test_float16_precision_keeps_the_callers_io_dtype(toy_manager):
    class Id(torch.nn.Module):
        def forward(self, x):
            return torch.relu(x + 1)

    rep = trtforge.compile(Id(), [torch.randn(2, 4, dtype=torch.float16)], precision="float16", dryrun=True,
                           min_block_size=1)
    assert "aten::_to_copy.default" not in {f.op for f in rep.fallback}  # no casts were needed
    rep = trtforge.compile(Id(), [torch.randn(2, 4)], precision="float16", dryrun=True, min_block_size=1)
    assert any(f.op == "aten::_to_copy.default" for f in rep.fallback)  # float32 caller: casts at the boundary


def test_compile_leaves_the_garbage_collector_as_it_found_it(toy_manager):
    import gc

    x = torch.randn(2, 4)
    assert gc.get_freeze_count() == 0
    trtforge.compile(Chain(), [x], min_block_size=1, build=False)
    assert gc.get_freeze_count() == 0 and gc.isenabled()
    gc.freeze()  # a program that froze its heap itself (e.g. before fork) keeps it frozen
    try:
        trtforge.compile(Chain(), [x], min_block_size=1, build=False)
        assert gc.get_freeze_count() > 0  # not unfrozen by the compile
    finally:
        gc.unfreeze()


def test_reduced_precision_copies_weights_once_and_leaves_the_model_alone():
    from trtforge.lowering.export import apply_precision

    lin = torch.nn.Linear(4, 4)
    model = torch.nn.Sequential(lin, torch.nn.ReLU(), lin)  # the same weights used twice
    model.register_buffer("steps", torch.tensor(3))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    half = apply_precision(model, torch.float16)
    inner = half.inner
    assert inner[0] is inner[2] and inner[0].weight.dtype == torch.float16  # ties survive
    assert isinstance(inner[0].weight, torch.nn.Parameter) and inner.steps.dtype == torch.int64
    assert inner[0].weight.untyped_storage().data_ptr() != lin.weight.untyped_storage().data_ptr()
    for k, v in model.state_dict().items():
        assert v.dtype == before[k].dtype and torch.equal(v, before[k])


def test_torch_compile_backend_bakes_parameters_and_buffers_in(toy_manager):
    from trtforge.dynamo_backend import collect_reports

    class WithWeights(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.randn(4))
            self.register_buffer("b", torch.randn(4))

        def forward(self, x):
            return torch.relu(x * self.w + self.b)

    torch._dynamo.reset()
    compiled = torch.compile(WithWeights(), backend="trtforge", options={"min_block_size": 1, "dryrun": True})
    x = torch.randn(2, 4)
    with collect_reports() as regions:
        out = compiled(x)  # dry run: the region runs eagerly, with its original arguments
    assert out.shape == (2, 4)
    (region,) = regions
    assert region.compute_nodes == 3 and region.converted_nodes == 3 and not region.fallback


def test_training_ir_composites_are_rewritten_without_a_retrace():
    from trtforge.lowering.canonicalize import canonicalize

    aten = torch.ops.aten
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.Flatten()).eval()
    x = torch.randn(2, 3, 8, 8)
    gm = torch.export.export(model, (x,), strict=False).module()
    converted = {aten.convolution.default, aten._native_batch_norm_legit_no_training.default, aten.reshape.default}
    assert canonicalize(gm.graph, converted) == 3
    gm.recompile()
    ops = {n.target for n in gm.graph.nodes if n.op == "call_function"}
    assert aten.conv2d.default not in ops and aten.batch_norm.default not in ops and aten.convolution.default in ops
    torch.testing.assert_close(gm(x), model(x))
    # nothing is rewritten into an op no pack converts
    gm = torch.export.export(model, (x,), strict=False).module()
    assert canonicalize(gm.graph, set()) == 0


def test_a_graph_that_converts_whole_is_one_engine_whatever_min_block_size(toy_manager):
    """min_block_size avoids tiny engines between PyTorch segments; with no PyTorch segment at all
    there is nothing to avoid (a three-node head stayed in PyTorch under the default of 5)."""
    class Head(torch.nn.Module):
        def forward(self, x):
            return torch.relu(x * 2 + x)

    rep = trtforge.compile(Head(), [torch.randn(2, 4)], dryrun=True)  # default min_block_size=5
    assert [e.nodes for e in rep.engines] == [3] and not rep.fallback
    # one node that stays in PyTorch: the rule is back, each run is below the minimum
    rep = trtforge.compile(Head(), [torch.randn(2, 4)], dryrun=True, torch_executed_ops={"aten::add"})
    assert rep.engines == [] and {f.category for f in rep.fallback} >= {
        "its TensorRT segment is smaller than min_block_size"}
