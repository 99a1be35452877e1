rule students:
    """Every LR x seed of one (strategy, width) cell, trained together in the engine."""
    input:
        selected=L.SELECTED,
        checkpoints=selected_checkpoints,
        selection=selection_input,
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
        gpu=TRAIN_GPU,
        runtime=students_runtime,
        mem_mb=students_mem_mb,
    params:
        state=L.STUDENT_STATE,
        cache=L.LOGIT_CACHE,
    script:
        "../scripts/students.py"
