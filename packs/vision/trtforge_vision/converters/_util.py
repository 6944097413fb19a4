"""Registration and argument helpers shared by the converter modules of this pack."""
from __future__ import annotations

import operator
from typing import Any, Callable, Sequence

import torch

import trtforge
from trtforge import Refusal

#: every converter function of the pack, in registration order
ALL: list[Callable[..., Any]] = []


def converter(*targets: Any, dynamic: bool = True, validator: Callable | None = None, **kwargs: Any) -> Callable:
    """``@trtforge.converter`` for several targets at once; records the function in :data:`ALL`."""

    def deco(fn: Callable) -> Callable:
        for t in targets:
            fn = trtforge.converter(t, supports_dynamic_shapes=dynamic, capability_validator=validator, **kwargs)(fn)
        if fn not in ALL:
            ALL.append(fn)
        return fn

    return deco


# -- arguments ------------------------------------------------------------------
def arg(args: Sequence[Any], kwargs: dict, index: int, name: str, default: Any = None) -> Any:
    """Argument ``index`` / keyword ``name`` of a call, else ``default``."""
    if len(args) > index:
        return args[index]
    return kwargs.get(name, default)


def node_arg(node: torch.fx.Node, index: int, name: str, default: Any = None) -> Any:
    """The same, on an fx node (validators see nodes, not ITensors)."""
    return arg(node.args, node.kwargs, index, name, default)


def val(node: Any) -> Any:
    """The FakeTensor (or SymInt, tuple) torch recorded for ``node``; plain values pass through."""
    return node.meta.get("val") if isinstance(node, torch.fx.Node) else node


def dtype_of(node: Any) -> torch.dtype | None:
    v = val(node)
    if isinstance(v, (list, tuple)) and v:
        v = v[0]
    return getattr(v, "dtype", None)


def is_constant(node: Any) -> bool:
    """A weight/buffer (get_attr) or absent: what layers that take trt.Weights need."""
    return node is None or (isinstance(node, torch.fx.Node) and node.op == "get_attr")


def static_dims(node: Any, dims: Sequence[int] | None = None) -> bool:
    """True if the dims (all when None) of the node's value are plain ints."""
    v = val(node)
    shape = list(v.shape)
    pick = range(len(shape)) if dims is None else [d % len(shape) for d in dims]
    return all(isinstance(shape[d], int) for d in pick)


def outputs_used(node: torch.fx.Node) -> set[int]:
    """Which outputs of a multi-output node are read (through getitem; a getitem nothing reads does not count)."""
    v = val(node)
    if not isinstance(v, (list, tuple)):
        return {0} if node.users else set()
    used = set()
    for u in node.users:
        if u.op == "call_function" and u.target is operator.getitem:
            if u.users:
                used.add(int(u.args[1]))
        else:
            used.update(range(len(v)))
    return used


def only_first_output(what: str) -> Callable:
    """Validator: refuse when outputs other than the first (e.g. indices) are used."""

    def check(node: torch.fx.Node, settings: Any) -> Any:
        extra = outputs_used(node) - {0}
        return Refusal(f"{what} output(s) {sorted(extra)} are used; only the first output converts") if extra else True

    return check


def all_of(*checks: Callable) -> Callable:
    """A validator that passes when every check passes (returns the first refusal)."""

    def check(node: torch.fx.Node, settings: Any) -> Any:
        for c in checks:
            ok = c(node, settings)
            if not ok:
                return ok
        return True

    return check


def float_input(node: torch.fx.Node, settings: Any) -> Any:
    """Validator: the first input is a floating tensor."""
    dt = dtype_of(node.args[0])
    return True if dt is not None and dt.is_floating_point else Refusal(f"input dtype {dt} is not floating point")


def scalar_value(v: Any) -> Any:
    """A Python number from a scalar argument (0-d tensors included)."""
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        return v.item()
    return v
