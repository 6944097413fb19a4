"""``trtforge compile`` and ``trtforge coverage`` (the dry run)."""
from __future__ import annotations

import importlib
import os
from typing import Any


def add_parser(sub: Any) -> None:
    for name, help_ in (("compile", "compile a model to TensorRT engines"),
                        ("coverage", "report what would convert, without converting (dry run)")):
        p = sub.add_parser(name, help=help_)
        p.add_argument("spec", help="torchvision:NAME | package.module:callable | FILE.pt2")
        p.add_argument("--input", action="append", required=True, metavar="DIMS",
                       help="input shape, e.g. 1x3x224x224, 1:8:32x3x224x224, 1x16@int64 (repeat per input)")
        p.add_argument("--precision", default="float32", help="float32 | fp16 | bf16")
        p.add_argument("--min-block-size", type=int, default=5)
        p.add_argument("--target-backend", choices=["tensorrt", "tensorrt_rtx"])
        p.add_argument("--torch-executed-op", action="append", default=[], metavar="OP")
        p.add_argument("--json", metavar="PATH", help="write the report as JSON")
        p.add_argument("--debug", action="store_true")
        if name == "compile":
            p.add_argument("--no-build", action="store_true", help="construct and check networks only")
            p.add_argument("--validate", action="store_true", help="check numbers by CPU reference execution")
            p.add_argument("--require-full-compilation", action="store_true")
            p.add_argument("--global-partitioner", action="store_true")
            p.add_argument("--engine-cache-dir", metavar="DIR")
            p.add_argument("-o", "--output", metavar="OUT", help="save the compiled program (.pt2)")
        p.set_defaults(run=run)


def load_model(spec: str) -> Any:
    """``torchvision:NAME`` (weights=None), ``package.module:callable``, or a ``.pt2`` file."""
    import torch

    if spec.startswith("torchvision:"):
        name = spec.split(":", 1)[1]
        try:
            import torchvision
        except ImportError as exc:
            raise RuntimeError("torchvision is not installed: pip install torchvision") from exc
        try:
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
    obj = getattr(importlib.import_module(mod_name), attr)
    model = obj() if callable(obj) and not isinstance(obj, torch.nn.Module) else obj
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{spec} returned {type(model).__name__}, not a torch.nn.Module")
    return model.eval()


def run(args: Any) -> int:
    from rich.console import Console

    import trtforge
    from trtforge.settings import Input

    console = Console()
    inputs = [Input.parse(text) for text in args.input]
    settings: dict[str, Any] = dict(
        precision=args.precision, min_block_size=args.min_block_size, target_backend=args.target_backend,
        torch_executed_ops=frozenset(args.torch_executed_op), debug=args.debug,
    )
    if args.command == "coverage":
        settings["dryrun"] = True
    else:
        settings.update(
            build=not args.no_build, validate=args.validate,
            require_full_compilation=args.require_full_compilation,
            use_fast_partitioner=not args.global_partitioner, engine_cache_dir=args.engine_cache_dir,
        )
    with console.status(f"loading {args.spec}"):
        model = load_model(args.spec)
    with console.status(f"{'analysing' if args.command == 'coverage' else 'compiling'} {args.spec} ({', '.join(args.input)})"):
        result = trtforge.compile(model, inputs, **settings)
    report = result if args.command == "coverage" else result.trtforge_report
    report.model = args.spec
    report.render(console)
    if args.json:
        report.to_json(args.json)
        console.print(f"report written to {args.json}")
    if getattr(args, "output", None):
        trtforge.save(result, args.output, inputs=inputs)
        console.print(f"compiled program written to {args.output}")
    return 0
