"""embedding (padding_idx, max_norm refused) and embedding_bag (sum/mean/max, offsets, padding, weights)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import trtforge
from trtforge.testing import check_converts

aten = torch.ops.aten
WEIGHT = torch.randn(20, 8, generator=torch.Generator().manual_seed(0))


class Embed(torch.nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.weight = torch.nn.Parameter(WEIGHT.clone(), requires_grad=False)
        self.fn = fn

    def forward(self, ids):
        return self.fn(self, ids)


def ids_input(shape, dynamic=()):
    lo = tuple(1 if i in dynamic else s for i, s in enumerate(shape))
    hi = tuple(2 * s if i in dynamic else s for i, s in enumerate(shape))
    return trtforge.Input(min_shape=lo, opt_shape=shape, max_shape=hi, dtype=torch.int64, value_range=(0, 20))


def test_embedding_static_and_dynamic():
    m = Embed(lambda m, ids: F.embedding(ids, m.weight) * 2 + F.embedding(ids, m.weight, padding_idx=3))
    ids = torch.tensor([[1, 3, 19, 0], [5, 5, 2, 3]])
    check_converts(m, [ids], ops=[aten.embedding.default])
    check_converts(m, [ids_input((2, 4), dynamic=(0, 1))], ops=[aten.embedding.default])
    check_converts(m, [ids.int()], ops=[aten.embedding.default], precision=torch.float16)


def test_embedding_max_norm_is_refused_with_the_reason():
    m = Embed(lambda m, ids: F.embedding(ids, m.weight, max_norm=1.0) + 1)
    report = trtforge.compile(m, [torch.tensor([[1, 2]])], min_block_size=1, dryrun=True)
    [entry] = [f for f in report.fallback if f.op == "aten::embedding.default"]
    assert "max_norm=1.0" in entry.reason and "renormalise" in entry.reason


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_modes(mode):
    class Bag(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(WEIGHT.clone(), requires_grad=False)

        def forward(self, ids, offsets):
            return F.embedding_bag(ids, self.weight, offsets, mode=mode, padding_idx=0)

    ids = torch.tensor([4, 0, 7, 19, 2, 2, 9])
    offsets = torch.tensor([0, 2, 2, 5])  # the second bag is empty
    check_converts(Bag(), [ids, offsets], ops=["aten::embedding_bag"])
    dyn = trtforge.Input(min_shape=(1,), opt_shape=(7,), max_shape=(12,), dtype=torch.int64, value_range=(0, 20))
    check_converts(Bag(), [dyn, offsets.clone().zero_()], ops=["aten::embedding_bag"])


def test_embedding_bag_2d_with_weights_and_last_offset():
    class Bag(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(WEIGHT.clone(), requires_grad=False)

        def forward(self, ids, psw, ids1, offsets):
            return (F.embedding_bag(ids, self.weight, per_sample_weights=psw, mode="sum"),
                    F.embedding_bag(ids1, self.weight, offsets, mode="mean", include_last_offset=True))

    ids = torch.tensor([[1, 2, 3], [4, 5, 6]])
    check_converts(Bag(), [ids, torch.rand(2, 3), torch.tensor([1, 2, 3, 4]), torch.tensor([0, 1, 4])],
                   ops=["aten::embedding_bag"])


def test_embedding_bag_overloads_called_directly():
    """``embedding_bag.default`` and ``_embedding_bag`` (what a decomposition or a direct call leaves)."""
    class Bag(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(WEIGHT.clone(), requires_grad=False)

        def forward(self, ids, offsets):
            return (aten.embedding_bag.default(self.weight, ids, offsets, False, 2)[0],
                    aten._embedding_bag.default(self.weight, ids, offsets, False, 1)[0])

    ids = trtforge.Input(min_shape=(2,), opt_shape=(6,), max_shape=(9,), dtype=torch.int64, value_range=(0, 20))
    check_converts(Bag(), [ids, torch.tensor([0, 1])], ops=[aten.embedding_bag.default, aten._embedding_bag.default])
