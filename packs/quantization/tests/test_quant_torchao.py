"""torchao's quantize_ (tensor subclasses) -> one dequantize op per weight -> TensorRT Q/DQ layers."""
from __future__ import annotations

import pytest
import torch

import trtforge
from trtforge.testing import check_converts

from models import Llama

ao = torch.ops.torchao


def _quantized(model: torch.nn.Module, config) -> torch.nn.Module:
    from torchao.quantization import quantize_

    torch.manual_seed(0)
    quantize_(model.eval(), config)
    return model


def _weight_dequantizers(result) -> list[str]:
    """The input type of every DEQUANTIZE layer the pack built for a weight."""
    found = []
    for net in result.networks:
        network = net.network
        for i in range(network.num_layers):
            layer = network.get_layer(i)
            if layer.type.name == "DEQUANTIZE" and "weight" in layer.name:
                found.append(layer.get_input(0).dtype.name)
    return found


def _decoder_checks(config):
    model = _quantized(Llama(), config)
    result = check_converts(model, [torch.randint(0, 256, (1, 16))])
    assert len(result.report.engines) == 1 and result.report.coverage == 1.0
    return result


@pytest.mark.slow
def test_int8_weight_only_decoder(quant_pack, transformers_pack):
    from torchao.quantization import Int8WeightOnlyConfig

    result = _decoder_checks(Int8WeightOnlyConfig())
    assert "torchao::dequantize_affine.default" in result.report.engines[0].ops
    assert _weight_dequantizers(result).count("INT8") == 8  # q, k, v, o, gate, up, down, lm_head


def test_int4_weight_only_group_wise_decoder(quant_pack, transformers_pack):
    from torchao.quantization import IntxWeightOnlyConfig, PerGroup

    result = _decoder_checks(IntxWeightOnlyConfig(weight_dtype=torch.int4, granularity=PerGroup(32)))
    assert _weight_dequantizers(result).count("INT8") == 8  # INT4 values, stored in INT8 blocks of 32


def test_fp8_per_tensor_vit_linear_layers(quant_pack):
    import torchvision
    from torchao.quantization import Float8WeightOnlyConfig, PerTensor

    vit = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                                hidden_dim=64, mlp_dim=128, num_classes=10)
    torch.nn.init.normal_(vit.heads.head.weight, std=0.02)  # torchvision zero-initializes the head
    model = _quantized(vit, Float8WeightOnlyConfig(granularity=PerTensor()))
    result = check_converts(model, [torch.randn(2, 3, 32, 32)],
                            ops=[ao.dequantize_affine_float8_non_decomposed.default])
    assert len(result.report.engines) == 1 and result.report.coverage == 1.0
    assert _weight_dequantizers(result).count("FP8") >= 5
