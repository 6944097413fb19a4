"""Compile-time validation: run each network on CPU with the reference executor, compare with PyTorch."""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import torch
from torch.fx import GraphModule

from ..errors import ValidationError
from ..conversion.interpreter import Network
from .float32 import record
from .quantized import activation_quantizers, flip_error
from .tolerance import TOLERANCE, tolerance

__all__ = ["TOLERANCE", "ValidationError", "errors", "first_divergence", "run_reference", "threads", "validate"]


@contextmanager
def threads() -> Iterator[None]:
    """One intra-op thread while validating on an oversubscribed machine (more runnable threads
    than cores, by the 1-minute load average); otherwise torch's setting is left alone.

    Validation runs many small ops (two executions of the model). Each op's threads meet at a
    barrier, and when other processes hold the cores every barrier waits for a time slice:
    on 2 cores at load 10, mobilenet_v3_large validated in 16 s with 2 threads and 2 s with 1.
    On idle cores one thread costs little (a 2-core forward of resnet50: 86 ms vs 55 ms).
    """
    before = torch.get_num_threads()
    busy = hasattr(os, "getloadavg") and os.getloadavg()[0] > (os.cpu_count() or 1)
    if busy and before > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


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


def run_reference(net: Network, inputs: Sequence[torch.Tensor], keep: bool = False,
                  extra: Sequence[str] = ()) -> dict[str, torch.Tensor]:
    """The network's outputs (every tensor with ``keep``; the outputs and ``extra`` tensors with ``extra``)."""
    from .reference import run_network

    feed = {name: t.detach().cpu().contiguous() for name, t in zip(net.input_names, inputs)}
    constants = net.ctx.bf16_constants
    if extra and not keep:
        return run_network(net.network, feed, outputs=[*net.output_names, *extra], constants=constants)
    return run_network(net.network, feed, keep_intermediates=keep, constants=constants)


