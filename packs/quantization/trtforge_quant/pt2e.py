"""A PT2E quantizer configuration TensorRT can express: symmetric INT8, static scales.

torchao's ``X86InductorQuantizer`` decides *where* quantize/dequantize pairs go (inputs of
convolutions and linear layers, and the ops around them); its default configuration is
asymmetric unsigned 8-bit activations, which TensorRT cannot run. :func:`int8_config`
replaces that with TensorRT's scheme: signed INT8 activations per tensor over the full
[-128, 127] range, weights per output channel, all with zero zero points.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import types

import torch


def int8_config() -> Any:
    """Symmetric INT8 ``QuantizationConfig``: activations per tensor, weights per output channel."""
    from torchao.quantization.pt2e import MinMaxObserver, PerChannelMinMaxObserver
    from torchao.quantization.pt2e.quantizer import QuantizationConfig, QuantizationSpec

    activation = QuantizationSpec(
        dtype=torch.int8, quant_min=-128, quant_max=127, qscheme=torch.per_tensor_symmetric,
        is_dynamic=False, observer_or_fake_quant_ctr=MinMaxObserver.with_args(eps=2**-12),
    )
    weight = QuantizationSpec(
        dtype=torch.int8, quant_min=-127, quant_max=127, qscheme=torch.per_channel_symmetric, ch_axis=0,
        is_dynamic=False, observer_or_fake_quant_ctr=PerChannelMinMaxObserver.with_args(eps=2**-12),
    )
    return QuantizationConfig(activation, activation, weight, None, False)


def quantizer() -> Any:
    """torchao's X86 quantizer (which ops get quantized) with :func:`int8_config` everywhere."""
    from torchao.quantization.pt2e.quantizer.x86_inductor_quantizer import X86InductorQuantizer

    return X86InductorQuantizer().set_global(int8_config())


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
