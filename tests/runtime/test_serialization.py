"""trtforge.save / trtforge.load / trtforge inspect with real engines built on CPU, and every bad-file case."""
from __future__ import annotations

import json
import os
import sys
import zipfile

import pytest
import torch
from rt_helpers import engine_only_program, mixed_program, two_output_program

import trtforge
import trtforge.runtime as rt
from trtforge import Input
from trtforge.runtime import (
    ABIVersionError,
    BackendMismatchError,
    CorruptedProgramError,
    NoCUDADeviceError,
    SavedProgramError,
    TensorRTNotInstalledError,
    TRTEngineModule,
)
from trtforge.runtime.archive import MANIFEST_NAME

DYN = [Input(min_shape=(1, 3), opt_shape=(4, 3), max_shape=(8, 3))]


def expected(x):
    return torch.relu(x * 2 - 1) + x


@pytest.fixture
def saved(tmp_path, relu_engine):
    data, make_md = relu_engine
    path = tmp_path / "prog.pt2"
    trtforge.save(mixed_program(TRTEngineModule(data, make_md())), path, inputs=DYN)
    return path


def rewrite_member(src, dst, pick, change):
    """Copy a zip archive, passing the bytes of the members ``pick`` selects through ``change``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if pick(info.filename):
                data = change(data)
            zout.writestr(info, data)


def set_manifest(src, dst, fn):
    def change(raw):
        m = json.loads(raw)
        fn(m)
        return json.dumps(m).encode()

    rewrite_member(src, dst, lambda n: n.endswith("extra/" + MANIFEST_NAME), change)


# --- round trip -----------------------------------------------------------------------------------

def test_save_load_round_trip(saved, relu_engine, runner_factory):
    data, make_md = relu_engine
    loaded = trtforge.load(saved)
    engines = [m for m in loaded.modules() if isinstance(m, TRTEngineModule)]
    assert len(engines) == 1
    eng = loaded.get_submodule("_run_on_acc_1")  # keeps the compiled program's name
    assert eng is engines[0]
    assert eng.serialized_engine == data
    md = eng.metadata
    assert md.abi_version == rt.ABI_VERSION and md.name == "relu_engine" and md.input_names == ["x"]
    assert md.sha256 and md.engine_bytes == len(data)
    assert loaded.trtforge_manifest["abi_version"] == rt.ABI_VERSION
    # the graph around the engine is intact: run it with the torch test runner
    runner_factory.fns["relu_engine"] = torch.relu
    for n in (1, 3, 8):
        x = torch.randn(n, 3)
        torch.testing.assert_close(loaded(x), expected(x))
    # the export guards keep the profile range
    with pytest.raises(Exception, match="9|range|<= 8"):
        loaded(torch.randn(9, 3))


def test_loaded_module_without_gpu_raises_clearly(saved):
    if torch.cuda.is_available():
        pytest.skip("checks the no-GPU path")
    loaded = trtforge.load(saved)
    with pytest.raises(NoCUDADeviceError, match="no CUDA GPU is available"):
        loaded(torch.randn(2, 3))


def test_output_shape_follows_shape_expression(saved):
    ep = torch.export.load(saved)
    node = next(n for n in ep.graph.nodes if "execute_engine" in str(n.target))
    out_val = [u for u in node.users][0].meta["val"]
    x_val = next(n for n in ep.graph.nodes if n.op == "placeholder" and n.name == "x").meta["val"]
    assert out_val.shape[0] == x_val.shape[0]  # symbolic: the same size, not a fresh unbacked one


def test_without_shape_expression_output_size_is_unbacked(tmp_path, relu_engine, runner_factory):
    data, make_md = relu_engine
    md = make_md()
    md.outputs[0].shape_expr = None
    path = tmp_path / "p.pt2"
    trtforge.save(mixed_program(TRTEngineModule(data, md)), path, inputs=DYN)
    runner_factory.fns["relu_engine"] = torch.relu
    x = torch.randn(5, 3)
    torch.testing.assert_close(trtforge.load(path)(x), expected(x))


def test_clear_loaded_engines_forgets_the_operator_engines_and_the_old_name_warns(saved, runner_factory):
    """The in-process memo of ``execute_engine`` modules is cleared under its own name; the old
    name (``clear_engine_cache``, easily confused with the on-disk engine cache) still clears it,
    with a DeprecationWarning pointing at the caller's line."""
    from trtforge.runtime import ops

    m = torch.export.load(saved).module()
    runner_factory.fns["relu_engine"] = torch.relu
    m(torch.randn(2, 3))
    assert len(ops._loaded) == 1
    rt.clear_loaded_engines()
    assert ops._loaded == {}
    m(torch.randn(2, 3))
    assert len(ops._loaded) == 1
    with pytest.warns(DeprecationWarning, match="clear_loaded_engines") as caught:
        rt.clear_engine_cache()
    assert ops._loaded == {}
    assert [w.filename for w in caught] == [__file__]


