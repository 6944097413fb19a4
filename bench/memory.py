"""Peak host memory of a compile, relative to the model's weights.

Target (issue 9): peak growth within 2x the weights plus the builder's own needs. Each model
compiles in a fresh process after a warm-up compile of a tiny model (imports, pack loading). A
sampler thread follows RSS; the builder's own needs are the growth measured across TensorRT's
``build_serialized_network`` call itself, so "trtforge" below is everything else: export,
lowering (folded weights), conversion, and the engine's way into the compiled module. The last
column repeats the measurement for a second model of the same architecture in the same process,
once one-time costs (lazily loaded code, caches) are paid. Usage:
    python bench/memory.py [--precision float16] [resnet50 vit_b_16 ...]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import models  # noqa: E402
from _common import print_table  # noqa: E402

CHILD = r'''
import json, sys, threading, time, torch, trtforge
from trtforge import backend
sys.path.insert(0, sys.argv[3])
import models

def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

peak = [0.0]
def sample():
    while True:
        peak[0] = max(peak[0], rss_mb())
        time.sleep(0.002)

builder = {}
build = backend.trt.Builder.build_serialized_network
def measured_build(self, *args):
    time.sleep(0.01)
    before, peak[0] = rss_mb(), rss_mb()
    out = build(self, *args)
    time.sleep(0.01)
    builder["growth_mb"] = max(peak[0], rss_mb()) - before - out.nbytes / 2**20
    return out
backend.trt.Builder.build_serialized_network = measured_build

tiny = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
trtforge.compile(tiny, [torch.randn(1, 3, 8, 8)])
model, x = models.get(sys.argv[1])
weights = models.weights_mb(model)
threading.Thread(target=sample, daemon=True).start()

def measure(model):
    time.sleep(0.05)
    base = peak[0] = rss_mb()
    out = trtforge.compile(model, x, precision=sys.argv[2])
    time.sleep(0.05)
    engine = sum(e.engine_bytes or 0 for e in out.trtforge_report.engines) / 2**20
    return max(peak[0], rss_mb()) - base, builder["growth_mb"], rss_mb() - base, engine, out

growth, builder_mb, after, engine, out = measure(model)
# a second model of the same architecture (new weights): one-time process costs (lazily loaded
# TensorRT and torch code, dispatch caches) are paid by now
del out
again = measure(models.get(sys.argv[1], seed=1)[0])
print(json.dumps({"weights_mb": weights, "growth_mb": growth, "builder_mb": builder_mb, "after_mb": after,
                  "engine_mb": engine, "again_growth_mb": again[0], "again_builder_mb": again[1]}))
'''


def main(names: list[str], precision: str) -> None:
    rows = []
    for name in names:
        out = subprocess.run([sys.executable, "-c", CHILD, name, precision, os.path.dirname(os.path.abspath(__file__))],
                             check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        own = r["growth_mb"] - r["builder_mb"]
        again = r["again_growth_mb"] - r["again_builder_mb"]
        rows.append([name, r["weights_mb"], r["engine_mb"], r["growth_mb"], r["builder_mb"], own,
                     own / r["weights_mb"], r["after_mb"], again / r["weights_mb"]])
    print_table(f"compile peak memory over the loaded model (MB), {precision}; target: trtforge / weights <= 2",
                ["model", "weights", "engine", "peak growth", "builder's own", "trtforge", "trtforge / weights",
                 "held after", "2nd model: trtforge / weights"], rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=models.ALL)
    parser.add_argument("--precision", default="float32", choices=["float32", "float16"])
    args = parser.parse_args()
    main(args.models, args.precision)
