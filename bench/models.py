"""The benchmark models, built without downloads: torchvision classifiers (weights=None) and two
transformers models from a config (random init): a BERT-base-sized encoder and a 4-layer
LLaMA-style decoder at hidden size 768. ``get(name)`` returns ``(model in eval mode, example inputs)``."""
from __future__ import annotations

import torch

VISION = ["resnet50", "mobilenet_v3_large", "vit_b_16", "swin_t", "efficientnet_b0"]
TEXT = ["bert_base", "llama_768x4"]
ALL = VISION + TEXT
SEQUENCE = 128  # tokens, batch 1


class FirstOutput(torch.nn.Module):
    """A transformers model called with ``input_ids`` only, returning its first output as a tensor
    (last hidden state for BERT, logits for LLaMA): the same program for every route."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=input_ids, use_cache=False, return_dict=False)[0] \
            if hasattr(self.model.config, "num_key_value_heads") else \
            self.model(input_ids=input_ids, return_dict=False)[0]


def _text(name: str) -> torch.nn.Module:
    import transformers

    if name == "bert_base":  # bert-base-uncased's sizes: 12 layers, hidden 768, 12 heads, 110M parameters
        cfg = transformers.BertConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                                      intermediate_size=3072)
        return transformers.BertModel(cfg)
    # LLaMA-style: RMSNorm, rotary embeddings, grouped-query attention (12 query / 4 key-value heads), SwiGLU
    cfg = transformers.LlamaConfig(hidden_size=768, num_hidden_layers=4, num_attention_heads=12, num_key_value_heads=4,
                                   intermediate_size=2048, vocab_size=32000, max_position_embeddings=512)
    return transformers.LlamaForCausalLM(cfg)


def get(name: str, seed: int = 0) -> tuple[torch.nn.Module, list[torch.Tensor]]:
    torch.manual_seed(seed)
    if name in TEXT:
        ids = torch.randint(0, 1000, (1, SEQUENCE), generator=torch.Generator().manual_seed(seed))
        return FirstOutput(_text(name)).eval(), [ids]
    import torchvision

    return torchvision.models.get_model(name, weights=None).eval(), [torch.randn(1, 3, 224, 224)]


def weights_mb(model: torch.nn.Module) -> float:
    return sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 2**20
