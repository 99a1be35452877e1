from progdistill import logs, survival

logs.setup(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
survival.write_survival(sm.input[0], sm.config, sm.output.survival, sm.output.comparisons)
