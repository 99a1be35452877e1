from progdistill import figures, logs

logs.setup(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
figures.make_figures(
    sm.params.figures,
    sm.input.curves,
    sm.input.probe,
    sm.config,
    list(sm.input.selected),
    list(sm.input.selection),
    list(sm.output.pdf),
    list(sm.output.png),
)
