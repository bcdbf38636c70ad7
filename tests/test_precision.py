"""train.precision: auto picks bf16 only where this machine runs it natively; the choice is
recorded per run, kept on resume, and stated in the paper. The hardware is faked: the decision
gets the probe's inputs, the probe gets fake matmul times."""

import json

import pytest
from helpers import data_paths, make_spec

from adamw_repro.report.paper import precision_counts
from adamw_repro.training import runtime
from adamw_repro.training.runtime import BF16_MIN_SPEEDUP, choose_precision
from adamw_repro.training.train import train_run

# bf16 over fp32 matmul speed measured on the kinds of CPU seen so far (docs/performance.md)
AVX2, AVX512_WITHOUT_BF16, AVX512_BF16 = 0.011, 0.23, 4.2


@pytest.mark.parametrize(
    ("speedup", "expected"),
    [(AVX2, "fp32"), (AVX512_WITHOUT_BF16, "fp32"), (AVX512_BF16, "bf16"),
     (BF16_MIN_SPEEDUP * 0.99, "fp32"), (BF16_MIN_SPEEDUP, "bf16")],
)  # fmt: skip
def test_auto_on_a_cpu_takes_bf16_only_where_it_is_measured_clearly_faster(speedup, expected):
    p = choose_precision("auto", "cpu", bf16_speedup=speedup)
    assert p.name == expected and p.warning is None
    assert p.reason.startswith(f"auto -> {expected}: bf16 matmul {speedup:.2g}x")
    assert ("no native bf16" in p.reason) == (expected == "fp32")


@pytest.mark.parametrize(("supported", "expected"), [(True, "bf16"), (False, "fp32")])
def test_auto_on_a_gpu_follows_its_bf16_support(supported, expected):
    p = choose_precision("auto", "cuda", cuda_bf16=supported)
    assert p.name == expected and p.reason.startswith(f"auto -> {expected}: the GPU")


def test_explicit_bf16_on_an_emulating_cpu_is_kept_with_one_warning_naming_slowdown_and_fix():
    p = choose_precision("bf16", "cpu", bf16_speedup=AVX2)
    assert p.name == "bf16"
    assert p.warning.count("\n") == 0
    assert "91x slower than fp32" in p.warning  # 1 / 0.011, the measured slowdown
    assert "train.precision: auto" in p.warning
    assert choose_precision("bf16", "cpu", bf16_speedup=AVX512_BF16).warning is None
    assert choose_precision("bf16", "cuda", cuda_bf16=False).warning.startswith("warning: ")


def test_explicit_fp32_needs_no_probe():
    assert choose_precision("fp32", "cpu") == runtime.Precision("fp32", "fp32, as configured")


def test_probe_measures_once_per_machine_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("ADAMW_REPRO_CACHE", str(tmp_path))
    calls = []

    def fake_seconds(dtype, budget_s=0.15):
        calls.append(dtype)
        return 1.0 if dtype == runtime.torch.float32 else 50.0  # bf16 50x slower: emulated

    monkeypatch.setattr(runtime, "_matmul_seconds", fake_seconds)
    assert runtime.cpu_bf16_speedup() == 0.02
    assert runtime.resolve_precision("auto", "cpu").name == "fp32"
    assert len(calls) == 2  # one fp32 and one bf16 measurement, then the cache answers
    facts = json.loads((tmp_path / "machine.json").read_text())
    assert list(facts.values()) == [0.02]
    monkeypatch.setenv("ATEN_CPU_CAPABILITY", "avx2")  # another kernel level: another machine
    runtime.cpu_bf16_speedup()
    assert len(calls) == 4


def _fake_cpu(monkeypatch, speedup):
    monkeypatch.setattr(runtime, "cpu_bf16_speedup", lambda: speedup)


@pytest.mark.parametrize(("speedup", "expected"), [(AVX2, "fp32"), (AVX512_BF16, "bf16")])
def test_a_run_records_the_precision_auto_resolved_to(
    token_files, tmp_path, monkeypatch, speedup, expected
):
    _fake_cpu(monkeypatch, speedup)
    spec = make_spec(precision="auto", tokens=4 * 16 * 10)
    s = train_run(spec, data_paths(token_files), token_files["meta"], str(tmp_path),
                  str(tmp_path / "ckpt.pt"))  # fmt: skip
    assert s["config"]["train"]["precision"] == "auto"  # the spec (the run's identity) says auto
    assert s["precision"] == expected
    assert s["provenance"]["hardware"]["precision"].startswith(f"auto -> {expected}")
    assert s["provenance"]["hardware"]["cpu_capability"]


def test_explicit_bf16_on_an_emulating_cpu_warns_once_at_the_start(
    token_files, tmp_path, monkeypatch, capsys
):
    _fake_cpu(monkeypatch, AVX2)
    spec = make_spec(precision="bf16", tokens=4 * 16 * 10)
    s = train_run(spec, data_paths(token_files), token_files["meta"], str(tmp_path),
                  str(tmp_path / "ckpt.pt"))  # fmt: skip
    err = capsys.readouterr().err
    assert s["precision"] == "bf16" and err.count("warning: ") == 1 and "91x slower" in err


def test_a_resumed_run_keeps_the_precision_it_started_in(token_files, tmp_path, monkeypatch):
    """A checkpoint written in bf16, resumed on a machine where auto means fp32: the run ends
    in bf16, bit-identical to an uninterrupted bf16 run."""
    from adamw_repro.training import train

    spec = make_spec(precision="auto", tokens=4 * 16 * 20)  # a checkpoint every 10 steps
    paths, meta = data_paths(token_files), token_files["meta"]
    _fake_cpu(monkeypatch, AVX512_BF16)
    whole = train_run(spec, paths, meta, str(tmp_path / "whole"), str(tmp_path / "whole.pt"))
    real_save = train.save_checkpoint

    def save_then_die(*args):
        real_save(*args)
        raise KeyboardInterrupt  # killed right after its step-10 checkpoint

    monkeypatch.setattr(train, "save_checkpoint", save_then_die)
    ckpt = str(tmp_path / "killed.pt")
    with pytest.raises(KeyboardInterrupt):
        train_run(spec, paths, meta, str(tmp_path / "resumed"), ckpt)
    monkeypatch.setattr(train, "save_checkpoint", real_save)
    _fake_cpu(monkeypatch, AVX2)  # the results folder moved to a CPU without native bf16
    resumed = train_run(spec, paths, meta, str(tmp_path / "resumed"), ckpt)
    assert resumed["resumed_from_steps"] == [10]
    assert resumed["precision"] == whole["precision"] == "bf16"
    assert resumed["final_val_loss"] == whole["final_val_loss"]


def test_the_paper_counts_runs_per_precision():
    import pandas as pd

    timing = pd.DataFrame({"precision": ["fp32", "bf16", "fp32"]})
    assert precision_counts(timing) == [
        {"precision": "fp32", "runs": 2},
        {"precision": "bf16", "runs": 1},
    ]
