"""masked_select, x[mask] and x[mask] = v: bit-exact values, row-major order, reference-executed."""
from __future__ import annotations

import pytest
import torch

import trtforge
from trtforge import Input
from trtforge.testing import check_converts

MS, INDEX, PUT = "aten::masked_select.default", "aten::index.Tensor", "aten::index_put.default"


def _convert(model, inputs, **kw):
    return check_converts(model, inputs, target_backend="tensorrt", rtol=0.0, **kw)


def _rows(x, m):
    return x[m]


def _cols(x, m):
    return x[:, m]


# -- masked_select -------------------------------------------------------------------------------
def test_masked_select_dtypes_and_broadcast(module, gen):
    """float32 random mask, int64 all-false, float16 all-true, and both broadcast directions."""
    x = torch.randn(3, 4, generator=gen)
    mask = torch.rand(3, 4, generator=gen) > 0.5
    i = torch.randint(-5, 5, (3, 4), generator=gen)
    h = torch.randn(1, 4, generator=gen).half()
    m = module(lambda a, b, c, d: (
        torch.masked_select(a, b), torch.masked_select(c, torch.zeros_like(b)),
        torch.masked_select(d, torch.ones_like(b)), torch.masked_select(a, b[0]),
    ))
    r = _convert(m, [x, mask, i, h], ops=[MS], allow_fallback=["aten::zeros_like", "aten::ones_like"])
    assert r.report.engines[-1].requires_output_allocator


@pytest.mark.parametrize("fill", [False, True], ids=["all_false", "all_true"])
def test_masked_select_empty_and_full(module, gen, fill):
    x = torch.randint(0, 100, (2, 3, 4), generator=gen, dtype=torch.int32)
    _convert(module(lambda a, b: torch.masked_select(a, b)), [x, torch.full((2, 3, 4), fill)], ops=[MS])


def test_masked_select_dynamic(module):
    x = Input(min_shape=(1, 4), opt_shape=(3, 4), max_shape=(6, 4))
    _convert(module(lambda a, b: torch.masked_select(a, b)), [x, torch.tensor([True, False, True, True])],
             ops=[MS])


# -- x[mask] ------------------------------------------------------------------------------------------
def test_index_full_row_and_column_masks(module, gen):
    x = torch.randn(3, 4, 5, generator=gen)
    full = torch.rand(3, 4, 5, generator=gen) > 0.5
    rows = torch.tensor([True, False, True])
    m = module(lambda a, b, c, d: (a[b], a[c], a[:, d]))
    r = _convert(m, [x, full, rows, torch.tensor([False, True, True, False])], ops=[INDEX])
    assert r.report.engines[0].requires_output_allocator


@pytest.mark.parametrize("fill", [False, True], ids=["all_false", "all_true"])
def test_index_empty_and_full(module, gen, fill):
    x = torch.randint(-100, 100, (3, 4, 5), generator=gen)
    _convert(module(lambda a, b, c: (a[b], a[:, c])), [x, torch.full((3, 4, 5), fill), torch.full((4,), fill)],
             ops=[INDEX])


def test_index_2d_mask_in_the_middle(module, gen):
    """x[:, m] with a rank-2 mask: the mask dims are merged, then gathered at dim 1."""
    x = torch.randint(-100, 100, (2, 3, 4, 5), generator=gen)
    _convert(module(_cols), [x, torch.rand(3, 4, generator=gen) > 0.3], ops=[INDEX])


@pytest.mark.parametrize("dtype", [torch.bool, torch.uint8, torch.float16], ids=str)
def test_index_dtypes(module, gen, dtype):
    x = (torch.randn(4, 6, generator=gen) * 3).to(dtype)
    _convert(module(_rows), [x, torch.rand(4, 6, generator=gen) > 0.5], ops=[INDEX])


def test_index_dynamic(module):
    x = Input(min_shape=(1, 4, 2), opt_shape=(3, 4, 2), max_shape=(6, 4, 2))
    _convert(module(_cols), [x, torch.tensor([True, False, True, True])], ops=[INDEX])


