"""``trtforge inspect FILE [--json]``: what a saved program holds, without a GPU or TensorRT."""
from __future__ import annotations

import argparse
import json
import sys
from typing import Any

HELP = "show the ABI version, engines, their I/O, backend, flags and sizes of a saved program"


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``inspect`` subcommand to an ``argparse`` subparsers object."""
    p = subparsers.add_parser("inspect", help=HELP, description=HELP)
    p.add_argument("file", help="a .pt2 file written by trtforge.save")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(run=run, func=run, command="inspect")
    return p


def _size(n: Any) -> str:
    if not isinstance(n, int):
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return "?"  # pragma: no cover


def _yn(v: Any) -> str:
    return "yes" if v else "no"


def format_text(info: dict[str, Any]) -> str:
    lines = [
        f"trtforge program: {info['file']} ({_size(info['file_bytes'])})",
        f"  ABI version:     {info['abi_version']} (this trtforge reads {info['runtime_abi_version']})",
        f"  saved by:        trtforge {info.get('trtforge_version') or '?'}, torch {info.get('torch_version') or '?'}",
        f"  integrity:       {info['integrity']}",
        f"  engines:         {len(info['engines'])}",
        f"  PyTorch ops:     {info.get('fallback_ops', '?')} (fallback segments)",
    ]
    for i, e in enumerate(info["engines"]):
        f = e["flags"]
        lines.append("")
        lines.append(f"  [{i}] {e.get('name')}  (graph node {e.get('node')}, tensor {e.get('engine_tensor')})")
        lines.append(f"      backend:   {e.get('backend')} {e.get('backend_version') or ''}".rstrip())
        lines.append(f"      engine:    {_size(e.get('engine_bytes'))} ({e.get('engine_bytes')} bytes), "
                     f"sha256 {str(e.get('sha256') or '?')[:16]}...")
        lines.append(
            f"      flags:     requires_output_allocator={_yn(f['requires_output_allocator'])} "
            f"weight_streaming={_yn(f['weight_streaming'])} "
            f"hardware_compatibility={f['hardware_compatibility']} device={f['device']} "
            f"compute_capability={f['compute_capability'] or '-'}"
        )
        feat = e.get("features") or {}
        if feat:
            lines.append(
                f"      features:  builder_flags={','.join(feat.get('builder_flags') or []) or '-'} "
                f"refittable={_yn(feat.get('refittable'))} stripped={_yn(feat.get('weights_stripped'))} "
                f"profiles={feat.get('optimization_profiles', 1)} "
                f"max_aux_streams={feat.get('max_aux_streams') if feat.get('max_aux_streams') is not None else '-'}"
                + (f" runtime_cache={feat['runtime_cache_path']}" if feat.get("runtime_cache_path") else "")
            )
        for kind in ("inputs", "outputs"):
            lines.append(f"      {kind}:")
            for t in e.get(kind, []):
                row = f"        {t.get('name')}  {t.get('dtype')}  {t.get('shape')}"
                prof = t.get("profile")
                if t.get("profiles"):
                    row += "  profiles " + "; ".join(f"[{k}] min {p[0]} opt {p[1]} max {p[2]}"
                                                    for k, p in enumerate(t["profiles"]))
                elif prof:
                    row += f"  profile min {prof[0]} opt {prof[1]} max {prof[2]}"
                lines.append(row)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the report; 0 on success, 2 if the file cannot be read (the reason goes to stderr)."""
    from trtforge.errors import SavedProgramError
    from trtforge.runtime.archive import inspect_saved

    try:
        info = inspect_saved(args.file)
    except (SavedProgramError, FileNotFoundError, OSError) as exc:
        if getattr(args, "json", False):
            print(json.dumps({"file": args.file, "error": type(exc).__name__, "message": str(exc)}))
        print(f"trtforge inspect: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        print(format_text(info))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="trtforge")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["inspect", *(sys.argv[1:] if argv is None else argv)])
    return run(args)


if __name__ == "__main__":  # python -m trtforge.cli.inspect FILE [--json]
    sys.exit(main())
