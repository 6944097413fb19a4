"""Warm compile with the engine cache vs torch.export alone, same run.

    python bench/cache.py [resnet50 ...]
"""
from __future__ import annotations

import os
import sys
import tempfile
import time

import torch
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
from _common import print_table  # noqa: E402

import trtforge  # noqa: E402


def main(names: list[str]) -> None:
    rows = []
    for name in names:
        model = torchvision.models.get_model(name, weights=None).eval()
        x = torch.randn(1, 3, 224, 224)
        t = time.perf_counter()
        torch.export.export(model, (x,), strict=False)
        export_s = time.perf_counter() - t
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            cold = trtforge.compile(model, [x], engine_cache_dir=d)
            cold_s = time.perf_counter() - t
            t = time.perf_counter()
            warm = trtforge.compile(model, [x], engine_cache_dir=d)
            warm_s = time.perf_counter() - t
            assert warm.trtforge_report.cache == "hit", warm.trtforge_report.cache
            del cold
        rows.append([name, export_s, cold_s, warm_s, warm_s / export_s])
    print_table("engine cache: warm compile vs torch.export (target: warm <= 1.5x export)",
                ["model", "torch.export s", "cold compile s", "warm compile s", "warm/export"], rows)


if __name__ == "__main__":
    main(sys.argv[1:] or ["resnet50", "mobilenet_v3_large", "vit_b_16"])
