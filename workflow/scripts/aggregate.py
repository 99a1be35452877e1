from progdistill import logs, study

logs.setup(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
study.aggregate(
    list(sm.input.curves), list(sm.input.probe), sm.output.curves, sm.output.probe, sm.output.switches
)
