"""Cold compile time: trtforge (export -> serialized engine) vs the ONNX route, same run, same models.

ONNX route: torch.onnx.export + TensorRT ONNX parser + engine build. Usage:
    python bench/compile_time.py [resnet50 mobilenet_v3_large vit_b_16]
"""
from __future__ import annotations

import os
import sys
import tempfile

import torch
import torchvision

sys.path.insert(0, os.path.dirname(__file__))
from _common import print_table, timer  # noqa: E402

import trtforge  # noqa: E402
from trtforge import backend  # noqa: E402


def onnx_route(model: torch.nn.Module, x: torch.Tensor) -> dict:
    trt = backend.trt
    t: dict = {}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "m.onnx")
        with timer(t, "onnx_export"):
            torch.onnx.export(model, (x,), path, dynamo=False, opset_version=17)
        with timer(t, "parse"):
            logger = backend.logger()
            builder = trt.Builder(logger)
            net = backend.create_network(builder)
            parser = trt.OnnxParser(net, logger)
            with open(path, "rb") as f:
                assert parser.parse(f.read()), [parser.get_error(i) for i in range(parser.num_errors)]
        with timer(t, "build"):
            engine = builder.build_serialized_network(net, builder.create_builder_config())
            assert engine is not None
    t["total"] = sum(t.values())
    return t


def main(names: list[str]) -> None:
    rows = []
    for name in names:
        model = torchvision.models.get_model(name, weights=None).eval()
        x = torch.randn(1, 3, 224, 224)
        onnx = onnx_route(model, x)
        out = trtforge.compile(model, [x])
        rep = out.trtforge_report
        tt = rep.timings_s
        assert len(rep.engines) == 1 and not rep.fallback, f"{name} did not compile to one engine"
        rows.append([name, onnx["total"], tt["total"], tt["total"] / onnx["total"], tt.get("export", 0.0),
                     tt.get("lowering", 0.0), tt.get("partitioning", 0.0), tt.get("conversion", 0.0), tt.get("build", 0.0)])
    print_table(
        f"cold compile, float32, batch 1 ({backend.name()} {backend.version()}, torch {torch.__version__}, {os.cpu_count()} CPUs)",
        ["model", "ONNX route s", "trtforge s", "ratio", "export", "lowering", "partition", "conversion", "build"],
        rows,
    )


if __name__ == "__main__":
    main(sys.argv[1:] or ["resnet50", "mobilenet_v3_large", "vit_b_16"])
