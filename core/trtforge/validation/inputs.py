"""Inputs of validation runs: when PyTorch rejects the random ones, say how to give valid ones."""
from __future__ import annotations

from typing import Any, Sequence

import torch

from ..errors import ValidationError
from ..settings import Input


def with_input_hint(run: Any, specs: Sequence[Input], examples: Sequence[torch.Tensor | None]) -> Any:
    """``run()``; when PyTorch rejects the random integer validation inputs, say how to give valid ones."""
    try:
        return run()
    except (IndexError, RuntimeError) as exc:
        drawn = [s.name or f"input {i}" for i, (s, e) in enumerate(zip(specs, examples))
                 if e is None and not s.dtype.is_floating_point and s.dtype != torch.bool and s.value_range is None]
        if not drawn:
            raise
        raise ValidationError(
            f"validate=True: the model failed in PyTorch on random validation inputs ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0]}); integer input(s) {drawn} were drawn from [0, 10). Give their valid "
            "values with trtforge.Input(..., value_range=(low, high)), e.g. (0, vocab_size) for token ids, "
            "or pass example tensors") from exc
