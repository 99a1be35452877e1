from progdistill import logs, study

logs.setup(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
study.select_teacher(sm.wildcards.exp, list(sm.input), sm.output[0])
