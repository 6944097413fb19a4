"""Warm compile with the engine cache vs torch.export alone, same run.

    python bench/cache.py [--repeat 3] [resnet50 ...]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
import models  # noqa: E402
from _common import print_table  # noqa: E402

import trtforge  # noqa: E402


def main(names: list[str], repeat: int) -> None:
    rows = []
    for name in names:
        model, x = models.get(name)
        exports, warms = [], []
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            cold = trtforge.compile(model, x, engine_cache_dir=d)
            cold_s = time.perf_counter() - t
            del cold
            for _ in range(repeat):  # interleaved, so drift on a shared machine hits both alike
                t = time.perf_counter()
                torch.export.export(model, tuple(x), strict=False)
                exports.append(time.perf_counter() - t)
                t = time.perf_counter()
                warm = trtforge.compile(model, x, engine_cache_dir=d)
                warms.append(time.perf_counter() - t)
                assert warm.trtforge_report.cache == "hit", warm.trtforge_report.cache
        export_s, warm_s = statistics.median(exports), statistics.median(warms)
        rows.append([name, export_s, cold_s, warm_s, warm_s / export_s])
    print_table(f"engine cache: warm compile vs torch.export, medians of {repeat} (target: warm <= 1.2x export)",
                ["model", "torch.export s", "cold compile s", "warm compile s", "warm/export"], rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["resnet50", "mobilenet_v3_large", "vit_b_16"])
    parser.add_argument("--repeat", type=int, default=3, help="exports and warm compiles per model; medians shown")
    args = parser.parse_args()
    main(args.models, args.repeat)
