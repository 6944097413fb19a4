"""Rules of the code's structure: the import graph of ``core/trtforge``, read from the source."""
from __future__ import annotations

import ast
from pathlib import Path

import trtforge

ROOT = Path(trtforge.__file__).parent


def _module_name(path: Path) -> str:
    parts = ["trtforge", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in ROOT.rglob("*.py")}


def _imports(name: str, path: Path) -> set[str]:
    """Every trtforge module ``name`` imports, at module level or inside a function
    (imports under ``if TYPE_CHECKING:`` are annotations only, and do not count)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            node.body = []
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for a in node.names:  # ``from pkg import sub`` imports the submodule, else pkg itself
                out.add(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base)
    return {m for m in out if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_no_production_module_imports_the_test_kit():
    offenders = {m: sorted(i for i in deps if i.startswith("trtforge.testing"))
                 for m, deps in GRAPH.items() if not m.startswith("trtforge.testing")}
    assert not {m: d for m, d in offenders.items() if d}
