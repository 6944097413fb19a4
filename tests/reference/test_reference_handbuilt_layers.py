"""Hand-built networks for data-movement, NN and data-dependent layers.

NMS is checked against ``torchvision.ops.nms`` (TensorRT documents the same greedy
rule: keep a box if its IoU with every kept box is <= the threshold), NonZero against
``torch.nonzero(x).T``, Resize attribute combinations against onnxruntime running the
equivalent ONNX ``Resize`` node, slices against ``numpy.take``/``numpy.pad``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trtforge.validation.reference import ReferenceExecutionError, run_network


def _single(h: Any, x: torch.Tensor, layer: Any, name: str = "x") -> torch.Tensor:
    h.output(layer.get_output(0), "y")
    return run_network(h.net, {name: x})["y"]


# --------------------------------------------------------------------- NMS / NonZero
def _random_boxes(gen: torch.Generator, b: int, n: int) -> torch.Tensor:
    xy = torch.rand(b, n, 2, generator=gen) * 20
    wh = torch.rand(b, n, 2, generator=gen) * 8 + 1
    return torch.cat([xy, xy + wh], -1)


def _nms_net(hand: Any, trt: Any, boxes: torch.Tensor, scores: torch.Tensor, max_out: int, iou: float,
             score_thr: float, fmt: str = "CORNER_PAIRS", limit: int | None = None) -> tuple[Any, Any]:
    h = hand()
    tb = h.input("boxes", trt.float32, boxes.shape)
    ts = h.input("scores", trt.float32, scores.shape)
    layer = h.net.add_nms(tb, ts, h.const(np.array(max_out, dtype=np.int32), ()))
    layer.set_input(3, h.const(np.array(iou, dtype=np.float32), ()))
    layer.set_input(4, h.const(np.array(score_thr, dtype=np.float32), ()))
    layer.bounding_box_format = getattr(trt.BoundingBoxFormat, fmt)
    if limit is not None:
        layer.topk_box_limit = limit
    h.output(layer.get_output(0), "selected")
    h.output(layer.get_output(1), "count")
    return h, layer


def _torchvision_nms(boxes: torch.Tensor, scores: torch.Tensor, max_out: int, iou: float, thr: float) -> set:
    from torchvision.ops import nms

    rows = set()
    for b in range(scores.shape[0]):
        for c in range(scores.shape[2]):
            idx = torch.nonzero(scores[b, :, c] > thr).reshape(-1)
            keep = nms(boxes[b, idx], scores[b, idx, c], iou)[:max_out]
            rows |= {(b, c, int(idx[k])) for k in keep}
    return rows


def test_nms_matches_torchvision(hand: Any, trt: Any) -> None:
    pytest.importorskip("torchvision", reason="torchvision.ops.nms is the ground truth")
    gen = torch.Generator().manual_seed(3)
    boxes = _random_boxes(gen, 2, 40)
    scores = torch.rand(2, 40, 3, generator=gen)
    h, _ = _nms_net(hand, trt, boxes, scores, max_out=5, iou=0.3, score_thr=0.25)
    out = run_network(h.net, {"boxes": boxes, "scores": scores})
    sel, count = out["selected"], out["count"]
    assert sel.dtype == torch.int32 and count.dtype == torch.int32 and count.dim() == 0
    assert int(count) == sel.shape[0] and sel.shape[1] == 3
    rows = [tuple(r) for r in sel.tolist()]
    assert set(rows) == _torchvision_nms(boxes, scores, 5, 0.3, 0.25)
    assert len(rows) == len(set(rows))
    # documented order: increasing batch index, then decreasing score within a batch
    keys = [(b, -float(scores[b, n, c])) for b, c, n in rows]
    assert keys == sorted(keys)


def test_nms_center_sizes_and_swapped_corners_agree(hand: Any, trt: Any) -> None:
    from torchvision.ops import box_convert

    gen = torch.Generator().manual_seed(4)
    boxes = _random_boxes(gen, 1, 30)
    scores = torch.rand(1, 30, 2, generator=gen)
    results = []
    for fmt, bx in [("CORNER_PAIRS", boxes), ("CORNER_PAIRS", boxes[..., [2, 3, 0, 1]]),
                    ("CENTER_SIZES", box_convert(boxes, "xyxy", "cxcywh"))]:
        h, _ = _nms_net(hand, trt, bx, scores, max_out=30, iou=0.4, score_thr=0.0, fmt=fmt)
        results.append(run_network(h.net, {"boxes": bx, "scores": scores})["selected"].tolist())
    assert results[0] == results[1] == results[2]
    assert {tuple(r) for r in results[0]} == _torchvision_nms(boxes, scores, 30, 0.4, 0.0)


def test_nms_topk_box_limit_applies_per_batch_across_classes(hand: Any, trt: Any) -> None:
    # Far-apart boxes never suppress each other: the output is exactly the `limit` best
    # (box, class) candidates of each batch item.
    boxes = torch.tensor([[[10.0 * i, 0, 10.0 * i + 5, 5] for i in range(6)]] * 2)
    gen = torch.Generator().manual_seed(5)
    scores = torch.rand(2, 6, 2, generator=gen) + 0.1
    h, _ = _nms_net(hand, trt, boxes, scores, max_out=6, iou=0.5, score_thr=0.0, limit=4)
    rows = run_network(h.net, {"boxes": boxes, "scores": scores})["selected"].tolist()
    for b in range(2):
        best = torch.topk(scores[b].reshape(-1), 4).indices.tolist()
        assert sorted((c, n) for bb, c, n in rows if bb == b) == sorted((i % 2, i // 2) for i in best)


@pytest.mark.parametrize("indices_type", ["int32", "int64"])
def test_non_zero_layout(indices_type: str, hand: Any, trt: Any) -> None:
    x = torch.tensor([[0.0, 1.5, 0.0, -2.0], [3.0, 0.0, 0.0, 4.0], [0.0, 0.0, 0.0, 0.0]])
    h = hand()
    inp = h.input("x", trt.float32, x.shape)
    got = _single(h, x, h.net.add_non_zero(inp, getattr(trt, indices_type)))
    assert got.dtype == getattr(torch, indices_type)
    assert torch.equal(got.long(), torch.nonzero(x).T)  # [rank, count], row-major columns


# --------------------------------------------------------------------- slice / pad / gather / scatter
@pytest.mark.parametrize("mode,np_mode", [("WRAP", "wrap"), ("CLAMP", "edge"), ("REFLECT", "reflect"), ("FILL", "constant")])
def test_slice_sample_modes_vs_numpy_pad(mode: str, np_mode: str, hand: Any, trt: Any) -> None:
    x = torch.arange(2 * 5, dtype=torch.float32).reshape(2, 5) + 1
    h = hand()
    inp = h.input("x", trt.float32, x.shape)
    layer = h.net.add_slice(inp, (0, -3), (2, 13), (1, 1))
    layer.mode = getattr(trt.SampleMode, mode)
    if mode == "FILL":
        layer.set_input(4, h.const(np.array(-7.0, dtype=np.float32), ()))
    got = _single(h, x, layer)
    kw = {"constant_values": -7.0} if mode == "FILL" else {}
    ref = np.pad(x.numpy(), ((0, 0), (3, 5)), mode=np_mode, **kw)
    assert np.array_equal(got.numpy(), ref)


def test_slice_negative_stride_dynamic_params_and_axes(hand: Any, trt: Any) -> None:
    x = torch.arange(4 * 6 * 5, dtype=torch.float32).reshape(4, 6, 5)
    h = hand()
    inp = h.input("x", trt.float32, x.shape)
    rev = h.net.add_slice(inp, (3, 5, 0), (2, 3, 5), (-1, -2, 1))
    dyn = h.net.add_slice(inp, (0,), (0,), (0,))
    dyn.set_input(1, h.const(np.array([1, 4], dtype=np.int64)))
    dyn.set_input(2, h.const(np.array([2, 3], dtype=np.int64)))
    dyn.set_input(3, h.const(np.array([3, -1], dtype=np.int64)))
    dyn.set_input(5, h.const(np.array([1, -1], dtype=np.int64)))  # axes 1 and 2 (negative)
    h.output(rev.get_output(0), "rev")
    h.output(dyn.get_output(0), "dyn")
    out = run_network(h.net, {"x": x})
    xn = x.numpy()
    assert np.array_equal(out["rev"].numpy(), xn[3:1:-1, 5:0:-2, :])
    assert np.array_equal(out["dyn"].numpy(), xn[:, 1:5:3, 4:1:-1])


def test_shuffle_transpose_reshape_transpose(hand: Any, trt: Any) -> None:
    x = torch.randn(2, 3, 4)
    h = hand()
    inp = h.input("x", trt.float32, x.shape)
    s = h.net.add_shuffle(inp)
    s.first_transpose = (1, 0, 2)
    s.reshape_dims = (0, -1, 2)  # 0 copies dim 0 of the *transposed* tensor (3)
    s.second_transpose = (2, 0, 1)
    dyn = h.net.add_shuffle(inp)
    dyn.set_input(1, h.const(np.array([0, -1], dtype=np.int64)))  # dynamic reshape, 0 = copy dim 0
    empty = h.net.add_shuffle(h.net.add_slice(inp, (0, 0, 0), (0, 3, 4), (1, 1, 1)).get_output(0))
    empty.zero_is_placeholder = False
    empty.reshape_dims = (3, 0, 2)
    for n, layer in [("s", s), ("dyn", dyn), ("empty", empty)]:
        h.output(layer.get_output(0), n)
    out = run_network(h.net, {"x": x})
    assert torch.equal(out["s"], x.permute(1, 0, 2).reshape(3, 4, 2).permute(2, 0, 1))
    assert torch.equal(out["dyn"], x.reshape(2, 12))
    assert tuple(out["empty"].shape) == (3, 0, 2)


def test_pooling_max_average_blend(hand: Any, trt: Any) -> None:
    x = torch.randn(1, 2, 6, 7)
    h = hand()
    inp = h.input("x", trt.float32, x.shape)
    p = h.net.add_pooling_nd(inp, trt.PoolingType.MAX_AVERAGE_BLEND, (3, 3))
    p.blend_factor, p.stride_nd, p.padding_nd = 0.3, (2, 2), (1, 1)
    got = _single(h, x, p)
    ref = 0.7 * F.max_pool2d(x, 3, 2, 1) + 0.3 * F.avg_pool2d(x, 3, 2, 1, count_include_pad=False)
    torch.testing.assert_close(got, ref)


def test_padding_layer_pads_and_trims(hand: Any, trt: Any) -> None:
    x = torch.randn(1, 2, 4, 5)
    h = hand()
    inp = h.input("x", trt.float32, x.shape)
    got = _single(h, x, h.net.add_padding_nd(inp, (1, 2), (2, -1)))
    ref = np.pad(x.numpy(), ((0, 0), (0, 0), (1, 2), (2, 0)))[..., :-1]
    assert np.array_equal(got.numpy(), ref)


def test_gather_elementwise_dims_and_nd(hand: Any, trt: Any) -> None:
    data = torch.randn(3, 4, 5)
    idx = torch.tensor([[1, 3], [0, 0], [2, 1]], dtype=torch.int32)
    nd_idx = torch.tensor([[[1, 4], [3, 0]], [[0, 0], [2, 2]], [[3, 3], [1, 2]]], dtype=torch.int32)
    h = hand()
    d = h.input("d", trt.float32, data.shape)
    g1 = h.net.add_gather(d, h.const(idx.numpy()), 1)
    g1.num_elementwise_dims = 1
    g2 = h.net.add_gather_v2(d, h.const(nd_idx.numpy()), trt.GatherMode.ND)
    g2.num_elementwise_dims = 1
    h.output(g1.get_output(0), "g1")
    h.output(g2.get_output(0), "g2")
    out = run_network(h.net, {"d": data})
    dn = data.numpy()
    ref1 = np.stack([np.take(dn[b], idx[b].numpy(), axis=0) for b in range(3)])
    ref2 = np.stack([np.stack([dn[b][tuple(p)] for p in nd_idx[b].numpy()]) for b in range(3)])
    assert np.array_equal(out["g1"].numpy(), ref1) and np.array_equal(out["g2"].numpy(), ref2)


def test_gather_out_of_range_index_is_an_error(hand: Any, trt: Any) -> None:
    h = hand()
    d = h.input("d", trt.float32, (3, 4))
    g = h.net.add_gather(d, h.const(np.array([0, -1], dtype=np.int32)), 0)
    g.name = "bad_gather"
    h.output(g.get_output(0), "y")
    with pytest.raises(ReferenceExecutionError, match="bad_gather.*indices must lie in"):
        run_network(h.net, {"d": torch.zeros(3, 4)})


def test_scatter_nd_partial_index(hand: Any, trt: Any) -> None:
    data = torch.zeros(3, 4, 2)
    idx = np.array([[2, 1], [0, 3]], dtype=np.int32)
    upd = torch.randn(2, 2)
    h = hand()
    d = h.input("d", trt.float32, data.shape)
    u = h.input("u", trt.float32, upd.shape)
    layer = h.net.add_scatter(d, h.const(idx), u, trt.ScatterMode.ND)
    h.output(layer.get_output(0), "y")
    got = run_network(h.net, {"d": data, "u": upd})["y"].numpy()
    ref = data.numpy().copy()
    ref[2, 1], ref[0, 3] = upd[0].numpy(), upd[1].numpy()
    assert np.array_equal(got, ref)


def test_squeeze_unsqueeze_one_hot_reverse_sequence(hand: Any, trt: Any) -> None:
    x = torch.randn(1, 3, 1, 4)
    h = hand()
    inp = h.input("x", trt.float32, x.shape)
    sq = h.net.add_squeeze(inp, h.const(np.array([0, -2], dtype=np.int64)))
    unsq = h.net.add_unsqueeze(sq.get_output(0), h.const(np.array([0, 3], dtype=np.int64)))
    idx = h.const(np.array([[1, -1, 3], [0, 2, 9]], dtype=np.int32))
    oh = h.net.add_one_hot(idx, h.const(np.array([0.5, 2.0], dtype=np.float32)), h.const(np.array(4, dtype=np.int32), ()), 0)
    rs = h.net.add_reverse_sequence(inp, h.const(np.array([2, 4, 0], dtype=np.int32)))
    rs.batch_axis, rs.sequence_axis = 1, 3
    for n, layer in [("sq", sq), ("unsq", unsq), ("oh", oh), ("rs", rs)]:
        h.output(layer.get_output(0), n)
    out = run_network(h.net, {"x": x})
    assert torch.equal(out["sq"], x.reshape(3, 4))
    assert torch.equal(out["unsq"], x.reshape(1, 3, 4, 1))
    ref_oh = np.full((4, 2, 3), 0.5, dtype=np.float32)  # axis 0; -1 means depth-1; 9 is off
    for (i, j), v in np.ndenumerate(np.array([[1, -1, 3], [0, 2, 9]])):
        if -4 <= v < 4:
            ref_oh[v % 4, i, j] = 2.0
    assert np.array_equal(out["oh"].numpy(), ref_oh)
    xn = x.numpy()
    ref_rs = xn.copy()
    for b, n in enumerate([2, 4, 0]):
        ref_rs[:, b, :, :n] = xn[:, b, :, :n][..., ::-1]
    assert np.array_equal(out["rs"].numpy(), ref_rs)


def test_assertion_layer(hand: Any, trt: Any) -> None:
    h = hand()
    x = h.input("x", trt.float32, (2,))
    cond = h.net.add_elementwise(h.net.add_shape(x).get_output(0), h.const(np.array([2], dtype=np.int64)), trt.ElementWiseOperation.EQUAL)
    h.net.add_assertion(cond.get_output(0), "x must have 2 elements")
    bad = h.net.add_elementwise(h.net.add_shape(x).get_output(0), h.const(np.array([3], dtype=np.int64)), trt.ElementWiseOperation.EQUAL)
    h.output(h.net.add_identity(x).get_output(0), "y")
    assert torch.equal(run_network(h.net, {"x": torch.ones(2)})["y"], torch.ones(2))
    h.net.add_assertion(bad.get_output(0), "x must have 3 elements")
    with pytest.raises(ReferenceExecutionError, match="x must have 3 elements"):
        run_network(h.net, {"x": torch.ones(2)})


# --------------------------------------------------------------------- NN layers
def test_normalization_groups_v1_and_v2(hand: Any, trt: Any) -> None:
    if not hasattr(trt.INetworkDefinition, "add_normalization_v2"):
        pytest.skip("this TensorRT predates add_normalization_v2 (TensorRT 10.15)")
    x = torch.randn(2, 6, 3, 4)
    gamma_c, beta_c = torch.rand(6) + 0.5, torch.randn(6)
    gamma_g, beta_g = torch.rand(3) + 0.5, torch.randn(3)
    h = hand()
    inp = h.input("x", trt.float32, x.shape)
    v2 = h.net.add_normalization_v2(inp, h.const(gamma_c.numpy().reshape(1, 6, 1, 1)), h.const(beta_c.numpy().reshape(1, 6, 1, 1)), 0b1100)
    v2.num_groups = 3
    v1 = h.net.add_normalization(inp, h.const(gamma_g.numpy().reshape(1, 3, 1, 1)), h.const(beta_g.numpy().reshape(1, 3, 1, 1)), 0b1100)
    v1.num_groups = 3
    ln = h.net.add_normalization(inp, h.const(np.ones((1, 1, 3, 4), np.float32)), h.const(np.zeros((1, 1, 3, 4), np.float32)), 0b1110)
    ln.epsilon = 1e-3
    for n, layer in [("v2", v2), ("v1", v1), ("ln", ln)]:
        h.output(layer.get_output(0), n)
    out = run_network(h.net, {"x": x})
    torch.testing.assert_close(out["v2"], F.group_norm(x, 3, gamma_c, beta_c), atol=1e-5, rtol=1e-5)
    ref_v1 = F.group_norm(x, 3) * gamma_g.repeat_interleave(2).reshape(1, 6, 1, 1) + beta_g.repeat_interleave(2).reshape(1, 6, 1, 1)
    torch.testing.assert_close(out["v1"], ref_v1, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out["ln"], F.layer_norm(x, (6, 3, 4), eps=1e-3), atol=1e-5, rtol=1e-5)


def test_lrn_layer(hand: Any, trt: Any) -> None:
    x = torch.randn(1, 7, 3, 3)
    h = hand()
    inp = h.input("x", trt.float32, x.shape)
    got = _single(h, x, h.net.add_lrn(inp, 5, 0.3, 0.75, 2.0))
    torch.testing.assert_close(got, F.local_response_norm(x, 5, 0.3, 0.75, 2.0))


@pytest.mark.parametrize("mode", ["SAME_UPPER", "SAME_LOWER"])
def test_convolution_and_pooling_same_padding(mode: str, hand: Any, trt: Any) -> None:
    x = torch.randn(1, 2, 7, 6)
    w = np.random.default_rng(0).standard_normal((3, 2, 4, 3)).astype(np.float32)
    h = hand()
    inp = h.input("x", trt.float32, x.shape)
    conv = h.net.add_convolution_nd(inp, 3, (4, 3), h.weights(w))
    conv.stride_nd = (2, 2)
    conv.padding_mode = getattr(trt.PaddingMode, mode)
    pool = h.net.add_pooling_nd(inp, trt.PoolingType.MAX, (2, 2))
    pool.stride_nd = (2, 2)
    pool.padding_mode = getattr(trt.PaddingMode, mode)
    h.output(conv.get_output(0), "conv")
    h.output(pool.get_output(0), "pool")
    out = run_network(h.net, {"x": x})
    # SAME: out = ceil(in / stride); total = (out-1)*stride + k - in; UPPER puts the odd one at the end
    big_first = mode == "SAME_LOWER"
    # H: in 7, k 4, s 2 -> out 4, total 3;  W: in 6, k 3, s 2 -> out 3, total 1
    pads = (1, 0) if big_first else (0, 1)
    padh = (2, 1) if big_first else (1, 2)
    ref = F.conv2d(F.pad(x, pads + padh), torch.from_numpy(w), stride=2)
    torch.testing.assert_close(out["conv"], ref, atol=1e-5, rtol=1e-5)
    # pool H: in 7 -> out 4, total 1; W: in 6 -> out 3, total 0
    ref_pool = F.max_pool2d(F.pad(x, (0, 0) + ((1, 0) if big_first else (0, 1)), value=-float("inf")), 2)
    torch.testing.assert_close(out["pool"], ref_pool)


def _onnx_resize(x: np.ndarray, sizes: list[int], **attrs: Any) -> np.ndarray:
    import onnxruntime as ort
    from onnx import TensorProto, helper

    node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], **attrs)
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [helper.make_tensor("sizes", TensorProto.INT64, [len(sizes)], sizes)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"x": x})[0]


RESIZES = [
    # (trt mode, coord, selector, rounding, cubic a, exclude, onnx attrs, out size)
    ("NEAREST", "HALF_PIXEL", "FORMULA", "HALF_UP", -0.75, False, dict(mode="nearest", coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_ceil"), (7, 5)),
    ("NEAREST", "HALF_PIXEL", "FORMULA", "HALF_DOWN", -0.75, False, dict(mode="nearest", coordinate_transformation_mode="half_pixel", nearest_mode="round_prefer_floor"), (7, 5)),
    ("NEAREST", "ASYMMETRIC", "FORMULA", "CEIL", -0.75, False, dict(mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="ceil"), (6, 3)),
    ("NEAREST", "ALIGN_CORNERS", "FORMULA", "HALF_UP", -0.75, False, dict(mode="nearest", coordinate_transformation_mode="align_corners", nearest_mode="round_prefer_ceil"), (8, 7)),
    ("LINEAR", "ASYMMETRIC", "FORMULA", "FLOOR", -0.75, False, dict(mode="linear", coordinate_transformation_mode="asymmetric"), (7, 2)),
    ("LINEAR", "HALF_PIXEL", "UPPER", "FLOOR", -0.75, False, dict(mode="linear", coordinate_transformation_mode="pytorch_half_pixel"), (1, 6)),
    ("CUBIC", "HALF_PIXEL", "FORMULA", "FLOOR", -0.5, True, dict(mode="cubic", coordinate_transformation_mode="half_pixel", cubic_coeff_a=-0.5, exclude_outside=1), (9, 3)),
    ("CUBIC", "ASYMMETRIC", "FORMULA", "FLOOR", -0.75, False, dict(mode="cubic", coordinate_transformation_mode="asymmetric"), (5, 8)),
]


@pytest.mark.parametrize("mode,coord,selector,rounding,coeff,exclude,attrs,size", RESIZES, ids=[f"{r[0]}-{r[1]}-{r[2]}-{r[3]}" for r in RESIZES])
def test_resize_modes_vs_onnxruntime(mode, coord, selector, rounding, coeff, exclude, attrs, size, hand: Any, trt: Any) -> None:
    pytest.importorskip("onnxruntime", reason="onnxruntime's ONNX Resize is the ground truth")
    x = torch.randn(1, 2, 4, 5)
    h = hand()
    inp = h.input("x", trt.float32, x.shape)
    layer = h.net.add_resize(inp)
    layer.shape = (1, 2) + size
    layer.resize_mode = getattr(trt.InterpolationMode, mode)
    layer.coordinate_transformation = getattr(trt.ResizeCoordinateTransformation, coord)
    layer.selector_for_single_pixel = getattr(trt.ResizeSelector, selector)
    layer.nearest_rounding = getattr(trt.ResizeRoundMode, rounding)
    layer.cubic_coeff = coeff
    layer.exclude_outside = exclude
    got = _single(h, x, layer)
    ref = _onnx_resize(x.numpy(), [1, 2, *size], **attrs)
    np.testing.assert_allclose(got.numpy(), ref, atol=1e-5, rtol=1e-5)
