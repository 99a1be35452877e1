"""The study's jobs, one function per workflow rule. Each takes plain paths and a validated config, so
the workflow's scripts stay thin and everything here is usable (and tested) without Snakemake."""

from __future__ import annotations

import json
import logging
import os
import shutil

from . import config as C
from . import jobtime
from .checkpoints import load_checkpoint, read_checkpoint_arrays, save_checkpoint
from .config import Experiment, Study, as_study
from .io import write_json, write_parquet, write_rows
from .layout import checkpoint_file, parse_teacher_id, teacher_id
from .probe import monomial_set, probe_checkpoint

# Torch-dependent modules are imported inside the training functions only: the probe, selection,
# aggregation and figure jobs never need torch, and importing it costs seconds per job. pandas likewise
# (a third of a second): the training and probe jobs write their tables with pyarrow (io.write_rows).

log = logging.getLogger(__name__)


def setup(study: Study, device: str | None = None):
    """Threads first (one is fastest for per-sample steps here), then device and backend. ``device``: where
    the workflow placed this job ('cpu', or the configured GPU device); None: the configuration's."""
    import torch

    from .engine import get_backend, resolve_device
    from .portable import missing_settings

    target = study.kernel_target
    missing = missing_settings(target)
    if missing:  # too late to set here: torch is loaded
        log.warning(
            "kernel_target: portable, but this process started without %s; results may still depend on "
            "the CPU (the workflow sets them for its jobs)",
            " ".join(f"{k}={v}" for k, v in missing.items()),
        )
    torch.set_num_threads(study.threads)
    device = resolve_device(device or study.device)
    backend = get_backend(study.backend, device, kernel_target=target)
    log.info(
        "device %s, backend %s (kernel target %s), %d thread(s)",
        device,
        backend.name,
        target,
        torch.get_num_threads(),
    )
    return device, backend


def _heldout(exp: Experiment):
    from .training import HeldOut

    return HeldOut.from_task(exp.task, C.seeds_for(exp.name)["heldout"], exp.heldout)


def run_teacher(
    cfg: dict | Study,
    exp_name: str,
    tid: str,
    curve_path: str,
    ckpt_dir: str,
    staging: str | None = None,
    state_path: str | None = None,
    device: str | None = None,
) -> None:
    """Train one teacher (one LR x seed) with CE, saving a checkpoint every checkpoint_every steps.

    Checkpoints are written to ``staging`` while training (kept across a kill, for resume) and moved to
    ``ckpt_dir`` when training is complete. ``device``: the job's placement (see setup)."""
    from .training import RunSpec, train

    study = as_study(cfg)
    exp = study.experiment(exp_name)
    device, backend = setup(study, device)
    lr, seed = parse_teacher_id(tid)
    init_seed, stream_seed = C.teacher_seeds(exp_name, seed)
    t = exp.teacher
    staging = staging or ckpt_dir

    def on_save(step, params):
        save_checkpoint(
            checkpoint_file(staging, step), params, 0, dict(step=step, lr=lr, seed=seed, experiment=exp_name)
        )

    jobtime.mark("work")  # training; its checkpoints are written on the way
    res = train(
        exp.task,
        t.width,
        [RunSpec(lr, init_seed, stream_seed)],
        t.steps,
        _heldout(exp),
        exp.eval_every,
        backend,
        device,
        save_every=t.checkpoint_every,
        on_save=on_save,
        chunk=study.chunk,
        state_path=state_path,
        state_every=study.resume_every or None,
        label=f"{exp_name} teacher {tid}",
        **t.protocol.train_options(),
    )
    jobtime.mark("write")
    rows = [{k: v for k, v in r.items() if k != "run"} for r in res.rows]
    missing = [s for s in t.checkpoint_steps if not os.path.exists(checkpoint_file(staging, s))]
    if missing:
        raise RuntimeError(f"teacher {tid}: checkpoints {missing[:5]} are missing from {staging}")
    if staging != ckpt_dir:
        if os.path.exists(ckpt_dir):
            shutil.rmtree(ckpt_dir)
        os.replace(staging, ckpt_dir)
    write_rows(
        rows,
        curve_path,
        experiment=exp_name,
        role="teacher",
        strategy="teacher",
        width=t.width,
        lr=lr,
        seed=seed,
        temperature=1.0,
        alpha=1.0,
    )
    _drop(state_path)


