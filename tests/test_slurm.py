"""The cluster path: resources → sbatch arguments, the paper profile's plan, and the smoke
workflow on a real (local, single-node) SLURM cluster, including a cancelled job that resumes.

The real-cluster tests need `sinfo` (CI starts a cluster with .ci/slurm-setup); without one they
are skipped, unless REQUIRE_SLURM=1 (as in CI), where a missing cluster fails them.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from helpers import REPO, smoke, snakemake

PROFILE = REPO / "workflow" / "profiles" / "slurm"
# the cluster profile, polling job states every 2 s instead of every 10-40 s
CLUSTER = (
    "--workflow-profile",
    str(PROFILE),
    "--slurm-init-seconds-before-status-checks",
    "2",
    "--seconds-between-status-checks",
    "2",
)


def small_config(path: Path, **train) -> Path:
    cfg = yaml.safe_load((REPO / "config" / "smoke.yaml").read_text())
    cfg["optimizers"] = {"adam": {"lr": 0.01}, "adamw": {"lr": 0.01, "weight_decay": 0.1}}
    cfg["seeds"] = [0]
    cfg["study"] = {"embedding_ablation": False}
    cfg["train"].update(train)
    cfg["resources"] = {
        "train": {"gpus": 0, "mem_mb": 1000, "runtime": 7},
        "data": {"mem_mb": 1000, "runtime": 10},
    }
    path.write_text(yaml.safe_dump(cfg))
    return path


FAKE_SLURM = {
    # records every submission; every job is reported FAILED at once, so Snakemake retries
    "sbatch": 'exec 9>>"$SBATCH_LOG.lock"; flock 9; echo "$@" >> "$SBATCH_LOG"; '
    'echo $((1000 + $(wc -l < "$SBATCH_LOG")))',
    "squeue": 'for id in $(seq 1001 1020); do echo "$id|FAILED"; done',
    "sinfo": 'echo "debug*"',
    "scontrol": 'echo "MinJobAge = 600 sec"',  # keeps the plugin on squeue
    "sacct": "exit 1",  # no accounting, as on the CI cluster
    "scancel": "true",
}


@pytest.mark.slow  # runs Snakemake or the benchmarks
def test_training_jobs_request_gpus_memory_and_a_runtime_that_grows_with_each_attempt(tmp_path):
    """The slurm profile and the config's resources.train section become sbatch arguments;
    each retry asks for attempt × resources.train.runtime minutes. (Fake sbatch/squeue record
    the submissions; no cluster needed.)"""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in FAKE_SLURM.items():
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    cfg = yaml.safe_load(small_config(tmp_path / "c.yaml").read_text())
    cfg["optimizers"] = {"adamw": {"lr": [0.01], "weight_decay": [0.1, 0.2]}}  # 2 tuning trials
    cfg["resources"]["train"] = {"gpus": 2, "mem_mb": 12345, "runtime": 7}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    log = tmp_path / "sbatch.log"
    log.touch()
    # the data stage locally first, so that the submissions are the training jobs
    snakemake(
        tmp_path, "--cores", "1", "--configfile", str(tmp_path / "c.yaml"), "--until", "tokenize"
    )
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", SBATCH_LOG=str(log))
    env.pop("SLURM_JOB_ID", None)
    snakemake(
        tmp_path,
        "--workflow-profile",
        str(PROFILE),
        "--configfile",
        str(tmp_path / "c.yaml"),
        "--retries",
        "1",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--seconds-between-status-checks",
        "1",
        "--latency-wait",
        "0",
        "--jobs",
        "2",
        "--until",
        "search_round",  # the tuning jobs only
        env=env,
        check=False,
        timeout=300,
    )
    calls = [c.split() for c in log.read_text().splitlines() if "rule_tune_" in c]
    assert len(calls) == 4, log.read_text()  # 2 trials (one job each), each submitted twice
    for job in ("rule_tune_0", "rule_tune_1"):
        mine = [args for args in calls if any(job in a for a in args)]
        assert [args[args.index("-t") + 1] for args in mine] == ["7", "14"]  # attempt × 7 min
        for args in mine:
            assert "--gpus=2" in args and args[args.index("--mem") + 1] == "12345"
            assert "--cpus-per-task=1" in args


@pytest.mark.slow  # runs Snakemake or the benchmarks
def test_paper_profile_plans_the_full_ladder_on_gpus_without_data_or_gpu(tmp_path):
    out = snakemake(tmp_path, "-n", "--configfile", str(REPO / "config" / "paper.yaml")).stdout
    table = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            table[parts[0]] = int(parts[1])
    # the first tuning round on two seeds: the main study 2 × (4 + 3 × 16 Adam-family cells
    # + 2 + 2 × 4 SGD-family cells), the size axis's other shapes 2 × (3 + 2 × 3 × 4: Adam,
    # Adam+L2 and AdamW), the data axis's studies 2 × (1 + 8 + 8), the length axis's 2 × (4 +
    # 2 × 4 × 4); the extension round and the seed reruns are planned once the checkpoints ran
    cells = {"gpt2_124m": 62, "gpt2_30m": 27, "gpt2_51m": 27, "gpt2_350m": 27}
    cells |= {f"gpt2_30m_e{e}": 17 for e in (1, 2, 4, 8, 16)}
    cells |= {f"gpt2_124m_e{e}": 36 for e in (4, 8, 16, 32)}
    for study, n in cells.items():
        tuning = sum(k for r, k in table.items() if r.startswith(f"{study}_tune_"))
        assert tuning == 2 * n, study
    assert table["search_round"] == table["select_hparams"] == len(cells)
    # one download and tokenization of the hub corpus, shared by every study
    assert table["split_corpus"] == 1 and table["tokenize"] == 1
    assert "gpu=1" in out and "mem_mb=64000" in out and "runtime=120" in out


def slurm_available():
    if shutil.which("sinfo") is None:
        if os.environ.get("REQUIRE_SLURM") == "1":
            pytest.fail("REQUIRE_SLURM=1 but no SLURM cluster (sinfo not found)")
        pytest.skip("no SLURM cluster here; CI starts one with .ci/slurm-setup")
    state = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True).stdout
    if not any(s in state for s in ("idle", "mix", "alloc")):
        pytest.fail(f"SLURM node not ready: {state!r}")


@pytest.mark.slow
@pytest.mark.slurm
def test_training_runs_inside_slurm_jobs_and_a_cancelled_one_is_retried_and_resumes(tmp_path):
    """The small smoke workflow submitted to a real (local) SLURM cluster: every training run
    happens inside a SLURM job of its own and the paper is built; a training job cancelled after
    its first checkpoint is retried by Snakemake, resumes from that checkpoint, and the tables
    are byte-identical to a local run's."""
    slurm_available()
    # 750 steps after the first checkpoint: seconds for the poll below to see it and cancel
    train = {"tokens": 8 * 32 * 800, "checkpoint_interval": 50}
    ref = tmp_path / "reference"
    ref.mkdir()
    compared = ("runs.csv", "curves.csv")  # the reference stops at the tables it is compared on
    smoke(ref, small_config(ref / "c.yaml", **train), *(f"results/tables/{n}" for n in compared))
    work = tmp_path / "cluster"
    work.mkdir()
    config = small_config(work / "c.yaml", **train)
    log = open(work / "snakemake.log", "w")  # a file, not a pipe nobody reads until the end
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(work)]
    proc = subprocess.Popen(
        [*cmd, *CLUSTER, "--configfile", str(config)], stdout=log, stderr=subprocess.STDOUT
    )
    t0 = time.time()
    while not list(work.glob("results/checkpoints/*/*/seed0.pt")):
        assert proc.poll() is None and time.time() - t0 < 600, "no checkpoint before the end"
        time.sleep(0.2)
    jobs = subprocess.run(
        ["squeue", "-h", "-t", "RUNNING", "-o", "%i %k"], capture_output=True, text=True
    ).stdout.split("\n")
    # every running training job: the one that wrote the checkpoint must be among them (a single
    # victim was sometimes the other job, still before its first checkpoint: nothing resumed)
    victims = [line.split()[0] for line in jobs if "rule_evaluate_" in line]
    assert victims, jobs
    subprocess.run(["scancel", *victims], check=True)
    proc.wait(timeout=900)
    log.close()
    assert proc.returncode == 0, (work / "snakemake.log").read_text()[-4000:]
    resumed = {
        str(p.parent.relative_to(work)): json.loads(p.read_text())["resumed_from_steps"]
        for p in work.glob("results/runs/*/*/*/summary.json")
    }
    assert any(resumed.values()), resumed
    summaries = [json.loads(p.read_text()) for p in work.glob("results/runs/*/*/*/summary.json")]
    assert len(summaries) == 3  # adam, adamw, and AdamW without decay (ablation)
    job_ids = {s["provenance"]["slurm_job_id"] for s in summaries}
    assert None not in job_ids and len(job_ids) == 3
    assert (work / "results/paper/paper.pdf").stat().st_size > 50_000
    for name in compared:
        assert (work / "results/tables" / name).read_bytes() == (
            ref / "results/tables" / name
        ).read_bytes()
