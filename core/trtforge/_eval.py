"""``eval_mode``: run something with a model in eval mode, then give the model back exactly as it was."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch


@contextmanager
def eval_mode(model: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """Export and save trace inference programs (eval mode), but the caller's model is theirs:
    each submodule's own ``training`` flag is restored afterwards (a model may mix modes, e.g.
    frozen BatchNorm layers in a model being trained)."""
    modes = [(m, m.training) for m in model.modules()]
    try:
        try:
            model.eval()
        except NotImplementedError:
            pass  # torch.export.load(...).module(): its graph was traced once and has no modes
        yield model
    finally:
        for m, training in modes:
            m.training = training
