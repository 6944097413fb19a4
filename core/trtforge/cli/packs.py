"""``trtforge packs``: which packs are installed, loaded, and what they convert."""
from __future__ import annotations

import json
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("packs", help="list converter packs and their converters")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--op", help="only converters for this op (e.g. aten::nonzero or nonzero)")
    p.set_defaults(run=run)


def _matches(op: str, want: str | None) -> bool:
    if not want:
        return True
    return op == want or op.split("::")[-1] == want or op.split(".")[0] == want


def _fingerprint() -> str:
    """Changes whenever an installed pack, its source, the core or the pack env vars change."""
    import hashlib
    import importlib.util
    import os

    from .._version import __version__
    from ..plugins.manager_light import entry_points

    h = hashlib.sha256(__version__.encode())
    for var in ("TRTFORGE_LOAD_PACKS", "TRTFORGE_DISABLE_PACKS", "TRTFORGE_BACKEND"):
        h.update(f"{var}={os.environ.get(var)}".encode())
    roots = [os.path.dirname(os.path.dirname(__file__))]
    for ep in entry_points():
        dist = getattr(ep, "dist", None)
        h.update(f"{ep.name}={ep.value}:{getattr(dist, 'name', '')}:{getattr(dist, 'version', '')}".encode())
        try:
            spec = importlib.util.find_spec(ep.value.split(":")[0].split(".")[0])
        except (ImportError, ValueError):
            spec = None
        roots += list(getattr(spec, "submodule_search_locations", None) or [])
    for root in roots:
        for dirpath, _, files in os.walk(root):
            for f in files:
                if f.endswith(".py"):
                    st = os.stat(os.path.join(dirpath, f))
                    h.update(f"{f}:{st.st_mtime_ns}:{st.st_size}".encode())
    return h.hexdigest()


def _cache_path() -> str:
    import os

    base = os.environ.get("TRTFORGE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "trtforge")
    return os.path.join(base, "packs.json")


def collect(op: str | None = None, manager: Any = None) -> dict[str, Any]:
    """Packs and their converters; answered from a listing cache when nothing changed.

    Loading packs imports torch (seconds); the cache keeps ``trtforge packs`` fast.
    """
    if manager is None:
        key = _fingerprint()
        try:
            with open(_cache_path()) as f:
                cached = json.load(f)
            if cached.get("key") == key:
                return _filter(cached["data"], op)
        except (OSError, ValueError, KeyError):
            pass
        data = _collect_loaded(None)
        try:
            import os

            from .._io import atomic_write_text

            os.makedirs(os.path.dirname(_cache_path()), exist_ok=True)
            atomic_write_text(_cache_path(), json.dumps({"key": key, "data": data}), "pack listing cache")
        except OSError:
            pass  # only a cache: the listing is still printed
        return _filter(data, op)
    return _filter(_collect_loaded(manager), op)


def _filter(data: dict[str, Any], op: str | None) -> dict[str, Any]:
    if not op:
        return data
    packs = [dict(p, converters=[c for c in p["converters"] if _matches(c["op"], op)]) for p in data["packs"]]
    return {"packs": packs, "conflicts": [c for c in data["conflicts"] if _matches(c["op"], op)]}


def _collect_loaded(manager: Any) -> dict[str, Any]:
    from ..plugins import get_manager
    from ..plugins.registry import backends_for

    manager = manager or get_manager()
    packs = []
    for rec in manager.records.values():
        convs = [
            {
                "op": s.op_name,
                "overload": s.overload,
                "supports_dynamic_shapes": s.supports_dynamic_shapes,
                "requires_output_allocator": s.requires_output_allocator,
                "priority": s.priority,
                "backends": backends_for(s),
                "converter": s.fn_name,
            }
            for s in rec.converters
        ]
        packs.append({
            "name": rec.name, "distribution": rec.distribution, "version": rec.version,
            "description": rec.description, "api_version": rec.api_version,
            "status": rec.status, "error": rec.error, "converters": convs,
        })
    conflicts = [
        {"op": o, "priority": p, "packs": ps, "winner": ps[0]} for o, p, ps in manager.registry.conflicts()
    ]
    return {"packs": packs, "conflicts": conflicts}


def run(args: Any) -> int:
    data = collect(args.op)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    from rich.table import Table

    from ._console import make_console

    console = make_console()
    t = Table(title="trtforge packs")
    for col in ("pack", "distribution", "version", "status", "converters", "dynamic", "output allocator", "note"):
        t.add_column(col, overflow="fold")
    for p in data["packs"]:
        convs = p["converters"]
        t.add_row(
            p["name"], p["distribution"] or "-", p["version"] or "-", p["status"], str(len(convs)),
            str(sum(c["supports_dynamic_shapes"] for c in convs)),
            str(sum(c["requires_output_allocator"] for c in convs)),
            p["error"] or "",
        )
    console.print(t)
    if not data["packs"]:
        console.print("No packs installed. Install one, e.g. `pip install trtforge-vision`.")
    for c in data["conflicts"]:
        console.print(
            f"note: {c['op']} is converted by {', '.join(c['packs'])} at priority {c['priority']}; "
            f"{c['winner']} wins (pack order). Pin another with pinned_converters={{'{c['op']}': PACK}}."
        )
    if args.op:
        for p in data["packs"]:
            for c in p["converters"]:
                console.print(
                    f"{p['name']}: {c['op']}.{c['overload']} dynamic={c['supports_dynamic_shapes']} "
                    f"output_allocator={c['requires_output_allocator']} priority={c['priority']} "
                    f"backends={','.join(c['backends'])}"
                )
    return 0
