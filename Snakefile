# progdistill: progressive distillation on sparse parity (and hierarchical parity), as one DAG:
# teacher -> select_teacher -> probe (per checkpoint) -> teacher_logits (per seed) -> students (per strategy x
# width) -> aggregate -> figures


# A preset given with --configfile replaces config.yaml instead of being merged into it (a merge would
# leak experiments and keys of the default into the preset).
if not workflow.overwrite_configfiles:

    configfile: "config.yaml"


# `snakemake --report report.html`: figures, summary and selection, grouped by experiment (offline).
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/teacher.smk"
include: "workflow/rules/probe.smk"
include: "workflow/rules/selection.smk"
include: "workflow/rules/teacher_logits.smk"
include: "workflow/rules/students.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/summary.smk"
include: "workflow/rules/survival.smk"
include: "workflow/rules/theory.smk"
include: "workflow/rules/nscaling.smk"


rule all:
    default_target: True
    input:
        layout.all_targets(STUDY),
