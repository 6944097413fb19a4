"""The ``trtforge compile`` / ``coverage`` options that set compile settings: one table.

Each option sets the :class:`~trtforge.CompileSettings` field of the same name (``--max-aux-streams``
-> ``max_aux_streams``; a ``--no-X`` option sets ``X=False``; a repeatable option names one item of
a set). An option not given leaves the setting at its default, so the defaults and every check
(ranges, combinations, what the backend can honour) are the Python API's own. No torch import
here: ``trtforge packs`` builds the same parser.
"""
from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import Any, Callable

#: suffixes of byte sizes (binary: 1K = 1024 bytes)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def byte_size(text: str) -> int:
    """``4096``, ``512M``, ``1G``, ``2GiB`` -> bytes."""
    m = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)(i?b)?\s*", text.lower())
    if not m or (m.group(3) and not m.group(2) and m.group(3) != "b"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: give bytes, or a number with K, M, G or T (1G = 2**30)")
    return int(m.group(1)) * _UNITS[m.group(2)]


def _pin(text: str) -> tuple[str, str]:
    op, sep, pack = text.partition("=")
    if not sep or not op.strip() or not pack.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not OP=PACK (e.g. aten::relu=mypack)")
    return op.strip(), pack.strip()


@dataclass(frozen=True)
class Flag:
    """One option: ``option`` sets ``setting``; ``kind`` says how (see :func:`add_flags`)."""

    option: str
    setting: str
    kind: str  # "true" | "false" (store that value) | "value" | "repeat"
    help: str
    type: Callable[[str], Any] | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    #: the commands that take it (coverage is a dry run: build-only options mean nothing there)
    commands: tuple[str, ...] = ("compile",)


BOTH = ("compile", "coverage")
_BACKENDS = ("tensorrt", "tensorrt_rtx")

FLAGS: tuple[Flag, ...] = (
    # -- what converts -------------------------------------------------------------------------
    Flag("--precision", "precision", "value", "float32 | fp16 | bf16 (default float32)", commands=BOTH),
    Flag("--keep-fp32", "keep_fp32", "repeat",
         "with --precision fp16/bf16: keep this node, op (aten::layer_norm), module path or module class in "
         "float32; 'auto' searches (repeat for several)", metavar="NAME", commands=BOTH),
    Flag("--min-block-size", "min_block_size", "value",
         "smallest engine between PyTorch segments, in compute nodes (default 5)", type=int, commands=BOTH),
    Flag("--target-backend", "target_backend", "value",
         "whose capability table decides what converts (default: the installed backend)", choices=_BACKENDS,
         commands=BOTH),
    Flag("--backend", "backend", "value", "the TensorRT to build with (default: the installed one)",
         choices=_BACKENDS, commands=BOTH),
    Flag("--torch-executed-op", "torch_executed_ops", "repeat",
         "keep this op in PyTorch, e.g. aten::relu (repeat for several)", metavar="OP", commands=BOTH),
    Flag("--pack", "packs", "repeat", "use only converters from this pack (repeat for several)",
         metavar="PACK", commands=BOTH),
    Flag("--pinned-converter", "pinned_converters", "repeat",
         "OP=PACK: that pack's converter wins for that op (repeat for several)", type=_pin, metavar="OP=PACK",
         commands=BOTH),
    Flag("--debug", "debug", "true",
         "log each stage and TensorRT's messages to stderr, and show tracebacks on errors", commands=BOTH),
    # -- compiling ------------------------------------------------------------------------------
    Flag("--no-build", "build", "false", "construct and check networks only"),
    Flag("--validate", "validate", "true", "check numbers by CPU reference execution"),
    Flag("--validate-rtol", "validate_rtol", "value",
         "the relative error validation accepts (default: 1e-3 at float32, the tolerance rule below it)",
         type=float, metavar="RTOL"),
    Flag("--require-full-compilation", "require_full_compilation", "true",
         "fail, listing every node that would stay in PyTorch"),
    Flag("--fallback-on-error", "fallback_on_error", "true",
         "a converter or build error sends its partition to PyTorch instead of failing"),
    Flag("--global-partitioner", "use_fast_partitioner", "false",
         "merge non-adjacent convertible nodes into fewer engines"),
    Flag("--engine-cache-dir", "engine_cache_dir", "value", "reuse compiled programs from this directory",
         metavar="DIR"),
    Flag("--engine-cache-size", "engine_cache_size", "value",
         "size cap of the engine cache directory (bytes, or 512M, 4G; default 2G)", type=byte_size,
         metavar="SIZE"),
    # -- the builder and engine features ----------------------------------------------------------
    Flag("--workspace-size", "workspace_size", "value",
         "builder workspace limit (bytes, or 512M, 1G; default 0: TensorRT's)", type=byte_size, metavar="SIZE"),
    Flag("--optimization-level", "optimization_level", "value",
         "builder optimization level 0-5 (default: TensorRT's)", type=int, metavar="N"),
    Flag("--enable-weight-streaming", "enable_weight_streaming", "true",
         "build with WEIGHT_STREAMING (set the device budget at run time)"),
    Flag("--no-immutable-weights", "immutable_weights", "false",
         "refittable engines (REFIT), refitted with trtforge.refit_module_weights"),
    Flag("--strip-engine-weights", "strip_engine_weights", "true",
         "leave the refittable weights out of the engine (STRIP_PLAN); needs --no-immutable-weights"),
    Flag("--refit-identical-engine-weights", "refit_identical_engine_weights", "true",
         "REFIT_IDENTICAL: refit only with the build-time weights; needs --no-immutable-weights"),
    Flag("--hardware-compatible", "hardware_compatible", "true",
         "engines that run on any Ampere or later GPU (full TensorRT)"),
    Flag("--version-compatible", "version_compatible", "true",
         "engines that run on later TensorRT versions of the same major (VERSION_COMPATIBLE)"),
    Flag("--max-aux-streams", "max_aux_streams", "value", "the most auxiliary CUDA streams an engine may use",
         type=int, metavar="N"),
    Flag("--sparse-weights", "sparse_weights", "true", "let TensorRT use 2:4 structured-sparsity kernels"),
    Flag("--timing-cache-path", "timing_cache_path", "value",
         "full TensorRT: load and save the builder's timing cache here", metavar="PATH"),
    Flag("--runtime-cache-path", "runtime_cache_path", "value",
         "TensorRT-RTX: the runtime cache of JIT-compiled kernels", metavar="PATH"),
)

def add_flags(parser: argparse.ArgumentParser, command: str) -> None:
    """Add the options ``command`` takes; none has a default (not given: the setting's default)."""
    for f in FLAGS:
        if command not in f.commands:
            continue
        common: dict[str, Any] = {"dest": f.setting, "default": argparse.SUPPRESS, "help": f.help}
        if f.kind in ("true", "false"):
            parser.add_argument(f.option, action="store_const", const=f.kind == "true", **common)
        elif f.kind == "repeat":
            parser.add_argument(f.option, action="append", type=f.type, metavar=f.metavar, **common)
        else:
            parser.add_argument(f.option, type=f.type, metavar=f.metavar, choices=f.choices, **common)


def settings_from(args: argparse.Namespace) -> dict[str, Any]:
    """The settings the given options set: ``{setting name: value}``."""
    out: dict[str, Any] = {}
    for f in FLAGS:
        if not hasattr(args, f.setting) or f.setting in out:
            continue
        value = getattr(args, f.setting)
        if f.setting == "keep_fp32":
            value = tuple(value)
        elif f.setting == "pinned_converters":
            value = dict(value)
        elif f.kind == "repeat":
            value = frozenset(value)
        out[f.setting] = value
    return out