def select_teacher(exp_name: str, curve_paths: list[str], out_path: str) -> dict:
    """Pick the teacher students learn from: the best LR (and seed) by mean held-out accuracy over
    training (area under the curve), which rewards both learning early and learning fully."""
    import pandas as pd

    from .metrics import rank_candidates

    curves = pd.concat([pd.read_parquet(p) for p in curve_paths])
    score = rank_candidates(curves, [], ["lr", "seed"])  # diverged teachers ranked last
    if score.diverged.all():
        ids = ", ".join(teacher_id(r.lr, r.seed) for r in score.itertuples())
        raise RuntimeError(
            f"{exp_name}: every teacher diverged ({ids}); lower experiments.{exp_name}.teacher.lrs"
        )
    # Never a diverged teacher: its accuracy before it diverged must not win.
    best = score[~score.diverged].iloc[0]
    choice = {
        "experiment": exp_name,
        "teacher": teacher_id(float(best.lr), int(best.seed)),
        "lr": float(best.lr),
        "seed": int(best.seed),
        "criterion": "highest mean held-out accuracy over training (AUC), then final accuracy",
        "candidates": score[["lr", "seed", "auc", "final", "diverged"]].to_dict(orient="records"),
    }
    if best.final < 0.99:
        log.warning("%s: the selected teacher only reaches %.3f held-out accuracy", exp_name, best.final)
    write_json(choice, out_path)
    return choice


def select_checkpoints(
    cfg: dict | Study, exp_name: str, teacher: str, curve_path: str, probe_paths: list[str], out_path: str
) -> dict:
    """The chosen teacher's (id ``teacher``) phase-transition window and the checkpoints strategies may
    name (before / transition / after, and level0.. for hierarchical data), with the reason for each."""
    import pandas as pd

    from .transition import select_checkpoints as select

    exp = as_study(cfg).experiment(exp_name)
    tid = teacher
    curve = pd.read_parquet(curve_path)
    probe = pd.concat([pd.read_parquet(p) for p in probe_paths], ignore_index=True)
    probe = probe[probe.teacher == tid]
    sel = select(
        curve[["step", "accuracy"]],
        probe,
        exp.teacher.checkpoint_steps,
        1.0 / exp.task.num_classes,
        exp.selection,
        depth=exp.task.tree_depth,
    )
    sel = {"experiment": exp_name, "teacher": tid, **sel}
    for name, step in sorted(sel["checkpoints"].items()):
        log.info("%s: %s = %d (%s)", exp_name, name, step, sel["reasons"][name])
    if not sel["window"]["learned"]:
        log.warning("%s: %s", exp_name, sel["reasons"]["transition"])
    write_json(sel, out_path)
    return sel


def run_probe(cfg: dict | Study, exp_name: str, tid: str, step: int, ckpt_path: str, out_path: str) -> None:
    exp = as_study(cfg).experiment(exp_name)
    task = exp.task
    teacher, _ = read_checkpoint_arrays(ckpt_path, n=task.n, width=exp.teacher.width)
    seeds = C.seeds_for(exp_name)
    p = exp.probe
    monos = monomial_set(task, list(p.degrees), p.off_support_per_degree, seeds["monomials"])
    jobtime.mark("work")
    acc, rows = probe_checkpoint(teacher, task, monos, seeds["probe"], p.samples)
    jobtime.mark("write")
    write_rows(rows, out_path, experiment=exp_name, teacher=tid, checkpoint=step, teacher_accuracy=acc)


def distil_schedules(exp: Experiment, selection: dict | None) -> list[tuple[tuple[int, int], ...]]:
    """The teacher schedule of every distilling strategy of an experiment."""
    return [st.schedule(exp, selection) for st in exp.distilling]


