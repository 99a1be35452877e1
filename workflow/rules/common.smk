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
from progdistill import config as pdconfig  # noqa: E402
from progdistill import layout  # noqa: E402
from progdistill import placement  # noqa: E402
from progdistill import portable  # noqa: E402
from progdistill import resources  # noqa: E402

try:
    # Schema (draft 2020-12) + defaults + semantic checks, before any job is scheduled.
    _validated = pdconfig.validate_config(config)
except pdconfig.ConfigError as err:
    raise WorkflowError(str(err)) from None
# In place, so the scripts' snakemake.config sees the defaults too.
config.clear()
config.update(_validated)
# The study model (progdistill.config.experiment): what every input function, resource and target list
# below reads. Jobs rebuild it from snakemake.config.
STUDY = pdconfig.Study.from_config(config)

# kernel_target: portable makes every job's arithmetic CPU-independent. The libraries read these variables
# when they load, so they go into the environment every job (script subprocess) starts with.
if STUDY.kernel_target == "portable":
    os.environ.update(portable.environment())

ENV = "../../envs/progdistill.yaml"
# Where each training job runs (progdistill.placement: device, placement, the cost model). Decided here,
# from the configuration alone, so a GPU-less login node plans GPU jobs as a GPU node would.
COST = resources.CostModel.load(STUDY)


wildcard_constraints:
    **layout.WILDCARDS,


def experiment(wc):
    return STUDY.experiment(wc.exp)


def strategy(wc):
    return STUDY.experiment(wc.exp).strategy(wc.strategy)


def chosen_teacher(exp_name):
    """The teacher id the select_teacher checkpoint chose (evaluated after it has run)."""
    with open(checkpoints.select_teacher.get(exp=exp_name).output[0]) as fh:
        return json.load(fh)["teacher"]


def teacher_curves(wc):
    return layout.teacher_curves(experiment(wc))


def chosen_teacher_id(wc):
    """A parameter, not the choice's file: the jobs get the id they need, and retraining a teacher that
    stays unchosen (select_teacher rewrites the file) reruns no job that reads it."""
    return chosen_teacher(wc.exp)


def chosen_checkpoint_dir(wc):
    """The chosen teacher's checkpoint folder: retraining another teacher reruns no student."""
    return layout.TEACHER_CHECKPOINTS.format(exp=wc.exp, tid=chosen_teacher(wc.exp))


def chosen_curve(wc):
    return layout.TEACHER_CURVE.format(exp=wc.exp, tid=chosen_teacher(wc.exp))


def probe_tables(exp_name):
    return layout.probe_tables(STUDY.experiment(exp_name), chosen_teacher(exp_name))


def selection_input(wc):
    """The automatic selection, for the strategies that name one of its checkpoints: a checkpoint, so
    these jobs are re-evaluated once it has run."""
    if not strategy(wc).uses_selection:
        return []
    return checkpoints.select_checkpoints.get(exp=wc.exp).output


# Placement of the training jobs: `resources: gpu` and the device each job runs on follow it, so the dry
# run shows which jobs hold the GPU.
def teacher_side(wc):
    return placement.side_of(STUDY, experiment(wc), "teacher", COST)


def students_side(wc):
    return placement.side_of(
        STUDY, experiment(wc), "students", COST, strategy(wc), int(wc.width)
    )


def teacher_gpu(wc):
    return int(teacher_side(wc) == "gpu")


def students_gpu(wc):
    return int(students_side(wc) == "gpu")


def teacher_device(wc):
    return placement.job_device(STUDY, teacher_side(wc))


def students_device(wc):
    return placement.job_device(STUDY, students_side(wc))


# Scheduler requests of the training jobs, scaled with their steps and width on the side they run
# (progdistill/resources.py says how); a retry (--retries) asks for more. Override with
# --set-resources teacher:runtime=MINUTES.
def teacher_runtime(wc, attempt):
    return resources.teacher_runtime(STUDY, experiment(wc), attempt, teacher_side(wc))


def teacher_mem_mb(wc, attempt):
    return resources.teacher_mem_mb(STUDY, experiment(wc), attempt, teacher_side(wc))


def students_runtime(wc, attempt):
    return resources.students_runtime(
        STUDY, experiment(wc), strategy(wc), int(wc.width), attempt, students_side(wc)
    )


def students_mem_mb(wc, attempt):
    return resources.students_mem_mb(
        STUDY, experiment(wc), strategy(wc), int(wc.width), attempt, students_side(wc)
    )


def figure_experiment(wc):
    return STUDY.figures[layout.FIGURES[wc.fig].family]


# The teacher_logits stage (teacher_logits.smk): its inputs and placement, and the students' input on its
# files.


def logits_selection(wc):
    """The automatic selection, when some strategy of the experiment names one of its checkpoints."""
    if not experiment(wc).needs_selection:
        return []
    return checkpoints.select_checkpoints.get(exp=wc.exp).output


def students_logits(wc):
    """The experiment's teacher-logit files, for a students job that reads the teacher_logits stage.

    Not ancient(): Snakemake 9 drops a job whose only inputs from a rerunning job are ancient even when its
    own output is missing. Instead the files do not change when a strategy is added (config.logits_spec):
    the new strategy's students compute the blocks the files lack themselves, and no existing job reruns.
    """
    if not STUDY.reads_logit_stage(strategy(wc)):
        return []
    return layout.teacher_logit_files(experiment(wc))


def teacher_logits_side(wc):
    return placement.side_of(STUDY, experiment(wc), "teacher_logits", COST)


def teacher_logits_gpu(wc):
    return int(teacher_logits_side(wc) == "gpu")


def teacher_logits_device(wc):
    return placement.job_device(STUDY, teacher_logits_side(wc))


def teacher_logits_runtime(wc, attempt):
    return resources.teacher_logits_runtime(
        STUDY, experiment(wc), attempt, teacher_logits_side(wc)
    )


def teacher_logits_mem_mb(wc, attempt):
    return resources.teacher_logits_mem_mb(
        STUDY, experiment(wc), attempt, teacher_logits_side(wc)
    )
