"""Symbolic sizes do not cross engine boundaries: each reader gets its own copy of the size
computation, so one op left to PyTorch costs only itself in a dynamic-shape model."""
from __future__ import annotations

import torch

import trtforge
from trtforge.partitioning.sizes import is_size_node, localize_sizes


class SizedChain(torch.nn.Module):
    """Reshapes before and after an op kept in PyTorch, all reading the input's batch and length."""

    def forward(self, x):
        b, s = x.shape[0], x.shape[1]
        h = torch.relu(x * 2 + 1).reshape(b, s, 2, 4).permute(0, 2, 1, 3)
        h = torch.sin(h)
        h = (h * 3 + 1).permute(0, 2, 1, 3).reshape(b, s * 8)
        return torch.relu(h).reshape(b, s, 8) + x


DYNAMIC = trtforge.Input(min_shape=(1, 2, 8), opt_shape=(2, 5, 8), max_shape=(4, 9, 8))


def test_one_op_in_pytorch_costs_only_itself_with_dynamic_shapes():
    out = trtforge.compile(SizedChain(), [DYNAMIC], torch_executed_ops={"aten::sin"}, validate=True)
    report = out.trtforge_report
    assert [f.op for f in report.fallback] == ["aten::sin.default"]
    assert len(report.engines) == 2 and all(e.validation["rel_err"] <= 1e-3 for e in report.engines)


def test_each_reader_reads_sizes_from_its_own_inputs():
    ep = torch.export.export(SizedChain(), (torch.randn(2, 5, 8),), dynamic_shapes=(
        {0: torch.export.Dim("b", min=1, max=4), 1: torch.export.Dim("s", min=2, max=9)},))
    gm = ep.module()
    assert localize_sizes(gm.graph) > 0
    for n in gm.graph.nodes:
        if is_size_node(n):
            assert len(n.users) == 1  # a private copy per reader
            (reader,) = n.users
            own = [p for p in reader.all_input_nodes if isinstance(p.meta.get("val"), torch.Tensor)
                   and n.meta["val"].node.expr in [getattr(d, "node", None) and d.node.expr for d in p.meta["val"].shape]]
            if n.target is torch.ops.aten.sym_size.int and own:
                assert n.args[0] in own  # read from a tensor the reader already has, not from afar
    gm.recompile()
    x = torch.randn(3, 7, 8)
    torch.testing.assert_close(gm(x), SizedChain()(x))
