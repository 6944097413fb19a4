"""Settings are read as meant, or refused with the setting's name and the fix: the one place
every :class:`~trtforge.settings.CompileSettings` value is checked and normalized.

A wrong type (``min_block_size="5"``, ``validate="no"``), a value out of range, a string where a
set is expected (read as a set of letters otherwise), an op that does not exist or a pack that is
not loaded each raise :class:`~trtforge.errors.SettingError`, with a did-you-mean where one helps.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Mapping

import torch

from .errors import SettingError

if TYPE_CHECKING:
    from .settings import CompileSettings

#: flags: only True or False (``validate="no"`` would otherwise mean True)
_FLAGS = ("require_full_compilation", "use_fast_partitioner", "build", "validate", "fallback_on_error", "dryrun", "debug",
          "enable_weight_streaming", "immutable_weights", "strip_engine_weights", "refit_identical_engine_weights",
          "hardware_compatible", "version_compatible", "sparse_weights")
#: whole numbers and their least value (``None`` where the setting may be None)
_COUNTS = {"min_block_size": 1, "workspace_size": 0, "engine_cache_size": 1, "optimization_level": 0,
           "max_aux_streams": 0}
_MAXIMA = {"optimization_level": 5}
_OPTIONAL = {"optimization_level", "validate_rtol", "engine_cache_dir", "packs", "backend", "target_backend",
             "max_aux_streams"}

#: dtype names the settings accept
_PRECISIONS = {
    "float32": torch.float32, "fp32": torch.float32, "float": torch.float32,
    "float16": torch.float16, "fp16": torch.float16, "half": torch.float16,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
}
_DTYPES = {
    **_PRECISIONS,
    "int64": torch.int64, "long": torch.int64, "int32": torch.int32, "int": torch.int32,
    "int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool,
}


def parse_dtype(value: Any) -> torch.dtype:
    """A torch dtype from a dtype or its name (``"fp16"``, ``"torch.float16"``)."""
    if isinstance(value, torch.dtype):
        return value
    try:
        return _DTYPES[str(value).lower().replace("torch.", "")]
    except KeyError:
        raise ValueError(f"unknown dtype {value!r}; use one of {sorted(_DTYPES)}") from None


def check_settings(cfg: "CompileSettings") -> None:
    """The one place settings are checked and normalized (called by ``CompileSettings``).

    Names of things that exist only once packs are loaded (packs, pinned packs) are checked
    by :func:`check_against_packs` when the compile starts."""
    def put(name: str, value: Any) -> None:
        object.__setattr__(cfg, name, value)

    put("precision", parse_dtype(cfg.precision))
    if cfg.precision not in (torch.float32, torch.float16, torch.bfloat16):
        raise SettingError(f"precision must be float32, float16 or bfloat16, not {cfg.precision}")
    from .precision.select import normalize

    put("keep_fp32", normalize(cfg.keep_fp32))
    if cfg.keep_fp32 and cfg.precision == torch.float32:
        raise SettingError(
            f"keep_fp32={list(cfg.keep_fp32)} needs precision=torch.float16 or torch.bfloat16: "
            "at float32 every node already computes in float32"
        )
    for name in _FLAGS:
        value = getattr(cfg, name)
        if not isinstance(value, bool):
            raise SettingError(f"{name} must be True or False, not {value!r} ({type(value).__name__})")
    for name, least in _COUNTS.items():
        value = getattr(cfg, name)
        if value is None and name in _OPTIONAL:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise SettingError(f"{name} must be a whole number, not {value!r} ({type(value).__name__}); "
                               f"e.g. {name}={max(least, 1)}")
        if not least <= value <= _MAXIMA.get(name, value):
            bound = f"in {least}..{_MAXIMA[name]}" if name in _MAXIMA else f">= {least}"
            raise SettingError(f"{name} must be {bound}, got {value}")
    rtol = cfg.validate_rtol
    if rtol is not None and (isinstance(rtol, bool) or not isinstance(rtol, (int, float)) or not rtol >= 0):
        raise SettingError(f"validate_rtol must be a number >= 0 (0 asks for an exact match) or None, not {rtol!r}")
    if cfg.engine_cache_dir is not None:
        if not isinstance(cfg.engine_cache_dir, (str, os.PathLike)) or not os.fspath(cfg.engine_cache_dir):
            raise SettingError(f"engine_cache_dir must be a directory path or None, not {cfg.engine_cache_dir!r}")
        put("engine_cache_dir", os.fspath(cfg.engine_cache_dir))
    for name in ("backend", "target_backend"):
        value = getattr(cfg, name)
        if value is not None and value not in ("tensorrt", "tensorrt_rtx"):
            raise SettingError(f"{name} must be 'tensorrt' or 'tensorrt_rtx', not {value!r}")
    from .plugins.converters import resolve_op_name

    # an OpOverload names one overload ("aten::add.Tensor"); a name may name all ("aten::add")
    ops = _names(cfg.torch_executed_ops, "torch_executed_ops", "{'aten::relu'}")
    put("torch_executed_ops", frozenset(resolve_op_name(o, "torch_executed_ops", _load_packs) for o in ops))
    if cfg.packs is not None:
        packs = _names(cfg.packs, "packs", "{'vision'}")
        if not all(isinstance(p, str) for p in packs):
            raise SettingError(f"packs must be pack names (strings), not {sorted(map(repr, packs))}")
        put("packs", frozenset(packs))
    put("pinned_converters", _pins(cfg.pinned_converters))


def _names(value: Any, setting: str, example: str) -> list[Any]:
    """The items of a set-valued setting; a lone string is refused, not read as a set of letters."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)) or isinstance(value, Mapping) or not hasattr(value, "__iter__"):
        raise SettingError(f"{setting} must be a set of names, not {value!r} ({type(value).__name__}); "
                           f"e.g. {setting}={example}")
    return list(value)


