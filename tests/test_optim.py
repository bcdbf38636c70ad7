"""Optimizer updates against closed-form references (Loshchilov & Hutter, Alg. 1-2, Prop. 1-2)."""

import math

import numpy as np
import pytest
import torch
from helpers import model_config
from torch import nn

from adamw_repro.design import EMBEDDING_TENSORS, decayed_norm, decayed_params, run_hparams
from adamw_repro.schedule import lr_multiplier
from adamw_repro.training.model import build_model, lm_loss
from adamw_repro.training.optim import (
    SGDW,
    build_optimizer,
    decayed_parameters,
    l2_equals_decoupled_without_momentum,
    param_groups,
)
from adamw_repro.training.train import weight_norm

LR, WD, B1, B2, EPS = 1e-2, 0.1, 0.9, 0.95, 1e-8


def one_param(values, grad):
    p = nn.Parameter(torch.tensor(values, dtype=torch.float64).reshape(2, -1))
    p.grad = torch.tensor(grad, dtype=torch.float64).reshape(2, -1)
    return p


def adam_reference(theta, g, t=1, m=0.0, v=0.0):
    """Adam's first step written out: bias-corrected moments, then the adaptive step."""
    m = B1 * m + (1 - B1) * g
    v = B2 * v + (1 - B2) * g * g
    m_hat, v_hat = m / (1 - B1**t), v / (1 - B2**t)
    return theta - LR * m_hat / (v_hat.sqrt() + EPS)


THETA = [0.5, -2.0, 3.0, 0.1]
GRAD = [1e-3, -4.0, 0.2, 0.0]


ADAM_HP = {"lr": LR, "weight_decay": WD, "betas": (B1, B2), "eps": EPS}


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize(
    "name, expected",
    [
        ("adam_l2", lambda theta, g: adam_reference(theta, g + WD * theta)),  # L2 in the gradient
        ("adamw", lambda theta, g: adam_reference(theta, g) - LR * WD * theta),  # decoupled
        ("adam", adam_reference),  # no decay, whatever weight_decay says
    ],
)
def test_one_adam_step_matches_its_closed_form(name, expected, fused):
    """AdamW: θ ← θ − lr·wd·θ − lr·m̂/(√v̂ + ε), the decay never seen by the moments; Adam+L2:
    Adam on the gradient plus wd·θ (L&H Alg. 2 and its L2 variant)."""
    p = one_param(THETA, GRAD)
    opt = build_optimizer(name, _wrap(p), ADAM_HP, fused=fused)
    theta, g = p.detach().clone(), p.grad.clone()
    opt.step()
    torch.testing.assert_close(p.detach(), expected(theta, g), rtol=1e-12, atol=1e-12)


def test_adam_l2_and_adamw_differ_in_how_decay_scales_with_gradient_history():
    """Prop. 2: under Adam+L2 the decay of a weight is divided by its gradient RMS, so weights
    with large gradients are decayed less; AdamW decays every weight by the same factor."""
    theta, grad = [1.0, 1.0, 1.0, 1.0], [1e-4, 1e-4, 10.0, 10.0]
    shrink = {}
    for name in ("adam_l2", "adamw", "adam"):
        p = one_param(theta, grad)
        opt = build_optimizer(name, _wrap(p), ADAM_HP)
        opt.step()
        shrink[name] = p.detach().flatten()
    decay_l2 = shrink["adam"] - shrink["adam_l2"]  # displacement caused by the decay alone
    decay_w = shrink["adam"] - shrink["adamw"]
    torch.testing.assert_close(decay_w, torch.full_like(decay_w, LR * WD), rtol=1e-9, atol=0)
    assert decay_l2[0] > 100 * decay_l2[2]  # small-gradient weights absorb almost all L2 decay


