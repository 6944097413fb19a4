"""Compile-time validation: run each network on CPU with the reference executor, compare with PyTorch."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch.fx import GraphModule

from ..errors import ValidationError
from ..conversion.interpreter import Network

#: rel_err above which validation fails, by precision
TOLERANCE = {torch.float32: 1e-3, torch.float16: 2e-2, torch.bfloat16: 6e-2}


def errors(out: torch.Tensor, ref: torch.Tensor) -> tuple[float, float]:
    """``(max_abs_err, rel_err)`` with ``rel_err = ||out-ref|| / ||ref||``."""
    if out.shape != ref.shape:
        raise ValidationError(f"shape {tuple(out.shape)} != PyTorch's {tuple(ref.shape)}")
    o, r = out.detach().double().cpu(), ref.detach().double().cpu()
    if o.numel() == 0:
        return 0.0, 0.0
    both_nan = o.isnan() & r.isnan()  # NaN where PyTorch has NaN is a match
    diff = torch.where(both_nan, torch.zeros_like(o), o - r).nan_to_num(nan=float("inf"))
    r = torch.where(both_nan, torch.zeros_like(r), r)
    max_abs = diff.abs().max().item()
    denom = r.norm().item()
    rel = diff.norm().item() / denom if denom > 0 else (0.0 if max_abs == 0 else float("inf"))
    if not out.dtype.is_floating_point and max_abs != 0:
        rel = max(rel, 1.0)  # index/bool outputs must match exactly
    return max_abs, rel


def run_reference(net: Network, inputs: Sequence[torch.Tensor], keep: bool = False) -> dict[str, torch.Tensor]:
    from .reference import run_network

    feed = {name: t.detach().cpu().contiguous() for name, t in zip(net.input_names, inputs)}
    return run_network(net.network, feed, keep_intermediates=keep)


def validate(
    net: Network, sub: GraphModule, example_sets: Sequence[Sequence[torch.Tensor]], precision: torch.dtype,
    rtol: float | None = None,
) -> dict[str, Any]:
    """Compare ``net`` with ``sub`` on each input set; raise with a per-layer trace past tolerance."""
    tol = rtol if rtol is not None else TOLERANCE.get(precision, 1e-3)
    worst_abs, worst_rel = 0.0, 0.0
    for inputs in example_sets:
        with torch.no_grad():
            ref = sub(*inputs)
        refs = list(ref) if isinstance(ref, (tuple, list)) else [ref]
        outs = run_reference(net, inputs)
        for name, r in zip(net.output_names, refs):
            a, rel = errors(outs[name], r)
            worst_abs, worst_rel = max(worst_abs, a), max(worst_rel, rel)
            if rel > tol:
                trace = first_divergence(net, sub, inputs, tol)
                raise ValidationError(
                    f"engine {net.name}: output {name} differs from PyTorch: rel_err {rel:.3e} > {tol:.1e} "
                    f"(max_abs_err {a:.3e}) at input shapes {[tuple(i.shape) for i in inputs]}. {trace}"
                )
    return {"max_abs_err": worst_abs, "rel_err": worst_rel, "tolerance": tol, "shape_sets": len(example_sets)}


def first_divergence(net: Network, sub: GraphModule, inputs: Sequence[torch.Tensor], tol: float) -> str:
    """Name the first node whose TensorRT tensor differs from PyTorch's value for it."""
    values: dict[str, Any] = {}

    class Recorder(torch.fx.Interpreter):
        def run_node(self, n):  # noqa: ANN001
            out = super().run_node(n)
            values[n.name] = out
            return out

    try:
        with torch.no_grad():
            Recorder(sub).run(*inputs)
        got = run_reference(net, inputs, keep=True)
    except Exception as exc:  # the trace is a diagnosis aid; never hide the original error
        return f"(per-layer trace unavailable: {exc})"
    for node in sub.graph.nodes:
        tensors = net.node_tensors.get(node.name)
        if not tensors or node.name not in values:
            continue
        ref = values[node.name]
        refs = list(ref) if isinstance(ref, (tuple, list)) else [ref]
        for t, r in zip(tensors, refs):
            if t.name not in got or not isinstance(r, torch.Tensor):
                continue
            try:
                a, rel = errors(got[t.name], r)
            except ValidationError as exc:
                return f"First divergence: node {node.name} ({node.target}), tensor {t.name}: {exc}"
            if rel > tol:
                spec = net.converters.get(node.name)
                who = f" converted by {spec.fn_name} from pack {spec.pack!r}" if spec else ""
                return (
                    f"First divergence: node {node.name} ({node.target}){who}, TensorRT tensor {t.name}: "
                    f"rel_err {rel:.3e}, max_abs_err {a:.3e}"
                )
    return "No single node diverges beyond tolerance before the outputs (accumulated error)."
