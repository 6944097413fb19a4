"""Cold and warm compile time: trtforge vs the ONNX route, same run, same models.

ONNX route: ``torch.onnx.export`` as users call it (since torch 2.9 its default is the
torch.export-based exporter) + TensorRT ONNX parser + engine build; ratios are against it.
trtforge is timed cold without and with ``validate=True`` (the validation share is that
compile's ``validation`` stage over its total), and warm (an engine cache hit) against
``torch.export`` alone. Routes are interleaved per repeat (drift on a shared machine hits every
route alike) and medians are shown. A tiny model goes through every route first, so one-time
imports count against none. ``--legacy`` also times the TorchScript exporter (``dynamo=False``,
deprecated). Usage:
    python bench/compile_time.py [--repeat 3] [--legacy] [resnet50 ... bert_base llama_768x4]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings

import torch

sys.path.insert(0, os.path.dirname(__file__))
import models  # noqa: E402
from _common import print_table, timer  # noqa: E402

import trtforge  # noqa: E402
from trtforge import backend  # noqa: E402


def onnx_route(model: torch.nn.Module, inputs: list[torch.Tensor], legacy: bool = False) -> dict:
    trt = backend.trt
    t: dict = {}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.onnx")
        with timer(t, "onnx_export"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if legacy:
                torch.onnx.export(model, tuple(inputs), path, dynamo=False, opset_version=17)
            else:
                torch.onnx.export(model, tuple(inputs), path, verbose=False)
        with timer(t, "parse"):
            logger = backend.logger()
            builder = trt.Builder(logger)
            net = backend.create_network(builder)
            parser = trt.OnnxParser(net, logger)
            # parse_from_file: the torch.export-based exporter may write weights as external data
            assert parser.parse_from_file(path), [parser.get_error(i) for i in range(parser.num_errors)]
        with timer(t, "build"):
            engine = builder.build_serialized_network(net, builder.create_builder_config())
            assert engine is not None
    t["total"] = sum(t.values())
    return t


def _trtforge(model: torch.nn.Module, inputs: list[torch.Tensor], **settings) -> dict:
    out = trtforge.compile(model, inputs, **settings)
    rep = out.trtforge_report
    if rep.cache != "hit":
        assert len(rep.engines) == 1 and not rep.fallback, f"{type(model).__name__}: not one engine ({rep.by_reason()})"
    t = dict(rep.timings_s)
    t["total"] -= t.get("cache", 0.0)  # storing into the cache is not part of a cold compile
    return t


def _median_run(runs: list[dict]) -> dict:
    return sorted(runs, key=lambda t: t["total"])[len(runs) // 2]


def measure(name: str, repeat: int, legacy: bool) -> list:
    model, inputs = models.get(name)
    runs: dict[str, list] = {"onnx": [], "legacy": [], "cold": [], "validated": [], "export": [], "warm": []}
    with tempfile.TemporaryDirectory() as cache_dir:
        for _ in range(repeat):
            runs["onnx"].append(onnx_route(model, inputs)["total"])
            if legacy:
                runs["legacy"].append(onnx_route(model, inputs, legacy=True)["total"])
            runs["cold"].append(_trtforge(model, inputs))
            with tempfile.TemporaryDirectory() as fresh:  # stores the entry the warm compile reads
                runs["validated"].append(_trtforge(model, inputs, validate=True, engine_cache_dir=fresh))
                if not os.listdir(cache_dir):
                    for f in os.listdir(fresh):
                        os.rename(os.path.join(fresh, f), os.path.join(cache_dir, f))
            t = time.perf_counter()
            torch.export.export(model, tuple(inputs), strict=False)
            runs["export"].append(time.perf_counter() - t)
            warm = _trtforge(model, inputs, engine_cache_dir=cache_dir)
            runs["warm"].append(warm["total"])
    onnx = statistics.median(runs["onnx"])
    cold, val = _median_run(runs["cold"]), _median_run(runs["validated"])
    export, warm = statistics.median(runs["export"]), statistics.median(runs["warm"])
    row = [name, onnx, cold["total"], cold["total"] / onnx, val["total"], val["total"] / onnx,
           val.get("validation", 0.0) / val["total"], cold.get("export", 0.0), cold.get("lowering", 0.0),
           cold.get("build", 0.0), export, warm, warm / export]
    if legacy:
        row.insert(2, statistics.median(runs["legacy"]))
    return row


def main(names: list[str], repeat: int, legacy: bool) -> None:
    tiny = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    warm = [torch.randn(1, 3, 8, 8)]
    onnx_route(tiny, warm), trtforge.compile(tiny, warm, validate=True)
    if legacy:
        onnx_route(tiny, warm, legacy=True)
    rows = [measure(name, repeat, legacy) for name in names]
    cols = ["model", "ONNX route s", "trtforge s", "ratio", "+validate s", "ratio", "validation share",
            "export", "lowering", "build", "torch.export s", "warm s", "warm/export"]
    if legacy:
        cols.insert(2, "legacy ONNX s")
    print_table(
        f"compile time, float32, batch 1, medians of {repeat} interleaved runs ({backend.name()} {backend.version()}, "
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}); targets: ratio <= 0.4, "
        "validation share <= 0.25, warm/export <= 1.2", cols, rows)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=models.ALL)
    parser.add_argument("--repeat", type=int, default=3, help="runs per route and model; medians are shown")
    parser.add_argument("--legacy", action="store_true", help="also time the TorchScript ONNX exporter")
    args = parser.parse_args()
    main(args.models, args.repeat, args.legacy)
