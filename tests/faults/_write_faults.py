"""Run in a subprocess by test_writes.py (each fault needs a process of its own to put it in).

1. Saves over an existing program while an interrupt (SIGINT, as Ctrl-C sends) arrives at a
   different moment of each save.
2. Writes under a file-size limit (``RLIMIT_FSIZE``: every write past it fails with EFBIG, as
   on a full disk): ``trtforge.save``, the JSON report, an engine cache entry.

Prints one JSON object of what happened.
"""
from __future__ import annotations

import hashlib
import json
import os
import resource
import signal
import sys
import time
import warnings

import torch

import trtforge

os.chdir(sys.argv[1])
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(),
                            torch.nn.Linear(256, 8)).eval()
x = torch.randn(2, 64)
program = trtforge.compile(model, [x], min_block_size=1)
trtforge.save(program, "prog.pt2", inputs=[x])  # the first save warms up: time a second one
t = time.perf_counter()
trtforge.save(program, "prog.pt2", inputs=[x])
save_s = time.perf_counter() - t
program.trtforge_report.to_json("report.json")
result: dict = {"sizes": {p: os.path.getsize(p) for p in ("prog.pt2", "report.json")}}

# 1. interrupts spread over a save (the export, then the writing)
interrupted, intact = 0, []
signal.signal(signal.SIGALRM, lambda *_: os.kill(os.getpid(), signal.SIGINT))
for i in range(20):  # two sweeps over the save's duration, so a faster run still gets hit
    signal.setitimer(signal.ITIMER_REAL, save_s * (i % 10 + 0.5) / 10)
    try:
        trtforge.save(program, "prog.pt2", inputs=[x])
        signal.setitimer(signal.ITIMER_REAL, 0)
    except KeyboardInterrupt:
        interrupted += 1
    try:
        trtforge.load("prog.pt2")
        intact.append(True)
    except Exception as exc:  # noqa: BLE001
        intact.append(f"{type(exc).__name__}: {exc}")
result.update(interrupted=interrupted, intact=intact)

# 2. a full disk
digest = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()  # noqa: E731
before = {p: digest(p) for p in ("prog.pt2", "report.json")}
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
resource.setrlimit(resource.RLIMIT_FSIZE, (512, resource.RLIM_INFINITY))  # smaller than every file below


def attempt(name, fn):
    try:
        fn()
        result[name] = "no error"
    except BaseException as exc:  # noqa: BLE001 - report whatever escaped
        result[name] = f"{type(exc).__name__}: {exc}"


attempt("save", lambda: trtforge.save(program, "prog.pt2", inputs=[x]))
attempt("report", lambda: program.trtforge_report.to_json("report.json"))
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    cached = trtforge.compile(model, [x], min_block_size=1, engine_cache_dir="cache")
result["cache_outcome"] = cached.trtforge_report.cache
result["cache_warnings"] = [str(w.message) for w in caught if "trtforge" in str(w.message)]
result["cache_files"] = sorted(os.listdir("cache"))
result["unchanged"] = {p: digest(p) == h for p, h in before.items()}
result["leftovers"] = sorted(p for p in os.listdir(".") if p not in ("prog.pt2", "report.json", "cache"))
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
trtforge.save(cached, "after.pt2", inputs=[x])  # the compile that could not be cached is whole
result["after_loads"] = bool(trtforge.load("after.pt2").graph)
print(json.dumps(result))
