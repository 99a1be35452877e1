"""Where everything lives: every path template of the workflow, every target list, and the figure
registry (name -> experiment family, caption, what draws it).

The rules take their input/output/log patterns from here, the scripts and the package build paths from
here, and the tests check the rules against it. Standard library only: the Snakefile imports this module on
every DAG evaluation (each cluster job included), which must not load matplotlib, seaborn or torch.

Templates use Snakemake's wildcard syntax; ``TEMPLATE.format(exp=..., ...)`` gives a concrete path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

RES = "results"
GPU_BENCH = f"{RES}/bench/engine_cuda.json"  # make bench-gpu's results, read by resources.CostModel
JOB_BENCH = f"{RES}/bench/jobs.json"  # make bench's whole-job section (jobbench)
LOGS = f"{RES}/logs"

# ------------------------------------------------------------------------------------ path templates

# Teachers: one folder per (lr, seed) id, see teacher_id().
TEACHER_DIR = f"{RES}/{{exp}}/teacher/{{tid}}"
TEACHER_CURVE = f"{TEACHER_DIR}/curve.parquet"
TEACHER_CHECKPOINTS = f"{TEACHER_DIR}/checkpoints"
# Outside the outputs: Snakemake deletes an incomplete job's outputs before rerunning it.
TEACHER_STATE = f"{TEACHER_DIR}/resume.pt"
TEACHER_STAGING = f"{TEACHER_DIR}/checkpoints.partial"
TEACHER_LOG = f"{LOGS}/{{exp}}/teacher/{{tid}}.log"
CHECKPOINT_FILE = "step{step}.safetensors"  # inside a checkpoints folder (or its staging folder)

# The select_teacher rule's choice (which teacher the students learn from) and the select_checkpoints
# rule's checkpoint selection (its transition window and the checkpoints strategies may name).
TEACHER_CHOICE = f"{RES}/{{exp}}/teacher/selected.json"
TEACHER_CHOICE_LOG = f"{LOGS}/{{exp}}/select_teacher.log"
CHECKPOINT_SELECTION = f"{RES}/{{exp}}/teacher/transition.json"
CHECKPOINT_SELECTION_LOG = f"{LOGS}/{{exp}}/select_checkpoints.log"

PROBE = f"{RES}/{{exp}}/probe/{{tid}}/step{{step}}.parquet"
PROBE_LOG = f"{LOGS}/{{exp}}/probe/{{tid}}/step{{step}}.log"

STUDENT = f"{RES}/{{exp}}/students/{{strategy}}/w{{width}}.parquet"
STUDENT_STATE = f"{RES}/{{exp}}/students/{{strategy}}/w{{width}}.resume.pt"
STUDENT_LOG = f"{LOGS}/{{exp}}/students/{{strategy}}/w{{width}}.log"
# The teacher_logits stage: one file per (experiment, student seed), read by the experiment's students jobs.
TEACHER_LOGITS = f"{RES}/{{exp}}/teacher_logits/seed{{seed}}.bin"
TEACHER_LOGITS_LOG = f"{LOGS}/{{exp}}/teacher_logits/seed{{seed}}.log"

CURVES = f"{RES}/curves.parquet"
PROBES = f"{RES}/probe.parquet"
SWITCHES = f"{RES}/switches.parquet"  # when each paced run moved to its next teacher checkpoint
AGGREGATE_LOG = f"{LOGS}/aggregate.log"
SUMMARY_PARQUET = f"{RES}/summary.parquet"
SUMMARY_MD = f"{RES}/summary.md"
SUMMARY_HTML = f"{RES}/summary.html"
SUMMARY_LOG = f"{LOGS}/summary.log"
CONFIG_YAML = f"{RES}/config.yaml"
CONFIG_HTML = f"{RES}/config.html"
CONFIG_LOG = f"{LOGS}/record_config.log"

# Every registered figure (paper and theory alike) is results/figures/<name>.{pdf,png}.
FIGURE_PDF = f"{RES}/figures/{{fig}}.pdf"
FIGURE_PNG = f"{RES}/figures/{{fig}}.png"
FIGURE_LOG = f"{LOGS}/figures/{{fig}}.log"
SCALING_PDF = f"{RES}/figures/scaling_{{exp}}.pdf"
SCALING_PNG = f"{RES}/figures/scaling_{{exp}}.png"
SCALING_LOG = f"{LOGS}/figures/scaling_{{exp}}.log"
# Steps to accuracy as censored data (survival.py): Kaplan-Meier medians, log-rank tests, one figure each.
SURVIVAL = f"{RES}/survival.parquet"
COMPARISONS = f"{RES}/comparisons.parquet"
SURVIVAL_LOG = f"{LOGS}/survival.log"
SURVIVAL_PDF = f"{RES}/figures/survival_{{exp}}.pdf"
SURVIVAL_PNG = f"{RES}/figures/survival_{{exp}}.png"
SURVIVAL_FIG_LOG = f"{LOGS}/figures/survival_{{exp}}.log"

# How steps grow with n (the nscaling section; progdistill/nscaling.py): fitted exponents, medians, tests.
NSCALING_SLOPES = f"{RES}/nscaling/slopes.parquet"
NSCALING_MEDIANS = f"{RES}/nscaling/medians.parquet"
NSCALING_TESTS = f"{RES}/nscaling/tests.parquet"
NSCALING_MD = f"{RES}/nscaling/nscaling.md"
NSCALING_LOG = f"{LOGS}/nscaling/table.log"
NSCALING_PDF = f"{RES}/figures/nscaling.pdf"
NSCALING_PNG = f"{RES}/figures/nscaling.png"
NSCALING_FIG_LOG = f"{LOGS}/figures/nscaling.log"

THEORY_CORRELATION = f"{RES}/theory/correlation/d{{d}}_n{{n}}.parquet"
THEORY_CORRELATION_LOG = f"{LOGS}/theory/correlation_d{{d}}_n{{n}}.log"
THEORY_STUDENTS = f"{RES}/theory/students/n{{n}}.parquet"
THEORY_STUDENTS_LOG = f"{LOGS}/theory/students_n{{n}}.log"
THEORY_TABLE = f"{RES}/theory/theory.parquet"
THEORY_MD = f"{RES}/theory/theory.md"
THEORY_LOG = f"{LOGS}/theory/aggregate.log"

# What each wildcard may hold (the Snakefile's wildcard_constraints).
WILDCARDS = {
    "exp": "[A-Za-z][A-Za-z0-9_-]*",
    "tid": r"lr[0-9.e+-]+_s[0-9]+",
    "step": r"[0-9]+",
    "width": r"[0-9]+",
    "seed": r"[0-9]+",
}


def checkpoint_file(ckpt_dir: str, step: int) -> str:
    """A teacher checkpoint inside its folder (TEACHER_CHECKPOINTS, or the staging folder while training)."""
    return os.path.join(ckpt_dir, CHECKPOINT_FILE.format(step=step))


# ------------------------------------------------------------------------------------ names and targets
# The target lists take the study model's objects (progdistill.config: Study, Experiment), read by
# attribute: this module imports nothing of the package.


def teacher_id(lr: float, seed: int) -> str:
    return f"lr{lr:g}_s{seed}"


def parse_teacher_id(tid: str) -> tuple[float, int]:
    lr, seed = tid[2:].rsplit("_s", 1)
    return float(lr), int(seed)


def teacher_curves(exp) -> list[str]:
    return [TEACHER_CURVE.format(exp=exp.name, tid=t) for t in exp.teacher.ids]


def probe_tables(exp, tid: str) -> list[str]:
    """The probe of every checkpoint of teacher ``tid`` (the chosen one)."""
    return [PROBE.format(exp=exp.name, tid=tid, step=s) for s in exp.teacher.checkpoint_steps]


def teacher_logit_files(exp) -> list[str]:
    """The teacher_logits stage's files of an experiment, one per student seed."""
    return [TEACHER_LOGITS.format(exp=exp.name, seed=s) for s in exp.students.seeds]


