"""``trtforge cache info|clear``: inspect or empty an engine cache directory."""
from __future__ import annotations

import json
from typing import Any

DEFAULT_DIR = "~/.cache/trtforge/engines"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("cache", help="inspect or clear the engine cache")
    p.add_argument("action", choices=["info", "clear"])
    p.add_argument("--dir", default=DEFAULT_DIR, help=f"cache directory (default {DEFAULT_DIR})")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=run)


def run(args: Any) -> int:
    import os

    from ..cache import EngineCache

    cache = EngineCache(os.path.expanduser(args.dir))
    if args.action == "clear":
        n = cache.clear()
        print(json.dumps({"removed": n}) if args.json else f"removed {n} entr{'y' if n == 1 else 'ies'} from {cache.dir}")
        return 0
    entries = cache.entries()
    info = {"dir": str(cache.dir), "entries": len(entries), "bytes": sum(e[1] for e in entries),
            "keys": [{"key": k, "bytes": b, "last_used": t} for k, b, t in entries]}
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(f"{info['dir']}: {info['entries']} entries, {info['bytes'] / 1e6:.1f} MB")
        for e in info["keys"]:
            print(f"  {e['key']}  {e['bytes'] / 1e6:.1f} MB")
    return 0
