"""The training loop: determinism, resume after a kill, SIGTERM checkpoints, divergence."""

import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import data_paths, make_spec, without_timing

from adamw_repro.training.train import train_run


def run(spec, token_files, out, ckpt=None, threads=1):
    ckpt = ckpt or out / "ckpt.pt"
    return train_run(
        spec, data_paths(token_files), token_files["meta"], str(out), str(ckpt), threads
    )


def metrics(out: Path):
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_same_seed_gives_bit_identical_metrics(token_files, tmp_path):
    spec = make_spec()
    a = run(spec, token_files, tmp_path / "a")
    b = run(spec, token_files, tmp_path / "b")
    assert without_timing(metrics(tmp_path / "a")) == without_timing(metrics(tmp_path / "b"))
    assert a["final_val_loss"] == b["final_val_loss"]
    c = run(make_spec(seed=1), token_files, tmp_path / "c")
    assert c["final_val_loss"] != a["final_val_loss"]


def test_run_learns_and_writes_complete_outputs(token_files, tmp_path):
    s = run(make_spec(lr=1e-2, tokens=4 * 16 * 60), token_files, tmp_path)
    recs = metrics(tmp_path)
    train_recs = [r for r in recs if "train_loss" in r]
    evals = [r for r in recs if "test_loss" in r]
    assert [r["step"] for r in evals] == [0, 10, 20, 30, 40, 50, 60]  # curve, then the final
    assert [r["step"] for r in train_recs] == list(range(5, 61, 5))
    assert evals[-1]["test_loss"] < evals[0]["test_loss"] - 0.5  # it learnt something
    assert evals[0]["test_loss"] == pytest.approx(math.log(300), abs=0.3)  # near-uniform at init
    assert {"val_loss", "train_eval_loss"} <= set(evals[-1]) and "val_loss" not in evals[-2]
    for key in ("lr", "train_loss", "grad_norm", "weight_norm", "tokens_per_s"):
        assert all(isinstance(r[key], float) for r in train_recs), key
    # an evaluation run: reported on the whole test split, its curve ending on its windows
    assert s["final_test_loss"] == evals[-1]["test_whole_loss"] and not s["diverged"]
    assert s["final_curve_test_loss"] == evals[-1]["test_loss"] != s["final_test_loss"]
    assert s["final_test_acc"] == evals[-1]["test_whole_acc"]
    assert s["final_val_loss"] == evals[-1]["val_loss"] != s["final_test_loss"]
    assert s["final_train_loss"] == evals[-1]["train_eval_loss"]
    assert s["best_test_loss"] == min(r["test_loss"] for r in evals)
    assert s["final_perplexity"] == pytest.approx(math.exp(s["final_test_loss"]))
    assert s["tokens"] == 60 * 4 * 16 and s["steps"] == 60
    assert s["config"]["hparams"]["lr"] == 1e-2 and s["config_hash"]
    assert s["provenance"]["versions"]["torch"] == torch.__version__
    assert not (tmp_path / "ckpt.pt").exists()  # removed once the run is complete


def test_training_subset_is_spread_over_the_whole_split(token_files, tmp_path):
    """train.data_tokens keeps evenly spaced chunks of the split, never its first pages: the
    windows a run trains on come from its first and its last tenth alike."""
    from adamw_repro.data.shards import TokenData

    full = np.fromfile(token_files["train"], dtype=np.uint16)
    sub = TokenData(token_files["train"], 16, subset_tokens=2000, subset_chunks=10)
    assert sub.n_tokens == 2000 and len(sub.segments) == 10
    where = [_find(full, np.asarray(seg)) for seg in sub.segments]
    assert where[0] == 0 and where[-1] == len(full) - 200
    assert all(0 < b - a < len(full) / 5 for a, b in zip(where, where[1:], strict=False))


def _find(haystack, needle):
    hits = np.flatnonzero(
        np.all(np.lib.stride_tricks.sliding_window_view(haystack, len(needle)) == needle, axis=1)
    )
    return int(hits[0])


def _start(spec, token_files, out):
    return _start_job([(spec, out, out / "ckpt.pt")], token_files)