def test_integer_indexing_is_left_to_gathers(module):
    """The validator claims boolean masks only; integer index tensors go to other packs' gathers."""
    rep = trtforge.compile(module(lambda a, b: a[b]), [torch.randn(5, 3), torch.tensor([4, 0, 2])],
                           min_block_size=1, target_backend="tensorrt", packs={"dds_ops"}, dryrun=True)
    (entry,) = [f for f in rep.fallback if f.op == INDEX]
    assert "not a boolean mask" in entry.reason


# -- x[mask] = v ----------------------------------------------------------------------------------------
def _put(x, m, v):
    return torch.index_put(x, (m,), v)


def _put_acc(x, m, v):
    return torch.index_put(x, (m,), v, accumulate=True)


def _put_cols(x, m, v):
    y = x.clone()
    y[:, m] = v
    return y


@pytest.mark.parametrize("fn", [_put, _put_acc], ids=["assign", "accumulate"])
def test_index_put_per_element_values(module, gen, fn):
    """Values with one entry per selected element: NonZero + ScatterND (output allocator)."""
    x = torch.randn(3, 4, generator=gen)
    mask = torch.rand(3, 4, generator=gen) > 0.5
    r = _convert(module(fn), [x, mask, torch.randn(int(mask.sum()), generator=gen)], ops=[PUT])
    assert r.report.engines[0].requires_output_allocator


def test_index_put_rows_and_dtypes(module, gen):
    """Row masks with row values; int64 and bool tensors (ScatterND has no bool: cast round trip)."""
    rows = torch.tensor([True, False, True, True])
    x = torch.randint(-9, 9, (4, 3), generator=gen)
    b = torch.rand(4, 3, generator=gen) > 0.5
    m = module(lambda a, c, d: (_put(a, c, a[c] * 0 + 7), _put(d, c, d[c].logical_not())))
    _convert(m, [x, rows, b], ops=[PUT], allow_fallback=["aten::mul", "aten::add", "aten::logical_not"])


def test_index_put_empty_selection(module):
    x = torch.arange(12.0).reshape(3, 4)
    _convert(module(_put), [x, torch.zeros(3, 4, dtype=torch.bool), torch.zeros(0)], ops=[PUT])


def test_index_put_dynamic(module, gen):
    x = Input(min_shape=(1, 4, 2), opt_shape=(3, 4, 2), max_shape=(6, 4, 2))
    _convert(module(_put_cols), [x, torch.tensor([True, False, True, True]), torch.randn(3, 2, generator=gen)],
             ops=[PUT])


def test_index_put_2d_mask_accumulate_dynamic(module, gen):
    """A rank-2 mask over leading dims of a tensor with a dynamic trailing dim; accumulate=True."""
    x = Input(min_shape=(4, 2, 1), opt_shape=(4, 2, 3), max_shape=(4, 2, 5))
    mask = torch.tensor([[True, False], [True, True], [False, False], [False, True]])
    _convert(module(_put_acc), [x, mask, torch.randn(4, 1, generator=gen)], ops=[PUT])


def test_index_put_scalar_value_builds_on_rtx(module, gen):
    """One value for all selected elements needs no NonZero: a select, a real engine on TensorRT-RTX."""
    x = Input(min_shape=(1, 4), opt_shape=(3, 4), max_shape=(6, 4))
    mask = torch.tensor([True, False, True, True])
    r = check_converts(module(lambda a, b, c: (_put_cols(a, b, c), _put_acc(a.clone(), (a * 0).bool(), c))),
                       [x, mask, torch.tensor(2.5)], rtol=0.0, ops=[PUT],
                       allow_fallback=["aten::mul", "aten::_to_copy", "aten::ne"])
    assert r.built and all(e.status == "built" for e in r.report.engines)
    assert not any(e.requires_output_allocator for e in r.report.engines)
