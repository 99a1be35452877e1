from progdistill import logs, theory_figures

logs.setup(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
theory_figures.make_figure(
    sm.wildcards.name,
    sm.input[0],
    sm.output.pdf,
    sm.output.png,
    target_loss=sm.config["theory"]["students"]["target_loss"],
)