def curve_tables(exp) -> list[str]:
    out = teacher_curves(exp)
    out += [STUDENT.format(exp=exp.name, strategy=name, width=w) for name, w in exp.student_cells()]
    return out


def theory_tables(theory: dict) -> tuple[list[str], list[str]]:
    """(first-stage correlation cells, student cells) of a theory section."""
    corr = [THEORY_CORRELATION.format(d=c["d"], n=n) for c in theory["correlation"]["grid"] for n in c["n"]]
    return corr, [THEORY_STUDENTS.format(n=n) for n in theory["students"]["n"]]


def figure_names(study) -> list[str]:
    """The registered figures this configuration draws: a family is drawn when the experiment that
    ``figures.<family>`` names exists; theory figures when there is a theory section."""
    names = []
    for name, fig in FIGURES.items():
        if fig.family == "theory":
            if study.theory is not None:
                names.append(name)
        elif study.figures[fig.family] in study.experiments:
            exp = study.experiments[study.figures[fig.family]]
            if not fig.requires or any(exp.in_figure_group(g) for g in fig.requires):
                names.append(name)
    return names


def all_targets(study) -> list[str]:
    """What `rule all` asks for."""
    exps = study.experiments
    # A configuration may hold only a theory section: no experiment tables then.
    out = [CURVES, PROBES, SUMMARY_PARQUET, SUMMARY_MD, SURVIVAL, COMPARISONS] if exps else []
    out.append(CONFIG_YAML)
    paper = [n for n in figure_names(study) if FIGURES[n].family != "theory"]
    out += [t.format(fig=f) for f in paper for t in (FIGURE_PDF, FIGURE_PNG)]
    out += [t.format(exp=e) for e, x in exps.items() if x.scaling for t in (SCALING_PDF, SCALING_PNG)]
    out += [t.format(exp=e) for e in exps for t in (SURVIVAL_PDF, SURVIVAL_PNG)]
    out += [CHECKPOINT_SELECTION.format(exp=e) for e in exps]
    if study.nscaling is not None:
        out += [NSCALING_SLOPES, NSCALING_MEDIANS, NSCALING_TESTS, NSCALING_MD, NSCALING_PDF, NSCALING_PNG]
    if study.theory is not None:
        theory = [n for n in figure_names(study) if FIGURES[n].family == "theory"]
        out += [THEORY_TABLE, THEORY_MD]
        out += [t.format(fig=f) for f in theory for t in (FIGURE_PDF, FIGURE_PNG)]
    return out


