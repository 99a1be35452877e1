from progdistill import logs
from progdistill.theory import figures

logs.setup(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
figures.make_figure(
    sm.wildcards.fig,
    sm.input[0],
    sm.output.pdf,
    sm.output.png,
    target_loss=sm.config["theory"]["students"]["target_loss"],
)
