"""Deciding which nodes run in TensorRT, and grouping them into engines.

Two partitioners, both linear in graph size:

* fast: contiguous runs of supported nodes in graph order. A contiguous run is
  always convex (nothing outside it lies on a path between two of its nodes),
  so partitions are valid by construction.
* global: supported nodes are merged across the graph by *level*: a node's level
  is the largest level of its producers, plus one when crossing between
  supported and unsupported nodes. Every path leaving a level through an
  unsupported node comes back at a strictly higher level, so grouping
  supported nodes by level never creates a cycle, yet merges non-adjacent
  branches into one engine.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch
from torch.fx import Graph, Node

from ..plugins.registry import ConverterRegistry, Reason, Rejection, Selection
from ..runtime.program import is_compute
from .sizes import localize_sizes

STRUCTURAL = ("placeholder", "get_attr", "output")


@dataclass
class Partition:
    """One group of nodes that becomes one TensorRT engine."""

    id: int
    nodes: list[Node] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"_run_on_trt_{self.id}"

    def compute_nodes(self) -> list[Node]:
        return [n for n in self.nodes if is_compute(n)]


@dataclass
class PartitionResult:
    partitions: list[Partition]
    #: node -> why it stays in PyTorch (compute nodes only)
    fallback: dict[Node, list[Rejection]]
    #: node -> chosen converter selection (supported nodes)
    selections: dict[Node, Selection]


def _is_tensor_value(node: Node) -> bool:
    return isinstance(node.meta.get("val"), torch.Tensor)


class Partitioner:
    """Select converters for every node, then group supported nodes into partitions."""

    def __init__(self, registry: ConverterRegistry, settings: Any, target_backend: str | None) -> None:
        self.registry = registry
        self.settings = settings
        self.target_backend = target_backend

    def run(self, graph: Graph) -> PartitionResult:
        localize_sizes(graph)
        nodes = list(graph.nodes)
        selections: dict[Node, Selection] = {}
        fallback: dict[Node, list[Rejection]] = {}
        for node in nodes:
            if is_compute(node):
                sel = self.registry.select(node, self.settings, target_backend=self.target_backend)
                selections[node] = sel
                if sel.spec is None:
                    fallback[node] = sel.rejections or [Rejection(Reason.NO_CONVERTER)]
            elif node.op in ("call_module", "call_method"):
                fallback[node] = [Rejection(Reason.NO_CONVERTER, f"{node.op} {node.target}")]
        supported = {n for n, s in selections.items() if s.spec is not None}
        while True:
            groups = self._group(nodes, supported)
            demoted = self._check(groups, supported, fallback)
            if not demoted:
                break
        parts = [Partition(i, g) for i, g in enumerate(groups)]
        return PartitionResult(parts, fallback, {n: s for n, s in selections.items() if n in supported})

    # -- grouping ---------------------------------------------------------------
    def _group(self, nodes: list[Node], supported: set[Node]) -> list[list[Node]]:
        def member(n: Node) -> bool:
            if n.op == "call_function" and n.target is operator.getitem:
                return n.args[0] in supported
            return n in supported

        if getattr(self.settings, "use_fast_partitioner", True):
            groups: list[list[Node]] = []
            current: list[Node] = []
            for n in nodes:
                if n.op in STRUCTURAL:
                    continue
                if member(n):
                    current.append(n)
                elif current:
                    groups.append(current)
                    current = []
            if current:
                groups.append(current)
            return groups
        level: dict[Node, int] = {}
        by_level: dict[int, list[Node]] = {}
        for n in nodes:
            if n.op in STRUCTURAL:
                level[n] = 0
                continue
            mine = member(n)
            lv = 0
            for p in n.all_input_nodes:
                if p.op in STRUCTURAL:
                    continue
                lv = max(lv, level[p] + (1 if member(p) != mine else 0))
            level[n] = lv
            if mine:
                by_level.setdefault(lv, []).append(n)
        return [by_level[k] for k in sorted(by_level)]

    def _check(self, groups: list[list[Node]], supported: set[Node], fallback: dict[Node, list[Rejection]]) -> bool:
        """Demote nodes that make a partition unusable; True if anything changed."""
        changed = False
        # min_block_size avoids tiny engines between PyTorch segments. Full compilation means one
        # engine for everything convertible, whatever its size; so does a graph in which every
        # node converts (one group, nothing left to PyTorch): there is no PyTorch to switch to.
        whole_graph = len(groups) == 1 and not fallback
        min_block = 1 if whole_graph or getattr(self.settings, "require_full_compilation", False) else getattr(
            self.settings, "min_block_size", 1
        )
        for group in groups:
            members = set(group)
            compute = [n for n in group if is_compute(n)]
            if len(compute) < min_block:
                for n in compute:
                    supported.discard(n)
                    fallback[n] = [Rejection(Reason.PARTITION_TOO_SMALL, f"{len(compute)} < {min_block}")]
                changed = changed or bool(compute)
                continue
            # Engines exchange tensors only: a non-tensor value (tuple, SymInt) may not cross.
            for n in group:
                crossing_out = [u for u in n.users if u not in members and u.op != "output"] or (
                    [u for u in n.users if u.op == "output"]
                )
                if crossing_out and not _is_tensor_value(n) and not _all_getitems_inside(n, members):
                    changed |= self._demote(n if is_compute(n) else n.args[0], supported, fallback,
                                            f"its value ({_kind(n)}) is read outside its TensorRT segment, and engines "
                                            "exchange tensors only")
                for p in n.all_input_nodes:
                    if p not in members and p.op != "get_attr" and not _is_tensor_value(p):
                        if p.op == "placeholder" and isinstance(p.meta.get("val"), torch.Tensor):
                            continue
                        changed |= self._demote(n if is_compute(n) else n.args[0], supported, fallback,
                                                f"reads {p.name} ({_kind(p)}), computed outside its TensorRT segment, "
                                                "and engines exchange tensors only")
        return changed

    @staticmethod
    def _demote(n: Node, supported: set[Node], fallback: dict[Node, list[Rejection]], why: str) -> bool:
        if n not in supported:
            return False
        supported.discard(n)
        fallback[n] = [Rejection(Reason.PUSHED_BACK, why)]
        return True


def _kind(n: Node) -> str:
    """What a value is, for the report: 'a SymInt', 'a tuple'..."""
    return f"a {type(n.meta.get('val')).__name__}"


def _all_getitems_inside(n: Node, members: set[Node]) -> bool:
    users = list(n.users)
    return bool(users) and all(
        u.op == "call_function" and u.target is operator.getitem and u in members for u in users
    )


