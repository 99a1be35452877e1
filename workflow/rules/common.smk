import json
import sys
from pathlib import Path

from snakemake.utils import min_version

min_version("9.0")

# The package is importable even without `pip install -e .` (e.g. a bare `--sdm conda` checkout).
sys.path.insert(0, str(Path(workflow.basedir) / "workflow"))

from progdistill import config as pdc  # noqa: E402
from progdistill.figures import (  # noqa: E402
    CAPTIONS,
    HIERARCHICAL_FIGURES,
    PARITY_FIGURES,
    figure_kind,
)
from progdistill import resources as pdr  # noqa: E402
from progdistill import theory as pdt  # noqa: E402
from progdistill.theory_figures import CAPTIONS as THEORY_CAPTIONS  # noqa: E402

try:
    # Schema (draft 2020-12) + defaults + semantic checks, before any job is scheduled.
    _validated = pdc.validate_config(config)
except pdc.ConfigError as err:
    raise WorkflowError(str(err)) from None
# In place, so the scripts' snakemake.config sees the defaults too.
config.clear()
config.update(_validated)

RES = "results"
EXPS = config["experiments"]
ENV = "../../envs/progdistill.yaml"
# Training rules declare a GPU whenever they would use one, so `--resources gpu=1` admits one at a time.
TRAIN_GPU = 0 if config["device"] == "cpu" else 1


wildcard_constraints:
    exp="[A-Za-z][A-Za-z0-9_-]*",
    tid=r"lr[0-9.e+-]+_s[0-9]+",
    step=r"[0-9]+",
    width=r"[0-9]+",
    fig=r"fig[0-9]+[a-z]?",


def teacher_curves(wc):
    return [
        f"{RES}/{wc.exp}/teacher/{t}/curve.parquet"
        for t in pdc.teacher_ids(EXPS[wc.exp])
    ]


def teacher_ckpt_dirs(wc):
    """Checkpoint folders of every teacher (which one is selected is known only at run time)."""
    return [
        f"{RES}/{wc.exp}/teacher/{t}/checkpoints" for t in pdc.teacher_ids(EXPS[wc.exp])
    ]


def selected_teacher(exp_name):
    """The teacher chosen by the select_teacher checkpoint (evaluated after it has run)."""
    with open(checkpoints.select_teacher.get(exp=exp_name).output[0]) as fh:
        return json.load(fh)["teacher"]


def probe_tables(exp_name):
    tid = selected_teacher(exp_name)
    return [
        f"{RES}/{exp_name}/probe/{tid}/step{s}.parquet"
        for s in pdc.teacher_checkpoints(EXPS[exp_name])
    ]


def student_cells(exp_name):
    """(strategy, width) of every student job: each strategy at the student widths, plus CE at the
    scaling sweep's widths."""
    exp = EXPS[exp_name]
    cells = [
        (st["name"], w) for st in exp["strategies"] for w in exp["students"]["widths"]
    ]
    ce = [st["name"] for st in exp["strategies"] if st["kind"] == "ce"]
    if "scaling" in exp and ce:
        cells += [
            (ce[0], w) for w in exp["scaling"]["widths"] if (ce[0], w) not in cells
        ]
    return cells


def curve_tables(exp_name):
    exp = EXPS[exp_name]
    out = [f"{RES}/{exp_name}/teacher/{t}/curve.parquet" for t in pdc.teacher_ids(exp)]
    out += [
        f"{RES}/{exp_name}/students/{name}/w{w}.parquet"
        for name, w in student_cells(exp_name)
    ]
    return out


def selection_input(wc):
    """The automatic selection, for the strategies that name one of its checkpoints: a checkpoint, so
    these jobs are re-evaluated once it has run."""
    st = pdc.strategy(EXPS[wc.exp], wc.strategy)
    if not pdc.uses_selection(st):
        return []
    return checkpoints.select_checkpoints.get(exp=wc.exp).output


# Scheduler requests of the training jobs, scaled with their steps and width (progdistill/resources.py
# says how); a retry (--retries) asks for more. Override with --set-resources teacher:runtime=MINUTES.
def teacher_runtime(wildcards, attempt):
    return pdr.teacher_runtime(config, EXPS[wildcards.exp], attempt)


def teacher_mem_mb(wildcards, attempt):
    return pdr.teacher_mem_mb(config, EXPS[wildcards.exp], attempt)


def students_runtime(wildcards, attempt):
    exp = EXPS[wildcards.exp]
    return pdr.students_runtime(
        config, exp, wildcards.strategy, int(wildcards.width), attempt
    )


def students_mem_mb(wildcards, attempt):
    exp = EXPS[wildcards.exp]
    return pdr.students_mem_mb(
        config, exp, wildcards.strategy, int(wildcards.width), attempt
    )


def figure_names():
    """Each family of figures is drawn when the experiment it names exists."""
    names = []
    if config["figures"]["parity"] in EXPS:
        names += PARITY_FIGURES
    if config["figures"]["hierarchical"] in EXPS:
        names += HIERARCHICAL_FIGURES
    return names


def figure_experiment(wc):
    return config["figures"][figure_kind(wc.fig)]


def all_targets():
    figs = expand(
        f"{RES}/figures/{{fig}}.{{ext}}", fig=figure_names(), ext=["pdf", "png"]
    )
    # A configuration may hold only a theory section: no experiment tables then.
    tables = (
        [
            "curves.parquet",
            "probe.parquet",
            "summary.parquet",
            "summary.md",
            "survival.parquet",
            "comparisons.parquet",
        ]
        if EXPS
        else []
    ) + ["config.yaml"]
    scaling = [
        f"{RES}/figures/scaling_{e}.{ext}"
        for e in EXPS
        if "scaling" in EXPS[e]
        for ext in ["pdf", "png"]
    ]
    survival = [
        f"{RES}/figures/survival_{e}.{ext}" for e in EXPS for ext in ["pdf", "png"]
    ]
    selections = [f"{RES}/{e}/teacher/transition.json" for e in EXPS]
    return (
        [f"{RES}/{t}" for t in tables]
        + figs
        + scaling
        + survival
        + selections
        + pdt.targets(config, RES)
    )
