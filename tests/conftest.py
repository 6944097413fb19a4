"""Shared fixtures: a toy pack made of real converters, registered in-process."""
from __future__ import annotations

import os
import sys

import pytest
import torch

import trtforge
from trtforge.conversion import blocks
from trtforge.plugins import PackManager, set_manager
from trtforge.runtime.runner import EngineRunner
from trtforge.testing import run_network

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # tests/toy_models.py
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


class ReferenceRunner(EngineRunner):
    """Runs an engine by executing, on CPU, the network it was built from (reference execution):
    what a compiled program computes, checked end to end on a machine where no engine can run."""

    def __init__(self, net) -> None:
        self.net, self.device, self._out = net, torch.device("cpu"), []

    def prepare(self, inputs):
        env = run_network(self.net.network, dict(zip(self.net.input_names, inputs)))
        self._out = [env[n] for n in self.net.output_names]
        return [tuple(t.shape) for t in self._out]

    def execute(self, inputs, outputs, stream):
        if outputs is None:
            return list(self._out)
        for o, t in zip(outputs, self._out):
            o.copy_(t)
        return list(outputs)


@pytest.fixture
def reference_engines(monkeypatch):
    """Engines compiled in the test run their networks on CPU: yields (observer to pass to the
    compile as ``observers=[...]``, names of the engines that ran)."""
    from trtforge.runtime import runner

    networks, ran = {}, []

    def factory(engine, md, device):
        ran.append(md.name)
        return ReferenceRunner(networks[md.name])

    monkeypatch.setattr(runner, "_runner_factory", factory)
    torch._dynamo.reset()
    yield (lambda net: networks.__setitem__(net.name, net)), ran
    torch._dynamo.reset()
