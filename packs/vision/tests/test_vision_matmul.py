"""Matrix products: mm, bmm, matmul (broadcast, vectors), addmm, baddbmm, linear."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from trtforge.testing import check_converts

aten = torch.ops.aten


def _x(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_mm_bmm_addmm_baddbmm(fn_module, dynamic_input):
    def f(m, a, b):
        return (torch.mm(a[0], b[0]), torch.bmm(a, b), torch.addmm(m.bias, a[0], b[0]),
                torch.addmm(m.bias, a[1], b[1], beta=0.5, alpha=2.0), torch.baddbmm(m.bias, a, b, beta=0.3, alpha=0.7),
                torch.baddbmm(m.bias, a, b))

    m = fn_module(f, bias=_x(5, seed=3))
    ops = [aten.mm.default, aten.bmm.default, aten.addmm.default, aten.baddbmm.default]
    check_converts(m, [_x(2, 4, 3), _x(2, 3, 5, seed=1)], ops=ops)
    # a dynamic number of rows (the batch must match b's, which is static here)
    check_converts(m, [dynamic_input((2, 4, 3), dims=(1,), lo=2), _x(2, 3, 5, seed=1)], ops=ops)


def test_bmm_dynamic_batch(fn_module, dynamic_input):
    check_converts(fn_module(lambda m, a: torch.bmm(a, m.w.expand(a.shape[0], -1, -1)), w=_x(1, 3, 5)),
                   [dynamic_input((2, 4, 3))], ops=[aten.bmm.default])


def test_matmul_broadcast_and_vectors(fn_module, dynamic_input):
    def f(m, a):
        return a @ m.w, a @ m.v, m.v2 @ a.transpose(-1, -2), torch.matmul(a, a.transpose(-1, -2)), m.v @ m.w

    m = fn_module(f, w=_x(3, 5, seed=1), v=_x(3, seed=2), v2=_x(3, seed=3))
    check_converts(m, [_x(2, 4, 3)], ops=[aten.matmul.default])
    check_converts(m, [dynamic_input((2, 4, 3))], ops=[aten.matmul.default])


def test_linear(fn_module, dynamic_input):
    lin, nobias = torch.nn.Linear(6, 4), torch.nn.Linear(6, 3, bias=False)
    m = fn_module(lambda m, x: (m.lin(x), m.nobias(x), F.linear(x[0, 0], m.lin.weight, m.lin.bias)), lin=lin,
                  nobias=nobias)
    check_converts(m, [_x(2, 5, 6)], ops=[aten.linear.default])
    check_converts(m, [dynamic_input((2, 5, 6), dims=(0, 1))], ops=[aten.linear.default])
    check_converts(m, [_x(2, 5, 6)], ops=[aten.linear.default], precision=torch.float16)