# ------------------------------------------------------------------------------------ figure registry


@dataclass(frozen=True)
class Figure:
    """One figure: ``family`` is the config key ``figures.<family>`` naming the experiment drawn (parity,
    hierarchical) or ``theory``; ``draw`` names the drawing function (registered with
    ``figures.drawing`` or in ``theory.figures.DRAWINGS``), called with ``options`` as keywords.
    ``needs``: what it is drawn from, "tables" (the aggregated tables: rule figure, or theory_figure) or
    "task" (the experiment's task alone: rule task_figure, which trains nothing). ``requires``: figure
    groups (strategies.Strategy.figure_groups) of which the experiment must have a strategy for the figure
    to be drawn (empty: always)."""

    family: str
    caption: str
    draw: str
    options: dict = field(default_factory=dict)
    needs: str = "tables"
    requires: tuple[str, ...] = ()


FIGURES: dict[str, Figure] = {
    "fig1a": Figure(
        "parity",
        "CE training: wider models learn sparse parity faster (teacher included).",
        "ce_widths",
        dict(with_teacher=True, title="CE training: accuracy vs steps"),
    ),
    "fig1b": Figure(
        "parity",
        "Strategies for the larger student: progressive distillation vs CE and one-shot.",
        "strategies",
        dict(width="largest"),
    ),
    "fig2a": Figure(
        "parity",
        "Teacher accuracy; triangles: 2-shot candidates; band, dashed lines: automatic selection.",
        "teacher_selection",
    ),
    "fig2b": Figure(
        "parity",
        "Teacher output correlation with in-support vs off-support monomials through training.",
        "probe_degrees",
    ),
    "fig2c": Figure(
        "parity",
        "2-shot distillation (larger student) from each candidate checkpoint, tau = 1.",
        "pshot_panels",
        dict(width="largest", taus=("1",), label="2-shot"),
    ),
    "fig2d": Figure(
        "parity",
        "2-shot distillation (larger student) from each candidate checkpoint, low temperature.",
        "pshot_panels",
        dict(width="largest", taus=("low",), label="2-shot"),
    ),
    "fig3a": Figure(
        "parity",
        "Sparse parity, CE: smaller models need more steps.",
        "ce_widths",
        dict(with_teacher=False, title="Sparse parity, CE, by width"),
    ),
    "fig4": Figure("parity", "Strategies for the smaller student.", "strategies", dict(width="smallest")),
    "fig6": Figure(
        "parity",
        "2-shot distillation for the smaller student, tau = 1 and low temperature.",
        "pshot_panels",
        dict(width="smallest", taus=("1", "low"), label="2-shot"),
    ),
    "fig3b": Figure(
        "hierarchical",
        "Hierarchical data, CE: smaller models need more steps (teacher included).",
        "ce_widths",
        dict(with_teacher=True, title="Hierarchical data, CE, by width"),
    ),
    "fig5": Figure(
        "hierarchical",
        "Hierarchical data: strategies for the larger student.",
        "strategies",
        dict(width="largest"),
    ),
    "fig7a": Figure(
        "hierarchical",
        "Hierarchical teacher; triangles: p-shot candidates; band, dashed lines: automatic selection.",
        "teacher_selection",
    ),
    "fig7b": Figure(
        "hierarchical",
        "3-shot (and 2-shot) distillation, larger student, tau = 1.",
        "pshot_panels",
        dict(width="largest", taus=("1",), label="p-shot"),
    ),
    "fig7c": Figure(
        "hierarchical",
        "3-shot (and 2-shot) distillation, smaller student, tau = 1.",
        "pshot_panels",
        dict(width="smallest", taus=("1",), label="p-shot"),
    ),
    "fig7d": Figure(
        "hierarchical",
        "3-shot (and 2-shot) distillation, larger student, low temperature.",
        "pshot_panels",
        dict(width="largest", taus=("low",), label="p-shot"),
    ),
    "fig7e": Figure(
        "hierarchical",
        "3-shot (and 2-shot) distillation, smaller student, low temperature.",
        "pshot_panels",
        dict(width="smallest", taus=("low",), label="p-shot"),
    ),
    "fig8": Figure(
        "hierarchical", "Per-node feature correlations through training, by tree level.", "node_features"
    ),
    "fig9": Figure(
        "hierarchical",
        "The hierarchical task: each node's level and the coordinates whose parity it reads, the branch "
        "each parity outcome takes (left +1, right -1), each leaf's class; below, which node reads each "
        "coordinate.",
        "task",
        needs="task",
    ),
    "task_parity": Figure(
        "parity",
        "The sparse parity task: its support among the n coordinates and its label rule.",
        "task",
        needs="task",
    ),
    "curricula_parity": Figure(
        "parity",
        "Curricula: CE, one-shot and progressive distillation beside student-paced progressive "
        "distillation and curriculum extraction, by width and temperature.",
        "curricula",
        requires=("pace", "extracted"),
    ),
    "pace_parity": Figure(
        "parity",
        "Paced runs: the teacher checkpoint each run learns from against its steps, beside the teacher's "
        "own pace and accuracy.",
        "pace",
        requires=("pace",),
    ),
    "curricula_hierarchical": Figure(
        "hierarchical",
        "Hierarchical data, curricula: CE, one-shot and progressive distillation beside student-paced "
        "progressive distillation and curriculum extraction, by width and temperature.",
        "curricula",
        requires=("pace", "extracted"),
    ),
    "pace_hierarchical": Figure(
        "hierarchical",
        "Hierarchical data, paced runs: the teacher checkpoint each run learns from against its steps, "
        "beside the teacher's own pace and accuracy.",
        "pace",
        requires=("pace",),
    ),
    "theory_corr": Figure(
        "theory",
        "Teacher after stage 1 of Algorithm 1: lemma B.5's correlations, measured vs predicted.",
        "corr",
    ),
    "theory_samples": Figure(
        "theory",
        "Theorem B.8: students taught by checkpoint 1, then the final teacher, vs by the final one.",
        "samples",
    ),
}


def figures_of(family: str) -> list[str]:
    return [name for name, fig in FIGURES.items() if fig.family == family]


def figure_pattern(*families: str, needs: str = "tables") -> str:
    """A wildcard constraint matching exactly the registered figures of these families drawn from
    ``needs`` (Figure.needs): one rule per kind of input, so no two rules match one figure."""
    return "|".join(name for f in families for name in figures_of(f) if FIGURES[name].needs == needs)
