"""Where each engine weight came from: recorded while the compiler computes it.

A refittable compile seeds a :class:`WeightTracker` with the exported program's parameters
and buffers (by their names in the model's ``state_dict``) and keeps it active, as a torch
dispatch mode, through the lowering passes and the converters. Every ATen op applied to a
tracked tensor (a cast, a transpose, batch-norm folding, a reshape) yields a tracked tensor
whose *recipe* is that op over its inputs' recipes. When a converter hands a tracked tensor
to TensorRT, the recipe is what refit replays on new weights: ATen ops by name, nothing
that needs the packs or the compiler stages (:mod:`trtforge.refit.replay`).

A weight whose value escapes into Python (``.item()``, a branch on it) cannot be replayed;
its source parameters are recorded as unrefittable, naming the op and the node.
"""
from __future__ import annotations

from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakIdKeyDictionary

__all__ = ["Leaf", "Op", "WeightTracker", "serialize"]

#: untracked tensors up to this many elements are stored in a recipe as literals
LITERAL_LIMIT = 256
#: ops whose output is a Python value computed from the tensor's contents
_VALUE_READS = {"aten::_local_scalar_dense", "aten::equal", "aten::is_nonzero", "aten::allclose"}


class Leaf:
    """A source parameter or buffer, as the compile saw it (name, dtype, shape)."""

    __slots__ = ("name", "dtype", "shape")

    def __init__(self, name: str, t: torch.Tensor) -> None:
        self.name, self.dtype, self.shape = name, t.dtype, tuple(t.shape)

    def sources(self) -> set[str]:
        return {self.name}


class Op:
    """One ATen op over recipes and literal arguments; ``opaque`` says why it cannot be replayed."""

    __slots__ = ("op", "args", "kwargs", "index", "opaque", "_sources")

    def __init__(self, op: str, args: Any, kwargs: Any, index: int | None, opaque: str = "") -> None:
        self.op, self.args, self.kwargs, self.index, self.opaque = op, args, kwargs, index, opaque
        self._sources: set[str] | None = None

    def sources(self) -> set[str]:
        if self._sources is None:
            found: set[str] = set()
            for a in tree_flatten((self.args, self.kwargs))[0]:
                if isinstance(a, (Leaf, Op)):
                    found |= a.sources()
            self._sources = found
        return self._sources


def op_name(func: Any) -> str:
    """``aten::t.default``: the name :func:`trtforge.refit.replay.resolve_op` looks up."""
    return f"{func._schema.name}.{func._overloadname}"


