from progdistill import figures, logs

logs.setup(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
figures.make_task_figure(sm.wildcards.fig, sm.config, sm.output.pdf, sm.output.png)
