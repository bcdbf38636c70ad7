"""The workflow as the Snakemake workflow catalog reads it: it parses and lints with Snakemake
alone, every rule names the environment its code needs, the catalog's files are there and
valid, the code is formatted, and a built wheel loads every profile."""

import ast
import importlib
import json
import re
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest
import yaml
from helpers import REPO, package_module

from adamw_repro.config import _rows, load_schema, readme
from adamw_repro.provenance import package_imports

# Import names that differ from their PyPI distribution's.
DISTRIBUTIONS = {"yaml": "pyyaml", "PIL": "pillow"}


def tool_venv(name: str, *requirements: str, site_packages: bool = False) -> Path:
    """A virtual environment of its own for a tool, cached under .venv-tools/ (a clean clone
    builds it once): Snakemake alone, say, or cffconvert, whose pins conflict with ours."""
    folder = REPO / ".venv-tools" / name
    python = folder / "bin" / "python"
    stamp = folder / "installed.txt"
    want = "\n".join(requirements)
    if not (stamp.exists() and stamp.read_text() == want):
        venv.create(folder, with_pip=True, clear=True, system_site_packages=site_packages)
        cmd = [str(python), "-m", "pip", "install", "--quiet", *requirements]
        subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900)
        stamp.write_text(want)
    return folder / "bin"


def _pins() -> dict:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = project["dependencies"] + project["optional-dependencies"]["test"]
    return dict(s.split("==") for s in specs)


@pytest.mark.slow  # builds a virtual environment on first use
def test_the_workflow_parses_and_lints_with_snakemake_alone(tmp_path):
    """Nothing heavy is imported while Snakemake parses the workflow (the figure catalogue is a
    light module, matplotlib is imported where figures are drawn): a dry run and the linter
    of the smoke and default profiles need Snakemake and nothing else."""
    bin_ = tool_venv("snakemake-only", f"snakemake=={_pins()['snakemake']}")
    assert subprocess.run([bin_ / "python", "-c", "import torch"], capture_output=True).returncode
    for profile in ("smoke.yaml", "config.yaml"):
        base = [bin_ / "snakemake", "-s", REPO / "Snakefile", "-d", tmp_path]
        base += ["--configfile", REPO / "config" / profile]
        dry = subprocess.run([*base, "-n"], capture_output=True, text=True)
        assert dry.returncode == 0 and "rule tune_0:" in dry.stdout, dry.stderr[-2000:]
        lint = subprocess.run([*base, "--lint"], capture_output=True, text=True)
        assert "Congratulations, your workflow is in a good condition!" in lint.stdout + lint.stderr


def test_a_host_workflow_without_a_config_is_told_which_to_pass(tmp_path):
    """A module's host that passes no config gets one line naming the configs to pass, not a
    schema error about a missing property."""
    (tmp_path / "Snakefile").write_text(
        f'module adamw:\n    snakefile:\n        "{REPO / "workflow" / "Snakefile"}"\n'
        "    config:\n        config\n\n\nuse rule * from adamw\n"
    )
    cmd = [sys.executable, "-m", "snakemake", "-d", tmp_path, "-n", "--cores", "1"]
    out = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True)
    said = (out.stdout + out.stderr).strip()
    assert out.returncode == 1 and said.count("\n") == 0, said
    assert said.startswith("config error: no study config") and "config/config.yaml" in said


def _rule_blocks() -> dict[str, str]:
    """Each rule of the workflow and its text; a rule a loop generates (the training jobs, the
    search's checkpoints) under its file and its place there."""
    out = {}
    for smk in sorted((REPO / "workflow/rules").glob("*.smk")):
        parts = re.split(r"^\s*(?:rule|checkpoint)\s*(\w*):", smk.read_text(), flags=re.M)
        for i, (name, body) in enumerate(zip(parts[1::2], parts[2::2], strict=True)):
            out[name or f"{smk.stem} (generated {i})"] = body
    return out


def _third_party(module: str) -> set[str]:
    """The distributions a package module's code imports (itself and every package module it
    imports, functions included), by their PyPI names."""
    names = set()
    for path in package_imports(module):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    names -= set(sys.stdlib_module_names) | {"adamw_repro", "__future__"}
    return {DISTRIBUTIONS.get(n, n).lower() for n in names}


def test_every_rule_names_an_environment_that_holds_what_its_code_imports():
    envs = {}
    for path in (REPO / "workflow/envs").glob("*.yaml"):
        spec = yaml.safe_load(path.read_text())
        pip = next(d["pip"] for d in spec["dependencies"] if isinstance(d, dict))
        envs[path.stem] = dict(s.split("#")[0].strip().split("==") for s in pip)
    pins = _pins()
    for env, packages in envs.items():  # pinned as pyproject pins them, no test tools
        assert {p: pins.get(p) for p in packages} == packages, env
        assert not {"pytest", "ruff", "hypothesis", "snakefmt"} & set(packages), env
    assert (
        "latexmk"
        in yaml.safe_load((REPO / "workflow/envs/report.yaml").read_text())["dependencies"]
    )
    blocks = _rule_blocks()
    assert {"tokenize", "aggregate", "ledger", "paper", "figures"} <= set(blocks)
    generated = [b for name, b in blocks.items() if name.startswith("train (generated")]
    assert {"training.train", "analysis.selection"} <= {_module_of(b) for b in generated}
    for rule, body in blocks.items():
        if rule in ("all", "default"):
            continue
        env = re.search(r'conda:\s*"\.\./envs/(\w+)\.yaml"', body)
        assert env and env.group(1) in envs, rule
        if module := _module_of(body):
            missing = _third_party(module) - set(envs[env.group(1)])
            assert not missing, (rule, env.group(1), missing)


