"""Nothing the user passed in is changed behind their back (scope 6 of issue 18), and tensors of
types TensorRT lacks stay in PyTorch per node, with the reason (scope 7)."""
from __future__ import annotations

import pytest
import torch

import trtforge
from trtforge.plugins.registry import Reason


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.randn(4))
        self.frozen = torch.nn.Dropout(0.5)

    def forward(self, x):
        return torch.relu(self.frozen(x) * self.w + x)


def test_compile_and_save_leave_every_modes_flag_as_it_was(toy_manager, tmp_path):
    model = Net().train()
    model.frozen.eval()  # mixed modes, as when some layers are frozen
    before = [m.training for m in model.modules()]
    compiled = trtforge.compile(model, [torch.randn(2, 4)], min_block_size=1)
    assert [m.training for m in model.modules()] == before == [True, False]
    assert compiled.trtforge_report.built  # compiled in eval mode: the dropout is gone
    trtforge.save(compiled, tmp_path / "p.pt2", inputs=[torch.randn(2, 4)])
    assert [m.training for m in model.modules()] == before


def test_a_float64_model_keeps_its_dtypes_and_says_why(toy_manager):
    model = Net().double().eval()
    x = torch.randn(2, 4, dtype=torch.float64)
    compiled = trtforge.compile(model, [x], min_block_size=1, validate=True)
    report = compiled.trtforge_report
    assert report.engines == [] and report.fallback
    assert {f.category for f in report.fallback} == {Reason.DTYPE.value}
    assert "torch.float64" in report.fallback[0].reason and "model.float()" in report.fallback[0].reason
    out = compiled(x)
    assert out.dtype == torch.float64 and torch.equal(out, model(x))


def test_complex_nodes_stay_in_pytorch_and_the_rest_converts(toy_manager):
    class Rotate(torch.nn.Module):
        def forward(self, x):
            y = torch.relu(x * 2 + x)
            z = torch.view_as_complex(torch.stack([y, y], -1))
            return torch.view_as_real(z * z).sum(-1) + y

    for fallback_on_error in (False, True):  # never a raw TypeError from a converter
        compiled = trtforge.compile(Rotate(), [torch.randn(2, 4)], min_block_size=1,
                                    fallback_on_error=fallback_on_error)
        report = compiled.trtforge_report
        dtype_ops = {f.op for f in report.fallback if f.category == Reason.DTYPE.value}
        assert {"aten::view_as_complex.default", "aten::view_as_real.default"} <= dtype_ops
        assert report.built and any(e.status == "built" for e in report.engines)


class _Branchy(torch.nn.Module):
    def forward(self, x):
        return x + 1 if x.sum() > 0 else x - 1


class _Raises(torch.nn.Module):
    def forward(self, x):
        raise KeyError("the model was never configured")


@pytest.mark.parametrize("model, x, message, advice", [
    (_Branchy(), torch.randn(4), "its Python control flow depends on tensor values", True),
    (torch.nn.Linear(4, 4), torch.randn(2, 3), r"it does not accept the inputs given \(2x3@float32\)", False),
    (_Raises(), torch.randn(2), r"the model raised KeyError: 'the model was never configured' when run", False),
])
def test_export_failures_are_told_apart(toy_manager, model, x, message, advice):
    with pytest.raises(trtforge.ExportError, match=message) as info:
        trtforge.compile(model, [x])
    assert ("torch.compile(model, backend='trtforge')" in str(info.value)) == advice


def test_a_disabled_pack_that_would_convert_is_named(toy_manager):
    torchvision = pytest.importorskip("torchvision")
    from trtforge.plugins.manager import PackRecord

    toy_manager.records["detection"] = PackRecord("detection", "blocked", "trtforge-detection",
                                                  error="blocked (TRTFORGE_DISABLE_PACKS)")

    class Pool(torch.nn.Module):
        def forward(self, x, boxes):
            return torchvision.ops.roi_align(torch.relu(x), boxes, 2)

    boxes = torch.tensor([[0, 0.0, 0.0, 3.0, 3.0]])
    report = trtforge.compile(Pool(), [torch.randn(1, 2, 4, 4), boxes], min_block_size=1, dryrun=True)
    (entry,) = [f for f in report.fallback if f.op.startswith("torchvision::roi_align")]
    assert "pack 'detection' (trtforge-detection), which converts it, is installed but not loaded: blocked " \
           "(TRTFORGE_DISABLE_PACKS)" in entry.reason
    assert any(w.startswith("Pack 'detection'") and "1 node(s) stay in PyTorch" in w for w in report.warnings)


def test_a_forced_backend_that_is_missing_says_which_is_installed(monkeypatch):
    import importlib.util

    from trtforge import backend

    missing = next((b for b in ("tensorrt", "tensorrt_rtx") if importlib.util.find_spec(backend.BACKENDS[b]) is None), None)
    if missing is None:
        pytest.skip("both TensorRT backends are installed: none is missing to force")
    other = next(b for b in ("tensorrt", "tensorrt_rtx") if b != missing)
    monkeypatch.setenv("TRTFORGE_BACKEND", missing)
    backend._reset_for_tests()
    try:
        with pytest.raises(trtforge.BackendUnavailable) as info:
            backend.load()
    finally:
        monkeypatch.delenv("TRTFORGE_BACKEND")
        backend._reset_for_tests()
    text = str(info.value)
    assert text.startswith(f"TRTFORGE_BACKEND={missing} asks for {missing}, which is not installed")
    if importlib.util.find_spec(backend.BACKENDS[other]) is not None:
        assert f"{other} is installed: unset TRTFORGE_BACKEND (or set it to {other})" in text


def test_validation_reads_bfloat16_weights():
    """TensorRT's bindings return bfloat16 weights without values; the reference executor reads
    them from what the conversion handed over (a model with bf16 weights failed validation)."""
    pytest.importorskip("trtforge_vision")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(16, 8)).to(torch.bfloat16).eval()
    x = torch.randn(2, 3, 4, 4, dtype=torch.bfloat16)
    report = trtforge.compile(model, [x], min_block_size=1, validate=True, precision="bfloat16").trtforge_report
    (engine,) = report.engines
    assert engine.status == "built" and engine.validation["rel_err"] < 2e-2


def test_an_unbounded_data_dependent_size_gets_the_intended_message(toy_manager):
    class FromData(torch.nn.Module):
        def forward(self, x):
            n = x.sum().long().item()
            torch._check(n >= 0)
            y = torch.ones(n) * 2  # ones stays in PyTorch: its unbounded size would enter an engine
            return torch.relu(y + y)

    with pytest.raises(trtforge.ConversionError, match="dimension u0 has no finite bound .*torch._check"):
        trtforge.compile(FromData(), [torch.ones(4, 4)], min_block_size=1)
