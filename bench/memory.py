"""Peak host memory of a compile, relative to the model's weights (target: within 2x + builder).

Each model compiles in a fresh process; peak RSS (ru_maxrss) after compile minus RSS
once the model is built is compared with the weights' size. Usage:
    python bench/memory.py [resnet50 vit_b_16 ...]
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _common import print_table  # noqa: E402

CHILD = r'''
import json, resource, sys, torch, torchvision, trtforge
def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
model = torchvision.models.get_model(sys.argv[1], weights=None).eval()
weights = sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 2**20
x = torch.randn(1, 3, 224, 224)
trtforge.compile(model, [x], dryrun=True)  # warm imports and pack loading out of the measurement
base = rss_mb()
out = trtforge.compile(model, [x])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"weights_mb": weights, "base_mb": base, "peak_mb": peak,
                  "engine_mb": sum(e.engine_bytes or 0 for e in out.trtforge_report.engines) / 2**20}))
'''


def main(names: list[str]) -> None:
    rows = []
    for name in names:
        out = subprocess.run([sys.executable, "-c", CHILD, name], check=True, capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        growth = r["peak_mb"] - r["base_mb"]
        rows.append([name, r["weights_mb"], r["engine_mb"], growth, growth / r["weights_mb"]])
    print_table("compile peak memory over the loaded model (MB)",
                ["model", "weights MB", "engine MB", "peak growth MB", "growth / weights"], rows)


if __name__ == "__main__":
    main(sys.argv[1:] or ["resnet50", "mobilenet_v3_large", "vit_b_16"])
