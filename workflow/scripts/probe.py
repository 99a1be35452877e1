from progdistill import logs, study

logs.setup(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
study.run_probes(sm.config, sm.wildcards.exp, sm.wildcards.tid, sm.input[0], sm.output[0])
