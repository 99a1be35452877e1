from progdistill import logs, nscaling

logs.setup(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
nscaling.write_tables(
    sm.input.curves,
    list(sm.input.selections),
    sm.config,
    sm.output.slopes,
    sm.output.medians,
    sm.output.tests,
    sm.output.md,
)
