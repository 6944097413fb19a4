"""``trtforge cache info|clear``: inspect or empty an engine cache directory."""
from __future__ import annotations

import json
from typing import Any

DEFAULT_DIR = "~/.cache/trtforge/engines"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("cache", help="inspect or clear the engine cache")
    p.add_argument("action", choices=["info", "clear"],
                   help="info: list the entries and leftovers of interrupted writes; clear: delete them")
    p.add_argument("--dir", default=DEFAULT_DIR, help=f"cache directory (default {DEFAULT_DIR})")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(run=run)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def run(args: Any) -> int:
    import os

    from ..cache import EngineCache

    cache = EngineCache(os.path.expanduser(args.dir), create=False)  # looking must not create it
    if not cache.exists:
        if args.json:
            print(json.dumps({"dir": str(cache.dir), "exists": False, "entries": 0, "bytes": 0, "keys": [],
                              "orphans": [], **({"removed": 0} if args.action == "clear" else {})}))
        else:
            print(f"no engine cache at {cache.dir} (the directory does not exist; compiling with "
                  f"--engine-cache-dir {args.dir} creates it)")
        return 0
    orphans = cache.orphans()
    if args.action == "clear":
        n = cache.clear()
        if args.json:
            print(json.dumps({"removed": n, "removed_leftovers": len(orphans)}))
        else:
            print(f"removed {n} entr{'y' if n == 1 else 'ies'} and {_plural(len(orphans), 'leftover file')} "
                  f"from {cache.dir}")
        return 0
    entries = cache.entries()
    info = {"dir": str(cache.dir), "exists": True, "entries": len(entries), "bytes": sum(e[1] for e in entries),
            "keys": [{"key": k, "bytes": b, "last_used": t} for k, b, t in entries],
            "orphans": [{"file": name, "bytes": b} for name, b in orphans]}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['dir']}: {info['entries']} entries, {info['bytes'] / 1e6:.1f} MB")
    for e in info["keys"]:
        print(f"  {e['key']}  {e['bytes'] / 1e6:.1f} MB")
    if orphans:
        print(f"{_plural(len(orphans), 'leftover file')} of interrupted writes "
              f"({sum(b for _, b in orphans) / 1e6:.1f} MB; `trtforge cache clear` removes them):")
        for name, b in orphans:
            print(f"  {name}  {b / 1e6:.1f} MB")
    return 0
