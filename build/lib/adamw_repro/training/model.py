"""GPT-2 replicas built from scratch with ``transformers``: no pretrained weights, no hub."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from transformers import GPT2Config, GPT2LMHeadModel
from transformers.utils import logging as hf_logging

hf_logging.set_verbosity_error()  # no hub-related chatter in run logs


@dataclass(frozen=True)
class ModelConfig:
    """The ``model`` config section plus the tokenizer's vocabulary; every default lives in the
    config schema (adamw_repro/schemas/config.schema.yaml)."""

    vocab_size: int  # tokenizer vocabulary; embeddings are padded beyond it
    n_layer: int
    n_head: int
    n_embd: int
    block_size: int  # context length T
    dropout: float  # GPT-2 used 0.1; pretraining-style runs (nanoGPT) use 0
    vocab_multiple: int  # pad rows to a multiple of this: 50257 -> 50304 for GPT-2 (nanoGPT)

    @property
    def padded_vocab_size(self) -> int:
        m = self.vocab_multiple
        return (self.vocab_size + m - 1) // m * m

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__})

    def to_dict(self) -> dict:
        return asdict(self)


def build_model(
    cfg: ModelConfig, attention: str = "sdpa", activation: str = "gelu_pytorch_tanh"
) -> GPT2LMHeadModel:
    """A randomly initialised GPT-2 (HF init: N(0, 0.02), residual projections scaled by
    1/sqrt(2·n_layer)) with tied input/output embeddings. Seed torch before calling.
    ``attention``: "sdpa" (fused scaled-dot-product kernel) or "eager" (for comparison).
    ``activation``: GPT-2's tanh-approximated GELU as one kernel; transformers' default for GPT-2,
    "gelu_new", computes the same formula in about eight elementwise ops (docs/performance.md)."""
    hf = GPT2Config(
        vocab_size=cfg.padded_vocab_size,
        n_positions=cfg.block_size,
        n_embd=cfg.n_embd,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        resid_pdrop=cfg.dropout,
        embd_pdrop=cfg.dropout,
        attn_pdrop=cfg.dropout,
        bos_token_id=None,
        eos_token_id=None,
        use_cache=False,
        tie_word_embeddings=True,
        activation_function=activation,
    )
    hf._attn_implementation = attention
    return GPT2LMHeadModel(hf)


def lm_logits(model: GPT2LMHeadModel, x: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """Logits over the real vocabulary only: padded rows never enter the softmax, so padding
    changes speed, not the loss."""
    return model(input_ids=x).logits[..., :vocab_size]


def lm_loss(model: GPT2LMHeadModel, x: torch.Tensor, y: torch.Tensor, vocab_size: int):
    """Mean next-token cross-entropy (nats) of targets ``y`` given inputs ``x`` (both B×T)."""
    logits = lm_logits(model, x, vocab_size)
    return F.cross_entropy(logits.float().flatten(0, 1), y.flatten())


def count_params(model: torch.nn.Module, non_embedding: bool = True) -> int:
    """Parameter count; like nanoGPT, position embeddings are excluded from the non-embedding
    count (token embeddings stay in: they are tied to the output layer and do matmul work)."""
    n = sum(p.numel() for p in model.parameters())
    if non_embedding:
        n -= model.transformer.wpe.weight.numel()
    return n
