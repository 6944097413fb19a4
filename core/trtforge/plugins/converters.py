"""Converter declarations: the ``@trtforge.converter`` decorator and the record it makes."""
from __future__ import annotations

import importlib
import inspect
import operator
import pkgutil
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable, Iterable

import torch

#: ``(node, settings) -> bool``: may this converter handle this node?
CapabilityValidator = Callable[[Any, Any], bool]
ConverterFn = Callable[..., Any]

_ATTR = "__trtforge_converters__"


@dataclass(frozen=True)
class ConverterSpec:
    """One converter as the registry keeps it."""

    target: Any
    fn: ConverterFn
    supports_dynamic_shapes: bool = False
    requires_output_allocator: bool = False
    capability_validator: CapabilityValidator | None = None
    priority: int = 0
    #: TensorRT layer types (``trt.LayerType`` names) the converter may emit; checked
    #: against each backend's capability table
    emits: frozenset[str] = field(default_factory=frozenset)
    pack: str = "<unregistered>"

    @property
    def op_name(self) -> str:
        return op_name(self.target)

    @property
    def overload(self) -> str:
        return getattr(self.target, "_overloadname", "") or ""

    @property
    def fn_name(self) -> str:
        return f"{getattr(self.fn, '__module__', '?')}.{getattr(self.fn, '__qualname__', repr(self.fn))}"


def op_name(target: Any) -> str:
    """``namespace::name`` for an op overload, ``_operator.getitem`` style for Python callables."""
    schema = getattr(target, "_schema", None)
    if schema is not None and isinstance(target, torch._ops.OpOverload):
        return schema.name
    if isinstance(target, str):
        return target
    mod = getattr(target, "__module__", None) or ""
    return f"{mod}.{getattr(target, '__name__', repr(target))}".lstrip(".")


def qualified_op_name(target: Any) -> str:
    """``aten::add.Tensor``: op name plus overload, for reports."""
    name = op_name(target)
    overload = getattr(target, "_overloadname", "")
    return f"{name}.{overload}" if overload else name


def resolve_op_name(value: Any, setting: str, load_packs: Callable[[], Any] | None = None) -> str:
    """The name a setting's op entry stands for: ``"aten::add"`` (every overload) or
    ``"aten::add.Tensor"`` (one), from an OpOverload, an op packet (``torch.ops.aten.add``), a full
    name, or the short name ``trtforge packs --op`` accepts (``"add"``, ``"add.Tensor"``: aten ops).
    Python callables of graphs are named as reports name them (``"_operator.getitem"``).
    ``load_packs`` loads the installed packs, for an op a pack defines (called only when needed).
    Raises :class:`~trtforge.errors.SettingError` for an op that does not exist, with a did-you-mean."""
    from ..errors import SettingError

    if isinstance(value, torch._ops.OpOverload):
        return qualified_op_name(value)
    if isinstance(value, torch._ops.OpOverloadPacket):
        return value._qualified_op_name
    if not isinstance(value, str):
        if callable(value):
            return op_name(value)
        raise SettingError(f"{setting}: {value!r} ({type(value).__name__}) is not an op; give names such as "
                           "'aten::relu' or ops such as torch.ops.aten.relu.default")
    text = value.strip()
    if "::" not in text and text.startswith(("_operator.", "operator.", "torch.", "math.")):
        return text  # Python callables in graphs (getitem, sym_size): checked by name only
    full = text if "::" in text else f"aten::{text}"
    namespace, _, rest = full.partition("::")
    name, _, overload = rest.partition(".")
    packet = _packet(namespace, name)
    if packet is None and namespace != "aten" and load_packs is not None:  # a pack's op exists once it is loaded
        load_packs()
        packet = _packet(namespace, name)
    if isinstance(packet, torch._ops.OpOverloadPacket) and (not overload or overload in packet.overloads()):
        return full
    if isinstance(packet, torch._ops.OpOverloadPacket):
        raise SettingError(f"{setting}: op {namespace}::{name} has no overload {overload!r}; its overloads are "
                           f"{', '.join(packet.overloads())} (or give {namespace}::{name} for all of them)")
    import difflib

    known = sorted({n.split(".")[0] for n in torch._C._dispatch_get_all_op_names()})
    close = difflib.get_close_matches(f"{namespace}::{name}", known, n=3)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}?" if close else "see `trtforge packs --op NAME`"
    if not any(k.startswith(f"{namespace}::") for k in known):
        hint += f" (no op of namespace {namespace!r} is registered: import the library that defines it first)"
    raise SettingError(f"{setting}: no op named {value!r}; {hint}")


