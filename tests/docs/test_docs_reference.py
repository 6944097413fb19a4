"""Reference pages checked against the code they describe."""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import re
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
EXAMPLE = DOCS / "examples" / "trtforge-example-pack"


def read(page: str) -> str:
    return (DOCS / page).read_text()


# -- hooks ---------------------------------------------------------------------------------------

def hookspecs() -> dict:
    from trtforge.plugins import hookspecs as mod

    return {name: fn for name, fn in vars(mod).items() if hasattr(fn, "trtforge_spec")}


def test_every_hook_is_documented_with_its_parameters(md):
    documented = {}
    for heading, body in md.sections(read("hooks.md")).items():
        m = re.fullmatch(r"`(trtforge_\w+)\(([^)]*)\)`", heading)
        if m:
            documented[m.group(1)] = ([p.strip() for p in m.group(2).split(",") if p.strip()], body)
    specs = hookspecs()
    assert specs, "no hookspecs found"
    assert set(documented) == set(specs), (
        f"undocumented hooks: {sorted(set(specs) - set(documented))}; "
        f"documented but not hooks: {sorted(set(documented) - set(specs))}"
    )
    for name, fn in specs.items():
        params, body = documented[name]
        assert params == list(inspect.signature(fn).parameters), f"{name}: documented as {name}({', '.join(params)})"
        if fn.trtforge_spec["firstresult"]:
            assert "first result" in body, f"{name} is a firstresult hook; say so"


# -- settings ------------------------------------------------------------------------------------

def test_every_setting_is_documented_with_its_default(md):
    import trtforge

    table = read("settings.md").split("\n## ")[0]  # the settings table opens the page
    setting_rows = {md.unquote(r[0]): r for r in md.table_rows(table) if r and r[0].startswith("`")}
    fields = {f.name: f for f in dataclasses.fields(trtforge.CompileSettings)}
    assert set(fields) <= set(setting_rows), f"undocumented settings: {sorted(set(fields) - set(setting_rows))}"
    stale = sorted(set(setting_rows) - set(fields))
    assert not stale, f"documented settings that do not exist: {stale}"
    for name, f in fields.items():
        want = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
        shown = eval(md.unquote(setting_rows[name][2]), {"torch": torch})  # noqa: S307 - our own docs
        assert shown == want, f"{name}: default documented as {shown!r}, is {want!r}"


def test_the_cli_column_names_each_settings_option(md):
    """Every setting's CLI cell names the option that sets it (dryrun: the coverage command)."""
    import trtforge
    from trtforge.cli.settings_flags import FLAGS

    table = read("settings.md").split("\n## ")[0]
    cli = {md.unquote(r[0]): r[4] for r in md.table_rows(table) if r and r[0].startswith("`")}
    options = {f.setting: f.option for f in FLAGS}
    for f in dataclasses.fields(trtforge.CompileSettings):
        want = options.get(f.name, "`trtforge coverage`" if f.name == "dryrun" else None)
        assert want is not None, f"setting {f.name} has no CLI option"
        want = want if want.startswith("`") else f"`{want}"
        assert want in cli[f.name], f"settings.md: the CLI cell of {f.name} should name {want}`"


# -- backends --------------------------------------------------------------------------------------

def test_capability_table_matches_the_backends(md):
    from trtforge.backend import CAPABILITIES

    def items(cell: str) -> set[str]:
        return set() if cell == "none" else {c.strip().strip("`") for c in cell.split(",")}

    table = {md.unquote(r[0]): r for r in md.table_rows(md.sections(read("backends.md"))["Capability table"])}
    assert set(table) == set(CAPABILITIES)
    for name, caps in CAPABILITIES.items():
        _, layers, no_gpu, refused = table[name]
        assert items(layers) == set(caps.unsupported_layers), name
        assert no_gpu == ("yes" if caps.builds_without_gpu else "no"), name
        want = {f"{cc // 10}.{cc % 10}" for cc in caps.refused_compute_capabilities}
        assert items(refused) == want, name


