import json

from progdistill import figures, logs

logs.setup(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
with open(sm.input.teacher) as fh:
    teacher = json.load(fh)
with open(sm.input.selection) as fh:
    selection = json.load(fh)
figures.make_figure(
    sm.wildcards.fig,
    sm.input.curves,
    sm.input.probe,
    sm.config,
    teacher,
    sm.output.pdf,
    sm.output.png,
    selection=selection,
    switches_path=sm.input.switches,
)
