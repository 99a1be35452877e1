from progdistill import logs, summary

logs.setup(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
summary.write_summary(sm.input[0], sm.config, sm.output.parquet, sm.output.md, sm.output.html)
