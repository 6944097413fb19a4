"""Reading a node's arguments and values: what converters and capability validators share.

Arguments are read by their **schema name**, so one converter serves every overload of an op
even where the overloads put an argument at different positions (attention's ``scale`` is
positional in one overload and keyword-only in another), and an argument left out of the call
reads as the schema's default. A converter sees ``(target, args, kwargs)``; a validator sees
the fx node: :func:`argument` and :func:`node_argument` are the same rule for both.
"""
from __future__ import annotations

import operator
from typing import Any, Callable, Sequence

import torch

from ..plugins.converters import Refusal, op_name

__all__ = ["all_of", "argument", "dtype_of", "node_argument", "only_first_output", "outputs_used", "value_of"]

_NO_DEFAULT: Any = object()


def argument(target: Any, args: Sequence[Any], kwargs: dict[str, Any], name: str,
             default: Any = _NO_DEFAULT) -> Any:
    """The argument called ``name`` in ``target``'s schema: positional, keyword, else the schema's default.

    ``default`` is returned when the call leaves the argument out and the schema has no default,
    or when ``target`` has no argument of that name (a converter stacked on overloads of which
    only some take it). Without ``default``, an unknown name raises ``KeyError`` naming the
    op's arguments: a misspelt name is a converter bug, not a value.
    """
    schema = getattr(target, "_schema", None)
    if schema is None:
        raise TypeError(f"{op_name(target)} has no schema; read its arguments by position (args[i])")
    for i, arg in enumerate(schema.arguments):
        if arg.name != name:
            continue
        if not arg.kwarg_only and i < len(args):
            return args[i]
        if name in kwargs:
            return kwargs[name]
        if arg.has_default_value():
            return arg.default_value
        return None if default is _NO_DEFAULT else default
    if default is not _NO_DEFAULT:
        return default
    names = ", ".join(a.name for a in schema.arguments)
    raise KeyError(f"{op_name(target)} has no argument {name!r}; its arguments are: {names}")


def node_argument(node: torch.fx.Node, name: str, default: Any = _NO_DEFAULT) -> Any:
    """:func:`argument` of an fx node (what validators see): fx nodes where the graph has values."""
    return argument(node.target, node.args, node.kwargs, name, default)


def value_of(arg: Any) -> Any:
    """What PyTorch recorded for an fx argument (a FakeTensor, SymInt or tuple); other values pass through."""
    return arg.meta.get("val") if isinstance(arg, torch.fx.Node) else arg


def dtype_of(arg: Any) -> torch.dtype | None:
    """The dtype of an fx argument's tensor (the first one, for tuple values); None for non-tensors."""
    value = value_of(arg)
    if isinstance(value, (list, tuple)) and value:
        value = value[0]
    return getattr(value, "dtype", None)


def outputs_used(node: torch.fx.Node) -> set[int]:
    """Which outputs of ``node`` something reads: through ``getitem`` for tuple outputs (a getitem
    nothing reads does not count), ``{0}`` for a single output with users."""
    value = value_of(node)
    if not isinstance(value, (list, tuple)):
        return {0} if node.users else set()
    used: set[int] = set()
    for user in node.users:
        if user.op == "call_function" and user.target is operator.getitem:
            if user.users:
                used.add(int(user.args[1]))
        else:
            used.update(range(len(value)))
    return used


Validator = Callable[[torch.fx.Node, Any], Any]


def all_of(*checks: Validator) -> Validator:
    """A capability validator that passes when every check passes; it returns the first refusal."""

    def check(node: torch.fx.Node, settings: Any) -> Any:
        for one in checks:
            ok = one(node, settings)
            if not ok:
                return ok
        return True

    return check


def only_first_output(what: str) -> Validator:
    """A validator refusing nodes whose outputs other than the first are read (e.g. max's indices)."""

    def check(node: torch.fx.Node, settings: Any) -> Any:
        extra = outputs_used(node) - {0}
        return Refusal(f"{what} output(s) {sorted(extra)} are used; only the first output converts") if extra else True

    return check
