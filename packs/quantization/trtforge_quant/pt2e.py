"""A minimal PT2E quantizer for TensorRT: symmetric INT8 with static (calibrated) scales.

PT2E splits quantization into a *quantizer*, which annotates where quantize/dequantize
pairs go and with which scheme, and ``prepare_pt2e``/``convert_pt2e``, which insert
observers, calibrate and write the ``quantized_decomposed`` ops. TensorRT expresses only
symmetric schemes: signed INT8 activations per tensor over the full [-128, 127] range,
weights per output channel, zero points all zero.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import types

import torch


_WEIGHTED = ("conv1d", "conv2d", "conv3d", "linear")


def _specs() -> tuple[Any, Any]:
    """(activation, weight) specs: INT8 per tensor over [-128, 127]; per output channel, symmetric."""
    from torchao.quantization.pt2e import MinMaxObserver, PerChannelMinMaxObserver
    from torchao.quantization.pt2e.quantizer import QuantizationSpec

    activation = QuantizationSpec(
        dtype=torch.int8, quant_min=-128, quant_max=127, qscheme=torch.per_tensor_symmetric,
        is_dynamic=False, observer_or_fake_quant_ctr=MinMaxObserver.with_args(eps=2**-12),
    )
    weight = QuantizationSpec(
        dtype=torch.int8, quant_min=-127, quant_max=127, qscheme=torch.per_channel_symmetric, ch_axis=0,
        is_dynamic=False, observer_or_fake_quant_ctr=PerChannelMinMaxObserver.with_args(eps=2**-12),
    )
    return activation, weight


def quantizer() -> Any:
    """A PT2E quantizer placing Q/DQ where TensorRT wants them: on both inputs of every convolution
    and linear layer (the activation per tensor, the weight per output channel), nowhere else.

    TensorRT fuses each Q/DQ pair into the INT8 layer that reads it. torchao's
    ``X86InductorQuantizer`` places Q/DQ around fusion patterns it matches by module, which
    fails on models that reuse one module twice (torchvision's ResNet blocks reuse their ReLU:
    "Input partition has more than one output node"), and its default is asymmetric.
    """
    from torchao.quantization.pt2e.quantizer import QuantizationAnnotation, Quantizer

    activation, weight = _specs()
    targets = {getattr(torch.ops.aten, op).default for op in _WEIGHTED}

    class TensorRTQuantizer(Quantizer):
        def annotate(self, model: torch.fx.GraphModule) -> torch.fx.GraphModule:
            for node in model.graph.nodes:
                if node.op == "call_function" and node.target in targets:
                    node.meta["quantization_annotation"] = QuantizationAnnotation(
                        input_qspec_map={node.args[0]: activation, node.args[1]: weight}, _annotated=True)
            return model

        def validate(self, model: torch.fx.GraphModule) -> None:
            return None

    return TensorRTQuantizer()


def quantize_int8(model: torch.nn.Module, example: Sequence[torch.Tensor],
                  calibration: Iterable[Sequence[torch.Tensor]], dynamic_shapes: Any = None) -> torch.nn.Module:
    """Export, insert observers, calibrate on ``calibration`` batches, and convert: the fake-quant model.

    The result is the converted ``GraphModule``, in eval mode; its ``.eval()`` returns it.
    ``dynamic_shapes`` (as for ``torch.export.export``) keeps dimensions dynamic, so that the
    result compiles with ``trtforge.Input`` ranges over them.
    """
    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

    captured = torch.export.export(model.eval(), tuple(example), dynamic_shapes=dynamic_shapes).module()
    prepared = prepare_pt2e(captured, quantizer())
    with torch.no_grad():
        for batch in calibration:
            prepared(*batch)
    return compilable(convert_pt2e(prepared))


def compilable(converted: torch.nn.Module) -> torch.nn.Module:
    """A ``convert_pt2e`` result, fixed in eval mode, whose ``.eval()`` returns it.

    torchao makes ``train()``/``eval()`` of an exported graph raise (or return None once
    allowed), but ``trtforge.compile`` calls ``model.eval()``.
    """
    from torchao.quantization.pt2e import move_exported_model_to_eval

    move_exported_model_to_eval(converted)
    converted.train = types.MethodType(_fixed_mode, converted)
    converted.eval = types.MethodType(_fixed_mode, converted)
    return converted


def _fixed_mode(self: torch.nn.Module, mode: bool = True) -> torch.nn.Module:
    return self
