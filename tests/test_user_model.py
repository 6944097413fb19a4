"""Nothing the user passed in is changed behind their back (scope 6 of issue 18), and tensors of
types TensorRT lacks stay in PyTorch per node, with the reason (scope 7)."""
from __future__ import annotations

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
