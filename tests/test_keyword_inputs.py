"""Inputs as transformer users give them: kwarg_inputs (compile and save), integer inputs and
their value ranges for validation."""
from __future__ import annotations

import pytest
import torch

import trtforge


class Tagger(torch.nn.Module):
    """Token ids by position, a mask and a scale by keyword; a 5-word vocabulary."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(5, 8)

    def forward(self, input_ids, attention_mask=None, scale=None):
        h = self.embed(input_ids) * attention_mask[..., None]
        return torch.relu(h * scale.mean() + 1).sum(-1)


def ids(vocab=5):
    return trtforge.Input(min_shape=(1, 2), opt_shape=(2, 5), max_shape=(4, 9), dtype=torch.int64,
                          value_range=(0, vocab), dim_names={0: "batch", 1: "seq"})


def mask():
    return trtforge.Input(min_shape=(1, 2), opt_shape=(2, 5), max_shape=(4, 9), dtype=torch.int64,
                          value_range=(0, 2), dim_names={0: "batch", 1: "seq"})


def test_kwarg_inputs_dynamic_validated_and_named_like_the_model():
    out = trtforge.compile(Tagger(), arg_inputs=[ids()], kwarg_inputs={"scale": torch.ones(3), "attention_mask": mask()},
                           validate=True, min_block_size=1)
    report = out.trtforge_report
    assert not report.fallback and len(report.engines) == 1
    assert report.engines[0].validation["shape_sets"] == 3
    assert [n.name for n in out.graph.nodes if n.op == "placeholder"] == ["input_ids", "scale", "attention_mask"]


def test_kwarg_inputs_static_examples_and_save(tmp_path):
    examples = {"attention_mask": torch.tensor([[1, 1, 0]]), "scale": torch.ones(2)}
    out = trtforge.compile(Tagger(), [torch.tensor([[4, 0, 3]])], kwarg_inputs=examples, validate=True, min_block_size=1)
    assert not out.trtforge_report.fallback
    dyn = trtforge.compile(Tagger(), arg_inputs=[ids()], kwarg_inputs={"attention_mask": mask(), "scale": torch.ones(3)},
                           min_block_size=1)
    trtforge.save(dyn, tmp_path / "tagger.pt2", arg_inputs=[ids()],
                  kwarg_inputs={"attention_mask": mask(), "scale": torch.ones(3)})
    loaded = trtforge.load(tmp_path / "tagger.pt2")
    shapes = {n.name: n.meta["val"].shape for n in loaded.graph.nodes if n.op == "placeholder"}
    assert shapes["input_ids"] == shapes["attention_mask"] and not isinstance(shapes["input_ids"][0], int)


def test_value_range_is_what_validation_draws_from():
    # (0, 10), the default, holds ids the 5-word vocabulary rejects; value_range says which are valid
    assert int(ids(vocab=5).example("max", generator=torch.Generator().manual_seed(0)).max()) < 5
    with pytest.raises(trtforge.errors.ValidationError, match=r"index out of range.*value_range=\(low, high\)"):
        wide = trtforge.Input(shape=(2, 50), dtype=torch.int64)
        trtforge.compile(Tagger(), [wide], kwarg_inputs={"attention_mask": torch.ones(2, 50, dtype=torch.int64),
                                                         "scale": torch.ones(1)}, validate=True, min_block_size=1)


def test_input_errors_name_the_fix():
    with pytest.raises(ValueError, match="value_range is for integer inputs"):
        trtforge.Input(shape=(2,), value_range=(0, 3))
    with pytest.raises(ValueError, match="empty"):
        trtforge.Input(shape=(2,), dtype=torch.int64, value_range=(3, 3))
    with pytest.raises(TypeError, match="not both"):
        trtforge.compile(Tagger(), [torch.zeros(1, 2, dtype=torch.int64)], arg_inputs=[torch.zeros(1, 2, dtype=torch.int64)])
    with pytest.raises(TypeError, match=r"kwarg_inputs\['scale'\] is a list"):
        trtforge.compile(Tagger(), [torch.zeros(1, 2, dtype=torch.int64)], kwarg_inputs={"scale": [1.0]})
