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


def collect(op: str | None = None, manager: Any = None) -> dict[str, Any]:
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
            if _matches(s.op_name, op)
        ]
        packs.append({
            "name": rec.name, "distribution": rec.distribution, "version": rec.version,
            "description": rec.description, "api_version": rec.api_version,
            "status": rec.status, "error": rec.error, "converters": convs,
        })
    conflicts = [
        {"op": o, "priority": p, "packs": ps, "winner": ps[0]} for o, p, ps in manager.registry.conflicts()
        if _matches(o, op)
    ]
    return {"packs": packs, "conflicts": conflicts}


def run(args: Any) -> int:
    data = collect(args.op)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    t = Table(title="trtforge packs")
    for col in ("pack", "distribution", "version", "status", "converters", "dynamic", "output allocator", "note"):
        t.add_column(col)
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