def _pins(value: Any) -> dict[str, str]:
    """``pinned_converters`` keyed by whole-op names (the registry pins ops, not overloads)."""
    from .plugins.converters import resolve_op_name

    if not isinstance(value, Mapping):
        raise SettingError(f"pinned_converters must be a mapping of op to pack, e.g. {{'aten::relu': 'vision'}}, "
                           f"not {value!r}")
    pins = {}
    for op, pack in value.items():
        name = resolve_op_name(op, "pinned_converters", _load_packs)
        if not isinstance(pack, str):
            raise SettingError(f"pinned_converters[{op!r}] must be a pack name (a string), not {pack!r}")
        if "." in name.partition("::")[2]:
            whole = name.split(".")[0]
            raise SettingError(f"pinned_converters pins whole ops: write {whole!r}, not {op!r}")
        pins[name] = pack
    return pins


def check_against_packs(cfg: "CompileSettings", manager: Any) -> None:
    """Packs named by ``packs`` and ``pinned_converters`` exist, are loaded, and (for pins) convert
    the op; otherwise a :class:`~trtforge.errors.SettingError` with a did-you-mean."""
    import difflib

    manager.load_all()
    records = manager.records

    def check(pack: str, setting: str) -> Any:
        rec = records.get(pack)
        if rec is None:
            close = difflib.get_close_matches(pack, list(records), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"installed packs: {', '.join(sorted(records)) or 'none'}"
            raise SettingError(f"{setting} names pack {pack!r}, which is not installed; {hint} (see `trtforge packs`)")
        if rec.status != "loaded":
            why = "disabled by TRTFORGE_LOAD_PACKS/TRTFORGE_DISABLE_PACKS" if rec.status == "blocked" else \
                f"failed to load: {rec.error}"
            raise SettingError(f"{setting} names pack {pack!r}, which is {why}")
        return rec

    for pack in sorted(cfg.packs or ()):
        check(pack, "packs")
    for op, pack in cfg.pinned_converters.items():
        rec = check(pack, f"pinned_converters[{op!r}]")
        if not any(spec.op_name == op for spec in rec.converters):
            raise SettingError(f"pinned_converters pins {op} to pack {pack!r}, which has no converter for it; "
                               f"`trtforge packs --op {op}` lists the packs that do")


def _load_packs() -> None:
    """Load the installed packs (an op a setting names may be defined by one)."""
    from .plugins.manager import get_manager

    get_manager()
