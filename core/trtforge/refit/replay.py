"""Computing an engine's weights from new source weights, with the recipes recorded at compile time.

Needs only torch: ATen ops are looked up by name (``aten::t.default``), arguments come from
JSON. Used by :func:`trtforge.refit_module_weights`, by ``trtforge.load(weights=...)`` and by
the engine cache's refit-on-hit.
"""
from __future__ import annotations

from typing import Any, Mapping

import torch

from ..errors import RefitError
from ..runtime.metadata import torch_dtype

__all__ = ["RefitError", "compute_weights", "resolve_op", "source_weights"]


def resolve_op(name: str) -> Any:
    """``"aten::t.default"`` -> ``torch.ops.aten.t.default``."""
    ns, _, rest = name.partition("::")
    op, _, overload = rest.partition(".")
    try:
        return getattr(getattr(getattr(torch.ops, ns), op), overload or "default")
    except AttributeError:
        raise RefitError(f"the refit recipe uses op {name!r}, which this torch does not have") from None


def source_weights(new_weights: Any) -> dict[str, torch.Tensor]:
    """A module, an ExportedProgram or a state dict -> ``{name: tensor}`` (the model's names)."""
    if isinstance(new_weights, torch.export.ExportedProgram):
        out = dict(new_weights.state_dict)
        out.update({k: v for k, v in getattr(new_weights, "constants", {}).items() if isinstance(v, torch.Tensor)})
        return out
    if isinstance(new_weights, torch.nn.Module):
        return dict(new_weights.state_dict(keep_vars=False))
    if isinstance(new_weights, Mapping):
        return {str(k): v for k, v in new_weights.items() if isinstance(v, torch.Tensor)}
    raise TypeError(
        f"new weights must be a torch.nn.Module, an ExportedProgram or a state dict, not {type(new_weights).__name__}"
    )


def _value(v: Any, nodes: list[Any], memo: dict[int, Any], src: Mapping[str, torch.Tensor], engine: str) -> Any:
    if isinstance(v, dict):
        if "ref" in v:
            return _node(v["ref"], nodes, memo, src, engine)
        if "literal" in v:
            return torch.tensor(v["literal"], dtype=torch_dtype(v["dtype"])).reshape(v["shape"])
        if "list" in v:
            return [_value(x, nodes, memo, src, engine) for x in v["list"]]
        if "dict" in v:
            return {k: _value(x, nodes, memo, src, engine) for k, x in v["dict"].items()}
        if "dtype" in v:
            return torch_dtype(v["dtype"])
        if "device" in v:
            return torch.device(v["device"])
        if "memory_format" in v:
            return getattr(torch, v["memory_format"])
        if "layout" in v:
            return getattr(torch, v["layout"])
    return v


def _node(i: int, nodes: list[Any], memo: dict[int, Any], src: Mapping[str, torch.Tensor], engine: str) -> Any:
    if i in memo:
        return memo[i]
    n = nodes[i]
    if "param" in n:
        name = n["param"]
        if name not in src:
            raise RefitError(f"engine {engine!r} needs weight {name!r}, which the new weights do not have")
        t = src[name].detach().to("cpu")
        if list(t.shape) != n["shape"]:
            raise RefitError(
                f"new weight {name!r} has shape {list(t.shape)}, the compiled model's has {n['shape']} "
                f"(engine {engine!r}); refit needs the same architecture, recompile for a different one"
            )
        out = t.to(torch_dtype(n["dtype"]))  # the precision the compile cast it to
    else:
        args = _value(n["args"], nodes, memo, src, engine)
        kwargs = _value(n["kwargs"], nodes, memo, src, engine)
        with torch.no_grad():
            out = resolve_op(n["op"])(*args, **kwargs)
        if "index" in n:
            out = out[n["index"]]
    memo[i] = out
    return out


def compute_weights(refit_map: Mapping[str, Any], new_weights: Mapping[str, torch.Tensor],
                    engine: str = "engine") -> dict[str, torch.Tensor]:
    """Every refittable weight of one engine, computed from ``new_weights`` (contiguous, CPU),
    checked against the shape and dtype the network declared for it."""
    nodes = refit_map.get("nodes", [])
    memo: dict[int, Any] = {}
    out = {}
    for name, w in refit_map.get("weights", {}).items():
        t = _node(w["node"], nodes, memo, new_weights, engine)
        if list(t.shape) != w["shape"] or str(t.dtype).replace("torch.", "") != w["dtype"]:
            raise RefitError(
                f"engine {engine!r} weight {name!r}: the recipe gives {t.dtype} {list(t.shape)}, the network "
                f"declared {w['dtype']} {w['shape']}"
            )
        out[name] = t.contiguous()
    return out
