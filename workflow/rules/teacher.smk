rule teacher:
    """Train one teacher (LR x seed) with CE, saving checkpoints at the configured interval."""
    output:
        curve=f"{RES}/{{exp}}/teacher/{{tid}}/curve.parquet",
        checkpoints=directory(f"{RES}/{{exp}}/teacher/{{tid}}/checkpoints"),
    log:
        f"{RES}/logs/{{exp}}/teacher/{{tid}}.log",
    conda:
        ENV
    threads: config["threads"]
    resources:
        gpu=teacher_gpu,
        runtime=teacher_runtime,
        mem_mb=teacher_mem_mb,
    params:
        device=teacher_device,
        # Outside the outputs: Snakemake deletes an incomplete job's outputs before rerunning it.
        state=f"{RES}/{{exp}}/teacher/{{tid}}/resume.pt",
        staging=f"{RES}/{{exp}}/teacher/{{tid}}/checkpoints.partial",
    script:
        "../scripts/teacher.py"


checkpoint select_teacher:
    """Pick the teacher the students learn from (best LR, as the paper reports). A checkpoint: only the
    selected teacher is probed, and the DAG below is re-evaluated once the choice is known.
    """
    input:
        teacher_curves,
    output:
        f"{RES}/{{exp}}/teacher/selected.json",
    log:
        f"{RES}/logs/{{exp}}/select_teacher.log",
    # Students wait on this tiny job: run it before the many probe jobs.
    priority: 20
    conda:
        ENV
    script:
        "../scripts/select_teacher.py"