def run_teacher_logits(
    cfg: dict | Study,
    exp_name: str,
    seed: int,
    ckpt_dir: str,
    out_path: str,
    selection_path: str | None = None,
    device: str | None = None,
) -> None:
    """The teacher_logits stage: every (checkpoint, block) of student seed ``seed``'s sample stream that any
    distilling strategy of the experiment uses, one forward pass per aligned block (the numbers the students
    job would compute itself: training.TeacherBank.compute), to one checksummed file."""
    from .logit_store import needed_blocks, write_logits
    from .training import Progress, TeacherBank

    study = as_study(cfg)
    exp = study.experiment(exp_name)
    task = exp.task
    device, _ = setup(study, device)
    selection = None
    if exp.needs_selection and selection_path:
        with open(selection_path) as fh:
            selection = json.load(fh)
    stream = C.student_stream(exp_name, seed)
    size = exp.students.protocol.train_set_size
    bank = TeacherBank(_teacher_loader(exp, ckpt_dir, device), train_set_size=size)
    need = needed_blocks(distil_schedules(exp, selection), exp.students.steps, bank.block)
    total = sum(len(b) for b in need.values())
    log.info(
        "%s seed %d: %d blocks of %d samples from %d checkpoints",
        exp_name,
        seed,
        total,
        bank.block,
        len(need),
    )
    progress = Progress(f"{exp_name} teacher logits seed {seed} (blocks)", total)
    jobtime.mark("work")  # the forward passes, each batch written as it is computed
    write_logits(
        out_path,
        stream,
        task.n,
        task.num_classes,
        need,
        lambda step: checkpoint_file(ckpt_dir, step),
        lambda ck, b0, b1: bank.compute(ck, stream, b0, b1, task.n).numpy(),
        block=bank.block,
        progress=lambda done, _: progress.update(done, force=done == total),
        train_set_size=size,
    )


def _teacher_loader(exp: Experiment, ckpt_dir: str, device):
    n, tw = exp.task.n, exp.teacher.width

    def load(step):
        params, _ = load_checkpoint(checkpoint_file(ckpt_dir, step), n=n, width=tw, device=device)
        return params

    return load


def run_students(
    cfg: dict | Study,
    exp_name: str,
    strategy_name: str,
    width: int,
    teacher: str,
    ckpt_dir: str,
    out_path: str,
    state_path: str | None = None,
    selection_path: str | None = None,
    logit_paths: list[str] | None = None,
    device: str | None = None,
) -> None:
    """Train every LR x seed of one (strategy, width) cell at once in the engine.

    ``teacher`` is the chosen teacher's id, ``ckpt_dir`` its checkpoint folder (layout.TEACHER_CHECKPOINTS);
    ``selection_path`` is the select_checkpoints output, needed by strategies that name e.g. 'transition';
    ``logit_paths`` are the teacher_logits stage's files of the experiment (config ``teacher_logits:
    stage``; None or empty: every target is computed here); ``device`` is the job's placement (see setup)."""
    from .training import RunSpec, TeacherBank, train

    study = as_study(cfg)
    exp = study.experiment(exp_name)
    device, backend = setup(study, device)
    st = exp.strategy(strategy_name)
    jobtime.mark("read")
    tid = teacher
    selection = None
    if st.uses_selection and selection_path:
        with open(selection_path) as fh:
            selection = json.load(fh)
    if selection:
        log.info(
            "%s uses teacher checkpoints %s (automatic selection)",
            strategy_name,
            st.resolved_checkpoints(selection),
        )
    s = exp.students
    runs, meta = [], []
    for lr in s.lrs:
        for seed in s.seeds:
            init_seed, stream_seed = C.student_seeds(exp_name, width, seed)
            options = st.run_options(exp, selection, width, seed)  # its schedule, Pace or HiddenPhase
            runs.append(
                RunSpec(lr, init_seed, stream_seed, alpha=st.alpha, temperature=st.temperature, **options)
            )
            meta.append((lr, seed))
            if "hidden" in options and lr == s.lrs[0]:
                log.info("seed %d: extraction projection seed %d", seed, options["hidden"].projection_seed)
    used = st.teacher_checkpoints(exp, selection)
    stored = _logit_files(logit_paths, ckpt_dir, used) if st.distills else None
    opts = s.protocol.train_options()
    bank = TeacherBank(
        _teacher_loader(exp, ckpt_dir, device), stored=stored, train_set_size=opts["train_set_size"]
    )
    heldout = _heldout(exp)
    jobtime.mark("work")
    res = train(
        exp.task,
        width,
        runs,
        s.steps,
        heldout,
        exp.eval_every,
        backend,
        device,
        teachers=bank if st.distills else None,
        chunk=study.chunk,
        state_path=state_path,
        state_every=study.resume_every or None,
        label=f"{exp_name} {strategy_name} w{width}",
        **opts,
    )
    jobtime.mark("write")
    rows = [
        {**{k: v for k, v in r.items() if k != "run"}, "lr": meta[r["run"]][0], "seed": meta[r["run"]][1]}
        for r in res.rows
    ]
    for i, d in enumerate(res.diverged_at):
        if d >= 0:
            log.warning("run lr=%g seed=%d diverged at step %d", meta[i][0], meta[i][1], d)
    write_rows(
        rows,
        out_path,
        experiment=exp_name,
        role="student",
        strategy=strategy_name,
        width=width,
        temperature=float(st.temperature),
        alpha=float(st.alpha),
        teacher=tid,
    )
    _drop(state_path)