def _start_job(runs, token_files):
    """``python -m adamw_repro.training.train`` as a rule calls it, for runs of (spec, out_dir,
    ckpt)."""
    args = [sys.executable, "-m", "adamw_repro.training.train"]
    for spec, out, ckpt in runs:
        spec_file = Path(f"{ckpt}.spec.json")  # beside the checkpoint: out may not exist yet
        spec_file.parent.mkdir(parents=True, exist_ok=True)
        spec_file.write_text(json.dumps(spec))
        args += ["--spec", str(spec_file), "--out-dir", str(out), "--checkpoint", str(ckpt)]
    for split in ("train", "val", "test"):
        args += [f"--{split}-tokens", token_files[split]]
    args += ["--meta", token_files["meta"]]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for(path: Path, proc, timeout=120):
    t0 = time.time()
    while not path.exists():
        assert proc.poll() is None, "the run ended before writing a checkpoint"
        assert time.time() - t0 < timeout
        time.sleep(0.005)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_run_resumes_bit_identical(token_files, tmp_path, sig):
    """SIGKILL loses the steps since the last checkpoint; SIGTERM (scancel, preemption) writes one
    first. Either way the resumed run ends exactly where an uninterrupted one does."""
    spec = make_spec(tokens=4 * 16 * 400, checkpoint_interval=20, eval_interval=50)
    reference = run(spec, token_files, tmp_path / "reference")
    out = tmp_path / "interrupted"
    proc = _start(spec, token_files, out)
    _wait_for(out / "ckpt.pt", proc)
    proc.send_signal(sig)
    log, _ = proc.communicate(timeout=60)
    assert proc.returncode == (-9 if sig == signal.SIGKILL else 143), log
    assert not (out / "summary.json").exists()
    if sig == signal.SIGTERM:
        assert "SIGTERM: checkpoint written at step" in log
    resumed = run(spec, token_files, out)
    assert resumed["resumed_from_steps"] and 0 < resumed["resumed_from_steps"][0] < 400
    assert without_timing(metrics(out)) == without_timing(metrics(tmp_path / "reference"))
    assert resumed["final_val_loss"] == reference["final_val_loss"]


def test_killed_job_of_several_runs_keeps_the_finished_ones(token_files, tmp_path):
    """A job training runs one after another: its outputs appear only when all are done (a
    failed job's outputs are deleted by Snakemake), yet a kill during the second run loses
    neither the first run nor the second one's steps before its last checkpoint."""
    specs = [make_spec(seed=0), make_spec(seed=1, tokens=4 * 16 * 400, checkpoint_interval=20)]
    refs = [run(spec, token_files, tmp_path / f"ref{k}") for k, spec in enumerate(specs)]
    runs = [(spec, tmp_path / f"out{k}", tmp_path / f"ckpt{k}.pt") for k, spec in enumerate(specs)]
    proc = _start_job(runs, token_files)
    _wait_for(tmp_path / "ckpt1.pt", proc)
    proc.kill()
    proc.communicate(timeout=60)
    assert not any(out.exists() for _, out, _ in runs)  # nothing half-written
    proc = _start_job(runs, token_files)
    log, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, log
    assert "finished before this job was interrupted; kept" in log
    for k, (_, out, ckpt) in enumerate(runs):
        summary = json.loads((out / "summary.json").read_text())
        assert summary["final_val_loss"] == refs[k]["final_val_loss"]
        assert without_timing(metrics(out)) == without_timing(metrics(tmp_path / f"ref{k}"))
        assert not ckpt.with_suffix(".finished").exists()
    assert json.loads((tmp_path / "out0/summary.json").read_text())["resumed_from_steps"] == []
    assert json.loads((tmp_path / "out1/summary.json").read_text())["resumed_from_steps"]


@pytest.mark.parametrize("when", ["curve", "final"])
def test_sigterm_during_an_evaluation_stops_the_job_cleanly(
    token_files, tmp_path, monkeypatch, when
):
    """A SIGTERM that arrives while a run evaluates: during a curve evaluation the run
    checkpoints after its next step and exits; during its final evaluation the run finishes (it
    is kept) and the job exits before the next run. Before, the second case was forgotten: the
    next run installed a fresh SIGTERM flag and the job trained on until SIGKILL."""
    from adamw_repro.training import checkpoint, train

    monkeypatch.setattr(checkpoint, "_PREEMPTION", None)  # a flag of this test's own
    specs = [make_spec(seed=0, eval_interval=10), make_spec(seed=1, eval_interval=10)]
    refs = [run(spec, token_files, tmp_path / f"ref{k}") for k, spec in enumerate(specs)]
    real, sent = train.Setup.evaluation, []

    def evaluation(self, step, splits, final=False):
        target = final if when == "final" else (not final and step == 10)
        if target and not sent:  # once, in the first run, as SLURM's would arrive
            sent.append(step)
            signal.raise_signal(signal.SIGTERM)
        return real(self, step, splits, final)

    monkeypatch.setattr(train.Setup, "evaluation", evaluation)
    runs = [(spec, str(tmp_path / f"out{k}"), str(tmp_path / f"ckpt{k}.pt"), None)
            for k, spec in enumerate(specs)]  # fmt: skip
    with pytest.raises(SystemExit) as e:
        train.train_runs(runs, data_paths(token_files), token_files["meta"])
    assert e.value.code == 143
    first = Path(tmp_path / "ckpt0.finished/summary.json")
    if when == "final":  # the first run is complete and kept, the second never started
        assert first.exists() and not Path(tmp_path / "ckpt1.pt").exists()
    else:  # checkpointed just after the evaluation's step
        assert not first.exists()
        assert torch.load(tmp_path / "ckpt0.pt", weights_only=True)["loop"]["step"] == 11
    monkeypatch.setattr(train.Setup, "evaluation", real)
    monkeypatch.setattr(checkpoint, "_PREEMPTION", None)
    train.train_runs(runs, data_paths(token_files), token_files["meta"])
    for k in range(2):
        out = tmp_path / f"out{k}"
        assert (
            json.loads((out / "summary.json").read_text())["final_val_loss"]
            == refs[k]["final_val_loss"]
        )
        assert without_timing(metrics(out)) == without_timing(metrics(tmp_path / f"ref{k}"))


