"""Batch norm (inference), layer norm, group norm, instance norm; fp16 computes them in fp32."""
from __future__ import annotations

import torch

import trtforge
from trtforge.testing import check_converts

aten = torch.ops.aten


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _randomize(module, seed=0):
    g = torch.Generator().manual_seed(seed)
    for mod in module.modules():
        for name in ("weight", "bias", "running_mean"):
            t = getattr(mod, name, None)
            if isinstance(t, torch.Tensor) and t.is_floating_point():
                t.data.copy_(torch.randn(t.shape, generator=g) * 0.5 + (1.0 if name == "weight" else 0.0))
        if getattr(mod, "running_var", None) is not None:
            mod.running_var.data.uniform_(0.5, 2.0, generator=g)
    return module.eval()


def test_batch_norm(dynamic_input):
    m = _randomize(torch.nn.Sequential(torch.nn.BatchNorm2d(4), torch.nn.Conv2d(4, 4, 1), torch.nn.BatchNorm2d(4, affine=False)))
    ops = [aten._native_batch_norm_legit_no_training.default]
    check_converts(m, [_x(2, 4, 5, 5)], ops=ops)
    check_converts(m, [dynamic_input((2, 4, 5, 5), dims=(0, 2, 3))], ops=ops)
    check_converts(_randomize(torch.nn.BatchNorm1d(6)), [_x(3, 6, 7)], ops=ops)
    check_converts(m, [_x(2, 4, 5, 5) * 3 + 1], ops=ops, precision=torch.float16)


def test_layer_norm(dynamic_input):
    m = _randomize(torch.nn.Sequential(torch.nn.LayerNorm(8), torch.nn.LayerNorm((5, 8), elementwise_affine=False),
                                       torch.nn.LayerNorm(8, bias=False)))
    check_converts(m, [_x(3, 5, 8)], ops=[aten.layer_norm.default])
    check_converts(m, [dynamic_input((3, 5, 8))], ops=[aten.layer_norm.default])
    check_converts(m, [_x(3, 5, 8) * 20 + 50], ops=[aten.layer_norm.default], precision=torch.float16)


def test_native_layer_norm_called_directly(fn_module, dynamic_input):
    m = fn_module(lambda m, x: aten.native_layer_norm.default(x, [8], m.w, m.b, 1e-5)[0] * 2, w=_x(8), b=_x(8, seed=1))
    check_converts(m, [dynamic_input((3, 8))], ops=[aten.native_layer_norm.default])


def test_native_layer_norm_statistics_and_run_time_weights(fn_module, dynamic_input):
    def f(m, x, w):
        y, mean, rstd = aten.native_layer_norm.default(x, [8], w, None, 1e-5)
        return y, mean * 2, rstd + 1, torch.nn.functional.layer_norm(x, (8,), w * 2, w)

    m = fn_module(f)
    ops = [aten.native_layer_norm.default]
    check_converts(m, [_x(3, 4, 8) * 3 + 1, _x(8, seed=1)], ops=ops)
    check_converts(m, [dynamic_input((3, 4, 8), dims=(0, 1)), _x(8, seed=1)], ops=ops)


def test_group_norm(dynamic_input):
    m = _randomize(torch.nn.Sequential(torch.nn.GroupNorm(2, 6), torch.nn.GroupNorm(3, 6, affine=False),
                                       torch.nn.GroupNorm(6, 6), torch.nn.GroupNorm(1, 6)))
    check_converts(m, [_x(2, 6, 4, 5)], ops=[aten.group_norm.default])
    check_converts(m, [dynamic_input((2, 6, 4, 5), dims=(0, 3), lo=2)], ops=[aten.group_norm.default])
    check_converts(_randomize(torch.nn.GroupNorm(2, 4)), [_x(2, 4, 7)], ops=[aten.group_norm.default])
    check_converts(m, [_x(2, 6, 4, 5) * 10 + 5], ops=[aten.group_norm.default], precision=torch.float16)