def _logit_files(paths: list[str] | None, ckpt_dir: str, checkpoints: list[int]) -> list:
    """The stage's files, checked before training starts: intact, and computed from the checkpoints this
    job can use as they are now (a stale or corrupt file is an error naming it)."""
    from .logit_store import LogitFile

    files, hashes = [], {}
    for path in paths or []:
        f = LogitFile(path)
        f.check_checkpoints(lambda s: checkpoint_file(ckpt_dir, s), set(checkpoints), hashes)
        files.append(f)
    return files


CURVE_COLUMNS = [
    "experiment",
    "role",
    "strategy",
    "width",
    "lr",
    "seed",
    "temperature",
    "alpha",
    "step",
    "accuracy",
    "loss",
    "teacher_checkpoint",
    "diverged",
]
PROBE_COLUMNS = [
    "experiment",
    "teacher",
    "checkpoint",
    "teacher_accuracy",
    "output",
    "degree",
    "monomial",
    "in_support",
    "node",
    "level",
    "correlation",
    "stderr",
]


SWITCH_COLUMNS = [
    "experiment",
    "strategy",
    "width",
    "lr",
    "seed",
    "step",
    "from_checkpoint",
    "to_checkpoint",
    "gap",
    "reason",
]


def aggregate(
    curve_paths: list[str],
    probe_paths: list[str],
    curves_out: str,
    probe_out: str,
    switches_out: str | None = None,
) -> None:
    """One tidy table of every curve, one of every probe row and one of every move of a paced run to its
    next teacher checkpoint (``switches_out``: the evaluation step it moved at, from and to which
    checkpoint, ``gap``: the held-out accuracy of the one it left less its own, "caught up" or "cap");
    sorted so reruns give identical files."""
    import pandas as pd

    jobtime.mark("read")
    curves = pd.concat([pd.read_parquet(p) for p in curve_paths], ignore_index=True)
    if switches_out:
        write_parquet(switches(curves), switches_out)
    curves = curves.astype(
        {
            "width": "int64",
            "seed": "int64",
            "step": "int64",
            "teacher_checkpoint": "int64",
            "lr": "float64",
            "temperature": "float64",
            "alpha": "float64",
            "diverged": "bool",
        }
    )
    curves = curves[CURVE_COLUMNS].sort_values(
        ["experiment", "role", "strategy", "width", "lr", "seed", "step"], ignore_index=True
    )
    probe = pd.concat([pd.read_parquet(p) for p in probe_paths], ignore_index=True)
    jobtime.mark("work")
    probe = probe.astype(
        {"checkpoint": "int64", "degree": "int64", "node": "int64", "level": "int64", "in_support": "bool"}
    )
    probe = probe[PROBE_COLUMNS].sort_values(
        ["experiment", "teacher", "checkpoint", "output", "degree", "monomial"], ignore_index=True
    )
    jobtime.mark("write")
    write_parquet(curves, curves_out)
    write_parquet(probe, probe_out)


def switches(curves):
    """The paced runs' moves, from their curve rows (training._evaluate's moved_to / reason)."""
    import pandas as pd

    if "moved_to" not in curves.columns:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in _SWITCH_DTYPES.items()})[SWITCH_COLUMNS]
    moved = curves[curves.moved_to.fillna(-1) >= 0]
    out = moved.assign(
        from_checkpoint=moved.teacher_checkpoint, to_checkpoint=moved.moved_to, reason=moved.reason
    )
    out = out.astype(_SWITCH_DTYPES)[SWITCH_COLUMNS]
    return out.sort_values(["experiment", "strategy", "width", "lr", "seed", "step"], ignore_index=True)


_SWITCH_DTYPES = {
    "experiment": "object",
    "strategy": "object",
    "width": "int64",
    "lr": "float64",
    "seed": "int64",
    "step": "int64",
    "from_checkpoint": "int64",
    "to_checkpoint": "int64",
    "gap": "float64",
    "reason": "object",
}


def _drop(path: str | None) -> None:
    if path and os.path.exists(path):
        os.remove(path)
