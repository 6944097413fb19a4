"""Elementwise arithmetic, comparisons, logic, where/clamp, casts and unary math."""
from __future__ import annotations

import pytest
import torch

import trtforge
from trtforge.testing import check_converts

aten = torch.ops.aten


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_arithmetic_with_broadcasting_and_scalars(fn_module, dynamic_input):
    def f(m, x, y):
        a = x + y * 2 - 1.5          # add.Tensor, mul.Tensor, sub
        b = 3 - x                    # rsub.Scalar
        c = torch.add(x, y, alpha=0.5) - torch.sub(x, y, alpha=2)
        d = x / (y.abs() + 1) + x / 4  # div.Tensor
        return a + b + c + d + torch.maximum(x, y) - torch.minimum(x, m.w)

    m = fn_module(f, w=randn(1, 4, 1, seed=3))
    ops = [aten.add.Tensor, aten.sub.Tensor, aten.mul.Tensor, aten.div.Tensor, aten.rsub.Scalar,
           aten.maximum.default, aten.minimum.default]
    check_converts(m, [randn(2, 4, 5), randn(4, 1, seed=1)], ops=ops)
    check_converts(m, [dynamic_input((2, 4, 5), dims=(0, 2)), randn(4, 1, seed=1)], ops=ops)


def test_type_promotion_int_and_float(fn_module, dynamic_input):
    def f(m, x, i):
        return (x + i, i * 2, i / 2, i + 0.5, (i > 2).to(torch.int32) + i)

    check_converts(fn_module(f), [randn(3, 4), torch.arange(12).reshape(3, 4)])
    check_converts(fn_module(f), [dynamic_input((3, 4)), trtforge.Input(shape=(1, 4), dtype=torch.int64)])


@pytest.mark.parametrize("mode", [None, "trunc", "floor"])
def test_division_rounding_modes(fn_module, mode):
    def f(m, x, y):
        return torch.div(x, y, rounding_mode=mode), torch.div(x * 7, 3, rounding_mode=mode)

    x, y = randn(3, 5) * 10, randn(3, 5, seed=1).abs() + 0.5
    y = torch.where(randn(3, 5, seed=2) > 0, y, -y)
    check_converts(fn_module(f), [x, y])


def test_integer_division_modes(fn_module, dynamic_input):
    def f(m, a, b):
        return a // b, torch.div(a, b, rounding_mode="trunc"), a % b, torch.fmod(a, b), a % 3

    a = torch.tensor([[7, -7, 5, -5, 0, 9]])
    b = torch.tensor([[2, 2, -3, -3, 4, 3]])
    ops = [aten.remainder.Tensor, aten.fmod.Tensor, aten.div.Tensor_mode]
    check_converts(fn_module(f), [a, b], ops=ops)
    check_converts(fn_module(f), [dynamic_input((1, 6), dims=(1,), lo=1, hi=6, dtype=torch.int64), b[:, :1]], ops=ops)


def test_float_remainder_and_fmod(fn_module, dynamic_input):
    def f(m, x):
        return x % 1.5, torch.fmod(x, 1.5), torch.remainder(x, -2.0), torch.floor_divide(x, 0.7)

    check_converts(fn_module(f), [dynamic_input((3, 6))], ops=[aten.remainder.Scalar, aten.fmod.Scalar])


def test_pow_variants(fn_module, dynamic_input):
    def f(m, x, i):
        p = x.abs() + 0.1
        return p ** 2, p ** 0.5, p ** 3.3, 2 ** x, p ** x, i ** 2, p ** 1

    check_converts(fn_module(f), [dynamic_input((2, 5)), torch.arange(10).reshape(2, 5)],
                   ops=[aten.pow.Tensor_Scalar, aten.pow.Scalar, aten.pow.Tensor_Tensor])


def test_integer_pow_with_large_exponent_falls_back(fn_module):
    out = trtforge.compile(fn_module(lambda m, i: i ** 7), [torch.arange(6)], min_block_size=1, dryrun=True)
    [entry] = [f for f in out.fallback if f.op == "aten::pow.Tensor_Scalar"]
    assert entry.category == "converter's capability validator refused these arguments"
    assert "integer pow" in entry.reason


