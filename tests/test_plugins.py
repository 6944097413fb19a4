"""Pack discovery and the converter registry, with in-process fake distributions."""
from __future__ import annotations

import sys
import types

import pytest
import torch

import trtforge
from trtforge.plugins import PackLoadError, PackManager
from trtforge.plugins.manager import ENTRY_POINT_GROUP, importlib_metadata

aten = torch.ops.aten


def _module(name: str, body: str) -> str:
    mod = types.ModuleType(name)
    exec("import torch, trtforge\naten = torch.ops.aten\n" + body, mod.__dict__)
    sys.modules[name] = mod
    return name


GOOD = '''
@trtforge.hookimpl
def trtforge_pack_info():
    return trtforge.PackInfo("{name}", "1.2.3", "good pack", api_version="{api}")

@trtforge.converter(aten.relu.default, priority={prio})
def relu(ctx, target, args, kwargs, name):
    return ctx.out(ctx.net.add_activation(args[0], ctx.trt.ActivationType.RELU))

@trtforge.hookimpl
def trtforge_register_converters(register):
    register(relu)
'''


def good(name: str, api: str = "1.0", prio: int = 0) -> str:
    return _module(f"fakepack_{name}_{api.replace('.', '_')}_{prio}", GOOD.format(name=name, api=api, prio=prio))


def ep(name: str, module: str):
    return importlib_metadata.EntryPoint(name=name, value=module, group=ENTRY_POINT_GROUP)


def manager(*eps, **kw) -> PackManager:
    return PackManager(entry_points=list(eps), **kw).load_all()


def test_discovers_and_registers_converters():
    m = manager(ep("alpha", good("alpha")))
    rec = m.records["alpha"]
    assert rec.status == "loaded" and rec.version == "1.2.3"
    assert aten.relu.default in m.registry
    assert m.registry.specs_for(aten.relu.default)[0].pack == "alpha"


def test_allowlist_and_blocklist():
    a, b = ep("alpha", good("alpha")), ep("beta", good("beta"))
    m = manager(a, b, load={"alpha"})
    assert m.records["alpha"].status == "loaded" and m.records["beta"].status == "blocked"
    m = manager(a, b, disable={"alpha"})
    assert m.records["alpha"].status == "blocked" and m.records["beta"].status == "loaded"
    m = manager(a, b, load=set())
    assert all(r.status == "blocked" for r in m.records.values())


def test_env_allowlist(monkeypatch):
    monkeypatch.setenv("TRTFORGE_LOAD_PACKS", "beta")
    monkeypatch.setenv("TRTFORGE_DISABLE_PACKS", "")
    m = manager(ep("alpha", good("alpha")), ep("beta", good("beta")))
    assert [r.name for r in m.loaded()] == ["beta"]
    monkeypatch.setenv("TRTFORGE_LOAD_PACKS", "")
    assert manager(ep("alpha", good("alpha"))).loaded() == []


def test_pack_raising_on_import_is_recorded_and_others_load():
    bad = _module("fakepack_raises_setup", "")
    m = manager(ep("broken", "fakepack_does_not_exist_anywhere"), ep("alpha", good("alpha")))
    assert m.records["broken"].status == "error"
    assert "fakepack_does_not_exist_anywhere" in m.records["broken"].error
    assert m.records["alpha"].status == "loaded"
    del bad


def test_misspelled_hook_names_the_hook_and_suggests_the_right_one():
    name = _module("fakepack_misspelled", GOOD.format(name="x", api="1.0", prio=0).replace(
        "def trtforge_register_converters", "def trtforge_register_converter"))
    m = manager(ep("typo", name), ep("alpha", good("alpha")))
    err = m.records["typo"].error
    assert m.records["typo"].status == "error"
    assert "trtforge_register_converter" in err and "did you mean 'trtforge_register_converters'" in err
    assert m.records["alpha"].status == "loaded"


def test_bad_hook_signature_is_recorded():
    name = _module("fakepack_badsig", GOOD.format(name="x", api="1.0", prio=0).replace(
        "def trtforge_register_converters(register)", "def trtforge_register_converters(register, extra)"))
    m = manager(ep("badsig", name))
    assert m.records["badsig"].status == "error"
    assert "extra" in m.records["badsig"].error and "trtforge_register_converters" in m.records["badsig"].error


