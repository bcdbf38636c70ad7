"""Safe by construction: LaTeX without shell escape, escaped strings, checkpoints without
pickle; damaged files get one line naming them."""

import shutil
from pathlib import Path

import pytest
import torch
from helpers import data_paths, make_spec

from adamw_repro.analysis.selection import trials
from adamw_repro.report.latex import Latex, compile_pdf, escape
from adamw_repro.training.train import train_run


@pytest.mark.skipif(
    shutil.which("latexmk") is None, reason="needs TeX Live (make test installs it)"
)
def test_latex_runs_without_shell_escape(tmp_path):
    marker = tmp_path / "shell-escape-happened"
    tex = tmp_path / "doc.tex"
    tex.write_text(
        "\\documentclass{article}\\begin{document}\n"
        f"\\immediate\\write18{{touch {marker}}}\nHello.\n\\end{{document}}\n"
    )
    compile_pdf(tex, tmp_path / "out.pdf")
    assert (tmp_path / "out.pdf").stat().st_size > 1000
    assert not marker.exists()


def test_escape_neutralises_every_latex_special_character():
    nasty = r"a_b%{}\input{/etc/passwd} $x$ #1 ~ ^ &"
    out = escape(nasty)
    assert out == (
        r"a\_b\%\{\}\textbackslash{}input\{/etc/passwd\} \$x\$ \#1 \textasciitilde{} "
        r"\textasciicircum{} \&"
    )
    assert out.count("\\textbackslash{}") == 1 and escape(out) is out  # already LaTeX: kept
    assert escape(Latex("\\textbf{x}")) == "\\textbf{x}"


class Payload:
    def __reduce__(self):  # what a malicious pickle would run on load
        return (Path("/tmp/pwned-by-checkpoint").touch, ())


def test_checkpoints_load_without_executing_pickled_code(token_files, tmp_path):
    """A checkpoint carrying pickled code is refused unread: set aside, never executed, and the
    run trains from step 0."""
    ckpt = tmp_path / "ckpt.pt"
    torch.save({"spec_hash": "x", "payload": Payload()}, ckpt)
    Path("/tmp/pwned-by-checkpoint").unlink(missing_ok=True)
    s = train_run(
        make_spec(tokens=4 * 16 * 10),
        data_paths(token_files),
        token_files["meta"],
        str(tmp_path / "out"),
        str(ckpt),
    )
    assert not Path("/tmp/pwned-by-checkpoint").exists()
    assert s["resumed_from_steps"] == [] and (tmp_path / "ckpt.pt.unreadable").exists()


@pytest.mark.parametrize(
    ("content", "problem"),
    [('{"optimizer": "adam", "lr"', "is not valid JSON"), ('{"optimizer": "adam"}', "lacks lr")],
)
def test_a_damaged_run_summary_stops_selection_with_one_line_naming_it(tmp_path, content, problem):
    summary = tmp_path / "runs" / "adam" / "lr0.01_wd0" / "seed0" / "summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text(content)
    with pytest.raises(SystemExit) as e:
        trials([str(summary)])
    message = str(e.value)
    assert message.count("\n") == 0 and message.startswith(f"error: {summary}: {problem}")
    assert f"delete {summary.parent}/" in message  # how to redo it: retrain that run
