checkpoint select_checkpoints:
    """Where the selected teacher's phase transition is (accuracy curve + probe) and which checkpoints
    strategies naming 'before' / 'transition' / 'after' / 'level<i>' use. A checkpoint: the students that
    name them are re-evaluated with the chosen steps once it has run.
    """
    input:
        # The selected teacher's curve and probe (selected.json only as a parameter: see rule students).
        curve=selected_curve,
        probe=lambda wc: probe_tables(wc.exp),
    output:
        report(
            L.SELECTION,
            caption="../report/selection.rst",
            category="{exp}",
            labels={"figure": "checkpoint selection"},
        ),
    log:
        L.SELECTION_LOG,
    # Students naming selected checkpoints wait on this tiny job.
    priority: 20
    conda:
        ENV
    params:
        selected=L.SELECTED,
    script:
        "../scripts/select_checkpoints.py"