def test_sgdw_step_is_decoupled_formula():
    p = one_param(THETA, GRAD)
    theta, g = p.detach().clone(), p.grad.clone()
    opt = build_optimizer("sgdw", _wrap(p), {"lr": LR, "weight_decay": WD, "momentum": 0.9})
    opt.step()
    # first step: momentum buffer = g; theta <- theta*(1 - lr*wd) - lr*g
    torch.testing.assert_close(p.detach(), theta * (1 - LR * WD) - LR * g, rtol=1e-12, atol=1e-12)
    p.grad = g.clone()
    theta1 = p.detach().clone()
    opt.step()  # second step: buffer = 0.9*g + g; decay acts on theta_1, outside the buffer
    torch.testing.assert_close(
        p.detach(), theta1 * (1 - LR * WD) - LR * 1.9 * g, rtol=1e-12, atol=1e-12
    )


def test_sgd_l2_and_sgdw_coincide_without_momentum():
    """Prop. 1: for plain SGD, L2 with lambda' and decoupled decay with lambda coincide; in torch
    units (decoupled decay multiplied by lr) lambda' = lambda."""
    trajectories = {}
    for name in ("sgd_l2", "sgdw"):
        torch.manual_seed(0)
        model = build_model(model_config(64, n_layer=1, n_head=2, n_embd=16, block_size=8))
        model.double()
        opt = build_optimizer(name, model, {"lr": 0.1, "weight_decay": 0.05, "momentum": 0.0})
        gen = torch.Generator().manual_seed(1)
        for _ in range(5):
            x = torch.randint(0, 64, (2, 8), generator=gen)
            lm_loss(model, x, x, 64).backward()
            opt.step()
            opt.zero_grad()
        trajectories[name] = torch.cat([p.detach().flatten() for p in model.parameters()])
    torch.testing.assert_close(trajectories["sgd_l2"], trajectories["sgdw"], rtol=1e-10, atol=1e-12)


def test_prop1_check_of_the_ledger_is_exact_without_momentum_and_not_with_it():
    """LH4's exact part: the float64 least-squares problem trained with SGD+L2 and SGDW agrees
    to rounding without momentum; with momentum the two differ at equal wd (the ledger's
    empirical part then compares wd against wd/(1 − β))."""
    assert l2_equals_decoupled_without_momentum() < 1e-12
    a, b = (nn.Parameter(torch.ones(1, 3, dtype=torch.float64)) for _ in range(2))
    for p, name in ((a, "sgd_l2"), (b, "sgdw")):
        opt = build_optimizer(name, _wrap(p), {"lr": 0.1, "weight_decay": 0.5, "momentum": 0.9})
        for _ in range(10):
            p.grad = torch.full_like(p, 0.3)
            opt.step()
    assert (a - b).abs().max() > 1e-3