def _module_of(body: str) -> str | None:
    """The package module a rule's code runs: its command's, or its stage script's."""
    if script := re.search(r'script:\s*"\.\./scripts/(\w+\.py)"', body):
        return package_module((REPO / "workflow/scripts" / script.group(1)).read_text())
    return package_module(body)


def test_every_stage_script_runs_the_module_its_rule_tracks_as_code():
    """A rule with ``script:`` names its stage's module once more, as its code input
    (``get_code``, so that editing the module reruns it; the data stage has none): the two
    agree, every stage script
    is used, and each hands the rule to its module's ``run`` (stage.py)."""
    used = set()
    for rule, body in _rule_blocks().items():
        if script := re.search(r'script:\s*"\.\./scripts/(\w+\.py)"', body):
            used.add(script.group(1))
            code = re.search(r'get_code\("([\w.]+)"\)', body)
            module = _module_of(body)  # editing data code retokenizes nothing (docs/running.md)
            assert (code and code.group(1)) == (None if module.startswith("data.") else module), (
                rule
            )
    scripts = {p.name: p.read_text() for p in (REPO / "workflow/scripts").glob("*.py")}
    assert used == set(scripts) and len(scripts) >= 10
    for text in scripts.values():
        module = package_module(text)
        assert module and callable(importlib.import_module(f"adamw_repro.{module}").run)
        assert "from_rule(run, snakemake)" in text


def test_config_readme_documents_every_key_of_the_schema():
    rows = list(_rows(load_schema()))
    assert len(rows) > 100 and all(text for _, _, _, text in rows)
    assert (REPO / "config/README.md").read_text() == readme(), (
        "config/README.md is stale: python -m adamw_repro.config readme > config/README.md"
    )
    written = (REPO / "config/README.md").read_text()
    for key, *_ in rows:
        assert f"| `{key}` |" in written, key


@pytest.mark.slow  # builds a virtual environment on first use
def test_the_catalog_files_are_there_and_the_citation_is_valid():
    assert "MIT License" in (REPO / "LICENSE").read_text()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    catalog = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    assert catalog["usage"]["software-stack-deployment"]["conda"] is True
    assert (REPO / "workflow/Snakefile").exists() and (REPO / "config/README.md").exists()
    bin_ = tool_venv("cffconvert", "cffconvert==2.0.0")
    proc = subprocess.run([bin_ / "cffconvert", "--validate", "-i", REPO / "CITATION.cff"],
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert citation["license"] == project["license"] and citation["version"] == project["version"]


def test_code_and_workflow_are_formatted():
    """ruff for the Python, snakefmt for the .smk files, at the project's line length."""
    bin_ = Path(sys.executable).parent
    for cmd in (["ruff", "check", "src", "tests", "benchmarks", "workflow/scripts"],
                ["ruff", "format", "--check", "src", "tests", "benchmarks", "workflow/scripts"],
                ["snakefmt", "--check", "Snakefile", "workflow"]):  # fmt: skip
        proc = subprocess.run([bin_ / cmd[0], *cmd[1:]], cwd=REPO, capture_output=True, text=True)
        assert proc.returncode == 0, (cmd, proc.stdout[-3000:], proc.stderr[-3000:])


@pytest.mark.slow  # builds a wheel and a virtual environment
def test_a_wheel_installs_and_loads_every_profile(tmp_path):
    """pip wheel . (the config schema is package data), installed with --no-deps into a fresh
    environment that sees this one's packages: every profile in config/ loads from the
    installed package, and the smoke profile dry-runs from that environment."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-w", tmp_path / "dist", REPO], check=True, capture_output=True)  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("adamw_repro-*.whl")
    env = tmp_path / "env"
    venv.create(env, with_pip=True)
    here = next(Path(p) for p in sys.path if p.endswith("site-packages"))
    (next(env.glob("lib/python*/site-packages")) / "outer.pth").write_text(f"{here}\n")
    python = env / "bin" / "python"
    install = [python, "-m", "pip", "install", "--quiet", "--no-deps", "--force-reinstall", wheel]
    subprocess.run(install, check=True, capture_output=True)
    load = (
        "import json, pathlib, sys, adamw_repro\n"
        "from adamw_repro.config import load_config\n"
        "assert str(pathlib.Path(sys.prefix)) in adamw_repro.__file__, adamw_repro.__file__\n"
        "print(json.dumps({p.name: load_config(p)['profile'] for p in "
        "sorted(pathlib.Path(sys.argv[1]).glob('*.yaml'))}))\n"
    )
    proc = subprocess.run([python, "-c", load, REPO / "config"], cwd=tmp_path,
                          capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    profiles = json.loads(proc.stdout)
    assert set(profiles) == {p.name for p in (REPO / "config").glob("*.yaml")}
    assert profiles["smoke.yaml"] == "smoke"
    dry = subprocess.run([python, "-m", "snakemake", "-s", REPO / "Snakefile", "-d", tmp_path / "w",
                          "-n", "--configfile", REPO / "config/smoke.yaml"],
                         capture_output=True, text=True)  # fmt: skip
    assert dry.returncode == 0 and "rule tune_0:" in dry.stdout, dry.stderr[-2000:]
