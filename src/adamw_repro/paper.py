"""Stage 7: fill the Jinja2 LaTeX template with numbers from the aggregated tables and compile
it with latexmk + pdflatex (no shell escape).

Template syntax is LaTeX-safe: ``\\VAR{x}`` prints, ``\\BLOCK{if ...}`` controls. Every printed
value is LaTeX-escaped unless a filter marks it as trusted markup (``num``, ``sci``, ``pm``), so
a string from config or data cannot inject LaTeX.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import pandas as pd

from . import atomic, provenance
from .latex import Latex, escape, num, sci
from .optim import OPTIMIZERS


def environment(template_dir: str | Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir)),
        block_start_string=r"\BLOCK{",
        block_end_string="}",
        variable_start_string=r"\VAR{",
        variable_end_string="}",
        comment_start_string=r"\#{",
        comment_end_string="}",
        line_comment_prefix="%#",
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        undefined=jinja2.StrictUndefined,  # a typo in the template fails instead of printing ''
        finalize=escape,
        keep_trailing_newline=True,
    )
    env.filters.update(
        num=num,
        sci=sci,
        escape=escape,
        pm=_pm,
        int=lambda x: Latex(f"{int(x):,}".replace(",", "{,}")),
    )
    return env


def _pm(pair, digits: int = 3) -> Latex:
    mean, std = pair
    return Latex(f"{num(mean, digits)}~$\\pm$~{num(std, digits)}")


def paired_comparison(runs: pd.DataFrame, a: str, b: str) -> dict | None:
    """Final validation loss of ``a`` minus ``b`` on the seeds both finished (same seed = same
    initialisation and data order)."""
    ok = runs[~runs["diverged"].astype(bool)]
    pa = ok[ok["optimizer"] == a].set_index("seed")["final_val_loss"]
    pb = ok[ok["optimizer"] == b].set_index("seed")["final_val_loss"]
    seeds = sorted(set(pa.index) & set(pb.index))
    if not seeds:
        return None
    diff = pa.loc[seeds] - pb.loc[seeds]
    return {
        "a": a,
        "b": b,
        "n": len(seeds),
        "mean_a": float(pa.loc[seeds].mean()),
        "mean_b": float(pb.loc[seeds].mean()),
        "mean_diff": float(diff.mean()),
        "std_diff": float(diff.std(ddof=1)) if len(seeds) > 1 else math.nan,
        "wins": int((diff < 0).sum()),  # seeds on which a ended lower
    }


def corpus_name(corpus: dict) -> str:
    if corpus["source"] == "file":
        return Path(corpus["path"]).name
    return {"kjv": "King James Bible", "stdlib": "Python standard library"}.get(
        corpus["source"], corpus["source"]
    )


def build_context(
    config: dict,
    meta: dict,
    runs: pd.DataFrame,
    table: pd.DataFrame,
    timing: pd.DataFrame,
    prov: dict,
) -> dict:
    ok = runs[~runs["diverged"].astype(bool)]
    rows = table.to_dict("records")
    for r in rows:
        r["description"] = OPTIMIZERS[r["optimizer"]]
    tokens_per_step = (
        config["train"]["batch_size"]
        * config["train"]["grad_accum"]
        * config["model"]["block_size"]
    )
    return {
        "config": config,
        "config_hash": provenance.config_hash(config),
        "meta": meta,
        "corpus_name": corpus_name(config["corpus"]),
        "n_params": int(runs["n_params"].iloc[0]),
        "steps": config["train"]["tokens"] // tokens_per_step,
        "tokens_per_step": tokens_per_step,
        "epochs": config["train"]["tokens"]
        / (config["train"]["data_tokens"] or meta["train_tokens"]),
        "n_runs": len(runs),
        "n_diverged": int(runs["diverged"].astype(bool).sum()),
        "below_unigram": int((ok["final_val_loss"] < meta["unigram_val_cross_entropy"]).sum()),
        "n_ok": len(ok),
        "best_loss": float(ok["final_val_loss"].min()) if len(ok) else math.nan,
        "table": rows,
        "by_opt": {r["optimizer"]: r for r in rows},
        "adamw_vs_l2": paired_comparison(runs, "adamw", "adam_l2"),
        "timing": {
            "tokens_per_s": float(timing["tokens_per_s"].median()),
            "gflops": float(timing["achieved_flops"].median()) / 1e9,
            "train_minutes": float(timing["wall_time_s"].sum()) / 60,
            "mfu": float(timing["mfu"].median()) if timing["mfu"].notna().any() else None,
        },
        "prov": prov,
    }


def render(template: str | Path, context: dict) -> str:
    template = Path(template)
    return environment(template.parent).get_template(template.name).render(**context)


def source_date_epoch(repo: Path) -> str:
    """The commit time of the code, so the PDF's dates depend on inputs, not on the clock."""
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%ct"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    return out or "0"


def compile_pdf(tex: Path, out_pdf: Path) -> None:
    """latexmk + pdflatex in the tex file's folder; the PDF is moved into place atomically."""
    env = dict(
        os.environ,
        SOURCE_DATE_EPOCH=source_date_epoch(Path(__file__).parent),
        FORCE_SOURCE_DATE="1",
    )
    cmd = [
        "latexmk",
        "-pdf",
        "-interaction=nonstopmode",
        "-halt-on-error",
        "-file-line-error",
        "-pdflatex=pdflatex -no-shell-escape %O %S",
        tex.name,
    ]
    proc = subprocess.run(cmd, cwd=tex.parent, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        errors = [
            ln for ln in proc.stdout.splitlines() if ln.startswith(("!", "./")) or "Error" in ln
        ]
        sys.stderr.write(proc.stdout[-4000:])
        raise SystemExit(f"error: latexmk failed on {tex}: {' | '.join(errors[:3]) or 'see log'}")
    with atomic.atomic_path(out_pdf) as tmp:
        shutil.copyfile(tex.with_suffix(".pdf"), tmp)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", required=True, help="the resolved config, as JSON")
    ap.add_argument("--template", required=True, help="the Jinja2 LaTeX template")
    ap.add_argument("--bib", required=True, help="the BibTeX bibliography")
    ap.add_argument("--meta", required=True)
    ap.add_argument("--runs", required=True)
    ap.add_argument("--table", required=True)
    ap.add_argument("--table-tex", required=True)
    ap.add_argument("--figures", nargs="+", required=True, help="figure PDFs")
    ap.add_argument("--timing", required=True)
    ap.add_argument("--provenance", required=True)
    ap.add_argument("--build-dir", required=True, help="where paper.tex is written and compiled")
    ap.add_argument("--out", required=True, help="the PDF")
    args = ap.parse_args(argv)
    context = build_context(
        json.loads(args.config),
        json.loads(Path(args.meta).read_text()),
        pd.read_csv(args.runs),
        pd.read_csv(args.table),
        pd.read_csv(args.timing),
        json.loads(Path(args.provenance).read_text()),
    )
    build = Path(args.build_dir)
    build.mkdir(parents=True, exist_ok=True)
    # Paths relative to the build folder: pdfTeX would otherwise record absolute ones.
    context["table_tex"] = Latex(os.path.relpath(args.table_tex, build))
    context["figures"] = {Path(f).stem: Latex(os.path.relpath(f, build)) for f in args.figures}
    shutil.copyfile(args.bib, build / "references.bib")
    tex = build / "paper.tex"
    atomic.write_text(tex, render(args.template, context))
    compile_pdf(tex, Path(args.out))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
