"""Refit mapping: new weights, replayed through the recipes recorded at compile time, equal the
weights a fresh compile with those weights puts in its network, byte for byte.

Refittable engines need a GPU to build with TensorRT-RTX, so these compile network-only for
full TensorRT (``build=False, target_backend="tensorrt"``): the networks are real TensorRT-RTX
networks, the flags are set on a real builder config; only the build is left out.
"""
from __future__ import annotations

import pytest
import torch

import trtforge
from trtforge.conversion.interpreter import NETWORK_OBSERVERS
from trtforge.runtime import engines_of
from trtforge.refit.replay import RefitError, compute_weights, source_weights

NETWORK_ONLY = dict(immutable_weights=False, build=False, target_backend="tensorrt")


class TinyTransformer(torch.nn.Module):
    """One pre-norm attention block and an MLP: linear (transposed weights), layer norm,
    softmax attention, GELU, a tied-free embedding projection."""

    def __init__(self, d: int = 32, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = torch.nn.LayerNorm(d)
        self.qkv = torch.nn.Linear(d, 3 * d)
        self.proj = torch.nn.Linear(d, d)
        self.ln2 = torch.nn.LayerNorm(d)
        self.fc1 = torch.nn.Linear(d, 4 * d)
        self.fc2 = torch.nn.Linear(4 * d, d)
        self.pos = torch.nn.Parameter(torch.randn(1, 8, d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        x = x + self.pos
        q, k, v = self.qkv(self.ln1(x)).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-1, -2) / (d // self.heads) ** 0.5, dim=-1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(b, n, d))
        return x + self.fc2(torch.nn.functional.gelu(self.fc1(self.ln2(x))))


def _randomize(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if t.is_floating_point():
                fresh = torch.rand(t.shape, generator=gen) + 0.5 if "running_var" in name else torch.randn(t.shape, generator=gen)
                t.copy_(fresh)
    return model


def _compile_networks(model, inputs, **settings):
    nets = []
    NETWORK_OBSERVERS.append(nets.append)
    try:
        compiled = trtforge.compile(model, inputs, **settings)
    finally:
        NETWORK_OBSERVERS.remove(nets.append)
    return compiled, nets


def _layer_weight_bytes(net) -> set[bytes]:
    """Bytes of every weights object the TensorRT network's layers hold (read from TensorRT)."""
    trt = trtforge.backend.trt
    found = set()
    for i in range(net.network.num_layers):
        layer = net.network.get_layer(i)
        layer.__class__ = {
            trt.LayerType.CONSTANT: trt.IConstantLayer,
            trt.LayerType.CONVOLUTION: trt.IConvolutionLayer,
            trt.LayerType.DECONVOLUTION: trt.IDeconvolutionLayer,
        }.get(layer.type, layer.__class__)
        for attr in ("weights", "kernel", "bias"):
            w = getattr(layer, attr, None)
            if w is not None and hasattr(w, "tobytes") and w.size:
                found.add(w.tobytes())
    return found


def _check_refit_mapping(make, inputs, **settings):
    old = _randomize(make(), 0).eval()
    new = _randomize(make(), 1).eval()
    compiled, _ = _compile_networks(old, inputs, **NETWORK_ONLY, **settings)
    fresh, fresh_nets = _compile_networks(new, inputs, **NETWORK_ONLY, **settings)
    engines = engines_of(compiled)
    assert engines and all("REFIT" in e.metadata.builder_flags and e.metadata.refittable for e in engines)
    checked = 0
    for engine, net in zip(engines, fresh_nets):
        md = engine.metadata
        assert md.refit_map["weights"], f"engine {md.name} recorded no refittable weights"
        assert set(md.refit_map["weights"]) == set(net.refit_tensors)
        mapped = compute_weights(md.refit_map, source_weights(new), md.name)
        in_network = _layer_weight_bytes(net)
        for name, tensor in mapped.items():
            want = net.refit_tensors[name]
            assert tensor.dtype == want.dtype and tensor.shape == want.shape, name
            got_bytes = tensor.contiguous().view(torch.uint8).numpy().tobytes()
            assert got_bytes == want.contiguous().view(torch.uint8).numpy().tobytes(), name
            if tensor.numel() > 1:
                assert got_bytes in in_network, f"{name}: not among the network's layer weights"
            checked += 1
    return compiled, checked


@pytest.mark.slow
def test_resnet18_refit_mapping_matches_a_fresh_compile():
    torchvision = pytest.importorskip("torchvision")
    compiled, checked = _check_refit_mapping(lambda: torchvision.models.resnet18(), [torch.randn(1, 3, 32, 32)])
    md = engines_of(compiled)[0].metadata
    assert checked >= 60  # 20 convolutions + 20 batch norms (scale, shift) + fc
    sources = {n["param"] for n in md.refit_map["nodes"] if "param" in n}
    assert "conv1.weight" in sources and "bn1.running_var" in sources and "fc.weight" in sources


def test_transformer_refit_mapping_matches_a_fresh_compile():
    _, checked = _check_refit_mapping(TinyTransformer, [torch.randn(2, 8, 32)], min_block_size=1)
    assert checked >= 11


def test_half_precision_mapping_casts_and_folds_batch_norm():
    """fp16: the vision pack folds batch norm into the convolution before conversion; the recipe
    replays the fold and the cast."""
    make = lambda: torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),  # noqa: E731
                                       torch.nn.Flatten(), torch.nn.Linear(8 * 6 * 6, 4))
    compiled, checked = _check_refit_mapping(make, [torch.randn(1, 3, 8, 8)], precision="float16", min_block_size=1)
    md = engines_of(compiled)[0].metadata
    ops = {n.get("op") for n in md.refit_map["nodes"]}
    assert "aten::rsqrt.default" in ops and "aten::_to_copy.default" in ops
    assert checked >= 3


def test_wrong_new_weights_are_named():
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).eval()
    compiled = trtforge.compile(model, [torch.randn(1, 4)], min_block_size=1, **NETWORK_ONLY)
    md = engines_of(compiled)[0].metadata
    bad = dict(model.state_dict())
    del bad["2.bias"]
    with pytest.raises(RefitError, match=r"needs weight '2\.bias'"):
        compute_weights(md.refit_map, bad, md.name)
    bad = dict(model.state_dict(), **{"0.weight": torch.zeros(8, 5)})
    with pytest.raises(RefitError, match=r"'0\.weight' has shape \[8, 5\].*\[8, 4\]"):
        compute_weights(md.refit_map, bad, md.name)


def test_weights_that_cannot_be_replayed_are_named():
    """A weight whose value a converter reads into Python, or combines with a large tensor that
    is not a weight, cannot be recomputed from new weights: the tracker says which and why."""
    from trtforge.refit.tracker import WeightTracker, why_opaque

    tracker = WeightTracker()
    scale, w = torch.tensor(2.0), torch.randn(4, 300)
    tracker.seed("scale", scale)
    tracker.seed("lin.weight", w)
    tracker.where = "node mul"
    with tracker:
        factor = scale.item()
        mixed = w * torch.randn(4, 300)
        fine = (w.t() * 2).to(torch.float16)
    assert factor == 2.0
    assert tracker.baked == {"scale": "its value is read into Python by aten::_local_scalar_dense.default (node mul)"}
    assert "not a weight" in why_opaque(tracker.recipe(mixed))
    assert why_opaque(tracker.recipe(fine)) == ""
    assert tracker.recipe(fine).sources() == {"lin.weight"}


def test_refit_module_weights_reaches_the_refitter_call():
    """Everything before TensorRT: weights computed and checked for every engine, handed to the
    engine module; the Refitter itself runs when the engine is deserialized on a GPU."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)).eval()
    compiled = trtforge.compile(model, [torch.randn(1, 4)], min_block_size=1, **NETWORK_ONLY)
    new = _randomize(torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2)), 3)
    extra = dict(new.state_dict(), unused=torch.zeros(1))
    with pytest.warns(UserWarning, match="used by no engine.*'unused'"):
        assert trtforge.refit_module_weights(compiled, extra) is compiled
    engine = engines_of(compiled)[0]
    pending = engine._pending_weights
    assert set(pending) == set(engine.metadata.refit_map["weights"])
    assert any(torch.equal(t, new[0].weight.detach()) or torch.equal(t, new[0].weight.detach().t()) for t in pending.values())
    with pytest.raises(trtforge.RefitError, match="run it once before saving"):
        engine.__getstate__()


def test_refit_of_an_immutable_engine_names_the_setting():
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU()).eval()
    compiled = trtforge.compile(model, [torch.randn(1, 4)], min_block_size=1, build=False)
    with pytest.raises(trtforge.RefitError, match="immutable_weights=False"):
        trtforge.refit_module_weights(compiled, model)


def test_refit_through_torch_compile_is_refused_before_any_work():
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU()).eval()
    with pytest.raises(trtforge.CompilationError, match=r"ir='dynamo'\) only"):
        trtforge.compile(model, [torch.randn(1, 4)], ir="torch_compile", **NETWORK_ONLY)


def test_cache_hit_with_other_weights_and_fallback_weights_is_compiled_again(tmp_path):
    """Refit changes engines only: a cached program whose PyTorch segments hold weights is rebuilt."""
    class LinearThenMatmul(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.w = torch.nn.Linear(4, 8), torch.nn.Parameter(torch.randn(8, 2))

        def forward(self, x):
            return torch.relu(self.lin(x)) @ self.w

    make = lambda: LinearThenMatmul().eval()  # noqa: E731
    settings = dict(min_block_size=1, engine_cache_dir=str(tmp_path), torch_executed_ops={"aten::matmul", "aten::mm"},
                    **NETWORK_ONLY)
    x = [torch.randn(1, 4)]
    trtforge.compile(_randomize(make(), 0), x, **settings)
    with pytest.warns(UserWarning, match="weights of their own"):
        again = trtforge.compile(_randomize(make(), 1), x, **settings)
    assert again.trtforge_report.cache == "miss" and engines_of(again)
