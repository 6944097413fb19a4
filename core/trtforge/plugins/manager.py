"""Finding, loading and checking converter packs.

Packs are found on the ``trtforge.packs`` entry-point group and loaded lazily,
once, on first use. A pack that fails (import error, misspelled hook, bad hook
signature, incompatible API version) is recorded with its error and skipped;
the others still load. Strict mode (``TRTFORGE_STRICT_PACKS=1``) raises instead.
"""
from __future__ import annotations

import difflib
import os
import traceback
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Iterable, Literal

import pluggy

from ..errors import PackLoadError
from . import hookspecs
from .converters import ConverterSpec, converters_in, specs_of
from .info import CORE_API_VERSION, PackInfo, api_compatible
from .registry import ConverterRegistry

from .manager_light import ENTRY_POINT_GROUP, distribution_facts, entry_points, importlib_metadata
#: a pack as the manager saw it: loaded, failed to load, or blocked by the settings/environment
PackStatus = Literal["loaded", "error", "blocked"]


@dataclass
class PackRecord:
    """One pack as the manager saw it: loaded, blocked or failed."""

    name: str
    status: PackStatus
    distribution: str | None = None
    version: str | None = None
    description: str = ""
    api_version: str | None = None
    error: str | None = None
    converters: list[ConverterSpec] = field(default_factory=list)
    decompositions: dict[Any, Callable] = field(default_factory=dict)
    lowering_passes: list[Callable] = field(default_factory=list)


def _env_list(var: str) -> set[str] | None:
    raw = os.environ.get(var)
    if raw is None:
        return None
    return {p.strip() for p in raw.split(",") if p.strip()}


def _strict_from_env() -> bool:
    return os.environ.get("TRTFORGE_STRICT_PACKS", "").lower() in {"1", "true", "yes", "on"}


