"""LaTeX shared by the table and paper stages: escaping and number formats, the Jinja2
environment with LaTeX-safe delimiters, and compiling with latexmk + pdflatex (no shell escape)."""

from __future__ import annotations

import functools
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2

from .. import atomic
from ..registry import LABELS

_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


class Latex(str):
    """A string that is already LaTeX (trusted markup): the paper template does not escape it."""


def escape(value) -> Latex:
    """Render ``value`` literally in LaTeX: every special character is neutralised, so text
    from a config or data file (``a_b%{}\\input{/etc/passwd}``) can never become markup."""
    if isinstance(value, Latex):
        return value
    return Latex("".join(_SPECIAL.get(c, c) for c in str(value)))


def num(x, digits: int = 3) -> Latex:
    """A fixed-point number, or an em dash for missing values."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return Latex("---")
    return Latex(f"{x:.{digits}f}")


def pct(x, digits: int = 0) -> Latex:
    """A share as a percentage (``0.42`` -> ``42\\,\\%``), or an em dash if missing."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return Latex("---")
    return Latex(f"{100 * x:.{digits}f}\\,\\%")


def sci(x) -> Latex:
    """A hyperparameter value as written in the config (``%g``), math-typeset if exponential."""
    s = f"{x:g}"
    if "e" in s:
        mant, exp = s.split("e")
        return Latex(f"${mant}\\cdot 10^{{{int(exp)}}}$" if mant != "1" else f"$10^{{{int(exp)}}}$")
    return Latex(s)


def sig(x, digits: int = 3) -> Latex:
    """A number to ``digits`` significant figures (for effects of any magnitude)."""
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return Latex("---")
    return Latex(f"{x:.{digits}g}".replace("e-0", "e-").replace("inf", "$\\infty$"))


@functools.cache  # one per folder: it keeps its compiled templates (0.27 s the paper's)
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
        sig=sig,
        num=num,
        pct=pct,
        sci=sci,
        escape=escape,
        safe_latex=Latex,  # captions written in the template itself are trusted markup
        label=lambda x: Latex(re.sub(r"[^A-Za-z0-9]", "-", str(x))),  # for \\label and \\ref
        label_optimizer=lambda x: escape(" ".join(LABELS.get(w, w) for w in str(x).split())),
        int=lambda x: Latex(f"{int(x):,}".replace(",", "{,}")),
    )
    return env


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
