from progdistill import config, logs

logs.setup(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
config.write_record(dict(sm.config), sm.output.yaml, sm.output.html)
