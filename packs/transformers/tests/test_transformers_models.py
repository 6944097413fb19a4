"""Small random-init Hugging Face models (2 layers, hidden size 64, built from their configs; no
downloads): each compiles to one engine with nothing left to PyTorch, validated by reference
execution (rel_err <= 1e-3) with static shapes and with a dynamic batch and sequence length
(min, opt and max).

Every parameter is perturbed from its initial value first: untouched, layer norms are exactly
1 and 0 and many biases 0, which would hide a converter that drops a weight or a bias.
"""
from __future__ import annotations

import pytest
import torch

import trtforge
from trtforge.testing import check_converts

T = pytest.importorskip("transformers", reason="whole-model tests need transformers")
VOCAB = 100
SMALL = dict(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)


def perturbed(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return model.eval()


class TextModel(torch.nn.Module):
    """``model(input_ids, attention_mask=...)[0]``: the hidden states (encoders) or logits (decoders)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        extra = {"use_cache": False} if "use_cache" in self.model.forward.__code__.co_varnames else {}
        return self.model(input_ids, attention_mask=attention_mask, **extra)[0]


BUILDERS = {
    "bert": lambda: T.BertModel(T.BertConfig(**SMALL, max_position_embeddings=64)),
    "llama_gqa": lambda: T.LlamaForCausalLM(T.LlamaConfig(**SMALL, num_key_value_heads=2, max_position_embeddings=64)),
    "qwen2_mqa": lambda: T.Qwen2ForCausalLM(T.Qwen2Config(**SMALL, num_key_value_heads=1, max_position_embeddings=64)),
    "mistral_sliding_window": lambda: T.MistralForCausalLM(T.MistralConfig(**SMALL, num_key_value_heads=2,
                                                                           max_position_embeddings=64, sliding_window=4)),
    "t5_encoder": lambda: T.T5EncoderModel(T.T5Config(vocab_size=VOCAB, d_model=64, d_kv=16, d_ff=128, num_layers=2,
                                                      num_heads=4)),
    "clip_text": lambda: T.CLIPTextModel(T.CLIPTextConfig(**SMALL, max_position_embeddings=32, bos_token_id=1,
                                                          eos_token_id=2, pad_token_id=0)),
    "siglip_text": lambda: T.SiglipTextModel(T.SiglipTextConfig(**SMALL, max_position_embeddings=32)),
}


#: shortest sequence per model where not 2: transformers' sliding-window mask code makes torch.export
#: guard ``length != 3`` for a window of 4, so the range starts above it
MIN_LENGTH = {"mistral_sliding_window": 4}


def text_inputs(dynamic: bool, min_length: int = 2):
    """Token ids and a padding mask (zeros included): static examples, or dynamic batch 1:2:4 and length
    ``min_length``:8:16."""
    if not dynamic:
        g = torch.Generator().manual_seed(1)
        mask = torch.ones(2, 8, dtype=torch.int64)
        mask[1, 5:] = 0
        return [torch.randint(0, VOCAB, (2, 8), generator=g)], {"attention_mask": mask}

    def spec(high):
        return trtforge.Input(min_shape=(1, min_length), opt_shape=(2, 8), max_shape=(4, 16), dtype=torch.int64,
                              value_range=(0, high), dim_names={0: "batch", 1: "sequence"})

    return [spec(VOCAB)], {"attention_mask": spec(2)}


def check_one_engine(model, args, kwargs):
    converted = check_converts(model, args, kwarg_inputs=kwargs, min_block_size=5)
    report = converted.report
    assert len(report.engines) == 1 and not report.fallback, report.fallback
    (engine,) = report.engines
    assert engine.validation["rel_err"] <= 1e-3
    return engine


FAST = {("llama_gqa", True)}  # the representative CI runs on every change (docs/transformers.md compiles BERT)


CASES = [pytest.param(name, dynamic, id=f"{name}-{'dynamic' if dynamic else 'static'}",
                      marks=() if (name, dynamic) in FAST else pytest.mark.slow)
         for name in BUILDERS for dynamic in (False, True)]


@pytest.mark.parametrize("name, dynamic", CASES)
def test_text_model_is_one_engine(name, dynamic):
    torch.manual_seed(0)
    args, kwargs = text_inputs(dynamic, MIN_LENGTH.get(name, 2))
    engine = check_one_engine(TextModel(perturbed(BUILDERS[name]())), args, kwargs)
    assert engine.validation["shape_sets"] == (3 if dynamic else 1)


@pytest.mark.slow
@pytest.mark.parametrize("dynamic", [False, True], ids=["static", "dynamic_batch"])
def test_whisper_encoder_is_one_engine(dynamic):
    """Whisper's encoder takes exactly 2 * max_source_positions frames (it checks): the batch is dynamic."""
    torch.manual_seed(0)
    config = T.WhisperConfig(vocab_size=VOCAB, d_model=64, encoder_layers=2, decoder_layers=2, encoder_attention_heads=4,
                             decoder_attention_heads=4, encoder_ffn_dim=128, decoder_ffn_dim=128, num_mel_bins=16,
                             max_source_positions=32, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                             decoder_start_token_id=1)
    encoder = perturbed(T.WhisperModel(config).get_encoder())

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder

        def forward(self, input_features):
            return self.encoder(input_features)[0]

    features = trtforge.Input(min_shape=(1, 16, 64), opt_shape=(2, 16, 64), max_shape=(4, 16, 64)) if dynamic \
        else torch.randn(2, 16, 64, generator=torch.Generator().manual_seed(2))
    check_one_engine(Encoder(), [], {"input_features": features})
