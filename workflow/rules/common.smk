import json
import os
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

# The package is importable even without `pip install -e .` (e.g. a bare `--sdm conda` checkout).
sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))

# Every path template, target list and the figure registry live in progdistill.layout (standard library
# only): evaluating the DAG, on each cluster job too, loads neither matplotlib nor seaborn nor torch.
from progdistill import config as pdc  # noqa: E402
from progdistill import layout as L  # noqa: E402
from progdistill import placement as pdpl  # noqa: E402
from progdistill import portable as pdp  # noqa: E402
from progdistill import resources as pdr  # noqa: E402

try:
    # Schema (draft 2020-12) + defaults + semantic checks, before any job is scheduled.
    _validated = pdc.validate_config(config)
except pdc.ConfigError as err:
    raise WorkflowError(str(err)) from None
# In place, so the scripts' snakemake.config sees the defaults too.
config.clear()
config.update(_validated)

# kernel_target: portable makes every job's arithmetic CPU-independent. The libraries read these variables
# when they load, so they go into the environment every job (script subprocess) starts with.
if config["kernel_target"] == "portable":
    os.environ.update(pdp.environment())

EXPS = config["experiments"]
ENV = "../../envs/progdistill.yaml"
# Where each training job runs (progdistill.placement: device, placement, the cost model). Decided here,
# from the configuration alone, so a GPU-less login node plans GPU jobs as a GPU node would.
COST = pdr.CostModel.load(config)


wildcard_constraints:
    **L.WILDCARDS,


def selected_teacher(exp_name):
    """The teacher chosen by the select_teacher checkpoint (evaluated after it has run)."""
    with open(checkpoints.select_teacher.get(exp=exp_name).output[0]) as fh:
        return json.load(fh)["teacher"]


def teacher_curves(wc):
    return L.teacher_curves(wc.exp, EXPS[wc.exp])


def selected_checkpoints(wc):
    """The selected teacher's checkpoint folder: retraining another teacher reruns no student."""
    return L.TEACHER_CHECKPOINTS.format(exp=wc.exp, tid=selected_teacher(wc.exp))


def selected_curve(wc):
    return L.TEACHER_CURVE.format(exp=wc.exp, tid=selected_teacher(wc.exp))


def probe_tables(exp_name):
    return L.probe_tables(exp_name, EXPS[exp_name], selected_teacher(exp_name))


def selection_input(wc):
    """The automatic selection, for the strategies that name one of its checkpoints: a checkpoint, so
    these jobs are re-evaluated once it has run."""
    st = pdc.strategy(EXPS[wc.exp], wc.strategy)
    if not pdc.uses_selection(st):
        return []
    return checkpoints.select_checkpoints.get(exp=wc.exp).output


# Placement of the training jobs: `resources: gpu` and the device each job runs on follow it, so the dry
# run shows which jobs hold the GPU.
def teacher_side(wildcards):
    return pdpl.side_of(config, EXPS[wildcards.exp], "teacher", COST)


def students_side(wildcards):
    exp = EXPS[wildcards.exp]
    width = int(wildcards.width)
    return pdpl.side_of(config, exp, "students", COST, wildcards.strategy, width)


def teacher_gpu(wildcards):
    return int(teacher_side(wildcards) == "gpu")


def students_gpu(wildcards):
    return int(students_side(wildcards) == "gpu")


def teacher_device(wildcards):
    return pdpl.job_device(config, teacher_side(wildcards))


def students_device(wildcards):
    return pdpl.job_device(config, students_side(wildcards))


# Scheduler requests of the training jobs, scaled with their steps and width on the side they run
# (progdistill/resources.py says how); a retry (--retries) asks for more. Override with
# --set-resources teacher:runtime=MINUTES.
def teacher_runtime(wildcards, attempt):
    exp = EXPS[wildcards.exp]
    return pdr.teacher_runtime(config, exp, attempt, teacher_side(wildcards))


def teacher_mem_mb(wildcards, attempt):
    exp = EXPS[wildcards.exp]
    return pdr.teacher_mem_mb(config, exp, attempt, teacher_side(wildcards))


def students_runtime(wildcards, attempt):
    exp = EXPS[wildcards.exp]
    side = students_side(wildcards)
    width = int(wildcards.width)
    return pdr.students_runtime(config, exp, wildcards.strategy, width, attempt, side)


def students_mem_mb(wildcards, attempt):
    exp = EXPS[wildcards.exp]
    side = students_side(wildcards)
    width = int(wildcards.width)
    return pdr.students_mem_mb(config, exp, wildcards.strategy, width, attempt, side)


# The teacher_logits stage (teacher_logits.smk): its inputs and placement, and the students' input on its
# files.


def logits_selection(wc):
    """The automatic selection, when some strategy of the experiment names one of its checkpoints."""
    if not pdc.needs_selection(EXPS[wc.exp]):
        return []
    return checkpoints.select_checkpoints.get(exp=wc.exp).output


def students_logits(wc):
    """The experiment's teacher-logit files, for a distilling students job with `teacher_logits: stage`.

    Not ancient(): Snakemake 9 drops a job whose only inputs from a rerunning job are ancient even when its
    own output is missing. Instead the files do not change when a strategy is added (config.logits_spec):
    the new strategy's students compute the blocks the files lack themselves, and no existing job reruns.
    """
    exp = EXPS[wc.exp]
    if (
        config["teacher_logits"] != "stage"
        or pdc.strategy(exp, wc.strategy)["kind"] == "ce"
    ):
        return []
    return L.teacher_logit_files(wc.exp, exp)


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
