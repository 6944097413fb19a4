"""torch.unique (dim=None and dim=k) and torch.unique_consecutive: values, inverse and counts equal torch's."""
from __future__ import annotations

import dataclasses

import pytest
import torch

import trtforge
from trtforge import Input
from trtforge.plugins.registry import Reason
from trtforge.testing import check_converts

U2, UDIM, UCONS = "aten::_unique2.default", "aten::unique_dim.default", "aten::unique_consecutive.default"


def _convert(model, inputs, **kw):
    return check_converts(model, inputs, target_backend="tensorrt", rtol=0.0, **kw)


def _all(y):
    return torch.unique(y, return_inverse=True, return_counts=True)


def test_unique_dtypes(module, gen):
    """Repeated values in int64, int32, float32 (negative and -0.0/0.0 free), float16, int8, uint8, bool."""
    i64 = torch.randint(-3, 4, (17,), generator=gen)
    f32 = (torch.randn(5, 4, generator=gen) * 2).round() + 0.5
    small = torch.randint(-4, 4, (2, 3, 2), generator=gen)
    m = module(lambda a, b, c, d: (
        *_all(a), *_all(a.int()), *_all(b), *_all(b.half()),
        *_all(c.to(torch.int8)), *_all(c.abs().to(torch.uint8)), *_all(d),
    ))
    bools = torch.rand(3, 3, generator=gen) > 0.5
    r = _convert(m, [i64, f32, small, bools], ops=[U2],
                 allow_fallback=["aten::_to_copy", "aten::abs"])
    assert any(e.requires_output_allocator for e in r.report.engines)


@pytest.mark.parametrize("flags", [(False, False), (True, False), (False, True)], ids=["values", "inverse", "counts"])
def test_unique_return_flags_and_unsorted(module, gen, flags):
    """Outputs not asked for are empty, as in torch; sorted=False gives torch's (sorted) order too."""
    y = torch.randint(0, 6, (4, 5), generator=gen)
    inv, cnt = flags
    _convert(module(lambda a: (torch.unique(a, sorted=False, return_inverse=inv, return_counts=cnt),
                               torch.unique(a, return_inverse=inv, return_counts=cnt))), [y], ops=[U2])


def test_unique_single_value_and_scalar(module):
    _convert(module(lambda a, b: (*_all(a), *_all(b))), [torch.full((6,), 3), torch.tensor(2.0)], ops=[U2])


def test_unique_dynamic(module):
    _convert(module(_all), [Input(min_shape=(1, 3), opt_shape=(4, 3), max_shape=(9, 3), dtype=torch.int32)],
             ops=[U2])


def test_unique_of_data_dependent_input(module, gen):
    """unique(x[mask]): the sort's K is the NonZero count, a data-dependent size tensor."""
    x = torch.randint(0, 5, (4, 6), generator=gen)
    mask = torch.rand(4, 6, generator=gen) > 0.4
    r = _convert(module(lambda a, b: _all(a[b])), [x, mask], ops=[U2, "aten::index.Tensor"])
    assert len(r.report.engines) == 1


def test_unique_larger_than_topk_is_refused(module):
    rep = trtforge.compile(module(lambda a: torch.unique(a)), [torch.zeros(4000, dtype=torch.int64)], min_block_size=1,
                           target_backend="tensorrt", dryrun=True)
    (entry,) = [f for f in rep.fallback if f.op == U2]
    assert "3840" in entry.reason and "TopK" in entry.reason


# -- unique(dim=k) --------------------------------------------------------------------------------------
def _rows(dim):
    return lambda a: torch.unique(a, dim=dim, return_inverse=True, return_counts=True)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_unique_dim(module, gen, dim):
    """Lexicographic order of slices with 1, 3 and 5 columns (odd counts pad the pairing rounds)."""
    x = torch.randint(0, 2, (6, 5, 3), generator=gen)
    _convert(module(_rows(dim)), [x], ops=[UDIM])


def test_unique_dim_dtypes(module, gen):
    f = (torch.randn(8, 2, generator=gen) > 0).float() - 0.5
    b = torch.rand(3, 7, generator=gen) > 0.5
    u = torch.randint(0, 2, (7, 4), generator=gen).to(torch.uint8)
    _convert(module(lambda a, c, d: (*_rows(0)(a), *_rows(1)(c), *_rows(0)(d))), [f, b, u], ops=[UDIM])


def test_unique_dim_dynamic(module):
    _convert(module(_rows(0)), [Input(min_shape=(1, 3), opt_shape=(6, 3), max_shape=(12, 3), dtype=torch.int64)],
             ops=[UDIM])


# -- unique_consecutive ---------------------------------------------------------------------------------
def _cons(dim=None):
    return lambda a: torch.unique_consecutive(a, return_inverse=True, return_counts=True, dim=dim)


