rule students:
    """Every LR x seed of one (strategy, width) cell, trained together in the engine."""
    input:
        selected=f"{RES}/{{exp}}/teacher/selected.json",
        checkpoints=teacher_ckpt_dirs,
        selection=selection_input,
    output:
        f"{RES}/{{exp}}/students/{{strategy}}/w{{width}}.parquet",
    log:
        f"{RES}/logs/{{exp}}/students/{{strategy}}/w{{width}}.log",
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
        state=f"{RES}/{{exp}}/students/{{strategy}}/w{{width}}.resume.pt",
        teachers=lambda wc: f"{RES}/{wc.exp}/teacher",
        # Teacher logits shared by the experiment's student jobs (config teacher_cache).
        cache=f"{RES}/{{exp}}/cache/teacher_logits",
    script:
        "../scripts/students.py"
