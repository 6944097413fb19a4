"""``trtforge`` command line: packs, compile, coverage, inspect, cache."""
from __future__ import annotations

import argparse
import importlib
import os
import sys

#: subcommand modules; each has ``add_parser(subparsers)`` and ``run(args) -> int``
COMMANDS = ["packs", "compile", "inspect", "cache"]


def build_parser() -> argparse.ArgumentParser:
    from .._version import __version__

    parser = argparse.ArgumentParser(prog="trtforge", description="Compile PyTorch models to TensorRT engines.")
    parser.add_argument("--version", action="version", version=f"trtforge {__version__}")
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
        rc = int(args.run(args) or 0)
        sys.stdout.flush()  # inside the try: a closed pipe shows up here, not at exit
        return rc
    except KeyboardInterrupt:
        print(f"trtforge {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `trtforge ... | head`: the reader left; nothing more to say
        _silence_stdout()
        return 141
    except Exception as exc:  # the CLI prints errors, not tracebacks (use --debug for one)
        if getattr(args, "debug", False):
            raise
        print(f"trtforge {args.command}: error: {exc}", file=sys.stderr)
        return 1


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that flushing it at exit does not raise a second BrokenPipeError."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
