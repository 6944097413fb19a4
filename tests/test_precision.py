"""Mixed-precision settings and the tolerance rule (compiles with converters: packs/vision/tests/test_vision_precision.py)."""
from __future__ import annotations

import pytest
import torch

import trtforge
from trtforge.validation.tolerance import CEILING, SCALE, TOLERANCE, tolerance


def test_keep_fp32_is_normalized_to_sorted_names():
    cfg = trtforge.CompileSettings(precision="fp16", keep_fp32=[torch.nn.LayerNorm, torch.ops.aten.softmax,
                                                                  torch.ops.aten.mul.Tensor, "blk.ln", "auto"])
    assert cfg.keep_fp32 == ("aten::mul.Tensor", "aten::softmax", "auto", "blk.ln",
                             "torch.nn.modules.normalization.LayerNorm")
    assert trtforge.CompileSettings(precision="bf16", keep_fp32="auto").keep_fp32 == ("auto",)


def test_keep_fp32_needs_a_reduced_precision():
    with pytest.raises(trtforge.SettingError, match="keep_fp32=.*needs precision=torch.float16"):
        trtforge.CompileSettings(keep_fp32=["ln"])
    with pytest.raises(trtforge.SettingError, match="keep_fp32: 3 is a int"):
        trtforge.CompileSettings(precision="fp16", keep_fp32=[3])


def test_tolerance_scales_from_pytorchs_own_error_between_floor_and_ceiling():
    fp16 = torch.float16
    assert tolerance(fp16, 1e-3) == TOLERANCE[fp16]  # well-conditioned: the floor
    assert tolerance(fp16, 1e-2) == pytest.approx(SCALE * 1e-2)
    assert tolerance(fp16, float("inf")) == tolerance(fp16, float("nan")) == CEILING[fp16]
    assert tolerance(fp16, 0.5, rtol=0.3) == 0.3  # validate_rtol overrides the rule
    assert tolerance(torch.float32, 0.5) == TOLERANCE[torch.float32]
    assert TOLERANCE[torch.bfloat16] < CEILING[torch.bfloat16]
