"""Loading a saved multi-engine program: ``trtforge.load`` against ``torch.export.load`` of the same file.

    python bench/load_time.py [--engines 8] [--width 2048] [--repeat 5]

The program is ``--engines`` Linear(width, width) layers, each its own engine (a ``sin`` between
them stays in PyTorch), saved once; the file is then loaded ``--repeat`` times per route,
interleaved, and the medians printed. ``torch.export.load(...).module()`` is the baseline: the
same archive read and deserialized with no integrity check at all. trtforge.load adds the CRC
check of the archive members (``verify=True``), the sha256 of every engine, and the engine
modules. The parts are timed on their own below the table.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from _common import print_table  # noqa: E402


def build(path: str, engines: int, width: int) -> int:
    import torch

    import trtforge

    class Stack(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = torch.nn.ModuleList(torch.nn.Linear(width, width) for _ in range(engines))

        def forward(self, x):
            for layer in self.layers:
                x = torch.sin(torch.relu(layer(x)))
            return x

    x = torch.randn(2, width)
    compiled = trtforge.compile(Stack().eval(), [x], min_block_size=1, torch_executed_ops={"aten::sin"})
    assert len(compiled.trtforge_report.engines) == engines
    trtforge.save(compiled, path, inputs=[x])
    return sum(e.engine_bytes for e in compiled.trtforge_report.engines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engines", type=int, default=8)
    ap.add_argument("--width", type=int, default=2048)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()

    import torch

    import trtforge
    from trtforge.runtime import engines_of
    from trtforge.runtime.archive import read_manifest
    from trtforge.runtime.metadata import engine_sha256

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "program.pt2")
        engine_bytes = build(path, args.engines, args.width)
        size = os.path.getsize(path)
        routes = {
            "torch.export.load + module() (baseline)": lambda: torch.export.load(path).module(),
            "trtforge.load": lambda: trtforge.load(path),
            "trtforge.load(verify=False)": lambda: trtforge.load(path, verify=False),
        }
        for fn in routes.values():  # warm: imports, page cache
            fn()
        times: dict[str, list[float]] = {k: [] for k in routes}
        cpu: dict[str, list[float]] = {k: [] for k in routes}
        for _ in range(args.repeat):
            for name, fn in routes.items():
                t, c = time.perf_counter(), time.process_time()  # CPU time: every thread of the process
                fn()
                times[name].append(time.perf_counter() - t)
                cpu[name].append(time.process_time() - c)
        med = {k: statistics.median(v) for k, v in times.items()}
        base = med["torch.export.load + module() (baseline)"]
        base_cpu = statistics.median(cpu["torch.export.load + module() (baseline)"])
        load = os.getloadavg()[0]
        print_table(
            f"load of a {args.engines}-engine program ({size / 1e6:.0f} MB file, {engine_bytes / 1e6:.0f} MB of "
            f"engines); medians of {args.repeat}, load average {load:.1f}",
            ["route", "wall s", "vs baseline", "over baseline s", "fastest s", "CPU s", "CPU over baseline s"],
            [[k, v, f"{v / base:.2f}x", v - base, min(times[k]), statistics.median(cpu[k]),
              statistics.median(cpu[k]) - base_cpu] for k, v in med.items()],
        )
        program = trtforge.load(path)
        tensors = [e.engine for e in engines_of(program)]
        parts: dict[str, list[float]] = {"CRC of every archive member (read_manifest verify=True)": [],
                                         "sha256 of every engine, one after another": []}
        for _ in range(args.repeat):
            t = time.perf_counter()
            read_manifest(path, verify=True)
            parts["CRC of every archive member (read_manifest verify=True)"].append(time.perf_counter() - t)
            t = time.perf_counter()
            for e in tensors:
                engine_sha256(e)
            parts["sha256 of every engine, one after another"].append(time.perf_counter() - t)
        print_table("parts (medians)", ["part", "seconds"],
                    [[k, statistics.median(v)] for k, v in parts.items()])


if __name__ == "__main__":
    main()
