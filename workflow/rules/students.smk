rule students:
    """Every LR x seed of one (strategy, width) cell, trained together in the engine."""
    input:
        # The chosen teacher's folder, not selected.json: retraining a teacher that stays unchosen
        # (select_teacher rewrites the file) reruns no student; selecting another one changes this input.
        checkpoints=chosen_checkpoint_dir,
        selection=selection_input,
        logits=students_logits,
    output:
        layout.STUDENT,
    log:
        layout.STUDENT_LOG,
    # The longest jobs start first; the short probe jobs fill in around them.
    priority: 10
    conda:
        ENV
    threads: STUDY.threads
    resources:
        gpu=students_gpu,
        runtime=students_runtime,
        mem_mb=students_mem_mb,
    params:
        device=students_device,
        teacher=chosen_teacher_id,
        state=layout.STUDENT_STATE,
        # A changed setting that this job's numbers depend on reruns it (config.student_spec).
        spec=lambda wc: pdconfig.digest(
            pdconfig.student_spec(experiment(wc), wc.strategy)
        ),
        numerics=STUDY.kernel_target,
    script:
        "../scripts/students.py"