def test_data_tokens_above_the_training_split_is_refused_before_any_step(token_files, tmp_path):
    """It used to train on the whole split silently while the paper counted epochs from the
    configured number."""
    from adamw_repro.data.shards import TokenData

    n = TokenData(token_files["train"], 16).n_tokens
    with pytest.raises(SystemExit) as e:
        run(make_spec(data_tokens=n + 1, data_chunks=4), token_files, tmp_path / "out")
    assert str(e.value).startswith(f"error: train.data_tokens: {n + 1:,} is more than the")
    assert f"split's {n:,} tokens" in str(e.value) and "\n" not in str(e.value)
    assert not (tmp_path / "out").exists() and not (tmp_path / "out/ckpt.pt").exists()


def test_checkpoint_of_another_config_is_not_resumed(token_files, tmp_path):
    spec = make_spec(tokens=4 * 16 * 40, keep_checkpoint=True)
    run(spec, token_files, tmp_path / "a", ckpt=tmp_path / "shared.pt")
    other = run(
        make_spec(lr=1e-3, tokens=4 * 16 * 40),
        token_files,
        tmp_path / "b",
        ckpt=tmp_path / "shared.pt",
    )
    assert other["resumed_from_steps"] == [] and other["steps"] == 40
    assert (tmp_path / "shared.pt.unreadable").exists()  # set aside, not resumed or overwritten


def test_a_checkpoint_write_that_fails_part_way_leaves_the_previous_one_intact(
    token_files, tmp_path, monkeypatch
):
    """The disk fills (or the job is killed) while the step-20 checkpoint is written: the
    step-10 one is still there, whole, and the run resumes from it."""
    from adamw_repro.training import checkpoint

    spec = make_spec(tokens=4 * 16 * 30)
    ckpt = tmp_path / "run.pt"
    real_save, saves = torch.save, []

    def save_some_bytes_then_fail(obj, path):
        saves.append(obj["loop"]["step"])
        if len(saves) == 1:
            return real_save(obj, path)
        with open(path, "wb") as fh:
            fh.write(b"\x80\x02partial")  # a torn write
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", save_some_bytes_then_fail)
    with pytest.raises(OSError):
        run(spec, token_files, tmp_path / "out", ckpt=ckpt)
    monkeypatch.setattr(checkpoint.torch, "save", real_save)
    assert saves == [10, 20] and sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]
    s = run(spec, token_files, tmp_path / "out", ckpt=ckpt)
    assert s["resumed_from_steps"] == [10] and s["steps"] == 30


