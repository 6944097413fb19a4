"""``trtforge`` command line: packs, compile, coverage, inspect, cache."""
from __future__ import annotations

import argparse
import importlib
import sys

#: subcommand modules; each has ``add_parser(subparsers)`` and ``run(args) -> int``
COMMANDS = ["packs", "compile", "inspect", "cache"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trtforge", description="Compile PyTorch models to TensorRT engines.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f"trtforge.cli.{name}")
        except ImportError:
            continue
        mod.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the CLI prints errors, not tracebacks (use --debug for one)
        if getattr(args, "debug", False):
            raise
        print(f"trtforge {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
