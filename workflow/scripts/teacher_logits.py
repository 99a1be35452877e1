from progdistill import logs, study

logs.setup(snakemake.log[0])  # noqa: F821 - injected by Snakemake
sm = snakemake  # noqa: F821
study.run_teacher_logits(
    sm.config,
    sm.wildcards.exp,
    int(sm.wildcards.seed),
    sm.input.checkpoints,
    sm.output[0],
    selection_path=sm.input.selection[0] if sm.input.selection else None,
    device=sm.params.device,
)