def test_engine_feature_table_matches_the_backends(md):
    from trtforge.backend import CAPABILITIES

    def items(cell: str) -> set[str]:
        return set() if cell == "none" else {c.strip().strip("`") for c in cell.split(",")}

    table = {md.unquote(r[0]): r for r in md.table_rows(md.sections(read("backends.md"))["Engine features"])}
    assert set(table) == set(CAPABILITIES)
    for name, caps in CAPABILITIES.items():
        _, refused, gpu_only, portable = table[name]
        assert items(refused) == set(caps.unsupported_features), name
        assert items(gpu_only) == set(caps.gpu_build_features), name
        assert portable == ("yes" if caps.portable_engines else "no"), name


# -- troubleshooting ---------------------------------------------------------------------------------

def _source() -> str:
    """The core's source, with implicitly concatenated string literals joined (messages span lines)."""
    text = "\n".join(p.read_text() for p in (REPO / "core" / "trtforge").rglob("*.py"))
    return re.sub(r"""(["'])\s*\n\s*[rbuf]*\1""", "", text)


def _quoted_headings(md) -> list[str]:
    text = read("troubleshooting.md")
    heads = [*md.sections(text, 3), *md.sections(text, 2)]
    return [h[1:-1] for h in heads if h.startswith('"') and h.endswith('"')]


def test_quoted_messages_are_the_real_ones(md):
    source = _source()
    quoted = _quoted_headings(md)
    assert len(quoted) > 20
    missing = [q for q in quoted if not all(piece.strip() in source for piece in q.split("...") if piece.strip())]
    assert not missing, f"messages quoted in troubleshooting.md that the code does not emit: {missing}"


def test_every_fallback_reason_has_a_section(md):
    from trtforge.plugins.registry import Reason

    quoted = set(_quoted_headings(md))
    missing = [r.value for r in Reason if r.value not in quoted]
    assert not missing, f"fallback reasons without a troubleshooting section: {missing}"


def test_every_error_is_named():
    """Runtime errors by their ``trtforge.runtime`` name, every other error by its top-level name."""
    from trtforge import errors, runtime

    text = read("troubleshooting.md")
    runtime_errors = [n for n in errors.__all__ if issubclass(getattr(errors, n), errors.TRTForgeRuntimeError)]
    missing = [name for name in runtime_errors if f"trtforge.runtime.{name}" not in text]
    assert not missing, f"runtime errors troubleshooting.md does not name: {missing}"
    assert all(getattr(runtime, n) is getattr(errors, n) for n in runtime_errors)
    others = [n for n in errors.__all__ if n not in runtime_errors]
    missing = [name for name in others if f"trtforge.{name}" not in text]
    assert not missing, f"errors troubleshooting.md does not name: {missing}"


# -- CLI -------------------------------------------------------------------------------------------

def test_every_command_and_option_is_documented(md):
    from trtforge.cli.main import build_parser

    text = read("cli.md")
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name, parser in sub.choices.items():
        if f"`trtforge {name}`" not in text:
            missing.append(f"trtforge {name}")
        for action in parser._actions:
            for opt in action.option_strings:
                if opt not in {"-h", "--help"} and f"`{opt}`" not in text:
                    missing.append(f"trtforge {name} {opt}")
            positional_choices = action.choices if not action.option_strings else None
            for choice in positional_choices or ():
                if f"`{choice}`" not in text:
                    missing.append(f"trtforge {name} {choice}")
    assert not missing, f"cli.md does not document: {missing}"


# -- every page ------------------------------------------------------------------------------------

_NAME = re.compile(r"`(trtforge(?:\.[A-Za-z_]\w*)+)")
#: dotted names that are not Python objects
_NOT_OBJECTS = {"trtforge.packs"}  # the entry-point group


