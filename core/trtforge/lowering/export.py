"""Capture: torch.export of the user's model with dynamic dimensions from Input specs."""
from __future__ import annotations

import inspect
import re
from typing import Any, Sequence

import torch

from ..errors import ExportError
from ..inputs import UNNAMED_DIM, dynamic_shapes_for, export_example
from ..settings import Input


#: the attribute under which the precision wrapper holds the user's model (graph names start with it)
WRAPPED = "inner"


class _PrecisionWrapper(torch.nn.Module):
    """Runs ``inner`` (already cast to ``dtype``) on inputs cast to ``dtype``; outputs cast back.

    Exported as part of the model, so the boundary casts are graph nodes that
    convert into the engine where a pack converts casts.
    """

    def __init__(self, inner: torch.nn.Module, dtype: torch.dtype, out_dtype: torch.dtype) -> None:
        super().__init__()
        self.inner, self.dtype, self.out_dtype = inner, dtype, out_dtype

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        low = lambda a: a.to(self.dtype) if isinstance(a, torch.Tensor) and a.is_floating_point() else a  # noqa: E731
        out = self.inner(*map(low, args), **{k: low(v) for k, v in kwargs.items()})
        return torch.utils._pytree.tree_map(
            lambda t: t.to(self.out_dtype) if isinstance(t, torch.Tensor) and t.is_floating_point() else t, out
        )


def apply_precision(model: torch.nn.Module, precision: torch.dtype, io_dtype: torch.dtype = torch.float32) -> torch.nn.Module:
    """The model at ``precision``; floating outputs come back as ``io_dtype`` (the inputs' type)."""
    if precision == torch.float32:
        return model
    import copy

    # Seed deepcopy's memo with the converted tensors: the float32 weights are never copied.
    memo: dict[int, Any] = {}
    for t in [*model.parameters(), *model.buffers()]:
        if t.is_floating_point() and id(t) not in memo:
            low = t.detach().to(precision)
            memo[id(t)] = torch.nn.Parameter(low, t.requires_grad) if isinstance(t, torch.nn.Parameter) else low
    return _PrecisionWrapper(copy.deepcopy(model, memo), precision, io_dtype)


