from progdistill import logs, study

logs.setup(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
study.run_students(
    sm.config,
    sm.wildcards.exp,
    sm.wildcards.strategy,
    int(sm.wildcards.width),
    sm.params.teacher,
    sm.input.checkpoints,
    sm.output[0],
    state_path=sm.params.state,
    selection_path=sm.input.selection[0] if sm.input.selection else None,
    logit_paths=list(sm.input.logits),
    device=sm.params.device,
)
