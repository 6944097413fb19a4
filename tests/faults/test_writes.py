"""Nothing the user has is lost: every file trtforge writes is replaced atomically, and a failed
write says which path and why (scope 1 and 2 of issue 18).

The faults are real: a file-size limit (``RLIMIT_FSIZE``: every write past it fails, as on a full
disk) and real interrupts, each in a subprocess of its own.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import trtforge
from trtforge._io import OutputWriteError, atomic_write, atomic_write_text, check_output_path

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def faults(tmp_path_factory) -> dict:
    """What ``_write_faults.py`` saw (one subprocess: importing torch once is most of its time)."""
    tmp = tmp_path_factory.mktemp("faults")
    env = {**os.environ, "TRTFORGE_LOAD_PACKS": "vision"}
    proc = subprocess.run([sys.executable, str(HERE / "_write_faults.py"), str(tmp)], capture_output=True,
                          text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fault injection is Linux-only "
                                "(RLIMIT_FSIZE, setitimer)")


@linux_only
def test_a_full_disk_loses_nothing_and_says_so(faults):
    r = faults
    # the save fails with trtforge's error, naming the file and the reason; no C++ abort
    assert r["save"].startswith("OutputWriteError: cannot write compiled program 'prog.pt2': File too large"), r
    assert "the previous file is unchanged" in r["save"] and "free some space" in r["save"]
    assert r["report"].startswith("OutputWriteError: cannot write report 'report.json'"), r
    assert r["unchanged"] == {"prog.pt2": True, "report.json": True}
    assert r["leftovers"] == []
    # the engine cache could not store the entry: a warning, and the compile still returned
    assert r["cache_outcome"] == "not_stored"
    assert any("was not stored" in w and "File too large" in w for w in r["cache_warnings"]), r["cache_warnings"]
    assert r["cache_files"] == []  # no half entry, no checksum without its entry
    assert r["after_loads"]


@linux_only
def test_an_interrupted_save_leaves_the_previous_program(faults):
    assert faults["interrupted"] >= 3, faults  # the interrupts did land inside saves
    assert all(ok is True for ok in faults["intact"]), faults["intact"]


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")
    os.chmod(target, 0o640)
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write(b"new, half")
            raise RuntimeError("the writer failed")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["f.txt"]
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its permissions


@pytest.mark.parametrize("make, reason", [
    (lambda d: d / "no_such_dir" / "out.pt2", "does not exist; create the directory first"),
    (lambda d: d, "it is a directory; give a file name"),
    (lambda d: d / "a_file" / "out.pt2", "does not exist"),  # a file where a directory should be
])
def test_output_paths_are_checked_with_the_reason(tmp_path, make, reason):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(OutputWriteError, match="cannot write report") as info:
        check_output_path(make(tmp_path), "report")
    assert reason in str(info.value)
    with pytest.raises(OutputWriteError, match=reason.split(";")[0]):
        trtforge.CompileReport().to_json(str(make(tmp_path)))


def test_save_checks_its_path_before_exporting(tmp_path, toy_manager):
    class M(torch.nn.Module):
        def forward(self, x):
            return torch.relu(x + x)

    program = trtforge.compile(M(), [torch.randn(2, 4)], min_block_size=1)
    with pytest.raises(OutputWriteError, match=r"cannot write compiled program .*missing.*does not exist"):
        trtforge.save(program, tmp_path / "missing" / "p.pt2", inputs=[torch.randn(2, 4)])
