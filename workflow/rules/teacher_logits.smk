# The teacher_logits stage (progdistill.logit_store): with `teacher_logits: stage`, every teacher logit the
# students of an experiment need, per student seed's sample stream, computed once and read by the students.
# Its input functions and placement are in common.smk.


rule teacher_logits:
    """Every (checkpoint, block) of one student seed's stream that a strategy of the experiment uses."""
    input:
        checkpoints=chosen_checkpoint_dir,
        selection=logits_selection,
    output:
        layout.TEACHER_LOGITS,
    log:
        layout.TEACHER_LOGITS_LOG,
    # Every distilling student of the experiment waits on these jobs.
    priority: 15
    conda:
        ENV
    threads: STUDY.threads
    resources:
        gpu=teacher_logits_gpu,
        runtime=teacher_logits_runtime,
        mem_mb=teacher_logits_mem_mb,
    params:
        device=teacher_logits_device,
        # A changed setting that this job's blocks depend on reruns it (config.logits_spec).
        spec=lambda wc: pdconfig.digest(pdconfig.logits_spec(experiment(wc))),
        numerics=STUDY.kernel_target,
    script:
        "../scripts/teacher_logits.py"
