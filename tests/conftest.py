"""Shared fixtures: a toy pack made of real converters, registered in-process."""
from __future__ import annotations

import pytest
import torch

import trtforge
from trtforge.conversion import blocks
from trtforge.plugins import PackManager, set_manager

aten = torch.ops.aten


class ToyPack:
    """A tiny pack: relu, add, mul, sigmoid (static only), and a validator on mul by scalars."""

    def __init__(self, name: str = "toy", api_version: str = "1.0") -> None:
        self.name, self.api_version = name, api_version

    @trtforge.hookimpl
    def trtforge_pack_info(self):
        return trtforge.PackInfo(self.name, "0.1", "toy pack for core tests", api_version=self.api_version)

    @trtforge.hookimpl
    def trtforge_register_converters(self, register):
        register(relu, binop, sigmoid, cumsum_nonzero)


@trtforge.converter(aten.relu.default, supports_dynamic_shapes=True)
def relu(ctx, target, args, kwargs, name):
    return ctx.out(ctx.net.add_activation(args[0], ctx.trt.ActivationType.RELU))


def _no_scalar_three(node, settings):
    if len(node.args) > 1 and node.args[1] == 3:
        return trtforge.Refusal("multiplying by 3 is not supported (test validator)")
    return True


@trtforge.converter(aten.add.Tensor, supports_dynamic_shapes=True)
@trtforge.converter(aten.mul.Tensor, supports_dynamic_shapes=True, capability_validator=_no_scalar_three)
def binop(ctx, target, args, kwargs, name):
    op = ctx.trt.ElementWiseOperation.SUM if target == aten.add.Tensor else ctx.trt.ElementWiseOperation.PROD
    return blocks.elementwise(ctx, op, args[0], args[1])


@trtforge.converter(aten.sigmoid.default)  # static shapes only
def sigmoid(ctx, target, args, kwargs, name):
    return ctx.out(ctx.net.add_activation(args[0], ctx.trt.ActivationType.SIGMOID))


@trtforge.converter(aten.nonzero.default, supports_dynamic_shapes=True, requires_output_allocator=True, emits={"NON_ZERO"})
def cumsum_nonzero(ctx, target, args, kwargs, name):
    nz = ctx.out(ctx.net.add_non_zero(args[0]), "nonzero")
    layer = ctx.net.add_shuffle(nz)
    layer.first_transpose = (1, 0)
    return blocks.cast(ctx, ctx.out(layer, "transpose"), torch.int64)


@pytest.fixture
def toy_manager():
    """A fresh manager with only the toy pack, installed as the process default for the test."""
    manager = PackManager(discover=False, strict=True)
    manager.add_pack("toy", ToyPack())
    prev = set_manager(manager)
    yield manager
    set_manager(prev)
