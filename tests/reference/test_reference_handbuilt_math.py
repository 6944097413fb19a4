"""Hand-built networks for pointwise/reduction layers and attribute combinations the
ONNX parser does not emit (all ActivationTypes with alpha/beta, every UnaryOperation,
MatrixOperation.VECTOR/TRANSPOSE, exclusive/reverse cumulative, Scale modes, ...).

Ground truth is computed independently with torch.nn.functional or numpy, from the
formulas in TensorRT's API documentation.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trtforge.validation.reference import run_network

SELU_A, SELU_L = 1.6732632423543772, 1.0507009873554805


def _one_layer(hand: Any, trt: Any, x: torch.Tensor, add: Any) -> torch.Tensor:
    h = hand()
    inp = h.input("x", trt.float32 if x.dtype == torch.float32 else _trt_dtype(trt, x.dtype), x.shape)
    layer = add(h, inp)
    h.output(layer.get_output(0), "y")
    return run_network(h.net, {"x": x})["y"]


def _trt_dtype(trt: Any, dtype: torch.dtype) -> Any:
    return {torch.int32: trt.int32, torch.int64: trt.int64, torch.bool: trt.bool, torch.float16: trt.float16}[dtype]


ACTIVATIONS = [
    ("RELU", 0, 0, F.relu),
    ("SIGMOID", 0, 0, torch.sigmoid),
    ("TANH", 0, 0, torch.tanh),
    ("LEAKY_RELU", 0.2, 0, lambda x: F.leaky_relu(x, 0.2)),
    ("ELU", 0.7, 0, lambda x: F.elu(x, 0.7)),
    ("SELU", SELU_A, SELU_L, F.selu),
    ("SOFTSIGN", 0, 0, F.softsign),
    ("SOFTPLUS", 1.5, 2.0, lambda x: 1.5 * 2.0 * F.softplus(x, beta=2.0, threshold=1e9)),
    ("CLIP", -0.5, 1.25, lambda x: F.hardtanh(x, -0.5, 1.25)),
    ("HARD_SIGMOID", 1 / 6, 0.5, F.hardsigmoid),
    ("SCALED_TANH", 1.7, 0.6, lambda x: 1.7 * torch.tanh(0.6 * x)),
    ("THRESHOLDED_RELU", 0.3, 0, lambda x: F.threshold(x, 0.3, 0.0)),
    ("GELU_ERF", 0, 0, F.gelu),
    ("GELU_TANH", 0, 0, lambda x: F.gelu(x, approximate="tanh")),
]


@pytest.mark.parametrize("op,alpha,beta,ref", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_types(op: str, alpha: float, beta: float, ref: Any, hand: Any, trt: Any) -> None:
    x = torch.linspace(-4, 4, 41).reshape(1, 41)

    def add(h, inp):
        layer = h.net.add_activation(inp, getattr(trt.ActivationType, op))
        layer.alpha, layer.beta = alpha, beta
        return layer

    torch.testing.assert_close(_one_layer(hand, trt, x, add), ref(x), atol=1e-5, rtol=1e-5)


UNARY = [
    ("EXP", torch.exp, (-3, 3)), ("LOG", torch.log, (0.1, 5)), ("SQRT", torch.sqrt, (0, 5)),
    ("RECIP", torch.reciprocal, (0.2, 5)), ("ABS", torch.abs, (-3, 3)), ("NEG", torch.neg, (-3, 3)),
    ("SIN", torch.sin, (-3, 3)), ("COS", torch.cos, (-3, 3)), ("TAN", torch.tan, (-1.2, 1.2)),
    ("SINH", torch.sinh, (-3, 3)), ("COSH", torch.cosh, (-3, 3)), ("ASIN", torch.asin, (-0.99, 0.99)),
    ("ACOS", torch.acos, (-0.99, 0.99)), ("ATAN", torch.atan, (-3, 3)), ("ASINH", torch.asinh, (-3, 3)),
    ("ACOSH", torch.acosh, (1, 5)), ("ATANH", torch.atanh, (-0.95, 0.95)), ("CEIL", torch.ceil, (-3, 3)),
    ("FLOOR", torch.floor, (-3, 3)), ("ERF", torch.erf, (-3, 3)), ("SIGN", torch.sign, (-3, 3)),
    ("ROUND", lambda x: torch.from_numpy(np.round(x.numpy())), (-3, 3)),  # numpy: half to even
]


@pytest.mark.parametrize("op,ref,dom", UNARY, ids=[u[0] for u in UNARY])
def test_unary_float(op: str, ref: Any, dom: tuple, hand: Any, trt: Any) -> None:
    x = torch.linspace(dom[0], dom[1], 25).reshape(5, 5)
    got = _one_layer(hand, trt, x, lambda h, inp: h.net.add_unary(inp, getattr(trt.UnaryOperation, op)))
    torch.testing.assert_close(got, ref(x), atol=1e-5, rtol=1e-5)


def test_unary_int_bool_and_predicates(hand: Any, trt: Any) -> None:
    i = torch.tensor([[-3, 0, 4]], dtype=torch.int32)
    for op, ref in [("ABS", i.abs()), ("NEG", -i), ("SIGN", i.sign())]:
        got = _one_layer(hand, trt, i, lambda h, inp: h.net.add_unary(inp, getattr(trt.UnaryOperation, op)))
        assert got.dtype == torch.int32 and torch.equal(got, ref), op
    b = torch.tensor([[True, False]])
    got = _one_layer(hand, trt, b, lambda h, inp: h.net.add_unary(inp, trt.UnaryOperation.NOT))
    assert torch.equal(got, torch.tensor([[False, True]]))
    f = torch.tensor([[1.0, math.inf, -math.inf, math.nan]])
    got = _one_layer(hand, trt, f, lambda h, inp: h.net.add_unary(inp, trt.UnaryOperation.ISINF))
    assert got.dtype == torch.bool and got.tolist() == [[False, True, True, False]]
    got = _one_layer(hand, trt, f, lambda h, inp: h.net.add_unary(inp, trt.UnaryOperation.ISNAN))
    assert got.tolist() == [[False, False, False, True]]


def _binary(hand: Any, trt: Any, a: torch.Tensor, b: torch.Tensor, op: str) -> torch.Tensor:
    h = hand()
    ta = h.input("a", _trt_dtype(trt, a.dtype) if a.dtype != torch.float32 else trt.float32, a.shape)
    tb = h.input("b", _trt_dtype(trt, b.dtype) if b.dtype != torch.float32 else trt.float32, b.shape)
    h.output(h.net.add_elementwise(ta, tb, getattr(trt.ElementWiseOperation, op)).get_output(0), "y")
    return run_network(h.net, {"a": a, "b": b})["y"]


def test_elementwise_float_broadcast(hand: Any, trt: Any) -> None:
    a = torch.rand(2, 1, 4) * 3 + 0.1
    b = torch.randn(1, 3, 1)
    an, bn = a.numpy(), b.numpy()
    expect = {
        "SUM": an + bn, "PROD": an * bn, "MAX": np.maximum(an, bn), "MIN": np.minimum(an, bn),
        "SUB": an - bn, "DIV": an / bn, "POW": np.power(an, bn), "FLOOR_DIV": np.floor(an / bn),
        "EQUAL": an == bn, "GREATER": an > bn, "LESS": an < bn,
    }
    for op, ref in expect.items():
        got = _binary(hand, trt, a, b, op)
        assert tuple(got.shape) == (2, 3, 4), op
        if ref.dtype == bool:
            assert got.dtype == torch.bool and np.array_equal(got.numpy(), ref), op
        else:
            np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5, atol=1e-6, err_msg=op)


def test_elementwise_int_division_and_logic(hand: Any, trt: Any) -> None:
    a = torch.tensor([[7, -7, 7, -7, 0, 9]], dtype=torch.int32)
    b = torch.tensor([[2, 2, -2, -2, 5, 3]], dtype=torch.int32)
    an, bn = a.numpy().astype(np.int64), b.numpy().astype(np.int64)
    trunc = (np.abs(an) // np.abs(bn)) * np.sign(an) * np.sign(bn)  # C division: toward zero
    got = _binary(hand, trt, a, b, "DIV")
    assert got.dtype == torch.int32 and np.array_equal(got.numpy(), trunc)
    got = _binary(hand, trt, a, b, "FLOOR_DIV")
    assert np.array_equal(got.numpy(), np.floor_divide(an, bn))
    for op, fn in [("AND", np.logical_and), ("OR", np.logical_or), ("XOR", np.logical_xor)]:
        x = torch.tensor([[True, True, False, False]])
        y = torch.tensor([[True, False, True, False]])
        assert np.array_equal(_binary(hand, trt, x, y, op).numpy(), fn(x.numpy(), y.numpy())), op


def test_cast_and_identity(hand: Any, trt: Any) -> None:
    x = torch.tensor([[-2.7, -0.5, 0.0, 0.5, 2.7]])
    for to, ref in [(trt.int32, torch.tensor([[-2, 0, 0, 0, 2]], dtype=torch.int32)),
                    (trt.bool, torch.tensor([[True, True, False, True, True]])),
                    (trt.float16, x.half())]:
        got = _one_layer(hand, trt, x, lambda h, inp: h.net.add_cast(inp, to))
        assert got.dtype == ref.dtype and torch.equal(got, ref), to
    got = _one_layer(hand, trt, x, lambda h, inp: h.net.add_identity(inp))
    assert torch.equal(got, x)


@pytest.mark.parametrize("op", ["SUM", "PROD", "MAX", "MIN", "AVG"])
@pytest.mark.parametrize("keep", [False, True])
def test_reduce(op: str, keep: bool, hand: Any, trt: Any) -> None:
    x = torch.rand(2, 3, 4) + 0.5
    fn = {"SUM": np.sum, "PROD": np.prod, "MAX": np.max, "MIN": np.min, "AVG": np.mean}[op]
    got = _one_layer(hand, trt, x, lambda h, inp: h.net.add_reduce(inp, getattr(trt.ReduceOperation, op), 0b101, keep))
    np.testing.assert_allclose(got.numpy(), fn(x.numpy(), axis=(0, 2), keepdims=keep), rtol=1e-5)


def test_softmax_axes_bitmask(hand: Any, trt: Any) -> None:
    x = torch.randn(2, 3, 4)

    def add(h, inp):
        layer = h.net.add_softmax(inp)
        layer.axes = 1 << 1
        return layer

    torch.testing.assert_close(_one_layer(hand, trt, x, add), torch.softmax(x, 1))


@pytest.mark.parametrize("exclusive", [False, True])
@pytest.mark.parametrize("reverse", [False, True])
def test_cumulative_sum_variants(exclusive: bool, reverse: bool, hand: Any, trt: Any) -> None:
    x = torch.randn(3, 5)
    xn = x.numpy()
    src = xn[:, ::-1] if reverse else xn
    c = np.cumsum(src, axis=1)
    if exclusive:
        c = c - src
    ref = c[:, ::-1] if reverse else c

    def add(h, inp):
        return h.net.add_cumulative(inp, h.const(np.array(1, dtype=np.int32), ()), trt.CumulativeOperation.SUM, exclusive, reverse)

    np.testing.assert_allclose(_one_layer(hand, trt, x, add).numpy(), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op0,op1,a_shape,b_shape,eq", [
    ("NONE", "NONE", (2, 3, 4), (2, 4, 5), "bij,bjk->bik"),
    ("TRANSPOSE", "NONE", (2, 4, 3), (1, 4, 5), "bji,bjk->bik"),
    ("NONE", "TRANSPOSE", (3, 4), (5, 4), "ij,kj->ik"),
    ("VECTOR", "NONE", (2, 4), (2, 4, 5), "bj,bjk->bk"),
    ("NONE", "VECTOR", (2, 3, 4), (2, 4), "bij,bj->bi"),
    ("VECTOR", "VECTOR", (2, 4), (2, 4), "bj,bj->b"),
    ("TRANSPOSE", "VECTOR", (2, 4, 3), (2, 4), "bji,bj->bi"),
])
def test_matrix_multiply_ops(op0: str, op1: str, a_shape: tuple, b_shape: tuple, eq: str, hand: Any, trt: Any) -> None:
    a, b = torch.randn(*a_shape), torch.randn(*b_shape)
    h = hand()
    ta, tb = h.input("a", trt.float32, a.shape), h.input("b", trt.float32, b.shape)
    mm = h.net.add_matrix_multiply(ta, getattr(trt.MatrixOperation, op0), tb, getattr(trt.MatrixOperation, op1))
    h.output(mm.get_output(0), "y")
    got = run_network(h.net, {"a": a, "b": b})["y"]
    ref = torch.einsum(eq, a, b)
    if ref.shape != got.shape:  # batch broadcast (TRANSPOSE case): einsum needs the broadcast done
        ref = torch.einsum(eq, a, b.expand(a.shape[0], *b.shape[1:]))
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["UNIFORM", "CHANNEL", "ELEMENTWISE"])
def test_scale_modes(mode: str, hand: Any, trt: Any) -> None:
    x = torch.rand(2, 3, 4, 5) + 0.5
    n = {"UNIFORM": 1, "CHANNEL": 4, "ELEMENTWISE": 4 * 5}[mode]
    rng = np.random.default_rng(0)
    shift, scale, power = (rng.uniform(0.5, 1.5, n).astype(np.float32) for _ in range(3))
    h = hand()
    inp = h.input("x", trt.float32, x.shape)
    layer = h.net.add_scale_nd(inp, getattr(trt.ScaleMode, mode), h.weights(shift), h.weights(scale), h.weights(power), 2)
    h.output(layer.get_output(0), "y")
    got = run_network(h.net, {"x": x})["y"]
    view = {"UNIFORM": (), "CHANNEL": (1, 1, 4, 1), "ELEMENTWISE": (1, 1, 4, 5)}[mode]
    ref = (x.numpy() * scale.reshape(view) + shift.reshape(view)) ** power.reshape(view)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5)


def test_parametric_relu(hand: Any, trt: Any) -> None:
    x = torch.randn(2, 3, 4)
    slopes = np.array([0.1, 0.2, 0.3], dtype=np.float32).reshape(1, 3, 1)
    got = _one_layer(hand, trt, x, lambda h, inp: h.net.add_parametric_relu(inp, h.const(slopes)))
    torch.testing.assert_close(got, F.prelu(x, torch.from_numpy(slopes.reshape(3))))


def test_topk_ties_dynamic_k_and_min(hand: Any, trt: Any) -> None:
    x = torch.tensor([[3.0, 1.0, 3.0, 2.0, 3.0, 0.0]])
    h = hand()
    inp = h.input("x", trt.float32, x.shape)
    tk = h.net.add_topk(inp, trt.TopKOperation.MAX, 1, 1 << 1)
    tk.set_input(1, h.const(np.array(4, dtype=np.int32), ()))  # dynamic k (a shape tensor)
    mn = h.net.add_topk(inp, trt.TopKOperation.MIN, 2, 1 << 1, trt.int64)
    for name, t in [("v", tk.get_output(0)), ("i", tk.get_output(1)), ("mv", mn.get_output(0)), ("mi", mn.get_output(1))]:
        h.output(t, name)
    out = run_network(h.net, {"x": x})
    order = np.argsort(-x.numpy(), axis=1, kind="stable")[:, :4]  # ties: lower index first
    assert out["i"].dtype == torch.int32 and out["i"].tolist() == order.tolist()
    assert out["v"].tolist() == [[3.0, 3.0, 3.0, 2.0]]
    assert out["mi"].dtype == torch.int64 and out["mi"].tolist() == [[5, 1]]
    assert out["mv"].tolist() == [[0.0, 1.0]]


def test_fill_linspace_static_and_dynamic(hand: Any, trt: Any) -> None:
    h = hand()
    x = h.input("x", trt.float32, (1,))
    st = h.net.add_fill((6,), trt.FillOperation.LINSPACE, trt.float32)
    st.alpha, st.beta = 2.0, 0.5
    dyn = h.net.add_fill((0, 0), trt.FillOperation.LINSPACE, trt.int32)
    dyn.set_input(0, h.const(np.array([2, 3], dtype=np.int32)))
    dyn.set_input(1, h.const(np.array(5, dtype=np.int32), ()))
    dyn.set_input(2, h.const(np.array([10, -1], dtype=np.int32)))
    h.output(st.get_output(0), "static")
    h.output(dyn.get_output(0), "dynamic")
    h.output(h.net.add_identity(x).get_output(0), "unused")
    out = run_network(h.net, {"x": torch.zeros(1)})
    torch.testing.assert_close(out["static"], torch.arange(6, dtype=torch.float32) * 0.5 + 2.0)
    assert out["dynamic"].dtype == torch.int32
    assert out["dynamic"].tolist() == [[5, 4, 3], [15, 14, 13]]  # alpha + 10*i - j


def test_float16_layers_round_at_each_output(hand: Any, trt: Any) -> None:
    x = torch.randn(1, 3, 6, 6)
    w = np.random.default_rng(1).standard_normal((4, 3, 3, 3)).astype(np.float16)
    h = hand()
    inp = h.input("x", trt.float32, x.shape)
    half = h.net.add_cast(inp, trt.float16).get_output(0)
    conv = h.net.add_convolution_nd(half, 4, (3, 3), _keep(h, w))
    act = h.net.add_activation(conv.get_output(0), trt.ActivationType.RELU)
    h.output(act.get_output(0), "y")
    out = run_network(h.net, {"x": x}, keep_intermediates=True)
    assert out["y"].dtype == torch.float16
    assert out[conv.get_output(0).name].dtype == torch.float16
    ref = F.relu(F.conv2d(x.half().float(), torch.from_numpy(w).float()).half().float())
    torch.testing.assert_close(out["y"].float(), ref, atol=2e-3, rtol=2e-3)


def test_bfloat16_tensors(hand: Any, trt: Any) -> None:
    x = torch.randn(2, 5)
    h = hand()
    inp = h.input("x", trt.float32, x.shape)
    bf = h.net.add_cast(inp, trt.bfloat16).get_output(0)
    act = h.net.add_activation(bf, trt.ActivationType.SIGMOID)
    h.output(act.get_output(0), "y")
    got = run_network(h.net, {"x": x})["y"]
    assert got.dtype == torch.bfloat16
    assert torch.equal(got, torch.sigmoid(x.bfloat16().float()).bfloat16())


def _keep(h: Any, w: np.ndarray) -> np.ndarray:
    h._keep.append(w)
    return w
