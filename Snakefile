# Reproduce "Decoupled Weight Decay Regularization" (Loshchilov & Hutter, 2019) on GPT-2 replicas:
# corpus -> tokenizer -> one training job per (optimizer, hyperparameters, seed) -> tables,
# figures -> compiled paper; a ladder config runs several such studies side by side and compares
# them. All logic lives in src/adamw_repro; rules only wire files together.
import sys
from pathlib import Path

from snakemake.utils import min_version

sys.path.insert(0, str(Path(workflow.basedir) / "src"))  # the package, installed or not
from adamw_repro.config import ConfigError, validate_config

min_version("9.0")


# A --configfile replaces the default instead of being merged into it: a profile must not
# inherit, say, the default's optimizers.
if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"


try:  # one-line error naming the key, before any job runs
    config.update(validate_config(config))
except ConfigError as e:
    sys.exit(f"config error: {e}")


report: "workflow/report/workflow.rst"


# Light stages run where Snakemake runs, never as cluster jobs.
localrules:
    all,
    run_spec,
    find_edges,
    select_hparams,
    aggregate,
    ledger,
    results_table,
    figure,
    paper,


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"


if LADDER:

    include: "workflow/rules/ladder.smk"


include: "workflow/rules/paper.smk"


onstart:
    print_plan()


rule all:
    input:
        "results/paper/paper.pdf",
    default_target: True