class PackManager:
    """Loads packs into a fresh pluggy manager and fills a converter registry.

    ``load``/``disable`` default to ``TRTFORGE_LOAD_PACKS``/``TRTFORGE_DISABLE_PACKS``;
    ``strict`` to ``TRTFORGE_STRICT_PACKS``. ``entry_points`` replaces discovery (tests).
    """

    def __init__(
        self,
        *,
        load: Iterable[str] | None = None,
        disable: Iterable[str] | None = None,
        strict: bool | None = None,
        entry_points: Iterable[Any] | None = None,
        discover: bool = True,
    ) -> None:
        self.pm = pluggy.PluginManager("trtforge")
        self.pm.add_hookspecs(hookspecs)
        self.registry = ConverterRegistry()
        self.records: dict[str, PackRecord] = {}
        self.allow = set(load) if load is not None else _env_list("TRTFORGE_LOAD_PACKS")
        self.block = set(disable) if disable is not None else (_env_list("TRTFORGE_DISABLE_PACKS") or set())
        self.strict = _strict_from_env() if strict is None else strict
        self._entry_points = list(entry_points) if entry_points is not None else None
        self._discover = discover
        self._loaded = False

    # -- discovery -----------------------------------------------------------
    def _eps(self) -> list[Any]:
        if self._entry_points is not None:
            eps = self._entry_points
        elif self._discover:
            eps = entry_points()
        else:
            eps = []
        # name order makes pack order (the tie-breaker between converters) deterministic
        return sorted(eps, key=lambda ep: ep.name)

    def load_all(self) -> "PackManager":
        """Load every discovered pack once; later calls do nothing."""
        if self._loaded:
            return self
        self._loaded = True
        for ep in self._eps():
            dist = getattr(getattr(ep, "dist", None), "name", None)
            if ep.name in self.records:
                self._fail(PackRecord(ep.name, "error", dist), f"two entry points are named {ep.name!r}")
                continue
            if (self.allow is not None and ep.name not in self.allow) or ep.name in self.block:
                why = "TRTFORGE_DISABLE_PACKS" if ep.name in self.block else "not in TRTFORGE_LOAD_PACKS"
                self.records[ep.name] = PackRecord(ep.name, "blocked", dist, error=f"blocked ({why})")
                continue
            try:
                obj = ep.load()
            except Exception as exc:
                tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
                self._fail(PackRecord(ep.name, "error", dist), f"import of {ep.value!r} failed: {tb}")
                continue
            self.add_pack(ep.name, obj, distribution=dist)
        return self

    # -- registration --------------------------------------------------------
    def add_pack(self, name: str, plugin: Any, *, distribution: str | None = None) -> PackRecord:
        """Register ``plugin`` (a module or object with hookimpls) as pack ``name``."""
        rec = PackRecord(name, "loaded", distribution)
        if name in self.records and self.records[name].status == "loaded":
            return self._fail(rec, f"a pack named {name!r} is already loaded")
        try:
            self.pm.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            return self._fail(rec, f"bad hook implementation: {exc}")
        except ValueError as exc:
            return self._fail(rec, str(exc))
        try:
            self._check_unknown_hooks(name, plugin)
            self._read_info(rec, plugin)
            self._collect(rec, plugin)
        except _PackError as exc:
            self.pm.unregister(plugin)
            return self._fail(rec, str(exc))
        self.records[name] = rec
        for spec in rec.converters:
            self.registry.add(spec, name)
        return rec

    def _fail(self, rec: PackRecord, message: str) -> PackRecord:
        rec.status, rec.error = "error", message
        rec.converters, rec.decompositions, rec.lowering_passes = [], {}, []
        key = rec.name
        if key in self.records and self.records[key].status == "loaded":
            key = f"{rec.name} (duplicate)"  # never hide the pack that did load
        self.records[key] = rec
        if self.strict:
            raise PackLoadError(f"pack {rec.name!r}: {message}")
        return rec

    def _check_unknown_hooks(self, name: str, plugin: Any) -> None:
        known = [n for n in dir(hookspecs) if n.startswith("trtforge_")]
        for caller in self.pm.get_hookcallers(plugin) or ():
            if caller.spec is None:
                close = difflib.get_close_matches(caller.name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else f"; known hooks: {', '.join(known)}"
                raise _PackError(f"implements unknown hook {caller.name!r}{hint}")

    def _call(self, hook_name: str, plugin: Any, **kwargs: Any) -> list[Any]:
        out = []
        for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
            if impl.plugin is plugin:
                try:
                    out.append(impl.function(**{k: v for k, v in kwargs.items() if k in impl.argnames}))
                except _PackError:
                    raise
                except Exception as exc:
                    raise _PackError(f"hook {hook_name} raised {type(exc).__name__}: {exc}") from exc
        return out

    def _read_info(self, rec: PackRecord, plugin: Any) -> None:
        infos = [i for i in self._call("trtforge_pack_info", plugin) if i is not None]
        if not infos:
            raise _PackError("does not implement trtforge_pack_info (return a trtforge.PackInfo)")
        info = infos[0]
        if not isinstance(info, PackInfo):
            raise _PackError(f"trtforge_pack_info returned {type(info).__name__}, expected trtforge.PackInfo")
        rec.api_version = str(info.api_version)
        rec.version, rec.description = info.version, info.description
        if rec.version is None or rec.description is None:  # left to the distribution's metadata
            version, summary = distribution_facts(rec.distribution, plugin)
            doc = (getattr(plugin, "__doc__", None) or "").strip().split("\n")[0]
            rec.version = rec.version or version or "unknown"
            rec.description = rec.description if rec.description is not None else (summary or doc)
        if not api_compatible(rec.api_version):
            major = CORE_API_VERSION.split(".")[0]
            raise _PackError(
                f"written for trtforge core API {rec.api_version}, but this core provides API "
                f"{CORE_API_VERSION}, which accepts packs written for {major}.0 to {CORE_API_VERSION}; "
                "upgrade the pack or install a matching trtforge"
            )

    def _collect(self, rec: PackRecord, plugin: Any) -> None:
        def register_converter(*fns: Callable | ModuleType) -> None:
            """``register(fn, ...)`` or ``register(module)``: a module registers every converter in it."""
            for f in fns:
                try:
                    for fn in converters_in(f) if isinstance(f, ModuleType) else [f]:
                        rec.converters.extend(specs_of(fn))
                except TypeError as exc:
                    raise _PackError(str(exc)) from exc

        def register_decomposition(op: Any, fn: Callable) -> None:
            rec.decompositions[op] = fn

        def register_pass(fn: Callable) -> None:
            rec.lowering_passes.append(fn)

        self._call("trtforge_register_converters", plugin, register=register_converter)
        self._call("trtforge_register_decompositions", plugin, register=register_decomposition)
        self._call("trtforge_register_lowering_passes", plugin, register=register_pass)

    # -- queries -------------------------------------------------------------
    def loaded(self) -> list[PackRecord]:
        self.load_all()
        return [r for r in self.records.values() if r.status == "loaded"]

    def decompositions(self) -> dict[Any, Callable]:
        out: dict[Any, Callable] = {}
        for rec in self.loaded():
            for op, fn in rec.decompositions.items():
                out.setdefault(op, fn)
        return out

    def lowering_passes(self) -> list[tuple[str, Callable]]:
        return [(rec.name, fn) for rec in self.loaded() for fn in rec.lowering_passes]


class _PackError(Exception):
    pass


_default: PackManager | None = None


def get_manager() -> PackManager:
    """The process-wide manager, packs loaded on first call."""
    global _default
    if _default is None:
        _default = PackManager()
    return _default.load_all()


def set_manager(manager: PackManager | None) -> PackManager | None:
    """Replace the process-wide manager (tests, the test kit); returns the previous one."""
    global _default
    prev, _default = _default, manager
    return prev
