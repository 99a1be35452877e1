from progdistill import logs, nscaling

logs.setup(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
nscaling.write_figure(sm.input.slopes, sm.input.medians, sm.config, sm.output.pdf, sm.output.png)
