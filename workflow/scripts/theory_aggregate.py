from progdistill import logs, theory

logs.setup(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
theory.aggregate([*sm.input.correlation, *sm.input.students], sm.output.parquet, sm.output.md)
