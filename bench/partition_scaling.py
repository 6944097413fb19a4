"""Partitioning time vs graph size, both partitioners, on synthetic graphs (1k..20k nodes).

The graph chains supported ops (relu, add, mul) with an unsupported op (sin) every few nodes;
the registry holds real converter entries. Usage: python bench/partition_scaling.py
"""
from __future__ import annotations

import os
import sys
import time

import torch
from torch.fx import Graph

sys.path.insert(0, os.path.dirname(__file__))
from _common import print_table  # noqa: E402

import trtforge  # noqa: E402
from trtforge.partitioning.partitioner import Partitioner  # noqa: E402
from trtforge.plugins.registry import ConverterRegistry  # noqa: E402
from trtforge.settings import CompileSettings  # noqa: E402

aten = torch.ops.aten


def registry() -> ConverterRegistry:
    reg = ConverterRegistry()
    for op in (aten.relu.default, aten.add.Tensor, aten.mul.Tensor):
        @trtforge.converter(op, supports_dynamic_shapes=True)
        def conv(ctx, target, args, kwargs, name):  # never called: partitioning only
            raise AssertionError

        reg.add(trtforge.plugins.converters.specs_of(conv)[0], "bench")
    return reg


def synthetic(n: int) -> Graph:
    g = Graph()
    x = g.placeholder("x")
    fake = torch.empty(8)
    x.meta["val"] = fake
    cur, skip = x, x
    ops = [aten.relu.default, aten.add.Tensor, aten.mul.Tensor, aten.sin.default, aten.relu.default, aten.add.Tensor, aten.mul.Tensor]
    for i in range(n - 2):
        op = ops[i % len(ops)]
        args = (cur,) if op in (aten.relu.default, aten.sin.default) else (cur, skip)
        node = g.call_function(op, args)
        node.meta["val"] = fake
        if i % 3 == 0:
            skip = cur
        cur = node
    g.output(cur)
    return g


def main() -> None:
    reg = registry()
    rows = []
    for n in (1000, 2000, 5000, 10000, 20000):
        g = synthetic(n)
        row: list[object] = [len(g.nodes)]
        for fast in (True, False):
            cfg = CompileSettings(min_block_size=2, use_fast_partitioner=fast)
            t = time.perf_counter()
            res = Partitioner(reg, cfg, "tensorrt").run(g)
            row += [time.perf_counter() - t, len(res.partitions)]
        rows.append(row)
    print_table("partitioning time (target: < 2 s at 20k nodes, near-linear)",
                ["nodes", "fast s", "fast partitions", "global s", "global partitions"], rows)


if __name__ == "__main__":
    main()
