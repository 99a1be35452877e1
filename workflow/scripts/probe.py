from progdistill import layout, logs, study

logs.setup(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
study.run_probe(
    sm.config,
    sm.wildcards.exp,
    sm.wildcards.tid,
    int(sm.wildcards.step),
    layout.checkpoint_file(sm.input[0], int(sm.wildcards.step)),
    sm.output[0],
)