def _packet(namespace: str, name: str) -> Any:
    packet = getattr(getattr(torch.ops, namespace, None), name, None) if namespace and name else None
    return packet if isinstance(packet, torch._ops.OpOverloadPacket) else None


def check_target(target: Any) -> None:
    """Reject targets a graph node can never carry, with the fix in the message."""
    if isinstance(target, torch._ops.OpOverloadPacket):
        overloads = ", ".join(f"{target}.{o}" for o in target.overloads()[:4])
        raise TypeError(
            f"converter target {target} is an op packet, not an overload; exported graphs call "
            f"specific overloads: register e.g. {overloads}"
        )
    if isinstance(target, torch._ops.OpOverload) or target in _PYTHON_TARGETS or callable(target):
        return
    raise TypeError(f"converter target {target!r} is not a torch op overload or callable")


_PYTHON_TARGETS = {operator.getitem}


def converter(
    *targets: Any,
    supports_dynamic_shapes: bool = False,
    requires_output_allocator: bool = False,
    capability_validator: CapabilityValidator | None = None,
    priority: int = 0,
    emits: Iterable[str] = (),
) -> Callable[[ConverterFn], ConverterFn]:
    """Declare ``fn`` as the converter for each of ``targets`` (``OpOverload`` s).

    ``supports_dynamic_shapes``: the converter handles dynamic dimensions
    (``-1`` in TensorRT shapes) with shape tensors; otherwise nodes with dynamic
    shapes stay in PyTorch. ``requires_output_allocator``: output sizes depend
    on data, so engines containing it run with an output allocator.
    ``capability_validator(node, settings) -> bool`` refuses argument
    combinations the converter does not handle. Higher ``priority`` wins.
    ``emits`` lists TensorRT layer types (e.g. ``"NON_ZERO"``) that some
    backends cannot build. Several targets (or stacked decorators) cover several overloads.
    """
    if not targets:
        raise TypeError("@trtforge.converter needs the op(s) it converts: @trtforge.converter(torch.ops.aten.relu.default)")
    for target in targets:
        check_target(target)

    def decorate(fn: ConverterFn) -> ConverterFn:
        specs = [
            ConverterSpec(
                target=target,
                fn=fn,
                supports_dynamic_shapes=bool(supports_dynamic_shapes),
                requires_output_allocator=bool(requires_output_allocator),
                capability_validator=capability_validator,
                priority=int(priority),
                emits=frozenset(emits),
            )
            for target in targets
        ]
        setattr(fn, _ATTR, tuple(getattr(fn, _ATTR, ())) + tuple(specs))
        return fn

    return decorate


def specs_of(fn: Any) -> tuple[ConverterSpec, ...]:
    """The declarations attached to ``fn`` by ``@converter``."""
    specs = getattr(fn, _ATTR, None)
    if not specs:
        raise TypeError(
            f"{getattr(fn, '__qualname__', fn)!r} was passed to register() but is not decorated with "
            "@trtforge.converter(op, ...)"
        )
    return specs


def converters_in(module: ModuleType) -> list[ConverterFn]:
    """Every ``@converter``-decorated function defined in ``module``; of a package, also of every
    module under it (imported here), in module-name then source-line order, each function once.
    Converters a module imports from elsewhere are not its own and are left out.

    What ``register(module)`` registers, so a pack keeps no hand-written list of its converters.
    """
    modules = [module]
    if hasattr(module, "__path__"):  # a package: its modules, including ones nothing imported yet
        for info in pkgutil.walk_packages(module.__path__, prefix=f"{module.__name__}."):
            modules.append(importlib.import_module(info.name))
    root = module.__name__
    found: dict[int, ConverterFn] = {}
    for mod in modules:
        for value in vars(mod).values():
            home = getattr(value, "__module__", None) or ""
            mine = home == root or home.startswith(f"{root}.")  # not a converter imported from elsewhere
            if mine and callable(value) and getattr(value, _ATTR, None):
                found.setdefault(id(value), value)

    def order(fn: ConverterFn) -> tuple[str, int]:
        code = getattr(inspect.unwrap(fn), "__code__", None)
        return (getattr(fn, "__module__", "") or "", code.co_firstlineno if code else 0)

    fns = sorted(found.values(), key=order)
    if not fns:
        raise TypeError(f"register({module.__name__}): the module defines no function decorated with "
                        "@trtforge.converter(op, ...)")
    return fns


class Refusal:
    """A falsy answer from a capability validator that says why: ``return Refusal("groups > 1")``."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"Refusal({self.reason!r})"
