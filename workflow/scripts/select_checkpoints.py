from progdistill import logs, study

logs.setup(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
study.select_checkpoints(
    sm.config, sm.wildcards.exp, sm.params.teacher, sm.input.curve, list(sm.input.probe), sm.output[0]
)