def test_group_norm_of_a_rank_2_input_and_native_group_norm(fn_module, dynamic_input):
    def f(m, x):
        y, mean, rstd = aten.native_group_norm.default(x, m.w, m.b, x.shape[0], 6, 20, 3, 1e-5)
        return y, mean + 1, rstd * 2, torch.nn.functional.group_norm(x.flatten(1)[:, :6], 2, m.w)

    m = fn_module(f, w=_x(6, seed=1), b=_x(6, seed=2))
    check_converts(m, [_x(2, 6, 4, 5) * 2 + 1], ops=[aten.native_group_norm.default, aten.group_norm.default])
    check_converts(m, [dynamic_input((2, 6, 4, 5))], ops=[aten.native_group_norm.default])


def test_native_batch_norm_overloads(fn_module, dynamic_input):
    """Running statistics (inference) and batch statistics (no_stats: NFNet's weight standardisation,
    on an activation here so that it is not folded into a constant)."""
    def f(m, x):
        a = aten.native_batch_norm.default(x, m.w, m.b, m.rm, m.rv, False, 0.1, 1e-5)[0]
        b = aten._native_batch_norm_legit.default(x, m.w, None, m.rm, m.rv, False, 0.1, 1e-5)[0]
        c, mean, rstd = aten._native_batch_norm_legit.no_stats(x * 2, None, m.b, True, 0.0, 1e-3)
        return a, b, c, mean, rstd

    m = fn_module(f, w=_x(3, seed=1), b=_x(3, seed=2), rm=_x(3, seed=3), rv=torch.rand(3) + 0.5)
    ops = [aten.native_batch_norm.default, aten._native_batch_norm_legit.default, aten._native_batch_norm_legit.no_stats]
    check_converts(m, [_x(2, 3, 4, 5) * 3 + 1], ops=ops)
    check_converts(m, [dynamic_input((2, 3, 4, 5), dims=(0, 2), lo=2)], ops=ops)


def test_instance_norm(dynamic_input):
    m = _randomize(torch.nn.Sequential(torch.nn.InstanceNorm2d(3, affine=True), torch.nn.InstanceNorm2d(3)))
    check_converts(m, [_x(2, 3, 4, 5)], ops=[aten.instance_norm.default])
    check_converts(m, [dynamic_input((2, 3, 4, 5), dims=(0, 2), lo=2)], ops=[aten.instance_norm.default])


def test_instance_norm_with_running_stats_falls_back():
    m = _randomize(torch.nn.InstanceNorm2d(3, track_running_stats=True))
    report = trtforge.compile(m, [_x(2, 3, 4, 5)], min_block_size=1, dryrun=True)
    [entry] = [f for f in report.fallback if f.op == "aten::instance_norm.default"]
    assert "running statistics" in entry.reason


def test_conv_batch_norm_folding(dynamic_input):
    """In half precision the pack folds conv -> batch norm into the conv (a transposed conv keeps its
    batch norm); in float32 TensorRT fuses them itself and no second copy of the weights is made."""
    m = _randomize(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, bias=False), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                       torch.nn.Conv2d(4, 4, 1), torch.nn.BatchNorm2d(4),
                                       torch.nn.ConvTranspose2d(4, 4, 2, stride=2), torch.nn.BatchNorm2d(4)))
    for p in m.parameters():
        if p.dim() > 1:
            p.data.normal_(0, 0.3, generator=torch.Generator().manual_seed(5))
    result = check_converts(m, [_x(2, 3, 6, 6)], ops=[aten.convolution.default])
    [engine] = result.report.engines
    assert engine.nodes == 7  # 3 convs, 3 batch norms, relu
    check_converts(m, [dynamic_input((2, 3, 6, 6), dims=(0, 2, 3), lo=4)])
    result = check_converts(m, [_x(2, 3, 6, 6) * 5 + 2], precision=torch.float16)
    assert "vision:fold_batch_norm" in result.report.passes
    # 3 convs, relu, the transposed conv's batch norm, and the casts in and out
    assert sum(e.nodes for e in result.report.engines) == 7


def test_batch_norm_statistics_used_falls_back(fn_module):
    def f(m, x):
        out = aten._native_batch_norm_legit_no_training.default(x, None, None, m.mean, m.var, 0.1, 1e-5)
        return out[0] + out[1].sum()

    m = fn_module(f, mean=torch.zeros(3), var=torch.ones(3))
    report = trtforge.compile(m, [_x(2, 3, 4)], min_block_size=1, dryrun=True)
    [entry] = [f for f in report.fallback if "batch_norm" in f.op]
    assert "only the first output converts" in entry.reason
