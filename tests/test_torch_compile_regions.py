"""torch.compile regions end to end on CPU: the arguments dynamo passes reach the engines (weights
lifted to inputs, symbolic sizes), and dynamic batches get one engine per range.

No engine can execute here, so each engine runs the network it was built from with the reference
executor (the ``reference_engines`` fixture: real networks, real built engines; only the execution
is on CPU). Without it a compiled region must fail with NoCUDADeviceError, never an IndexError.
"""
from __future__ import annotations

import functools

import pytest
import torch

import trtforge
from trtforge.dynamo_backend import collect_reports, trtforge_backend

pytest.importorskip("trtforge_vision")


class ConvNet(torch.nn.Module):
    """Parameters and buffers (lifted to region inputs by dynamo), and a size read from the input
    (a SymInt region input once the batch is dynamic)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(8)
        self.fc = torch.nn.Linear(8, 4)

    def forward(self, x):
        y = torch.relu(self.bn(self.conv(x))).mean((2, 3))
        return self.fc(y).view(x.shape[0], 2, 2)


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = ConvNet().eval()
    model.bn.running_mean.uniform_(-1, 1)
    model.bn.running_var.uniform_(0.5, 2)
    return model


def _backend(observer, **options):
    return functools.partial(trtforge_backend, options={"min_block_size": 1, **options}, observers=[observer])


def test_a_region_with_weights_gets_the_arguments_dynamo_passes(reference_engines):
    """The backend used to erase the weight placeholders of dynamo's own graph; dynamo then passed
    only the remaining inputs, which ``run`` indexed by their old positions (IndexError)."""
    observer, ran = reference_engines
    model = _model()
    compiled = torch.compile(model, backend=_backend(observer), dynamic=False)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad(), collect_reports() as regions:
        got = compiled(x)
    assert [e.status for r in regions for e in r.engines] == ["built"] and ran
    torch.testing.assert_close(got, model(x), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only error; GPU machines run engines")
def test_ir_torch_compile_on_cpu_says_there_is_no_gpu():
    torch._dynamo.reset()
    compiled = trtforge.compile(_model(), [torch.randn(2, 3, 16, 16)], ir="torch_compile", min_block_size=1)
    with torch.no_grad(), pytest.raises(trtforge.NoCUDADeviceError):
        compiled(torch.randn(2, 3, 16, 16))


def test_a_marked_dynamic_batch_is_one_engine_over_its_range(reference_engines):
    observer, ran = reference_engines
    model = _model()
    compiled = torch.compile(model, backend=_backend(observer))
    x = torch.randn(3, 3, 16, 16)
    torch._dynamo.mark_dynamic(x, 0, min=2, max=6)
    with torch.no_grad(), collect_reports() as regions:
        outs = [(compiled(t), model(t)) for t in (x, torch.randn(6, 3, 16, 16), torch.randn(2, 3, 16, 16))]
    (region,) = regions  # the later batches reuse the region: no recompile
    (engine,) = region.engines
    assert engine.status == "built" and not region.fallback
    assert len(ran) == 1  # one engine ran all three batches
    for got, want in outs:
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)


def test_ir_torch_compile_uses_the_input_range_and_leaves_the_callers_tensor_alone(reference_engines):
    observer, ran = reference_engines
    model = _model()
    spec = trtforge.Input(min_shape=(1, 3, 16, 16), opt_shape=(4, 3, 16, 16), max_shape=(8, 3, 16, 16))
    compiled = trtforge.compile(model, [spec], ir="torch_compile", min_block_size=1, observers=[observer])
    with torch.no_grad(), collect_reports() as regions:
        for batch in (2, 5, 8):
            x = torch.randn(batch, 3, 16, 16)
            torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)
            assert not x.__dict__  # no dynamo marks left on the caller's tensor
    assert len(regions) == 1 and [e.status for e in regions[0].engines] == ["built"]
    assert len(ran) == 1


def test_an_unbounded_dynamic_size_stays_in_pytorch_and_says_how_to_bound_it(reference_engines):
    observer, ran = reference_engines
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU()).eval()
    compiled = torch.compile(model, backend=_backend(observer), dynamic=True)
    x = torch.randn(3, 8)
    with torch.no_grad(), collect_reports() as regions, pytest.warns(UserWarning, match="mark_dynamic"):
        got = compiled(x)
    torch.testing.assert_close(got, model(x))
    (region,) = regions
    assert not region.engines and not ran
    assert any("no upper bound" in p and "mark_dynamic(x, dim, min=..., max=...)" in p for p in region.passes)
