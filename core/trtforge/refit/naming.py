"""Naming an engine's refittable weights and recording their recipes (compile time)."""
from __future__ import annotations

from typing import Any

from .tracker import WeightTracker, serialize, why_opaque


def name_weights(net: Any, ctx: Any, tracker: WeightTracker) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """Give every weight computed from the model's parameters a TensorRT weights name
    (``INetworkDefinition.set_weights_name``, the names a ``Refitter`` takes) and return the
    engine's ``(refit_map, unrefittable)`` for its metadata, plus ``{name: tensor}`` of the values
    handed to TensorRT (the network's weights, for checks).

    Called after every layer exists (TensorRT names weights only once they are used). Weights
    not computed from parameters (constants a converter made) keep their build-time values.
    """
    named: dict[str, tuple[Any, Any]] = {}
    unrefittable: dict[str, str] = {}
    seen: dict[tuple[int, int, str], str] = {}
    counts: dict[str, int] = {}
    for w, t, node in ctx._handed:
        rec = tracker.recipe(t)
        if rec is None:
            continue
        reason = why_opaque(rec)
        if reason:
            for src in rec.sources():
                unrefittable.setdefault(src, f"{reason} (node {node})")
            continue
        key = (t.data_ptr(), t.numel(), str(t.dtype))
        if key in seen:  # the same buffer used twice: one name covers every use
            continue
        counts[node] = counts.get(node, 0) + 1
        name = f"{node}/weights_{counts[node]}"
        if not net.set_weights_name(w, name):
            for src in rec.sources():
                unrefittable.setdefault(src, f"TensorRT refused the weights name {name!r} (node {node})")
            continue
        seen[key] = name
        named[name] = (rec, t)
    for src, why in tracker.baked.items():
        unrefittable.setdefault(src, why)
    return serialize(named), unrefittable, {k: t for k, (_, t) in named.items()}
