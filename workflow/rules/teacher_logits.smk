# The teacher_logits stage (progdistill.logit_store): with `teacher_logits: stage`, every teacher logit the
# students of an experiment need, per student seed's sample stream, computed once and read by the students.
# Its input functions and placement are in common.smk.


rule teacher_logits:
    """Every (checkpoint, block) of one student seed's stream that a strategy of the experiment uses."""
    input:
        checkpoints=selected_checkpoints,
        selection=logits_selection,
    output:
        L.TEACHER_LOGITS,
    log:
        L.TEACHER_LOGITS_LOG,
    # Every distilling student of the experiment waits on these jobs.
    priority: 15
    conda:
        ENV
    threads: config["threads"]
    resources:
        gpu=teacher_logits_gpu,
        runtime=teacher_logits_runtime,
        mem_mb=teacher_logits_mem_mb,
    params:
        device=teacher_logits_device,
        # A changed setting that this job's blocks depend on reruns it (config.logits_spec).
        spec=lambda wc: pdc.digest(pdc.logits_spec(EXPS[wc.exp])),
        numerics=config["kernel_target"],
    script:
        "../scripts/teacher_logits.py"