def test_comparisons_and_logic(fn_module, dynamic_input):
    def f(m, x, y):
        c = (x > y) & (x <= 0.5) | (x != y)
        d = torch.logical_xor(x >= y, x < 0) ^ (x == y)
        e = torch.logical_and(x, y) | torch.logical_or(x > 1, y < -1) & ~(x < y)
        return (c, d, e, torch.logical_not(x), x.eq(0.0), x.ne(y), (x > 0) & True, (x > 0) | False, (x > 0) ^ True,
                (x > 0) + (y > 0), (x > 0) * (y < 0))

    x, y = randn(3, 4), randn(3, 4, seed=1)
    y[0] = x[0]
    x[1, 0] = 0.0
    ops = [aten.gt.Tensor, aten.le.Scalar, aten.ne.Tensor, aten.ge.Tensor, aten.lt.Scalar, aten.eq.Tensor,
           aten.logical_xor.default, aten.logical_and.default, aten.logical_or.default, aten.logical_not.default,
           aten.bitwise_and.Tensor, aten.bitwise_or.Tensor, aten.bitwise_xor.Tensor, aten.bitwise_not.default,
           aten.bitwise_and.Scalar, aten.bitwise_or.Scalar, aten.bitwise_xor.Scalar]
    check_converts(fn_module(f), [x, y], ops=ops)
    check_converts(fn_module(f), [dynamic_input((3, 4)), randn(1, 4, seed=1)])


def test_comparisons_are_nan_correct(fn_module):
    def f(m, x):
        return x <= 0.0, x >= 0.0, x != x

    x = torch.tensor([[float("nan"), 0.0, -1.0, 1.0]])
    check_converts(fn_module(f), [x])


def test_bitwise_on_integers_falls_back(fn_module):
    report = trtforge.compile(fn_module(lambda m, a: (a & 3) + 1), [torch.arange(6)], min_block_size=1, dryrun=True)
    [entry] = [f for f in report.fallback if f.op.startswith("aten::bitwise_and")]
    assert "only bool converts" in entry.reason


def test_where_and_clamp(fn_module, dynamic_input):
    def f(m, x, y):
        return (torch.where(x > 0, x, y), torch.where(x > 0, x, 0.0), torch.where(x < 0, 1.0, y),
                x.clamp(-0.5, 0.5), x.clamp(min=0.1), x.clamp(max=0.2), torch.clamp(x, min=m.lo, max=m.hi),
                torch.nn.functional.relu6(x) + torch.clamp(x.to(torch.int32), 0, 1))

    m = fn_module(f, lo=torch.full((4,), -0.3), hi=torch.full((4,), 0.4))
    ops = [aten.where.self, aten.clamp.default, aten.clamp.Tensor]
    check_converts(m, [randn(3, 4), randn(3, 4, seed=1)], ops=ops)
    check_converts(m, [dynamic_input((3, 4)), randn(1, 4, seed=1)])


def test_where_scalar_overloads(fn_module, dynamic_input):
    """Direct calls of where's scalar overloads (export usually lifts scalars to tensors)."""
    def f(m, c, x):
        return (aten.where.ScalarSelf(c, 2.0, x), aten.where.ScalarOther(c, x, -1.0), aten.where.Scalar(c, 1.0, 0.0))

    ops = [aten.where.ScalarSelf, aten.where.ScalarOther, aten.where.Scalar]
    check_converts(fn_module(f), [randn(3, 4) > 0, randn(3, 4, seed=1)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((3, 4), dtype=torch.bool), randn(1, 4, seed=1)], ops=ops)


def test_casts(fn_module, dynamic_input):
    def f(m, x):
        i = x.to(torch.int32)
        return (i, i.float(), x.half().float(), x.bool(), (x > 0).long(), (x > 0).float(), x.long().to(torch.int32),
                aten._to_copy.default(x, dtype=torch.int64), aten.to.dtype_layout(x, dtype=torch.float16))

    x = randn(3, 4) * 5
    x[0, 0] = 0.0
    check_converts(fn_module(f), [x], ops=[aten.to.dtype, aten._to_copy.default, aten.to.dtype_layout])
    check_converts(fn_module(f), [dynamic_input((3, 4))])


_UNARY = ["sqrt", "rsqrt", "exp", "log", "erf", "abs", "neg", "reciprocal", "sign", "floor", "ceil", "round",
          "trunc", "sin", "cos", "tan", "atan", "sinh", "cosh", "asinh", "log2", "log10", "log1p", "expm1", "exp2",
          "sigmoid", "tanh"]


def test_unary_math(fn_module, dynamic_input):
    def f(m, x):
        p = x.abs() + 0.5
        outs = [getattr(torch, n)(p if n in ("sqrt", "rsqrt", "log", "log2", "log10", "log1p", "reciprocal") else x)
                for n in _UNARY]
        q = x.clamp(-0.9, 0.9)
        return outs + [torch.asin(q), torch.acos(q), torch.atanh(q), torch.acosh(p + 1)]

    x = randn(3, 6) * 2
    x[0, :3] = torch.tensor([0.5, -0.5, 1.5])  # round half to even
    ops = [getattr(aten, n).default for n in _UNARY] + [aten.asin.default, aten.acos.default, aten.atanh.default,
                                                          aten.acosh.default]
    check_converts(fn_module(f), [x], ops=ops)
    check_converts(fn_module(f), [dynamic_input((3, 6))])