def validate(
    net: Network, sub: GraphModule, example_sets: Sequence[Sequence[torch.Tensor]], precision: torch.dtype,
    rtol: float | None = None, float32_refs: Sequence[Sequence[Any]] | None = None,
    expected: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Compare ``net`` with its reference on each input set; raise with a per-layer trace past tolerance.

    At float32 the reference is ``sub``, the PyTorch partition. At float16/bfloat16 it is
    ``float32_refs`` (per input set, each output's value in the float32 model), and
    ``sub``'s own error at the reduced precision sets each output's tolerance
    (:func:`~trtforge.validation.tolerance.tolerance`). ``expected`` holds what ``sub`` returns
    for each input set when the caller already has it (running ``sub`` again would recompute it).
    """
    worst = {"max_abs_err": 0.0, "rel_err": 0.0, "tolerance": 0.0}
    torch_worst, step = 0.0, 0.0
    quantizers = activation_quantizers(net.network)
    for k, inputs in enumerate(example_sets):
        if expected is not None:
            ref = expected[k]
        else:
            with torch.no_grad():
                ref = sub(*inputs)
        refs = list(ref) if isinstance(ref, (tuple, list)) else [ref]
        outs = run_reference(net, inputs, extra=quantizers)
        if quantizers:
            step = max(step, flip_error(net, sub, inputs, quantizers, outs))
        for j, (name, r) in enumerate(zip(net.output_names, refs)):
            target, e_torch = _reference(r, float32_refs[k][j] if float32_refs is not None else None)
            tol = tolerance(precision, e_torch, rtol, step)
            a, rel = errors(outs[name], target)
            torch_worst = max(torch_worst, e_torch)
            worst = {"max_abs_err": max(worst["max_abs_err"], a), "rel_err": max(worst["rel_err"], rel),
                     "tolerance": max(worst["tolerance"], tol)}
            if rel > tol:
                raise ValidationError(_mismatch(net, sub, inputs, name, rel, a, tol, precision, rtol,
                                                e_torch if target is not r else None))
    out: dict[str, Any] = {**worst, "shape_sets": len(example_sets)}
    if quantizers:
        out["quantization_flip_err"] = step
    if float32_refs is not None:
        out.update(reference="float32", torch_rel_err=torch_worst)
    return out


def _reference(torch_value: Any, float32_value: Any) -> tuple[Any, float]:
    """What an output is compared with, and PyTorch's own error against it (0 at float32)."""
    if isinstance(float32_value, torch.Tensor) and float32_value.is_floating_point():
        return float32_value, errors(torch_value, float32_value)[1]
    return torch_value, 0.0  # index/bool outputs: PyTorch's at the same precision, exactly


def _mismatch(net: Network, sub: GraphModule, inputs: Sequence[torch.Tensor], name: str, rel: float, a: float,
              tol: float, precision: torch.dtype, rtol: float | None, e_torch: float | None) -> str:
    shapes = [tuple(i.shape) for i in inputs]
    trace = first_divergence(net, sub, inputs, tol, precision if e_torch is not None else None, rtol)
    if e_torch is None:
        return (f"engine {net.name}: output {name} differs from PyTorch: rel_err {rel:.3e} > {tol:.1e} "
                f"(max_abs_err {a:.3e}) at input shapes {shapes}. {trace}")
    dt = str(precision).replace("torch.", "")
    hint = (f" PyTorch itself loses this output at {dt}: keep_fp32='auto' finds the nodes that need float32, "
            f"or name them with keep_fp32=[...]." if e_torch > tol or e_torch != e_torch else "")
    return (f"engine {net.name}: output {name} differs from the float32 model: rel_err {rel:.3e} > {tol:.1e} "
            f"(max_abs_err {a:.3e}; PyTorch at {dt}: rel_err {e_torch:.3e}) at input shapes {shapes}. "
            f"{trace}{hint}")


def first_divergence(net: Network, sub: GraphModule, inputs: Sequence[torch.Tensor], tol: float,
                     precision: torch.dtype | None = None, rtol: float | None = None) -> str:
    """Name the first node whose TensorRT tensor differs from its reference value.

    With ``precision`` (float16/bfloat16) the reference is ``sub`` run in float32 and each
    node's tolerance follows from PyTorch's own error there; otherwise PyTorch's value, ``tol``.
    """
    try:
        values = record(sub, inputs)
        refs = record(sub, inputs, float32_of=precision) if precision is not None else values
        got = run_reference(net, inputs, keep=True)
    except Exception as exc:  # the trace is a diagnosis aid; never hide the original error
        return f"(per-layer trace unavailable: {exc})"
    for node in sub.graph.nodes:
        tensors = net.node_tensors.get(node.name)
        if not tensors or node.name not in values:
            continue
        pairs = zip(*(list(v) if isinstance(v, (tuple, list)) else [v] for v in (values[node.name], refs[node.name])))
        for t, (value, ref) in zip(tensors, pairs):
            if t.name not in got or not isinstance(value, torch.Tensor):
                continue
            try:
                target, e_torch = _reference(value, ref)
                mine = got[t.name]
                if mine.dtype == torch.int8:  # quantized codes: a one-step flip is a rounding difference
                    mine, target = mine.float(), target.float()
                a, rel = errors(mine, target)
            except ValidationError as exc:
                return f"First divergence: node {node.name} ({node.target}), tensor {t.name}: {exc}"
            limit = tolerance(precision, e_torch, rtol) if precision is not None else tol
            if rel > limit:
                spec = net.converters.get(node.name)
                who = f" converted by {spec.fn_name} from pack {spec.pack!r}" if spec else ""
                return (
                    f"First divergence: node {node.name} ({node.target}){who}, TensorRT tensor {t.name}: "
                    f"rel_err {rel:.3e}, max_abs_err {a:.3e}"
                )
    return "No single node diverges beyond tolerance before the outputs (accumulated error)."