@pytest.mark.parametrize("fused", [False, True])
def test_adamw_independent_decays_by_the_schedule_only(fused):
    """L&H Alg. 2 as written: θ ← θ − η·λ·θ − η·α·m̂/(√v̂ + ε) with the schedule multiplier η,
    the decay not multiplied by the learning rate α (here η = 0.5: the loop sets lr = α·η)."""
    lam, eta = 0.02, 0.5
    p = one_param(THETA, GRAD)
    hp = {**ADAM_HP, "weight_decay": lam}
    opt = build_optimizer("adamw_independent", _wrap(p), hp, fused=fused)
    for group in opt.param_groups:
        group["lr"] = LR * eta
    theta, g = p.detach().clone(), p.grad.clone()
    opt.step()
    adam_step = adam_reference(theta, g) - theta  # −α·m̂/(√v̂ + ε) at lr α
    expected = theta + eta * adam_step - eta * lam * theta
    torch.testing.assert_close(p.detach(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fused", [False, True])
def test_zero_weight_decay_gives_bit_identical_adam_trajectories(fused):
    params = {}
    for name in ("adam", "adam_l2", "adamw"):
        torch.manual_seed(0)
        model = build_model(model_config(64, n_layer=1, n_head=2, n_embd=16, block_size=8))
        initial = torch.cat([p.detach().flatten() for p in model.parameters()])
        opt = build_optimizer(name, model, run_hparams(name, 1e-2, 0.0), fused=fused)
        gen = torch.Generator().manual_seed(1)
        for _ in range(5):
            x = torch.randint(0, 64, (2, 8), generator=gen)
            lm_loss(model, x, x, 64).backward()
            opt.step()
            opt.zero_grad()
        params[name] = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert torch.equal(params["adam"], params["adam_l2"])
    assert torch.equal(params["adam"], params["adamw"])
    assert not torch.equal(params["adam"], initial)  # the trajectories did move


@pytest.mark.parametrize("decay_embeddings", [True, False])
def test_decay_groups_exclude_biases_and_layernorm(decay_embeddings):
    model = build_model(model_config(64, n_layer=2, n_head=2, n_embd=16, block_size=8))
    decay, no_decay = param_groups(model, 0.1, decay_embeddings)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    kept = {names[id(p)] for p in no_decay["params"]}
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(n.endswith("weight") and ".ln_" not in n and "ln_f" not in n for n in decayed)
    assert {n for n in kept if n.endswith(".bias")} == {
        n for n, _ in model.named_parameters() if n.endswith(".bias")
    }
    assert {n for n in names.values() if ".ln_" in n or "ln_f" in n} <= kept
    embeddings = {"transformer.wte.weight", "transformer.wpe.weight"}
    assert (embeddings <= decayed) is decay_embeddings
    assert (embeddings <= kept) is (not decay_embeddings)
    assert len(decayed) + len(kept) == len(list(model.parameters()))  # tied lm_head counted once
    assert (
        "transformer.h.0.attn.c_attn.weight" in decayed
        and "transformer.h.1.mlp.c_proj.weight" in decayed
    )


@pytest.mark.parametrize("decay_embeddings", [True, False])
def test_the_decayed_norm_is_over_exactly_the_tensors_that_decay(decay_embeddings):
    """Study v4's "weight-matrix norm" counted the undecayed tied and position embeddings, so
    the decayed blocks' 43 -> 3 read as 74 -> 57: the norm is over the decay group only."""
    model = build_model(model_config(64, n_layer=1, n_head=2, n_embd=16, block_size=8))
    decayed = decayed_parameters(model, decay_embeddings)
    assert [id(p) for p in decayed] == [
        id(p) for p in param_groups(model, 0.1, decay_embeddings)[0]["params"]
    ]
    names = {id(p): n for n, p in model.named_parameters()}
    by_hand = math.sqrt(sum(p.detach().norm().item() ** 2 for p in model.parameters()
                            if p.dim() >= 2 and (decay_embeddings or "wte" not in names[id(p)]
                                                 and "wpe" not in names[id(p)])))  # fmt: skip
    assert weight_norm(decayed).item() == pytest.approx(by_hand, rel=1e-6)


@pytest.mark.parametrize("decay_embeddings", [True, False])
def test_the_tables_norm_is_over_the_study_decayed_tensors_for_runs_with_and_without_decay(
    decay_embeddings,
):
    """A run without decay leaves the embedding flag off (make_run), so its own decay group has
    no embeddings: in study v5's first draw its curve read 13.0 (blocks) against AdamW's 27.0
    (blocks and embeddings), "decay doubles the norm", where over the same tensors Adam's is
    34.8. The tables take every run's norm over the study's set from its per-tensor norms."""
    model = build_model(model_config(64, n_layer=1, n_head=2, n_embd=16, block_size=8))
    tables = {f"{n}.weight" for n, m in model.named_modules() if isinstance(m, nn.Embedding)}
    assert tables == set(EMBEDDING_TENSORS)
    with torch.no_grad():
        model.transformer.wte.weight.mul_(10.0)  # the embedding dominates, as after training
    per_tensor = {n: p.detach().norm().item() for n, p in model.named_parameters() if p.dim() >= 2}
    study = decayed_norm(per_tensor, decay_embeddings)
    assert study == pytest.approx(weight_norm(decayed_parameters(model, decay_embeddings)).item())
    blocks = weight_norm(decayed_parameters(model, False)).item()
    assert (study > 2 * blocks) is decay_embeddings


def test_adam_without_decay_ignores_a_configured_weight_decay():
    model = build_model(model_config(64, n_layer=1, n_head=2, n_embd=16, block_size=8))
    for name in ("adam", "sgd"):
        opt = build_optimizer(name, model, {**run_hparams(name, 1e-3), "weight_decay": 0.5})
        assert all(g["weight_decay"] == 0.0 for g in opt.param_groups)


def test_adam_l2_uses_coupled_decay_in_torch():
    model = build_model(model_config(64, n_layer=1, n_head=2, n_embd=16, block_size=8))
    opt = build_optimizer("adam_l2", model, run_hparams("adam_l2", 1e-3, 0.5))
    assert type(opt) is torch.optim.Adam
    assert all(g["decoupled_weight_decay"] is False for g in opt.param_groups)
    assert isinstance(build_optimizer("sgdw", model, run_hparams("sgdw", 1e-3, 0.5)), SGDW)


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match="unknown optimizer 'adamx'"):
        build_optimizer("adamx", nn.Linear(2, 2), {"lr": 1.0})


def test_schedule_warmup_then_cosine_to_floor():
    total, warm = 100, 10
    m = [lr_multiplier(s, total, warm, "cosine", 0.1) for s in range(total)]
    assert m[0] == pytest.approx(0.1) and m[9] == pytest.approx(1.0)
    assert all(a < b for a, b in zip(m[:10], m[1:10], strict=False))
    assert m[10] == pytest.approx(1.0)
    assert m[-1] == pytest.approx(0.1)
    mid = warm + (total - 1 - warm) / 2
    assert lr_multiplier(int(mid), total, warm, "cosine", 0.1) == pytest.approx(
        0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (int(mid) - warm) / (total - 1 - warm)))
    )
    assert all(b <= a for a, b in zip(m[10:], m[11:], strict=False))
    assert [lr_multiplier(s, total, warm, "constant", 0.1) for s in range(warm, total)] == [1.0] * (
        total - warm
    )


