rule students:
    """Every LR x seed of one (strategy, width) cell, trained together in the engine."""
    input:
        # The selected teacher's folder, not selected.json: retraining a teacher that stays unselected
        # (select_teacher rewrites the file) reruns no student; selecting another one changes this input.
        checkpoints=selected_checkpoints,
        selection=selection_input,
        logits=students_logits,
    output:
        L.STUDENT,
    log:
        L.STUDENT_LOG,
    # The longest jobs start first; the short probe jobs fill in around them.
    priority: 10
    conda:
        ENV
    threads: config["threads"]
    resources:
        gpu=students_gpu,
        runtime=students_runtime,
        mem_mb=students_mem_mb,
    params:
        device=students_device,
        selected=L.SELECTED,
        state=L.STUDENT_STATE,
        # A changed setting that this job's numbers depend on reruns it (config.student_spec).
        spec=lambda wc: pdc.digest(pdc.student_spec(EXPS[wc.exp], wc.strategy)),
        numerics=config["kernel_target"],
    script:
        "../scripts/students.py"
