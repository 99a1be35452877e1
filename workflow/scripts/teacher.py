# Thin wrapper: the rule's inputs/outputs -> progdistill.study.run_teacher.
from progdistill import logs, study

logs.setup(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
study.run_teacher(
    sm.config,
    sm.wildcards.exp,
    sm.wildcards.tid,
    sm.output.curve,
    sm.output.checkpoints,
    staging=sm.params.staging,
    state_path=sm.params.state,
    device=sm.params.device,
)