def test_linear_and_warmup_stable_decay_schedules_end_at_the_floor():
    total, warm = 100, 10
    lin = [lr_multiplier(s, total, warm, "linear", 0.0) for s in range(total)]
    assert lin[10] == pytest.approx(1.0) and lin[-1] == pytest.approx(0.0)
    # a straight line: equal steps down after warmup
    assert np.allclose(np.diff(lin[10:]), -1 / (total - 1 - warm))
    wsd = [lr_multiplier(s, total, warm, "wsd", 0.1) for s in range(total)]
    assert wsd[10:80] == [1.0] * 70  # stable until the last 20 % of the steps
    assert wsd[-1] == pytest.approx(0.1)
    assert np.allclose(np.diff(wsd[80:]), -0.9 / 19)


def _wrap(p):
    """A module holding one 2-D parameter, which therefore lands in the decay group."""
    m = nn.Module()
    m.w = p
    return m


@pytest.mark.parametrize("decay_embeddings", [False, True])
@pytest.mark.parametrize(("n_layer", "n_embd"), [(1, 16), (2, 24)])
def test_the_decayed_parameter_count_from_the_shape_is_what_the_optimizer_decays(
    decay_embeddings, n_layer, n_embd
):
    """design.decayed_params (the ladder's decayed share, counted without torch) equals the
    size of the tensors the optimizer's decay group holds."""
    shape = dict(n_layer=n_layer, n_head=2, n_embd=n_embd, block_size=8)
    model = build_model(model_config(64, **shape))
    counted = sum(p.numel() for p in decayed_parameters(model, decay_embeddings))
    assert decayed_params(shape, 64, decay_embeddings) == counted
