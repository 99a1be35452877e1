checkpoint select_checkpoints:
    """Where the chosen teacher's phase transition is (accuracy curve + probe) and which checkpoints
    strategies naming 'before' / 'transition' / 'after' / 'level<i>' use. A checkpoint: the students that
    name them are re-evaluated with the chosen steps once it has run.
    """
    input:
        # The chosen teacher's curve and probe; its id is a parameter (see common.smk, chosen_teacher_id).
        curve=chosen_curve,
        probe=lambda wc: probe_tables(wc.exp),
    output:
        report(
            layout.CHECKPOINT_SELECTION,
            caption="../report/selection.rst",
            category="{exp}",
            labels={"figure": "checkpoint selection"},
        ),
    log:
        layout.CHECKPOINT_SELECTION_LOG,
    # Students naming selected checkpoints wait on this tiny job.
    priority: 20
    conda:
        ENV
    params:
        teacher=chosen_teacher_id,
    script:
        "../scripts/select_checkpoints.py"
