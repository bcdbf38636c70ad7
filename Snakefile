# The workflow is workflow/Snakefile (the layout of the Snakemake workflow catalog); this file
# runs it from the repository's root: `snakemake --cores all`.
include: "workflow/Snakefile"


# Snakemake takes the default target from the main Snakefile, never from an included one.
rule default:
    default_target: True
    input:
        rules.all.input,
    localrule: True