def test_plain_torch_export_load_runs_through_the_operator(saved, runner_factory):
    ep = torch.export.load(saved)  # trtforge.runtime is imported: the op exists
    m = ep.module()
    assert any("execute_engine" in str(n.target) for n in m.graph.nodes)
    if not torch.cuda.is_available():
        with pytest.raises(NoCUDADeviceError):
            m(torch.randn(2, 3))
        rt.clear_loaded_engines()
    runner_factory.fns["relu_engine"] = torch.relu
    x = torch.randn(6, 3)
    torch.testing.assert_close(m(x), expected(x))
    engines = rt.program.engines_of(m)
    assert [e.metadata.name for e in engines] == ["relu_engine"]
    assert rt.program.has_fallback(m)
    with rt.enable_pre_allocated_outputs(m):
        assert engines[0].pre_allocated_outputs_enabled


def test_engine_only_program_round_trip_and_modes(tmp_path, relu_engine, runner_factory):
    data, make_md = relu_engine
    path = tmp_path / "only.pt2"
    trtforge.save(engine_only_program(TRTEngineModule(data, make_md())), path, inputs=DYN)
    loaded = trtforge.load(path)
    assert not rt.program.has_fallback(loaded)
    with rt.enable_cudagraphs(loaded) as m:
        assert m is loaded and rt.get_cudagraphs_mode()
    assert rt.inspect_saved(path)["fallback_ops"] == 0


def test_two_output_engine_round_trip(tmp_path, two_output_engine, runner_factory):
    data, make_md = two_output_engine
    path = tmp_path / "two.pt2"
    a, b = torch.randn(2, 3), torch.randn(2, 3)
    trtforge.save(two_output_program(TRTEngineModule(data, make_md())), path, inputs=[a, b])
    loaded = trtforge.load(path)
    runner_factory.fns["addmul_engine"] = lambda a, b: (a + b, a * b)
    s1, p = loaded(a, b)
    torch.testing.assert_close(s1, a + b - 1)
    torch.testing.assert_close(p, a * b)


def test_inputs_from_placeholder_values(tmp_path, relu_engine, runner_factory):
    data, make_md = relu_engine
    prog = mixed_program(TRTEngineModule(data, make_md()))
    for n in prog.graph.nodes:
        if n.op == "placeholder":
            n.meta["val"] = torch.empty(4, 3)
    path = tmp_path / "auto.pt2"
    trtforge.save(prog, path)
    runner_factory.fns["relu_engine"] = torch.relu
    x = torch.randn(4, 3)
    torch.testing.assert_close(trtforge.load(path)(x), expected(x))


def test_inputs_sharing_a_named_dimension_save_and_load(tmp_path):
    """Inputs whose batch dimension shares a name (``dim_names``) share one Dim when saved too:
    the compiled program adds them, which torch.export refuses for two unrelated sizes."""

    class Add(torch.nn.Module):
        def forward(self, x, y):
            return torch.relu(x) + y

    ins = [Input(min_shape=(1, 3), opt_shape=(4, 3), max_shape=(8, 3), dim_names={0: "batch"}) for _ in range(2)]
    compiled = trtforge.compile(Add().eval(), ins, min_block_size=1)
    assert compiled.trtforge_report.built
    path = tmp_path / "named.pt2"
    trtforge.save(compiled, path, inputs=ins)
    loaded = trtforge.load(path)
    x, y = [n.meta["val"] for n in loaded.graph.nodes if n.op == "placeholder"]
    assert isinstance(x.shape[0], torch.SymInt) and str(x.shape[0]) == str(y.shape[0])


def test_save_refuses_unbuilt_engines(tmp_path, relu_engine):
    _, make_md = relu_engine
    with pytest.raises(SavedProgramError, match="build=False"):
        trtforge.save(mixed_program(TRTEngineModule(None, make_md())), tmp_path / "x.pt2", inputs=DYN)


def test_save_needs_example_inputs(tmp_path, relu_engine):
    data, make_md = relu_engine
    with pytest.raises(ValueError, match="needs example inputs"):
        trtforge.save(mixed_program(TRTEngineModule(data, make_md())), tmp_path / "x.pt2")


# --- bad files ----------------------------------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        trtforge.load(tmp_path / "nope.pt2")


@pytest.mark.parametrize("keep", [0.5, 0.9, 0.999])
def test_truncated_file(saved, tmp_path, keep):
    raw = saved.read_bytes()
    bad = tmp_path / "cut.pt2"
    bad.write_bytes(raw[: int(len(raw) * keep)])
    with pytest.raises(CorruptedProgramError, match="truncated or corrupted"):
        trtforge.load(bad)


