rule probe:
    """Correlate every checkpoint's outputs of one teacher with in- and off-support monomials."""
    input:
        L.TEACHER_CHECKPOINTS,
    output:
        # Kept (not temp): a later aggregation must not recompute them, and with them the selection.
        L.PROBE,
    log:
        L.PROBE_LOG,
    # The selection, hence the teacher_logits jobs and every distilling student, waits on the probe of
    # the selected teacher: run it before the students.
    priority: 12
    conda:
        ENV
    threads: 1
    params:
        # A changed setting that this job's numbers depend on reruns it (config.probe_spec).
        spec=lambda wc: pdc.digest(pdc.probe_spec(EXPS[wc.exp])),
        # kernel_target: portable also fixes numpy's BLAS path (progdistill.portable): other numbers.
        numerics=config["kernel_target"],
    script:
        "../scripts/probe.py"
