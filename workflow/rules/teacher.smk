rule teacher:
    """Train one teacher (LR x seed) with CE, saving checkpoints at the configured interval."""
    output:
        curve=layout.TEACHER_CURVE,
        checkpoints=directory(layout.TEACHER_CHECKPOINTS),
    log:
        layout.TEACHER_LOG,
    conda:
        ENV
    threads: STUDY.threads
    resources:
        gpu=teacher_gpu,
        runtime=teacher_runtime,
        mem_mb=teacher_mem_mb,
    params:
        device=teacher_device,
        state=layout.TEACHER_STATE,
        staging=layout.TEACHER_STAGING,
        # A changed setting that this job's numbers depend on reruns it (config.teacher_spec).
        spec=lambda wc: pdconfig.digest(pdconfig.teacher_spec(experiment(wc))),
        # kernel_target changes the float order, hence the numbers: another one reruns the job.
        numerics=STUDY.kernel_target,
    script:
        "../scripts/teacher.py"


checkpoint select_teacher:
    """Pick the teacher the students learn from (best LR, as the paper reports). A checkpoint: only the
    chosen teacher is probed and taught from, and the DAG below is re-evaluated once the choice is known.
    """
    input:
        teacher_curves,
    output:
        layout.TEACHER_CHOICE,
    log:
        layout.TEACHER_CHOICE_LOG,
    # Students wait on this tiny job: run it before the many probe jobs.
    priority: 20
    conda:
        ENV
    script:
        "../scripts/select_teacher.py"