def test_not_an_archive(tmp_path):
    bad = tmp_path / "junk.pt2"
    bad.write_bytes(os.urandom(4096))
    with pytest.raises(CorruptedProgramError, match="not a readable .pt2 archive"):
        trtforge.load(bad)


def _flip_engine_byte(data: bytes) -> bytes:
    b = bytearray(data)
    b[len(b) // 2] ^= 0xFF
    return bytes(b)


def _is_engine_weight(name):
    return "/data/weights/" in name and not name.endswith(".json")


def test_corrupted_engine_bytes_fail_crc(saved, tmp_path):
    bad = tmp_path / "flip.pt2"
    with zipfile.ZipFile(saved) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info, zin.read(info.filename))
    # flip a byte inside the stored engine data, leaving the recorded CRC as it was
    raw = bytearray(bad.read_bytes())
    with zipfile.ZipFile(bad) as z:
        info = next(i for i in z.infolist() if _is_engine_weight(i.filename) and i.file_size > 1000)
        off = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + info.file_size // 2
    raw[off] ^= 0xFF
    bad.write_bytes(bytes(raw))
    with pytest.raises(CorruptedProgramError, match="fails its CRC check"):
        trtforge.load(bad)


def test_corrupted_engine_bytes_fail_checksum_even_unverified(saved, tmp_path):
    """A member rewritten with a matching CRC: only the engine's sha256 catches it."""
    bad = tmp_path / "sha.pt2"
    rewrite_member(saved, bad, _is_engine_weight, lambda d: _flip_engine_byte(d) if len(d) > 1000 else d)
    with pytest.raises(CorruptedProgramError, match="corrupted.*sha256"):
        trtforge.load(bad)
    with pytest.raises(CorruptedProgramError, match="sha256"):
        trtforge.load(bad, verify=False)


def test_other_abi_version(saved, tmp_path):
    bad = tmp_path / "abi.pt2"
    set_manifest(saved, bad, lambda m: m.update(abi_version=999))
    with pytest.raises(ABIVersionError, match="ABI version 999.*reads ABI version 1"):
        trtforge.load(bad)


def test_abi_version_is_checked_first(saved, tmp_path):
    """A file with another ABI version is refused for that, even if it is also damaged."""
    step = tmp_path / "abi.pt2"
    set_manifest(saved, step, lambda m: m.update(abi_version=2))
    bad = tmp_path / "abi_flip.pt2"
    rewrite_member(step, bad, _is_engine_weight, _flip_engine_byte)
    with pytest.raises(ABIVersionError):
        trtforge.load(bad)


def test_engine_record_with_other_abi_version(saved, tmp_path):
    bad = tmp_path / "rec.pt2"
    set_manifest(saved, bad, lambda m: m["engines"][0]["metadata"].update(abi_version=7))
    with pytest.raises(ABIVersionError, match="engine record.*ABI version 7"):
        trtforge.load(bad)
    with pytest.raises(ABIVersionError, match="ABI version 7"):
        rt.ops._parse_metadata(json.dumps({"abi_version": 7, "name": "e"}))


def test_not_a_trtforge_program(tmp_path):
    class M(torch.nn.Module):
        def forward(self, x):
            return x + 1

    p = tmp_path / "plain.pt2"
    torch.export.save(torch.export.export(M(), (torch.ones(2),)), p)
    with pytest.raises(SavedProgramError, match="not a trtforge program"):
        trtforge.load(p)


def test_backend_mismatch_names_both(tmp_path, relu_engine, trt_backend):
    name, _, _ = trt_backend
    other = "tensorrt" if name == "tensorrt_rtx" else "tensorrt_rtx"
    try:
        __import__(other)
        pytest.skip(f"{other} is installed too: no mismatch to show")
    except ImportError:
        pass
    data, make_md = relu_engine
    md = make_md()
    md.backend = other
    path = tmp_path / "other.pt2"
    trtforge.save(mixed_program(TRTEngineModule(data, md)), path, inputs=DYN)
    with pytest.raises(BackendMismatchError, match=f"built for .*\\({other}.*installed here is .*{name}"):
        trtforge.load(path)


def test_missing_tensorrt_names_the_extra(saved, monkeypatch):
    from trtforge import backend

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    monkeypatch.setitem(sys.modules, "tensorrt_rtx", None)
    monkeypatch.setattr(backend, "_loaded", None)
    with pytest.raises(TensorRTNotInstalledError, match=r"no TensorRT is installed.*pip install 'trtforge\[rtx\]'"):
        trtforge.load(saved)


# --- inspect ----------------------------------------------------------------------------------------