def test_unique_consecutive(module, gen):
    runs = torch.repeat_interleave(torch.tensor([3, 1, 3, 3, 0, 7]), torch.tensor([2, 1, 3, 1, 4, 1]))
    rows = torch.randint(0, 2, (9, 2), generator=gen)
    _convert(module(lambda a, b, c: (*_cons()(a), *_cons()(a.reshape(3, 4).float()), *_cons(0)(b),
                                     torch.unique_consecutive(c))),
             [runs, rows, torch.randint(0, 2, (5,), generator=gen).bool()],
             ops=[UCONS], allow_fallback=["aten::view", "aten::_to_copy"])


def test_unique_consecutive_has_no_size_limit(module, gen):
    _convert(module(_cons()), [torch.randint(0, 2, (5000,), generator=gen)], ops=[UCONS])


def test_unique_consecutive_dynamic(module):
    _convert(module(_cons()), [Input(min_shape=(1,), opt_shape=(12,), max_shape=(30,), dtype=torch.int64)],
             ops=[UCONS])
    _convert(module(_cons(1)), [Input(min_shape=(2, 1), opt_shape=(2, 12), max_shape=(2, 30), dtype=torch.bool)],
             ops=[UCONS])


# -- the sort's TopK limit goes by the largest size the compile allows ------------------------------------
def _refusal(model, inputs, op):
    rep = trtforge.compile(model, inputs, min_block_size=1, target_backend="tensorrt", dryrun=True)
    (entry,) = [f for f in rep.fallback if f.op == op]
    assert entry.category == Reason.VALIDATOR.value
    return entry.reason


def _profile(rows, cols, dtype=torch.int32):
    """A dynamic row count whose opt (traced example) is small and whose max is ``rows``."""
    return Input(min_shape=(1, cols), opt_shape=(4, cols), max_shape=(rows, cols), dtype=dtype)


def test_unique_refused_when_the_profile_max_exceeds_topk(module):
    """The example has 12 elements; the profile's max has 3843: the refusal says the limit, the bound and the fix."""
    reason = _refusal(module(_all), [_profile(1281, 3)], U2)
    assert "the input can reach 3843 elements" in reason and "at most 3840" in reason and "topk_max_k" in reason
    assert "lower max_shape[0] of input" in reason and "from 1281 to 1280 or less" in reason


def test_unique_whose_profile_max_fits_topk_converts(module):
    r = _convert(module(_all), [_profile(1280, 3)], ops=[U2])
    assert r.report.engines[0].validation["shape_sets"] == 3


def test_unique_dim_refused_when_the_profile_max_exceeds_topk(module):
    reason = _refusal(module(_rows(0)), [_profile(3841, 2, torch.int64)], UDIM)
    assert "dimension 0 can reach 3841 slices" in reason and "at most 3840" in reason
    assert "from 3841 to 3840 or less" in reason


def test_unique_dim_whose_profile_max_fits_topk_converts(module):
    _convert(module(_rows(0)), [_profile(3840, 2, torch.int64)], ops=[UDIM])


def _unique_of_selection(checked):
    def fn(a, b):
        y = a[b]
        if checked:
            torch._check(y.shape[0] <= 3840)  # what the refusal below tells the user to write
        return _all(y)

    return fn


def test_unique_of_data_dependent_size_is_refused_until_bounded(module, gen):
    """x[mask] of a 4000-element x can hold 4000 elements: refused, with the torch._check that fixes it."""
    x = torch.randint(0, 50, (4000,), generator=gen)
    mask = torch.rand(4000, generator=gen) > 0.5
    reason = _refusal(module(_unique_of_selection(False)), [x, mask], U2)
    assert "can reach 4000 elements" in reason and "torch._check(n <= 3840)" in reason
    r = _convert(module(_unique_of_selection(True)), [x, mask], ops=[U2, "aten::index.Tensor"])
    assert len(r.report.engines) == 1


def test_the_sort_follows_the_backends_topk_rank_rule(module, gen, monkeypatch):
    """The TopK emitter lifts its input to the backend's min_input_rank, whatever that is."""
    from trtforge_dds_ops.converters import _layers

    real = _layers.layer_limits

    def stricter(node, settings=None):
        return dataclasses.replace(real(node, settings), min_input_rank={"TOPK": 3})

    monkeypatch.setattr(_layers, "layer_limits", stricter)
    r = _convert(module(_all), [torch.randint(0, 6, (4, 5), generator=gen)], ops=[U2])
    net = r.networks[0].network
    topk = [net.get_layer(i) for i in range(net.num_layers) if net.get_layer(i).type.name == "TOPK"]
    assert topk and all(len(t.get_input(0).shape) == 3 for t in topk)
