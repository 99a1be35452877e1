rule probe:
    """Correlate one teacher checkpoint's outputs with in- and off-support monomials."""
    input:
        layout.TEACHER_CHECKPOINTS,
    output:
        # Kept (not temp): a later aggregation must not recompute them, and with them the selection.
        layout.PROBE,
    log:
        layout.PROBE_LOG,
    # The selection, hence the teacher_logits jobs and every distilling student, waits on all probes of
    # the chosen teacher: run these short jobs before the students.
    priority: 12
    conda:
        ENV
    threads: 1
    params:
        # A changed setting that this job's numbers depend on reruns it (config.probe_spec).
        spec=lambda wc: pdconfig.digest(pdconfig.probe_spec(experiment(wc))),
        # kernel_target: portable also fixes numpy's BLAS path (progdistill.portable): other numbers.
        numerics=STUDY.kernel_target,
    script:
        "../scripts/probe.py"
