"""Start-up cost: `import trtforge` over `import torch`, and `trtforge packs`, in fresh processes.

    python bench/startup.py
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from _common import print_table  # noqa: E402


def run(code: list[str], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(code, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    py = sys.executable
    torch_s = run([py, "-c", "import torch"])
    tf_s = run([py, "-c", "import torch, trtforge"])
    packs_s = run([py, "-m", "trtforge.cli.main", "packs"], repeat=3)
    print_table("start-up (median of fresh processes)", ["what", "seconds", "target"], [
        ["import torch", torch_s, ""],
        ["import torch, trtforge", tf_s, ""],
        ["trtforge over torch", tf_s - torch_s, "<= 0.30"],
        ["trtforge packs", packs_s, "< 2.0"],
    ])


if __name__ == "__main__":
    main()