def test_unary_on_integers(fn_module):
    def f(m, i):
        return (i.abs(), -i, i.sign(), torch.sqrt(i.abs()), torch.exp(i.float() / 10), i.sigmoid(), i.floor() + 1,
                torch.round(i) * 2)

    check_converts(fn_module(f), [torch.arange(-4, 4).reshape(2, 4)])


def test_isnan_isinf(fn_module, dynamic_input):
    def f(m, x):
        y = x / (x - x.round())  # inf where integral... and nan at 0/0
        return torch.isnan(y), torch.isinf(y)

    x = torch.tensor([[0.0, 1.0, 1.5, -2.0, 0.25]])
    check_converts(fn_module(f), [x], ops=[aten.isnan.default, aten.isinf.default])
    check_converts(fn_module(f), [dynamic_input((1, 5), dims=(1,))])


def test_isnan_isinf_on_every_dtype(fn_module, dynamic_input):
    """Integers and bools are never NaN or infinite; half precision is checked as it is."""
    def f(m, x):
        i, b, h = (x * 3).to(torch.int64), x > 0, (x * 1e5).half()
        return (torch.isnan(i) | (x > 1), torch.isinf(b) | torch.isnan(b), torch.isinf(h), torch.isnan(h * 0 / 0),
                torch.isinf((x * 3).to(torch.int32)))

    check_converts(fn_module(f), [randn(2, 5)], ops=[aten.isnan.default, aten.isinf.default])
    check_converts(fn_module(f), [dynamic_input((2, 5))], ops=[aten.isnan.default, aten.isinf.default])


def test_atan2(fn_module, dynamic_input):
    def f(m, y, x):
        return torch.atan2(y, x), torch.atan2(y, x.round()), torch.atan2((y > 0).to(torch.int64), x)

    y = torch.tensor([[0.0, 1.0, -1.0, 0.0, 2.0, -3.0, 0.5, -0.0, 0.0, -0.0]])
    x = torch.tensor([[0.0, 0.0, 0.0, -1.0, -2.0, -0.5, 4.0, -1.0, -0.0, -0.0]])  # signed zeros included
    check_converts(fn_module(f), [y, x], ops=[aten.atan2.default])
    check_converts(fn_module(f), [dynamic_input((2, 10)), x], ops=[aten.atan2.default])


def test_bitwise_scalar_tensor_overloads(fn_module, dynamic_input):
    def f(m, x):
        b = x > 0
        return (aten.bitwise_and.Scalar_Tensor(True, b), aten.bitwise_or.Scalar_Tensor(False, b),
                aten.bitwise_xor.Scalar_Tensor(True, b))

    ops = [aten.bitwise_and.Scalar_Tensor, aten.bitwise_or.Scalar_Tensor, aten.bitwise_xor.Scalar_Tensor]
    check_converts(fn_module(f), [randn(2, 5)], ops=ops)
    check_converts(fn_module(f), [dynamic_input((2, 5))], ops=ops)


def test_scalar_overloads_called_directly(fn_module, dynamic_input):
    """Overloads export rarely emits (it lifts scalars to tensors), but other front ends do."""
    def f(m, x):
        i = (x * 4).to(torch.int32)
        return (aten.add.Scalar(x, 2), aten.sub.Scalar(x, 1.5), aten.mul.Scalar(x, 3), aten.div.Scalar(x, 4),
                aten.div.Scalar_mode(x, 0.7, rounding_mode="floor"), aten.floor_divide.Scalar(i, 3),
                aten.rsub.Tensor(x, m.w), aten.le.Tensor(x, m.w), aten.ne.Scalar(x, 0.0), aten.ge.Scalar(x, 0.1))

    ops = [aten.add.Scalar, aten.sub.Scalar, aten.mul.Scalar, aten.div.Scalar, aten.div.Scalar_mode,
           aten.floor_divide.Scalar, aten.rsub.Tensor, aten.le.Tensor, aten.ne.Scalar, aten.ge.Scalar]
    m = fn_module(f, w=randn(1, 4, seed=5))
    check_converts(m, [randn(3, 4)], ops=ops)
    check_converts(m, [dynamic_input((3, 4))], ops=ops)
