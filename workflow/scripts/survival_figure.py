from progdistill import logs, survival

logs.setup(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
survival.write_survival_figure(sm.input.curves, sm.config, sm.wildcards.exp, sm.output.pdf, sm.output.png)