def _resolve(dotted: str) -> bool:
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def _prose(text: str) -> str:
    """``text`` without its fenced code blocks (those run; the names there are checked by running)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_trtforge_names_in_the_prose_exist(page):
    names = sorted(set(_NAME.findall(_prose(read(page)))) - _NOT_OBJECTS)
    missing = [n for n in names if not _resolve(n)]
    assert not missing, f"{page} mentions names that do not exist: {missing}"


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_relative_links_resolve(page):
    text = _prose(read(page))
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+://|mailto:", target):
            continue
        path, _, anchor = target.partition("#")
        dest = (DOCS / page).parent / path if path else DOCS / page
        if not dest.exists():
            broken.append(target)
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest.read_text()):
            broken.append(target)
    assert not broken, f"{page}: broken links {broken}"


def _anchors(text: str) -> set[str]:
    """GitHub-style heading anchors."""
    out = set()
    for line in _prose(text).split("\n"):
        m = re.match(r"^#{1,6}\s+(.*)$", line)
        if m:
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            out.add(slug)
    return out


def test_index_links_every_page():
    text = read("index.md")
    unlinked = [p.name for p in DOCS.glob("*.md") if p.name != "index.md" and f"]({p.name}" not in text]
    assert not unlinked, f"index.md does not link: {unlinked}"


# -- the example pack ------------------------------------------------------------------------------

def test_pack_page_files_are_the_example_pack(md):
    """The files on writing-a-pack.md are exactly the example distribution's (README aside)."""
    blocks = {b.file: b.code for b in md.parse(DOCS / "writing-a-pack.md") if b.file}
    on_disk = {
        str(p.relative_to(EXAMPLE)): p.read_text() for p in EXAMPLE.rglob("*")
        if p.is_file() and p.name != "README.md"
        and not any(part.endswith(".egg-info") or part in {"__pycache__", "build", "dist"} for part in p.parts)
    }
    assert set(blocks) == set(on_disk), (
        f"only on the page: {sorted(set(blocks) - set(on_disk))}; only in the example: {sorted(set(on_disk) - set(blocks))}"
    )
    differ = [f for f in blocks if blocks[f] != on_disk[f]]
    assert not differ, f"page and example differ in {differ}"


def test_pack_page_context_and_blocks_exist(md):
    """The conversion-context members and building blocks writing-a-pack.md lists exist."""
    from trtforge.conversion import blocks
    from trtforge.conversion.context import ConversionContext

    text = read("writing-a-pack.md")
    ctx = ConversionContext(None)
    members = set(re.findall(r"`ctx\.(\w+)", text))
    assert {"net", "trt", "out", "constant", "fail"} <= members
    missing = sorted(m for m in members if not hasattr(ctx, m))
    para = text[text.index("Shared building blocks"):].split("\n\n")[0]
    names = set(re.findall(r"`(\w+)`", para)) - {"ctx"}
    assert len(names) > 20
    missing += sorted(f"blocks.{n}" for n in names if not hasattr(blocks, n))
    assert not missing, f"writing-a-pack.md lists what does not exist: {missing}"


def test_api_version_contract_table(md):
    """The compatibility table of writing-a-pack.md is what the core decides."""
    from trtforge.plugins import CORE_API_VERSION, api_compatible

    section = md.sections(read("writing-a-pack.md"))["The core API version contract"]
    assert f"now `{CORE_API_VERSION}`" in section
    rows = [r for r in md.table_rows(section) if len(r) == 3]
    assert len(rows) >= 4
    for core, pack, loads in rows:
        pack = md.unquote(pack).replace(".x", ".0")
        assert api_compatible(pack, core) == loads.startswith("yes"), (core, pack, loads)


def test_every_input_field_is_documented_with_its_default(md):
    import trtforge

    section = md.sections(read("settings.md"))["Inputs"]
    rows = {md.unquote(r[0]): r for r in md.table_rows(section) if r and r[0].startswith("`")}
    fields = {f.name: f for f in dataclasses.fields(trtforge.Input)}
    assert set(rows) == set(fields), f"documented {sorted(rows)}, trtforge.Input has {sorted(fields)}"
    for name, f in fields.items():
        shown = eval(md.unquote(rows[name][1]), {"torch": torch})  # noqa: S307 - our own docs
        assert shown == f.default, f"Input.{name}: default documented as {shown!r}, is {f.default!r}"