@pytest.mark.parametrize(
    "content",
    [np.random.default_rng(0).bytes(3000), b"", None],
    ids=["random-bytes", "empty", "not-a-checkpoint"],
)
def test_damaged_checkpoint_is_set_aside_with_one_line_and_the_run_restarts(
    token_files, tmp_path, capsys, content
):
    ckpt = tmp_path / "run.pt"
    if content is None:
        torch.save({"weights": torch.zeros(2)}, ckpt)  # a readable file, but not ours
    else:
        ckpt.write_bytes(content)
    s = run(make_spec(tokens=4 * 16 * 20), token_files, tmp_path / "out", ckpt=ckpt)
    out = capsys.readouterr().out
    warnings = [line for line in out.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and str(ckpt) in warnings[0] and "run.pt.unreadable" in warnings[0]
    assert "weights_only" not in out  # never the advice to load it with fewer safeguards
    assert s["steps"] == 20 and s["resumed_from_steps"] == []
    assert (tmp_path / "run.pt.unreadable").exists() and not ckpt.exists()


@pytest.mark.parametrize("eval_interval", [10, 0], ids=["curves", "final-only"])
def test_nan_loss_marks_the_run_diverged_and_still_writes_outputs(
    token_files, tmp_path, eval_interval
):
    spec = make_spec("sgd", lr=1e12, grad_clip=0.0, tokens=4 * 16 * 60)
    spec["train"]["eval_interval"] = eval_interval  # 0: a tuning trial, scored only at its end
    s = run(spec, token_files, tmp_path)
    assert s["diverged"] and s["diverged_reason"] == "non-finite loss"
    assert s["final_val_loss"] is None and s["steps"] < 60
    recs = metrics(tmp_path)
    assert recs[-1]["diverged"] is True and recs[-1]["train_loss"] is None
    assert json.loads((tmp_path / "summary.json").read_text())["diverged"] is True


def test_fast_path_matches_the_reference_path(token_files, tmp_path):
    """bf16 autocast and eager attention (the CPU-fast settings) against fp32 and PyTorch's
    fused attention: same seed, 100 steps. Stated tolerance: 0.02 nats for bf16 (seed-to-seed
    spread of this run is about 0.03); attention kernels agree to 1e-3 nats in fp32."""
    losses = {}
    for precision in ("fp32", "bf16"):
        for attention in ("sdpa", "eager"):
            spec = make_spec(lr=1e-2, tokens=4 * 16 * 100, precision=precision, attention=attention)
            out = tmp_path / f"{precision}-{attention}"
            losses[precision, attention] = run(spec, token_files, out)["final_val_loss"]
    assert abs(losses["bf16", "eager"] - losses["fp32", "sdpa"]) < 0.02, losses
    assert abs(losses["bf16", "sdpa"] - losses["fp32", "sdpa"]) < 0.02, losses
    assert abs(losses["fp32", "eager"] - losses["fp32", "sdpa"]) < 1e-3, losses


def test_tensorboard_event_files_mirror_the_metrics_and_change_nothing_else(token_files, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from adamw_repro.config import validate_config
    from adamw_repro.design import make_run, train_spec

    spec = make_spec()
    plain = run(spec, token_files, tmp_path / "plain")
    events = tmp_path / "tb" / spec["run_id"]
    logged = train_run(spec, data_paths(token_files), token_files["meta"], str(tmp_path / "tb_run"),
                       str(tmp_path / "ckpt.pt"), 1, str(events))  # fmt: skip
    assert without_timing(metrics(tmp_path / "plain")) == without_timing(
        metrics(tmp_path / "tb_run")
    )
    assert plain["config_hash"] == logged["config_hash"]
    acc = EventAccumulator(str(events))
    acc.Reload()
    recs = metrics(tmp_path / "tb_run")
    for tag in ("train_loss", "test_loss", "lr", "weight_norm"):
        steps = [e.step for e in acc.Scalars(tag)]
        values = [e.value for e in acc.Scalars(tag)]
        want = [(r["step"], r[tag]) for r in recs if r.get(tag) is not None]
        assert steps == [s for s, _ in want], tag
        assert values == pytest.approx([v for _, v in want], rel=1e-6), tag
    # the switch is not part of a run's spec: turning it on retrains nothing
    cfg = {"optimizers": {"adamw": {"lr": 1e-3, "weight_decay": 0.1}}, "seeds": [0]}
    on = validate_config({**cfg, "train": {"tensorboard": True}})
    off = validate_config(cfg)
    r = make_run(off, "adamw", 1e-3, 0.1, 0)
    assert train_spec(on, r) == train_spec(off, r)


def test_tensorboard_curve_of_a_resumed_run_has_each_step_once(tmp_path):
    """A run killed after its checkpoint at step 30 had logged up to step 45; the resumed run
    purges what came after the checkpoint, keeps the checkpoint's own record, and goes on."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from adamw_repro.training.runtime import EventLog

    def rec(step, lost=False):
        return {"step": step, "tokens": 64 * step, "train_loss": 9.0 if lost else 5.0 - step / 100}

    first = EventLog(str(tmp_path), 0, [])
    for step in range(5, 50, 5):
        first.add(rec(step, lost=step > 30))
    first.close()
    history = [rec(step) for step in range(5, 35, 5)]  # what the checkpoint at step 30 holds
    resumed = EventLog(str(tmp_path), 30, history)
    for step in range(35, 65, 5):
        resumed.add(rec(step))
    resumed.close()
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    events = acc.Scalars("train_loss")
    assert [e.step for e in events] == list(range(5, 65, 5))
    assert [e.value for e in events] == pytest.approx(
        [rec(s)["train_loss"] for s in range(5, 65, 5)]
    )
