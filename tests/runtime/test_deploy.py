"""Runtime-only deployment: compile -> save -> trtforge inspect -> load in a fresh process
with packs disabled, importing no pack and no compiler stage."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch
from rt_helpers import mixed_program

import trtforge
from trtforge import Input
from trtforge.runtime import TRTEngineModule

FORBIDDEN_PREFIXES = ("trtforge_",)  # every pack distribution is a trtforge_* package
FORBIDDEN = ("trtforge.lowering", "trtforge.partitioning", "trtforge.conversion", "trtforge.compiler")

CHILD = textwrap.dedent(
    """
    import json, sys
    forbidden = {forbidden!r}
    prefixes = {prefixes!r}

    def bad():
        return sorted(m for m in sys.modules if m.startswith(prefixes) or m in forbidden
                      or any(m.startswith(f + ".") for f in forbidden))

    import trtforge.runtime
    after_import = bad()
    import trtforge
    loaded = trtforge.load({path!r})
    after_load = bad()
    engines = [type(m).__name__ for m in loaded.modules() if isinstance(m, trtforge.runtime.TRTEngineModule)]

    import torch
    try:
        loaded(torch.randn(2, 3))
        call = "ran"
    except trtforge.runtime.NoCUDADeviceError as exc:
        call = "NoCUDADeviceError: " + str(exc)
    except Exception as exc:
        call = type(exc).__name__ + ": " + str(exc)

    from trtforge.cli import inspect as cli
    rc = cli.main([{path!r}, "--json"])
    print("RESULT" + json.dumps({{"after_import": after_import, "after_load": after_load, "engines": engines,
                                  "call": call, "inspect_rc": rc, "final": bad(),
                                  "cuda": torch.cuda.is_available()}}))
    """
)


def _env():
    env = dict(os.environ)
    env["TRTFORGE_LOAD_PACKS"] = ""  # packs disabled
    return env


@pytest.fixture
def saved_program(tmp_path, relu_engine):
    data, make_md = relu_engine
    path = tmp_path / "deploy.pt2"
    trtforge.save(mixed_program(TRTEngineModule(data, make_md())), path,
                  inputs=[Input(min_shape=(1, 3), opt_shape=(4, 3), max_shape=(8, 3))])
    return path


def test_fresh_process_loads_with_runtime_only(saved_program):
    code = CHILD.format(forbidden=FORBIDDEN, prefixes=FORBIDDEN_PREFIXES, path=str(saved_program))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(l for l in proc.stdout.splitlines() if l.startswith("RESULT"))
    res = json.loads(line[len("RESULT"):])
    assert res["after_import"] == [] and res["after_load"] == [] and res["final"] == []
    assert res["engines"] == ["TRTEngineModule"]
    assert res["inspect_rc"] == 0
    if not res["cuda"]:
        assert res["call"].startswith("NoCUDADeviceError: ") and "no CUDA GPU is available" in res["call"]


def test_inspect_command_line(saved_program):
    proc = subprocess.run([sys.executable, "-m", "trtforge.cli.main", "inspect", str(saved_program)],
                          capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "ABI version:     1" in proc.stdout and "relu_engine" in proc.stdout
    assert "x  float32  [-1, 3]" in proc.stdout


def test_compile_save_load_with_the_compiler(tmp_path):
    """The same path from a real trtforge.compile, once the compiler exists."""
    pytest.importorskip("trtforge.compiler", reason="the compiler (trtforge.compiler) is not in this tree yet")

    class M(torch.nn.Module):
        def forward(self, x):
            return torch.relu(x) * 2

    x = torch.randn(4, 3)
    compiled = trtforge.compile(M().eval(), inputs=[x], min_block_size=1)
    if not any(isinstance(m, TRTEngineModule) for m in compiled.modules()):
        pytest.skip(f"the compiler produced no engine here (fallback: {compiled.trtforge_report.fallback})")
    path = tmp_path / "compiled.pt2"
    trtforge.save(compiled, path, inputs=[x])
    code = CHILD.format(forbidden=FORBIDDEN, prefixes=FORBIDDEN_PREFIXES, path=str(path)).replace(
        "torch.randn(2, 3)", "torch.randn(4, 3)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    res = json.loads(next(l for l in proc.stdout.splitlines() if l.startswith("RESULT"))[len("RESULT"):])
    assert res["after_load"] == [] and res["final"] == [] and res["inspect_rc"] == 0
    assert res["engines"], "the compiled program holds no engine"