def test_incompatible_api_version_is_refused_with_the_accepted_range():
    m = manager(ep("future", good("future", api="2.0")), ep("newer_minor", good("nm", api="1.9")))
    err = m.records["future"].error
    assert m.records["future"].status == "error" and "2.0" in err and "1.0" in err
    assert m.records["newer_minor"].status == "error"
    assert manager(ep("ok", good("ok", api="1.0"))).records["ok"].status == "loaded"


def test_strict_mode_raises(monkeypatch):
    with pytest.raises(PackLoadError, match="broken"):
        manager(ep("broken", "fakepack_does_not_exist_anywhere"), strict=True)
    monkeypatch.setenv("TRTFORGE_STRICT_PACKS", "1")
    with pytest.raises(PackLoadError):
        manager(ep("broken", "fakepack_does_not_exist_anywhere"))


def test_two_packs_same_op_same_priority_is_deterministic_and_pinnable():
    m = manager(ep("zeta", good("zeta")), ep("alpha", good("alpha")))
    # entry points load in name order, so alpha precedes zeta
    assert [s.pack for s in m.registry.specs_for(aten.relu.default)] == ["alpha", "zeta"]
    assert m.registry.conflicts() == [("aten::relu", 0, ["alpha", "zeta"])]
    assert m.registry.specs_for(aten.relu.default, pins={"aten::relu": "zeta"})[0].pack == "zeta"
    m.registry.pin("aten::relu", "zeta")
    assert m.registry.specs_for(aten.relu.default)[0].pack == "zeta"


def test_higher_priority_wins_over_pack_order():
    m = manager(ep("alpha", good("alpha")), ep("zeta", good("zeta", prio=5)))
    assert m.registry.specs_for(aten.relu.default)[0].pack == "zeta"


def test_packet_targets_are_rejected_with_overloads_named():
    with pytest.raises(TypeError, match="aten.relu.default|overload"):
        trtforge.converter(aten.relu)


def test_register_of_undecorated_function_is_a_pack_error():
    name = _module("fakepack_undecorated", GOOD.format(name="x", api="1.0", prio=0).replace(
        "register(relu)", "register(lambda *a: None)"))
    m = manager(ep("undecorated", name))
    assert m.records["undecorated"].status == "error" and "not decorated" in m.records["undecorated"].error


def test_missing_pack_info_is_an_error():
    name = _module("fakepack_noinfo", "@trtforge.hookimpl\ndef trtforge_register_converters(register):\n    pass\n")
    m = manager(ep("noinfo", name))
    assert m.records["noinfo"].status == "error" and "trtforge_pack_info" in m.records["noinfo"].error


def test_import_trtforge_loads_no_pack_and_no_tensorrt():
    import subprocess

    code = (
        "import sys, trtforge; "
        "bad = [m for m in sys.modules if m.startswith(('trtforge_', 'tensorrt', 'torch', 'trtforge.lowering', "
        "'trtforge.partitioning', 'trtforge.conversion'))]; print(bad); assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_fallback_reason_names_the_refusing_converter_not_another_ones_backend_limit():
    """A converter whose validator refuses the node is not blamed on a backend limit it also has:
    the report names the refusal (and the category is the validator's), on every target backend."""
    from trtforge.plugins.converters import Refusal, specs_of
    from trtforge.plugins.registry import ConverterRegistry, Reason

    def refuse(node, settings):
        return Refusal("only boolean masks")

    nz = trtforge.converter(aten.relu.default, priority=1, emits={"NON_ZERO"}, capability_validator=refuse)(
        lambda ctx, target, args, kwargs, name: None)
    reg = ConverterRegistry()
    reg.add(specs_of(nz)[0], "masks")
    g = torch.fx.Graph()
    x = g.placeholder("x")
    x.meta["val"] = torch.empty(2)
    relu = g.call_function(aten.relu.default, (x,))
    for backend in ("tensorrt_rtx", "tensorrt"):
        sel = reg.select(relu, None, target_backend=backend)
        assert sel.spec is None
        assert sel.primary.reason is Reason.VALIDATOR and "only boolean masks" in sel.primary.detail
        assert "NonZero" not in sel.reason
