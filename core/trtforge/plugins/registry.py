"""The converter registry: who converts which op, and why a node was refused."""
from __future__ import annotations

import enum
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping

import torch

from ..conversion.dtypes import missing_dtypes
from .converters import ConverterSpec, check_target, op_name
from .. import backend as _backend


class Reason(str, enum.Enum):
    """Why a node stays in PyTorch. The values appear in reports."""

    NO_CONVERTER = "no converter in any installed pack"
    USER_EXECUTED = "user asked for it to run in PyTorch (torch_executed_ops)"
    PACK_EXCLUDED = "its converter's pack is excluded by the `packs` setting"
    VALIDATOR = "converter's capability validator refused these arguments"
    VALIDATOR_ERROR = "converter's capability validator raised"
    DYNAMIC_SHAPES = "node has dynamic shapes and the converter does not support them"
    BACKEND = "target backend cannot build a layer the converter emits"
    DTYPE = "TensorRT has no data type for a tensor of this node"
    NOT_COMPUTE = "not a compute node"
    PUSHED_BACK = "pushed back to PyTorch by partitioning"
    PARTITION_TOO_SMALL = "its TensorRT segment is smaller than min_block_size"
    CONVERTER_FAILED = "converter raised; partition fell back to PyTorch"
    BUILD_FAILED = "engine build failed; partition fell back to PyTorch"
    RANDOM = "random sampling op: runs in PyTorch by design"


@dataclass(frozen=True)
class Rejection:
    reason: Reason
    detail: str = ""
    pack: str | None = None

    def __str__(self) -> str:
        who = f"[{self.pack}] " if self.pack else ""
        return f"{who}{self.reason.value}" + (f": {self.detail}" if self.detail else "")


@dataclass
class Selection:
    """Result of choosing a converter for one node."""

    spec: ConverterSpec | None
    rejections: list[Rejection] = field(default_factory=list)

    @property
    def reason(self) -> str:
        if self.spec is not None:
            return ""
        return "; ".join(str(r) for r in self.rejections) or Reason.NO_CONVERTER.value

    @property
    def primary(self) -> Rejection:
        """The rejection that explains the fallback best: a backend limit wins (that converter
        accepted the node and only the backend stopped it), else the first candidate's reason."""
        for r in self.rejections:
            if r.reason is Reason.BACKEND:
                return r
        # a converter the `packs` setting excluded explains nothing when an allowed one refused
        considered = [r for r in self.rejections if r.reason is not Reason.PACK_EXCLUDED]
        return (considered or self.rejections or [Rejection(Reason.NO_CONVERTER)])[0]


def is_random(target: Any) -> bool:
    """An op that samples random numbers (rand, randn, randperm, bernoulli, ...): torch tags them."""
    return isinstance(target, torch._ops.OpOverload) and torch.Tag.nondeterministic_seeded in target.tags


#: Which published pack converts an op, for the hint when none is installed.
PACK_HINTS: dict[str, str] = {
    "torchvision::": "trtforge-detection",
    "aten::nonzero": "trtforge-dds-ops",
    "aten::masked_select": "trtforge-dds-ops",
    "aten::_unique2": "trtforge-dds-ops",
    "aten::unique_dim": "trtforge-dds-ops",
    "aten::unique_consecutive": "trtforge-dds-ops",
    "aten::": "trtforge-vision",
}


def pack_hint(name: str) -> str | None:
    for prefix in sorted(PACK_HINTS, key=len, reverse=True):
        if name == prefix or (prefix.endswith("::") and name.startswith(prefix)):
            return PACK_HINTS[prefix]
    return None


def unloaded_pack_note(op: str, records: Mapping[str, Any]) -> str | None:
    """For an op no loaded pack converts: the installed pack that converts it but is not loaded
    (disabled by TRTFORGE_DISABLE_PACKS / TRTFORGE_LOAD_PACKS, or failed), in words; else None."""
    name = op.rsplit(".", 1)[0] if "::" in op and "." in op.split("::", 1)[1] else op
    dist = pack_hint(name)
    for rec in records.values():
        if dist and rec.status != "loaded" and rec.distribution == dist:
            how = "may convert" if dist == PACK_HINTS["aten::"] else "converts"
            return f"pack {rec.name!r} ({dist}), which {how} it, is installed but not loaded: {rec.error or rec.status}"
    return None


def node_is_dynamic(node: torch.fx.Node) -> bool:
    """True if any tensor the node reads or produces has a symbolic dimension."""

    def dyn(val: Any) -> bool:
        if isinstance(val, torch.Tensor):
            return any(not isinstance(d, int) for d in val.shape)
        if isinstance(val, (list, tuple)):
            return any(dyn(v) for v in val)
        return isinstance(val, torch.SymInt)

    if dyn(node.meta.get("val")):
        return True
    return any(isinstance(a, torch.fx.Node) and dyn(a.meta.get("val")) for a in node.all_input_nodes)


