"""``--trtforge-conformance``: cannot pass silently (an unknown pack name fails; a pack loaded
in-process through the kit's fixture is checked like an installed one)."""
from __future__ import annotations

import subprocess
import sys
import textwrap


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
