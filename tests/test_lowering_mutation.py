"""Copies and in-place ops survive lowering exactly: a compiled program returns what eager returns
and leaves the caller's tensors as eager leaves them.

Lowering drops copies (clone, contiguous, ...) and turns ``x.op_()`` into ``op(x)`` to avoid
torch.export's re-trace; both are exact only when no in-place write can tell. Each model below
compiles (engines built, then run on CPU through the reference executor) and is compared with
eager on fresh copies of the same inputs.
"""
from __future__ import annotations

import operator

import pytest
import torch

import trtforge
from trtforge.lowering import aliasing, passes

aten = torch.ops.aten


class CloneThenAdd(torch.nn.Module):
    def forward(self, x):
        y = x.clone()
        y.add_(1)
        return y, x


class CloneOfAView(torch.nn.Module):
    def forward(self, x):
        y = x[0].clone()
        y.mul_(2)
        return y, x


class CloneThenIndexPut(torch.nn.Module):
    def forward(self, x, v):
        y = x.clone()
        y.index_put_((torch.tensor([0, 2]),), v)
        return y + 1, x


class CloneThenCopyIntoAView(torch.nn.Module):
    """The write to ``y[:, 0]`` is a write to ``y``: it was made functional and dropped."""

    def forward(self, x, z):
        y = x.clone()
        y[:, 0].copy_(z)
        return y, x


class CloneThenWriteThroughAView(torch.nn.Module):
    def forward(self, x):
        y = x.clone()
        y.view(16).add_(1)
        return y, x


class CloneKeepsTheInputBeforeItsUpdate(torch.nn.Module):
    """The clone of an input that is then written in place: dropping the clone returned the new value."""

    def forward(self, x):
        y = x.clone()
        x.add_(1)
        return y, x


class CloneKeepsTheInputBeforeASliceWrite(torch.nn.Module):
    def forward(self, x):
        y = x.clone()
        x[0] = 0.0
        return y + 1, x


class ViewReadAfterAWrite(torch.nn.Module):
    """``v`` views ``y``: it must see the write made after it was taken."""

    def forward(self, x):
        y = x * 2
        v = y[0]
        y.add_(1)
        return v + 0, y


class ChainOfInPlaceOps(torch.nn.Module):
    def forward(self, x):
        y = x.clone()
        y.sigmoid_()
        y.add_(x)
        return y, x


class CloneOfABufferThenBufferUpdate(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("b", torch.ones(4, 4))

    def forward(self, x):
        y = self.b.clone()
        self.b.add_(x)
        return y * 1, self.b * 1


CASES = [
    (CloneThenAdd, [(4, 4)]),
    (CloneOfAView, [(4, 4)]),
    (CloneThenIndexPut, [(4, 4), (2, 4)]),
    (CloneThenCopyIntoAView, [(4, 4), (4,)]),
    (CloneThenWriteThroughAView, [(4, 4)]),
    (CloneKeepsTheInputBeforeItsUpdate, [(4, 4)]),
    (CloneKeepsTheInputBeforeASliceWrite, [(4, 4)]),
    (ViewReadAfterAWrite, [(4, 4)]),
    (ChainOfInPlaceOps, [(4, 4)]),
    (CloneOfABufferThenBufferUpdate, [(4, 4)]),
]


@pytest.mark.parametrize("cls, shapes", CASES, ids=[c.__name__ for c, _ in CASES])
def test_compiled_equals_eager_and_inputs_change_as_in_eager(cls, shapes, reference_engines):
    pytest.importorskip("trtforge_vision")
    observer, ran = reference_engines
    torch.manual_seed(0)
    args = [torch.randn(s) for s in shapes]
    eager_args = [a.clone() for a in args]
    want = cls()(*eager_args)
    compiled = trtforge.compile(cls(), [a.clone() for a in args], min_block_size=1, observers=[observer])
    assert compiled.trtforge_report.engines and ran == []
    call_args = [a.clone() for a in args]
    got = compiled(*call_args)
    assert ran  # the engines ran
    assert len(got) == len(want)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w)
    for after_compiled, after_eager in zip(call_args, eager_args):
        torch.testing.assert_close(after_compiled, after_eager)  # the caller's tensors: as eager left them


def _graph(fn, *args):
    return torch.export.export(fn, args, strict=False).module()


def test_remove_noops_keeps_a_copy_whose_source_is_written_and_drops_the_others():
    gm = _graph(CloneKeepsTheInputBeforeItsUpdate(), torch.randn(4, 4))
    assert aten.clone.default in {n.target for n in gm.graph.nodes}
    passes.remove_noops(gm)
    assert aten.clone.default in {n.target for n in gm.graph.nodes}  # x.add_ would reach y otherwise

    class Plain(torch.nn.Module):
        def forward(self, x):
            return torch.relu(x.clone())

    gm = _graph(Plain(), torch.randn(4, 4))
    passes.remove_noops(gm)
    assert aten.clone.default not in {n.target for n in gm.graph.nodes}  # nothing writes: dropped


def test_aliasing_reads_the_schemas():
    g = torch.fx.Graph()
    x = g.placeholder("x")
    c = g.call_function(aten.clone.default, (x,))
    s = g.call_function(aten.select.int, (c, 1, 0))
    w = g.call_function(aten.copy_.default, (s, x))
    parts = g.call_function(aten.split.Tensor, (c, 2))
    first = g.call_function(operator.getitem, (parts, 0))
    values = g.call_function(operator.getitem, (g.call_function(aten.max.dim, (c, 0)), 0))
    assert aliasing.root(s) is c and aliasing.root(w) is c and aliasing.root(first) is c
    assert aliasing.root(values) is values  # an element of a fresh tuple (max) is fresh
    assert aliasing.root(c) is c and aliasing.written_inputs(w) == [s]
    assert aliasing.written_roots(g) == {c}
    assert aliasing.has_aliases(c, besides=s) and not aliasing.has_aliases(w, besides=s)