def _keyword_dynamic_shapes(model: torch.nn.Module, dyn: tuple[Any, ...], n: int,
                            keywords: Sequence[str]) -> tuple[torch.nn.Module, dict[str, Any]]:
    """``dynamic_shapes`` by parameter name, as torch.export wants it once keywords are passed.

    The model's own names where ``forward`` names every input (the compiled program then takes
    them by those names); else ``forward(*args, **kwargs)`` of a thin wrapper.
    """
    params = inspect.signature(model.forward).parameters
    named = [p.name for p in params.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    fixed = {p.name for p in params.values() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    if len(named) >= n and set(keywords) <= fixed - set(named[:n]):
        return model, {**dict(zip(named[:n], dyn[:n])), **dict(zip(keywords, dyn[n:]))}
    if not any(p.kind == p.VAR_POSITIONAL for p in params.values()) or not any(
            p.kind == p.VAR_KEYWORD for p in params.values()):
        model = _KeywordCall(model)
    names = [p.name for p in inspect.signature(model.forward).parameters.values()]
    return model, {names[0]: tuple(dyn[:n]), names[1]: dict(zip(keywords, dyn[n:]))}


class _KeywordCall(torch.nn.Module):
    """``inner(*args, **kwargs)``: one signature to attach dynamic shapes of keyword inputs to."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.inner(*args, **kwargs)


def export(model: torch.nn.Module, specs: Sequence[Input], examples: Sequence[torch.Tensor | None],
           keywords: Sequence[str] = ()) -> torch.export.ExportedProgram:
    """Non-strict torch.export with Dims for every dynamic dimension of ``specs``.

    The last ``len(keywords)`` specs are keyword inputs with those names; the exported graph's
    placeholders follow the same order (positional, then keywords as given).
    """
    args = tuple(e if e is not None and not s.is_dynamic else export_example(s) for s, e in zip(specs, examples))
    dyn = dynamic_shapes_for(specs)
    kwargs: dict[str, Any] = {}
    if keywords:
        n = len(args) - len(keywords)
        args, kwargs = args[:n], dict(zip(keywords, args[n:]))
        if dyn is not None:
            model, dyn = _keyword_dynamic_shapes(model, dyn, n, keywords)
    else:
        dyn = _bind_to_signature(model, dyn)
    try:
        return torch.export.export(model, args, kwargs or None, dynamic_shapes=dyn, strict=False)
    except Exception as exc:
        problems = explain_constraints(str(exc))
        if problems:
            raise ExportError(
                "the model constrains the dynamic dimensions differently from the trtforge.Input "
                "ranges:\n" + "\n".join(f"  - {p}" for p in problems)
            ) from exc
        raise ExportError(_why_export_failed(exc, specs)) from exc


#: words of PyTorch's messages about tensors that do not fit an op (shapes, ranks, dtypes)
_INPUT_MISMATCH = re.compile(r"shape|size|dtype|scalar type|channels|dimension|\bdims?\b|rank|but got|expected",
                             re.IGNORECASE)


def _why_export_failed(exc: BaseException, specs: Sequence[Input]) -> str:
    """torch.export's failure in three classes, each with its own fix: data-dependent control flow
    (the only one torch.compile helps with), inputs the model does not accept, the model's own error."""
    first = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    inputs = ", ".join(str(s) for s in specs)
    chain, e = [], exc
    while e is not None and len(chain) < 8:
        chain.append(e)
        e = e.__cause__ or e.__context__
    if any(type(c).__name__ == "GuardOnDataDependentSymNode" or "data-dependent" in str(c) for c in chain):
        return (
            f"torch.export could not capture the model: its Python control flow depends on tensor values ({first}). "
            "Models with data-dependent control flow (e.g. torchvision detectors) can go through "
            "torch.compile(model, backend='trtforge') or trtforge.compile(..., ir='torch_compile'), "
            "which splits the graph where export cannot follow."
        )
    if isinstance(exc, (RuntimeError, ValueError, TypeError, IndexError)) and _INPUT_MISMATCH.search(str(exc)):
        return (
            f"torch.export could not capture the model: it does not accept the inputs given ({inputs}): {first}. "
            "Check the input shapes and dtypes (trtforge.Input / --input) against what the model expects."
        )
    return (
        f"torch.export could not capture the model: the model raised {first} when run with inputs ({inputs}). "
        "This is the model's own error: run it in PyTorch on inputs of these shapes to debug it "
        "(debug=True shows the traceback)."
    )


def _bind_to_signature(model: torch.nn.Module, dyn: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
    """torch.export matches ``dynamic_shapes`` to ``forward``'s signature: inputs caught by
    ``*args`` take one entry, the tuple of their specs."""
    if dyn is None:
        return None
    try:
        params = list(inspect.signature(model.forward).parameters.values())
    except (TypeError, ValueError):
        return dyn
    named = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if not any(p.kind == p.VAR_POSITIONAL for p in params) or len(dyn) <= len(named):
        return dyn
    return tuple(dyn[:len(named)]) + (tuple(dyn[len(named):]),)


_EQUAL = re.compile(r"The values of (\w+) = .*? and (\w+) = .*? must always be equal")
_CONSTANT = re.compile(r"You marked (\w+) as dynamic but your code specialized it to be a constant \((-?\d+)\)")
_RANGE = re.compile(r"Not all values of (\w+) = .*? in the specified range (.*?) (?:are valid|satisfy)")




def explain_constraints(message: str) -> list[str]:
    """torch.export's shape-constraint violations, in terms of inputs, dimensions and the fix."""
    def where(sym: str) -> str:
        m = UNNAMED_DIM.fullmatch(sym)
        return f"input {m.group(1)} dim {m.group(2)}" if m else f"the dimension named {sym!r}"

    def dim_of(sym: str) -> str:
        m = UNNAMED_DIM.fullmatch(sym)
        return m.group(2) if m else "D"

    out = []
    for a, b in _EQUAL.findall(message):
        out.append(
            f"{where(b)} must always equal {where(a)}: give both the same name and the same range, "
            f"e.g. trtforge.Input(..., dim_names={{{dim_of(a)}: 'batch'}}) and "
            f"trtforge.Input(..., dim_names={{{dim_of(b)}: 'batch'}})"
        )
    for sym, value in _CONSTANT.findall(message):
        out.append(
            f"{where(sym)} is dynamic in its Input, but the model only works with size {value} there: "
            f"make it static (min = opt = max = {value}) or make the model shape-generic"
        )
    for sym, rng in _RANGE.findall(message):
        if not any(sym in line for line in out):
            out.append(f"{where(sym)}: the model does not work for every size in its Input range ({rng}); "
                       f"narrow the range")
    return out