def test_inspect_text_and_json(saved, capsys, relu_engine):
    from trtforge.cli import inspect as cli

    data, _ = relu_engine
    assert cli.main([str(saved)]) == 0
    text = capsys.readouterr().out
    for part in ("ABI version:     1", "relu_engine", "x  float32  [-1, 3]  profile min [1, 3] opt [4, 3] max [8, 3]",
                 "y  float32  [-1, 3]", f"({len(data)} bytes)", "requires_output_allocator=no", "engines:         1"):
        assert part in text, part
    assert cli.main([str(saved), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["abi_version"] == 1 and len(info["engines"]) == 1
    eng = info["engines"][0]
    assert eng["engine_bytes"] == len(data) and eng["inputs"][0]["name"] == "x"
    assert eng["backend"] in ("tensorrt", "tensorrt_rtx")
    assert info["fallback_ops"] >= 2  # mul, sub, add


def test_inspect_subcommand_registers_with_argparse(saved, capsys):
    import argparse

    from trtforge.cli import inspect as cli

    parser = argparse.ArgumentParser(prog="trtforge")
    cli.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["inspect", str(saved), "--json"])
    assert args.run(args) == 0
    assert json.loads(capsys.readouterr().out)["engines"][0]["name"] == "relu_engine"


def test_inspect_bad_file_exit_code(tmp_path, saved, capsys):
    from trtforge.cli import inspect as cli

    bad = tmp_path / "cut.pt2"
    bad.write_bytes(saved.read_bytes()[:1000])
    assert cli.main([str(bad)]) == 2
    assert "truncated or corrupted" in capsys.readouterr().err
    assert cli.main([str(bad), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"] == "CorruptedProgramError"


def test_shape_exprs_filled_from_graph_values(tmp_path, relu_engine, runner_factory):
    """Without shape_expr in the metadata, save() derives it from the compiled graph's meta values,
    so a dynamic output keeps its relation to the inputs (sizes 1 work too)."""
    from torch._dynamo.source import ConstantSource
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import DimDynamic, ShapeEnv, StatelessSymbolicContext

    data, make_md = relu_engine
    md = make_md()
    md.outputs[0].shape_expr = None
    prog = mixed_program(TRTEngineModule(data, md))
    mode = FakeTensorMode(shape_env=ShapeEnv())
    ctx = StatelessSymbolicContext(dynamic_sizes=[DimDynamic.DYNAMIC, DimDynamic.STATIC])
    fx = mode.from_tensor(torch.randn(4, 3), source=ConstantSource("x"), symbolic_context=ctx)
    with mode:
        vals = {"x": fx, "_run_on_gpu_0": fx * 2 - 1}
        vals["_run_on_acc_1"] = torch.relu(vals["_run_on_gpu_0"])
    for n in prog.graph.nodes:
        key = n.target if n.op == "call_module" else n.name
        if key in vals:
            n.meta["val"] = vals[key]
    path = tmp_path / "filled.pt2"
    trtforge.save(prog, path, inputs=DYN)
    assert md.outputs[0].shape_expr == ["i0_0", "3"]
    runner_factory.fns["relu_engine"] = torch.relu
    loaded = trtforge.load(path)
    for n in (1, 5):
        x = torch.randn(n, 3)
        torch.testing.assert_close(loaded(x), expected(x))


def test_symbolic_shape_expressions_are_safe():
    from trtforge.runtime.metadata import eval_shape_expr

    assert eval_shape_expr("FloorDiv(i0_0, 2) + 3*i1_1 - Max(i0_0, 7) % 4", {"i0_0": 9, "i1_1": 2}) == 4 + 6 - 1
    for bad in ("__import__('os')", "i0_0.real", "(lambda: 1)()", "[1][0]", "i0_0 if 1 else 2", "1.5", "open('x')"):
        with pytest.raises((ValueError, SyntaxError)):
            eval_shape_expr(bad, {"i0_0": 1})


@pytest.mark.parametrize("tamper, message", [
    # the engine's bytes rewritten, with a CRC that matches them: only the sha256 can tell
    ("rewrite", "engine 'relu_engine' is corrupted: its bytes have sha256"),
    # the engine's member removed from the archive (its central-directory entry too)
    ("remove", "is missing from the archive"),
])
def test_inspect_says_ok_only_when_every_engine_is_whole(saved, tmp_path, capsys, tamper, message):
    from trtforge.cli import inspect as cli

    bad = tmp_path / f"{tamper}.pt2"
    with zipfile.ZipFile(saved) as zin, zipfile.ZipFile(bad, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            if _is_engine_weight(info.filename) and len(data) > 1000:
                if tamper == "remove":
                    continue
                data = _flip_engine_byte(data)
            zout.writestr(info, data)
    assert cli.main([str(bad)]) == 2
    err = capsys.readouterr().err
    assert "CorruptedProgramError" in err and "copy the file again, or recompile and save" in err
    assert message in err and "relu_engine" in err, err
    assert cli.main([str(saved)]) == 0
    assert "integrity:       ok (CRC of every archive member and sha256 of every engine checked)" in capsys.readouterr().out
