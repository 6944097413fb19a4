"""The test kit's packs: ``--trtforge-conformance`` cannot pass silently (an unknown pack name
fails; a pack loaded in-process through the kit's fixture is checked like an installed one), and a
pack under test loads next to the installed packs it needs (``needs=``)."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

import trtforge
from trtforge.errors import PackLoadError
from trtforge.testing import check_converts, pack_manager


def test_conformance_fails_for_an_unknown_pack_and_checks_in_process_packs(tmp_path):
    (tmp_path / "test_inproc.py").write_text(textwrap.dedent('''
        import torch
        import trtforge
        from trtforge.testing import check_converts, module_from

        @trtforge.converter(torch.ops.aten.relu.default)
        def relu(ctx, target, args, kwargs, name):
            return ctx.out(ctx.net.add_activation(args[0], ctx.trt.ActivationType.RELU))

        @trtforge.converter(torch.ops.aten.sigmoid.default)
        def sigmoid(ctx, target, args, kwargs, name):
            return ctx.out(ctx.net.add_activation(args[0], ctx.trt.ActivationType.SIGMOID))

        class InProc:
            @trtforge.hookimpl
            def trtforge_pack_info(self):
                return trtforge.PackInfo("inproc", "0.1", "loaded by the fixture")

            @trtforge.hookimpl
            def trtforge_register_converters(self, register):
                register(relu, sigmoid)

        def test_relu(trtforge_pack):
            manager = trtforge_pack("inproc", InProc())
            check_converts(module_from(lambda x: torch.relu(x)), [torch.randn(2, 3)], manager=manager)
    '''))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:logging",
                          "--trtforge-conformance=inproc,nosuchpack", str(tmp_path / "test_inproc.py")],
                         capture_output=True, text=True, cwd=tmp_path)
    out = run.stdout + run.stderr
    assert "1 passed" in out and run.returncode != 0, out
    assert "nosuchpack: no pack of this name is installed" in out
    assert "inproc: converter never exercised by check_converts: aten::sigmoid.default" in out
    assert "aten::relu" not in out.split("conformance failed:")[1]


# -- a pack under test next to the installed packs it needs ---------------------------------------
@torch.library.custom_op("trtforge_kit_test::twice", mutates_args=())
def twice(x: torch.Tensor) -> torch.Tensor:
    return x * 2


@twice.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


@trtforge.converter(torch.ops.trtforge_kit_test.twice.default, supports_dynamic_shapes=True)
def twice_converter(ctx, target, args, kwargs, name):
    from trtforge.conversion import blocks

    return blocks.elementwise(ctx, "PROD", args[0], 2.0)


class TwicePack:
    @trtforge.hookimpl
    def trtforge_pack_info(self):
        return trtforge.PackInfo(api_version="1.1")

    @trtforge.hookimpl
    def trtforge_register_converters(self, register):
        register(twice_converter)


class NoConverters(TwicePack):
    """A second pack under test that needs the vision pack too."""

    @trtforge.hookimpl
    def trtforge_register_converters(self, register):
        pass


class Net(torch.nn.Module):
    """The custom op between ordinary layers: linear and relu convert only with the vision pack."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(8, 8)

    def forward(self, x):
        return torch.relu(twice(self.linear(x)))


def test_a_pack_under_test_loads_next_to_the_installed_packs_it_needs(trtforge_pack):
    manager = trtforge_pack("twice", TwicePack(), needs=["vision"])
    assert [n for n, r in manager.records.items() if r.status == "loaded"] == ["twice", "vision"]  # name order
    assert manager.records["vision"].distribution == "trtforge-vision"  # the installed one, found by its name
    result = check_converts(Net(), [torch.randn(2, 8)], ops=[torch.ops.trtforge_kit_test.twice.default])
    assert len(result.report.engines) == 1 and result.report.coverage == 1.0
    trtforge_pack("other", NoConverters(), needs=["vision"])  # a second pack needing it: vision loads once
    assert sum(1 for r in manager.records.values() if r.name == "vision") == 1


def test_without_the_packs_it_needs_the_ordinary_layers_stay_in_pytorch():
    with pack_manager(("twice", TwicePack())):
        with pytest.raises(AssertionError, match=r"node\(s\) were not converted") as failed:
            check_converts(Net(), [torch.randn(2, 8)])
    assert "relu" in str(failed.value) and "twice" not in str(failed.value).split("converted:")[1]


def test_a_needed_pack_that_is_not_installed_is_an_error_naming_the_installed_ones():
    with pytest.raises(PackLoadError, match=r"no installed pack named 'visoin' \(installed: .*vision"):
        with pack_manager(("twice", TwicePack()), needs=["visoin"]):
            pass
    with pytest.raises(TypeError, match="one or the other"):
        with pack_manager(needs=["vision"], discover=True):
            pass
