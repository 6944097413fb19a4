"""The CLI behaves as people expect (scope 10 of issue 18): --version, help on every option,
``--json -``, a closed pipe, Ctrl-C, stage names, tables under a pipe, ``FILE.pt2`` models, and the
PYTHONPATH hint."""
from __future__ import annotations

import argparse
import io
import json

import pytest
import torch

import trtforge
from trtforge.cli.main import build_parser, main

from .test_cli import model_spec  # noqa: F401 - fixture


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"trtforge {trtforge.__version__}"


def test_every_option_has_help():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = [f"{name} {a.option_strings or a.dest}" for name, parser in sub.choices.items()
               for a in parser._actions if not isinstance(a, argparse._HelpAction) and not (a.help or "").strip()]
    assert not missing, f"options without help text: {missing}"


def test_json_dash_writes_the_report_to_stdout(toy_manager, model_spec, capsys):  # noqa: F811
    assert main(["compile", model_spec, "--input", "2x4", "--min-block-size", "1", "--json", "-"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["built"] is True  # stdout is only the JSON
    assert "in TensorRT" in err  # the human-readable report went to stderr


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")

    def fileno(self) -> int:
        raise io.UnsupportedOperation("not a real file")


def test_a_closed_pipe_ends_quietly(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdout", _ClosedPipe())
    assert main(["cache", "info", "--dir", str(tmp_path)]) == 141
    assert capsys.readouterr().err == ""


def test_ctrl_c_prints_one_line(monkeypatch, capsys):
    def interrupted(spec):
        raise KeyboardInterrupt

    monkeypatch.setattr("trtforge.cli.compile.load_model", interrupted)
    assert main(["compile", "torchvision:resnet18", "--input", "1x3x8x8"]) == 130
    assert capsys.readouterr().err == "trtforge compile: interrupted\n"


def test_output_paths_are_checked_before_the_model_loads(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr("trtforge.cli.compile.load_model", lambda spec: pytest.fail("loaded before the check"))
    for opt in ("-o", "--json"):
        assert main(["compile", "x:y", "--input", "2x4", opt, str(tmp_path / "no_dir" / "out")]) == 1
        assert "does not exist; create the directory first" in capsys.readouterr().err


def test_stages_are_announced(toy_manager):
    from trtforge._progress import listening

    seen: list[str] = []

    class M(torch.nn.Module):
        def forward(self, x):
            return torch.relu(x * 2 + x)

    with listening(seen.append):
        trtforge.compile(M(), [torch.randn(2, 4)], min_block_size=1, validate=True)
    assert seen[:3] == ["exporting (torch.export)", "lowering", "partitioning"]
    assert any(s.startswith("validating _run_on_trt_0 (1/1, ") for s in seen), seen
    assert any(s.startswith("building engine _run_on_trt_0 (1/1, ") for s in seen), seen


def test_tables_are_not_cut_short_under_a_pipe(monkeypatch, capsys):
    from trtforge.cli._console import make_console
    from trtforge.report import CompileReport, EngineReport, FallbackEntry

    monkeypatch.delenv("COLUMNS", raising=False)
    name = "_run_on_trt_" + "backbone_body_layer4_" * 3
    op = "my_very_long_namespace::a_custom_operator_with_a_long_name.overload_name"
    report = CompileReport(engines=[EngineReport(name, 10, ["aten::relu"], engine_bytes=123456789)],
                           fallback=[FallbackEntry("n", op, "no converter in any installed pack; " + "x" * 80)])
    report.render(make_console())
    out = capsys.readouterr().out
    assert name in out and op in out and "…" not in out


def test_a_pt2_file_is_a_model(toy_manager, tmp_path):
    class M(torch.nn.Module):
        def forward(self, x):
            return torch.relu(x + x)

    path = tmp_path / "m.pt2"
    torch.export.save(torch.export.export(M(), (torch.randn(2, 4),)), path)
    assert main(["compile", str(path), "--input", "2x4", "--min-block-size", "1", "--json", str(tmp_path / "r.json")]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["built"] is True


def test_a_model_module_in_the_current_directory_gets_a_pythonpath_hint(tmp_path, monkeypatch, capsys):
    (tmp_path / "my_local_model_xyz.py").write_text("import torch\nmake = lambda: torch.nn.ReLU()\n")
    monkeypatch.chdir(tmp_path)
    assert main(["coverage", "my_local_model_xyz:make", "--input", "2x4"]) == 1
    assert "run with PYTHONPATH=." in capsys.readouterr().err
