"""Cold compile time: trtforge (export -> serialized engine) vs the ONNX route, same run, same models.

ONNX route: ``torch.onnx.export`` as users call it (since torch 2.9 its default is the
torch.export-based exporter) + TensorRT ONNX parser + engine build; the ratio is against it.
The legacy TorchScript exporter (``dynamo=False``, deprecated) is timed too, for reference.
A tiny model goes through every route first, so one-time imports count against none. Usage:
    python bench/compile_time.py [--repeat 3] [resnet50 mobilenet_v3_large vit_b_16]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import warnings

import torch
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
from _common import print_table, timer  # noqa: E402

import trtforge  # noqa: E402
from trtforge import backend  # noqa: E402


def onnx_route(model: torch.nn.Module, x: torch.Tensor, legacy: bool = False) -> dict:
    trt = backend.trt
    t: dict = {}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.onnx")
        with timer(t, "onnx_export"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if legacy:
                torch.onnx.export(model, (x,), path, dynamo=False, opset_version=17)
            else:
                torch.onnx.export(model, (x,), path, verbose=False)
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


def main(names: list[str], repeat: int) -> None:
    tiny = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    warm = torch.randn(1, 3, 8, 8)
    onnx_route(tiny, warm), onnx_route(tiny, warm, legacy=True), trtforge.compile(tiny, [warm])
    rows = []
    for name in names:
        model = torchvision.models.get_model(name, weights=None).eval()
        x = torch.randn(1, 3, 224, 224)
        runs: dict[str, list] = {"onnx": [], "legacy": [], "trtforge": []}
        for _ in range(repeat):  # interleaved, so drift on a shared machine hits every route alike
            runs["onnx"].append(onnx_route(model, x)["total"])
            runs["legacy"].append(onnx_route(model, x, legacy=True)["total"])
            rep = trtforge.compile(model, [x]).trtforge_report
            assert len(rep.engines) == 1 and not rep.fallback, f"{name} did not compile to one engine"
            runs["trtforge"].append(rep.timings_s)
        onnx, legacy = statistics.median(runs["onnx"]), statistics.median(runs["legacy"])
        tt = sorted(runs["trtforge"], key=lambda t: t["total"])[len(runs["trtforge"]) // 2]  # the median run
        rows.append([name, onnx, legacy, tt["total"], tt["total"] / onnx, tt["total"] / legacy,
                     tt.get("export", 0.0), tt.get("lowering", 0.0), tt.get("partitioning", 0.0),
                     tt.get("conversion", 0.0), tt.get("build", 0.0)])
    print_table(
        f"cold compile, float32, batch 1, median of {repeat} ({backend.name()} {backend.version()}, "
        f"torch {torch.__version__}, {os.cpu_count()} CPUs); target: ratio <= 0.5",
        ["model", "ONNX route s", "legacy ONNX s", "trtforge s", "ratio", "vs legacy", "export", "lowering",
         "partition", "conversion", "build"],
        rows,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["resnet50", "mobilenet_v3_large", "vit_b_16"])
    parser.add_argument("--repeat", type=int, default=3, help="runs per route and model; medians are shown")
    args = parser.parse_args()
    main(args.models, args.repeat)
