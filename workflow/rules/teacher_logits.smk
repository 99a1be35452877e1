# The teacher_logits stage (progdistill.logit_store): with `teacher_logits: stage`, every teacher logit the
# students of an experiment need, per student seed's sample stream, computed once and read by the students.


def logits_selection(wc):
    """The automatic selection, when some strategy of the experiment names one of its checkpoints."""
    if not pdc.needs_selection(EXPS[wc.exp]):
        return []
    return checkpoints.select_checkpoints.get(exp=wc.exp).output


def students_logits(wc):
    """The experiment's teacher-logit files, for a distilling students job with `teacher_logits: stage`.

    ancient(): adding a strategy reruns the logits jobs (their spec changes) but only adds blocks, never
    changes one (a block is one forward pass of a checkpoint over fixed rows of the stream), so the
    existing students keep their numbers and must not rerun. A retrained teacher still reruns them: their
    checkpoints input is newer then."""
    exp = EXPS[wc.exp]
    if (
        config["teacher_logits"] != "stage"
        or pdc.strategy(exp, wc.strategy)["kind"] == "ce"
    ):
        return []
    return [ancient(p) for p in L.teacher_logit_files(wc.exp, exp)]


def teacher_logits_side(wildcards):
    return pdpl.side_of(config, EXPS[wildcards.exp], "teacher_logits", COST)


def teacher_logits_gpu(wildcards):
    return int(teacher_logits_side(wildcards) == "gpu")


def teacher_logits_device(wildcards):
    return pdpl.job_device(config, teacher_logits_side(wildcards))


def teacher_logits_runtime(wildcards, attempt):
    exp = EXPS[wildcards.exp]
    return pdr.teacher_logits_runtime(
        config, exp, attempt, teacher_logits_side(wildcards)
    )


def teacher_logits_mem_mb(wildcards, attempt):
    exp = EXPS[wildcards.exp]
    return pdr.teacher_logits_mem_mb(
        config, exp, attempt, teacher_logits_side(wildcards)
    )


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
        # The schedules this job's blocks depend on (config.logits_spec): a new strategy reruns it.
        spec=lambda wc: pdc.digest(pdc.logits_spec(EXPS[wc.exp])),
        numerics=config["kernel_target"],
    script:
        "../scripts/teacher_logits.py"