class ConverterRegistry:
    """All converters of the loaded packs, keyed by target op."""

    def __init__(self) -> None:
        self._by_target: dict[Any, list[ConverterSpec]] = defaultdict(list)
        self._pack_order: list[str] = []
        self._pins: dict[str, str] = {}

    # -- filling -------------------------------------------------------------
    def add(self, spec: ConverterSpec, pack: str) -> ConverterSpec:
        check_target(spec.target)
        spec = replace(spec, pack=pack)
        if pack not in self._pack_order:
            self._pack_order.append(pack)
        self._by_target[spec.target].append(spec)
        return spec

    def pin(self, op: str, pack: str) -> None:
        """Make ``pack``'s converter win for ``op`` (``"aten::relu"``), whatever the priorities."""
        self._pins[op] = pack

    # -- queries -------------------------------------------------------------
    def __contains__(self, target: Any) -> bool:
        return bool(self._by_target.get(target))

    def targets(self) -> list[Any]:
        return [t for t, specs in self._by_target.items() if specs]

    def all_specs(self) -> list[ConverterSpec]:
        return [s for specs in self._by_target.values() for s in specs]

    def specs_for(self, target: Any, pins: Mapping[str, str] | None = None) -> list[ConverterSpec]:
        """Candidates in selection order: pinned pack first, then priority, then pack order."""
        specs = list(self._by_target.get(target, ()))
        pinned = {**self._pins, **(pins or {})}.get(op_name(target))
        order = {p: i for i, p in enumerate(self._pack_order)}
        specs.sort(key=lambda s: (s.pack != pinned, -s.priority, order.get(s.pack, len(order))))
        return specs

    def conflicts(self) -> list[tuple[str, int, list[str]]]:
        """``(op, priority, packs)`` wherever two packs claim one op at one priority."""
        out = []
        for target, specs in self._by_target.items():
            by_prio: dict[int, list[str]] = defaultdict(list)
            for s in specs:
                if s.pack not in by_prio[s.priority]:
                    by_prio[s.priority].append(s.pack)
            for prio, packs in by_prio.items():
                if len(packs) > 1:
                    out.append((op_name(target), prio, packs))
        return out

    # -- selection -----------------------------------------------------------
    def select(
        self,
        node: torch.fx.Node,
        settings: Any = None,
        *,
        target_backend: str | None = None,
    ) -> Selection:
        """Choose the converter for ``node``, recording why each candidate was refused."""
        target = node.target
        name = op_name(target)
        sel = Selection(spec=None)
        executed = set(getattr(settings, "torch_executed_ops", ()) or ())
        if name in executed or _qualified(target) in executed or target in executed:
            sel.rejections.append(Rejection(Reason.USER_EXECUTED, name))
            return sel
        missing = missing_dtypes(node)
        if missing:
            sel.rejections.append(Rejection(Reason.DTYPE, f"{', '.join(missing)}; {_DTYPE_FIX}"))
            return sel
        specs = self.specs_for(target, getattr(settings, "pinned_converters", None))
        if not specs and is_random(target):
            sel.rejections.append(Rejection(Reason.RANDOM, f"{name} draws from torch's random generator, whose "
                                            "stream TensorRT cannot reproduce; nothing to install or fix"))
            return sel
        if not specs:
            hint = pack_hint(name) if isinstance(target, torch._ops.OpOverload) else None
            detail = f"{name}; install {hint}, which converts it" if hint else name
            if hint == "trtforge-vision" or hint is None:
                detail = f"{name}; no installed pack converts it (write a converter: see docs/writing-a-pack.md)"
                if hint:
                    detail += f", or check whether {hint} is installed and loaded"
            sel.rejections.append(Rejection(Reason.NO_CONVERTER, detail))
            return sel
        allowed_packs = getattr(settings, "packs", None)
        caps = _backend.capabilities(target_backend)
        dynamic = None
        for spec in specs:
            if allowed_packs is not None and spec.pack not in allowed_packs:
                sel.rejections.append(Rejection(Reason.PACK_EXCLUDED, f"packs={sorted(allowed_packs)}", spec.pack))
                continue
            if not spec.supports_dynamic_shapes:
                if dynamic is None:
                    dynamic = node_is_dynamic(node)
                if dynamic:
                    sel.rejections.append(Rejection(Reason.DYNAMIC_SHAPES, spec.fn_name, spec.pack))
                    continue
            if spec.capability_validator is not None:
                try:
                    ok = spec.capability_validator(node, settings)
                except Exception as exc:  # a buggy validator must not break compilation
                    sel.rejections.append(
                        Rejection(Reason.VALIDATOR_ERROR, f"{spec.fn_name}: {type(exc).__name__}: {exc}", spec.pack)
                    )
                    continue
                if not ok:
                    why = getattr(ok, "reason", "") if ok is not False else ""
                    sel.rejections.append(Rejection(Reason.VALIDATOR, why or spec.fn_name, spec.pack))
                    continue
            # checked last: a backend limit is the reason only for a converter that would otherwise be chosen
            missing = sorted(layer for layer in spec.emits if not caps.supports(layer))
            if missing:
                sel.rejections.append(
                    Rejection(Reason.BACKEND, "; ".join(caps.why_not(m) for m in missing), spec.pack)
                )
                continue
            sel.spec = spec
            return sel
        return sel


_DTYPE_FIX = ("it runs in PyTorch with its own dtypes; for TensorRT, compute in float32 (model.float() and float32 "
              "inputs; complex values as real and imaginary parts)")


def _qualified(target: Any) -> str:
    from .converters import qualified_op_name

    return qualified_op_name(target)


def backends_for(spec: ConverterSpec, names: Iterable[str] | None = None) -> list[str]:
    """The backends whose capability table can build everything ``spec`` emits."""
    names = list(names or _backend.CAPABILITIES)
    return [b for b in names if all(_backend.capabilities(b).supports(l) for l in spec.emits)]