class WeightTracker(TorchDispatchMode):
    """Records recipes of tensors computed from the seeded weights (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.recipes: WeakIdKeyDictionary = WeakIdKeyDictionary()
        #: source parameter -> why it cannot be refitted
        self.baked: dict[str, str] = {}
        #: the fx node being converted or folded, for messages
        self.where = ""

    def seed(self, name: str, t: torch.Tensor) -> None:
        if isinstance(t, torch.Tensor) and t not in self.recipes:
            self.recipes[t] = Leaf(name, t)

    def recipe(self, t: Any) -> Leaf | Op | None:
        return self.recipes.get(t) if isinstance(t, torch.Tensor) else None

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        flat, _ = tree_flatten((args, kwargs))
        if not any(isinstance(a, torch.Tensor) and a in self.recipes for a in flat):
            return out
        name = op_name(func)
        if not isinstance(out, (torch.Tensor, tuple, list)) or name.split(".")[0] in _VALUE_READS:
            reason = f"its value is read into Python by {name}" + (f" ({self.where})" if self.where else "")
            for a in flat:
                rec = self.recipe(a)
                for src in rec.sources() if rec is not None else ():
                    self.baked.setdefault(src, reason)
            return out
        opaque = []
        enc_args = self._encode(args, opaque)
        enc_kwargs = self._encode(kwargs, opaque)
        outs = [out] if isinstance(out, torch.Tensor) else list(out)
        for i, o in enumerate(outs):
            if isinstance(o, torch.Tensor):
                self.recipes[o] = Op(name, enc_args, enc_kwargs, None if isinstance(out, torch.Tensor) else i,
                                     "; ".join(opaque))
        return out

    def _encode(self, value: Any, opaque: list[str]) -> Any:
        if isinstance(value, torch.Tensor):
            rec = self.recipe(value)
            if rec is not None:
                return rec
            if value.numel() > LITERAL_LIMIT:
                opaque.append(f"combined with a {tuple(value.shape)} tensor that is not a weight")
                return None
            return value.detach().clone()
        if isinstance(value, (list, tuple)):
            return type(value)(self._encode(v, opaque) for v in value)
        if isinstance(value, dict):
            return {k: self._encode(v, opaque) for k, v in value.items()}
        return value


def seed_from_module(gm: torch.nn.Module, strip_prefix: str = "") -> WeightTracker:
    """A tracker seeded with every parameter, buffer and tensor constant of ``gm``, by the
    model's ``state_dict`` names (``strip_prefix`` removed: the precision wrapper's)."""
    tracker = WeightTracker()
    named = [*gm.named_parameters(remove_duplicate=False), *gm.named_buffers(remove_duplicate=False)]
    for mod_name, mod in gm.named_modules(remove_duplicate=False):
        for attr, value in vars(mod).items():
            if isinstance(value, torch.Tensor) and not attr.startswith("_"):
                named.append((f"{mod_name}.{attr}" if mod_name else attr, value))
    for name, t in named:
        if strip_prefix and name.startswith(strip_prefix):
            name = name[len(strip_prefix):]
        tracker.seed(name, t)
    return tracker


# --- serialization: a recipe DAG as JSON-able node lists --------------------------------------

def _scalar(value: Any) -> Any:
    if isinstance(value, torch.dtype):
        return {"dtype": str(value).replace("torch.", "")}
    if isinstance(value, torch.device):
        return {"device": "cpu"}  # weights are refitted from host memory
    if isinstance(value, torch.memory_format):
        return {"memory_format": str(value).replace("torch.", "")}
    if isinstance(value, torch.layout):
        return {"layout": str(value).replace("torch.", "")}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot record argument {value!r} of type {type(value).__name__}")


class _Writer:
    def __init__(self) -> None:
        self.nodes: list[dict[str, Any]] = []
        self.index: dict[int, int] = {}

    def node(self, rec: Leaf | Op) -> int:
        key = id(rec)
        if key in self.index:
            return self.index[key]
        if isinstance(rec, Leaf):
            entry: dict[str, Any] = {"param": rec.name, "dtype": str(rec.dtype).replace("torch.", ""),
                                     "shape": list(rec.shape)}
        else:
            entry = {"op": rec.op, "args": self.value(rec.args), "kwargs": self.value(rec.kwargs)}
            if rec.index is not None:
                entry["index"] = rec.index
        self.nodes.append(entry)
        self.index[key] = len(self.nodes) - 1
        return self.index[key]

    def value(self, v: Any) -> Any:
        if isinstance(v, (Leaf, Op)):
            return {"ref": self.node(v)}
        if isinstance(v, torch.Tensor):
            return {"literal": v.reshape(-1).tolist(), "dtype": str(v.dtype).replace("torch.", ""),
                    "shape": list(v.shape)}
        if isinstance(v, (list, tuple)):
            return {"list": [self.value(x) for x in v]}
        if isinstance(v, dict):
            return {"dict": {k: self.value(x) for k, x in v.items()}}
        return _scalar(v)


def serialize(weights: dict[str, tuple[Leaf | Op, torch.Tensor]]) -> dict[str, Any]:
    """``{engine weight name: (recipe, value handed to TensorRT)}`` -> the metadata's ``refit_map``."""
    w = _Writer()
    out: dict[str, Any] = {}
    for name, (rec, value) in weights.items():
        out[name] = {"node": w.node(rec), "dtype": str(value.dtype).replace("torch.", ""),
                     "shape": list(value.shape)}
    return {"nodes": w.nodes, "weights": out}


def why_opaque(rec: Leaf | Op) -> str:
    """Why ``rec`` cannot be replayed ("" if it can)."""
    stack, seen = [rec], set()
    while stack:
        r = stack.pop()
        if id(r) in seen or isinstance(r, Leaf):
            continue
        seen.add(id(r))
        if r.opaque:
            return r.opaque
        stack.extend(a for a in tree_flatten((r.args, r.kwargs))[0] if isinstance(a, (Leaf, Op)))
    return ""
