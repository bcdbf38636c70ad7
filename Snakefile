# Reproduce "Decoupled Weight Decay Regularization" (Loshchilov & Hutter, 2019) on GPT-2 replicas:
# corpus -> tokenizer -> one training job per (optimizer, hyperparameters, seed) -> tables,
# figures -> compiled paper. All logic lives in src/adamw_repro; rules only wire files together.
import sys

from snakemake.utils import min_version

from adamw_repro.config import ConfigError, validate_config

min_version("9.0")


configfile: "config/config.yaml"


try:  # one-line error naming the key, before any job runs
    config.update(validate_config(config))
except ConfigError as e:
    sys.exit(f"config error: {e}")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/paper.smk"


rule all:
    input:
        "results/paper/paper.pdf",
    default_target: True
