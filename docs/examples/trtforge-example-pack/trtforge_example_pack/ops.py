# file: trtforge_example_pack/ops.py
"""The custom op. In your project it lives in your own code; models import it from there."""
import torch


@torch.library.custom_op("example::scaled_softsign", mutates_args=())
def scaled_softsign(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """``scale * x / (1 + |x|)``: PyTorch runs this; the pack gives TensorRT the same math."""
    return scale * x / (1 + x.abs())


@scaled_softsign.register_fake
def _(x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    # torch.export traces with fake tensors: say only what the output looks like.
    return torch.empty_like(x)
