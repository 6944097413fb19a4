"""``trtforge compile`` and ``trtforge coverage`` (the dry run)."""
from __future__ import annotations

import importlib
import os
from contextlib import contextmanager
from typing import Any, Iterator

from .settings_flags import add_flags, settings_from

#: the seed ``torchvision:NAME`` models are initialized with: the same command gives the same
#: weights in every process, so the engine cache can hit
TORCHVISION_SEED = 0


def add_parser(sub: Any) -> None:
    for name, help_ in (("compile", "compile a model to TensorRT engines"),
                        ("coverage", "report what would convert, without converting (dry run)")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("spec", help="torchvision:NAME | package.module:callable | FILE.pt2")
        p.add_argument("--input", action="append", required=True, metavar="DIMS",
                       help="input shape, e.g. 1x3x224x224, 1:8:32x3x224x224, 1x16@int64 (repeat per input)")
        add_flags(p, name)
        p.add_argument("--json", metavar="PATH", help="write the report as JSON to PATH ('-': to stdout)")
        if name == "compile":
            p.add_argument("-o", "--output", metavar="OUT", help="save the compiled program (.pt2)")
        p.set_defaults(run=run)


def load_model(spec: str) -> Any:
    """``torchvision:NAME`` (random weights from a fixed seed), ``package.module:callable``, or a
    ``.pt2`` file saved with ``torch.export.save``."""
    import torch

    if spec.startswith("torchvision:"):
        name = spec.split(":", 1)[1]
        try:
            import torchvision
        except ImportError as exc:
            raise RuntimeError("torchvision is not installed: pip install torchvision") from exc
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(TORCHVISION_SEED)
                return torchvision.models.get_model(name, weights=None).eval()
        except ValueError as exc:
            raise ValueError(f"{exc}; see torchvision.models.list_models()") from None
    if spec.endswith(".pt2"):
        if not os.path.exists(spec):
            raise FileNotFoundError(f"no such file: {spec}")
        return torch.export.load(spec).module()
    mod_name, sep, attr = spec.partition(":")
    if not sep:
        raise ValueError(f"model spec {spec!r} is not torchvision:NAME, package.module:callable or FILE.pt2")
    obj = getattr(_import(mod_name), attr)
    model = obj() if callable(obj) and not isinstance(obj, torch.nn.Module) else obj
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{spec} returned {type(model).__name__}, not a torch.nn.Module")
    return model.eval()


def _import(mod_name: str) -> Any:
    """Import the model's module; if it is in the current directory, say how to put that on the path."""
    try:
        return importlib.import_module(mod_name)
    except ModuleNotFoundError as exc:
        top = mod_name.split(".")[0]
        here = os.path.exists(f"{top}.py") or os.path.isdir(top)
        if exc.name == top and here:  # it is here, yet not importable: the cwd is not on the path
            raise ModuleNotFoundError(
                f"No module named {top!r}: {top} is in the current directory, which is not on Python's path; "
                f"run with PYTHONPATH=. (e.g. PYTHONPATH=. trtforge compile {mod_name}:...)", name=top,
            ) from None
        raise


def _preflight(args: Any) -> None:
    """Fail on output paths that cannot be written before anything slow runs."""
    from .._io import check_output_path

    if args.json and args.json != "-":
        check_output_path(args.json, "report")
    if getattr(args, "output", None):
        check_output_path(args.output, "compiled program")


def _check_settings(settings: dict[str, Any]) -> None:
    """Refuse bad settings before the model loads, with the Python API's own errors: values and
    combinations (CompileSettings), names of packs and ops, what the backend can honour."""
    from ..pipeline import resolve_backends
    from ..plugins.manager import get_manager
    from ..settings import CompileSettings
    from ..settings_checks import check_against_packs

    cfg = CompileSettings.from_kwargs(**settings)
    check_against_packs(cfg, get_manager())
    resolve_backends(cfg)


@contextmanager
def _stages(console: Any, title: str) -> Iterator[None]:
    """A spinner that names the compile's current stage."""
    from .._progress import listening

    with console.status(title) as status, listening(lambda name: status.update(f"{title}: {name}")):
        yield


def run(args: Any) -> int:
    import warnings

    import trtforge
    from trtforge.settings import Input

    from ._console import make_console

    # the report goes to stderr when stdout carries the JSON report
    console = make_console(stderr=args.json == "-")
    inputs = [Input.parse(text) for text in args.input]
    _preflight(args)
    settings = settings_from(args)
    if args.command == "coverage":
        settings["dryrun"] = True
    _check_settings(settings)
    with console.status(f"loading {args.spec}"):
        model = load_model(args.spec)
    doing = "analysing" if args.command == "coverage" else "compiling"
    with _stages(console, f"{doing} {args.spec} ({', '.join(args.input)})"), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="trtforge: ")  # the report prints them
        result = trtforge.compile(model, inputs, **settings)
    report = result if args.command == "coverage" else result.trtforge_report
    report.model = args.spec
    report.render(console)
    if args.json == "-":
        print(report.to_json())
    elif args.json:
        report.to_json(args.json)
        console.print(f"report written to {args.json}")
    if getattr(args, "output", None):
        trtforge.save(result, args.output, inputs=inputs)
        console.print(f"compiled program written to {args.output}")
    return 0
