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
from .io import write_json, write_parquet, write_rows
from .layout import checkpoint_file
from .probe import monomial_set, probe_checkpoint
from .tasks import make_task

# Torch-dependent modules are imported inside the training functions only: the probe, selection,
# aggregation and figure jobs never need torch, and importing it costs seconds per job. pandas likewise
# (a third of a second): the training and probe jobs write their tables with pyarrow (io.write_rows).

log = logging.getLogger(__name__)


def setup(cfg: dict, device: str | None = None):
    """Threads first (one is fastest for per-sample steps here), then device and backend. ``device``: where
    the workflow placed this job ('cpu', or the configured GPU device); None: the configuration's."""
    import torch

    from .engine import get_backend, resolve_device
    from .portable import missing_settings

    target = cfg.get("kernel_target", "native")
    missing = missing_settings(target)
    if missing:  # too late to set here: torch is loaded
        log.warning(
            "kernel_target: portable, but this process started without %s; results may still depend on "
            "the CPU (the workflow sets them for its jobs)",
            " ".join(f"{k}={v}" for k, v in missing.items()),
        )
    torch.set_num_threads(cfg.get("threads", 1))
    device = resolve_device(device or cfg.get("device", "auto"))
    backend = get_backend(cfg.get("backend", "auto"), device, kernel_target=target)
    log.info(
        "device %s, backend %s (kernel target %s), %d thread(s)",
        device,
        backend.name,
        target,
        torch.get_num_threads(),
    )
    return device, backend


def _heldout(exp_name: str, exp: dict, task):
    from .training import HeldOut

    return HeldOut.from_task(task, C.seeds_for(exp_name)["heldout"], exp["heldout"])


def run_teacher(
    cfg: dict,
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

    exp = cfg["experiments"][exp_name]
    task = make_task(exp["task"])
    device, backend = setup(cfg, device)
    lr, seed = C.parse_teacher_id(tid)
    init_seed, stream_seed = C.teacher_seeds(exp_name, seed)
    t = exp["teacher"]
    staging = staging or ckpt_dir

    def on_save(step, params):
        save_checkpoint(
            checkpoint_file(staging, step), params, 0, dict(step=step, lr=lr, seed=seed, experiment=exp_name)
        )

    jobtime.mark("work")  # training; its checkpoints are written on the way
    res = train(
        task,
        t["width"],
        [RunSpec(lr, init_seed, stream_seed)],
        t["steps"],
        _heldout(exp_name, exp, task),
        exp["eval_every"],
        backend,
        device,
        save_every=t["checkpoint_every"],
        on_save=on_save,
        chunk=cfg["chunk"],
        state_path=state_path,
        state_every=cfg["resume_every"] or None,
        label=f"{exp_name} teacher {tid}",
        **C.train_options(t),
    )
    jobtime.mark("write")
    rows = [{k: v for k, v in r.items() if k != "run"} for r in res.rows]
    missing = [s for s in C.teacher_checkpoints(exp) if not os.path.exists(checkpoint_file(staging, s))]
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
        width=t["width"],
        lr=lr,
        seed=seed,
        temperature=1.0,
        alpha=1.0,
    )
    _drop(state_path)


def select_teacher(cfg: dict, exp_name: str, curve_paths: list[str], out_path: str) -> dict:
    """Pick the teacher students learn from: the best LR (and seed) by mean held-out accuracy over
    training (area under the curve), which rewards both learning early and learning fully."""
    import pandas as pd

    from .metrics import rank_candidates

    curves = pd.concat([pd.read_parquet(p) for p in curve_paths])
    score = rank_candidates(curves, [], ["lr", "seed"])  # diverged teachers ranked last
    if score.diverged.all():
        ids = ", ".join(C.teacher_id(r.lr, r.seed) for r in score.itertuples())
        raise RuntimeError(
            f"{exp_name}: every teacher diverged ({ids}); lower experiments.{exp_name}.teacher.lrs"
        )
    # Never a diverged teacher: its accuracy before it diverged must not win.
    best = score[~score.diverged].iloc[0]
    choice = {
        "experiment": exp_name,
        "teacher": C.teacher_id(float(best.lr), int(best.seed)),
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
    cfg: dict, exp_name: str, selected_path: str, curve_path: str, probe_paths: list[str], out_path: str
) -> dict:
    """The selected teacher's phase-transition window and the checkpoints strategies may name
    (before / transition / after, and level0.. for hierarchical data), with the reason for each."""
    import pandas as pd

    from .transition import select_checkpoints as select

    exp = cfg["experiments"][exp_name]
    task = make_task(exp["task"])
    with open(selected_path) as fh:
        tid = json.load(fh)["teacher"]
    curve = pd.read_parquet(curve_path)
    probe = pd.concat([pd.read_parquet(p) for p in probe_paths], ignore_index=True)
    probe = probe[probe.teacher == tid]
    sel = select(
        curve[["step", "accuracy"]],
        probe,
        C.teacher_checkpoints(exp),
        1.0 / task.num_classes,
        depth=getattr(task, "depth", None),
        params=exp["selection"],
    )
    sel = {"experiment": exp_name, "teacher": tid, **sel}
    for name, step in sorted(sel["checkpoints"].items()):
        log.info("%s: %s = %d (%s)", exp_name, name, step, sel["reasons"][name])
    if not sel["window"]["learned"]:
        log.warning("%s: %s", exp_name, sel["reasons"]["transition"])
    write_json(sel, out_path)
    return sel


def run_probes(cfg: dict, exp_name: str, tid: str, ckpt_dir: str, out_path: str) -> None:
    """The probe of every checkpoint of teacher ``tid`` (in ``ckpt_dir``), in step order, as one table."""
    import time

    exp = cfg["experiments"][exp_name]
    task = make_task(exp["task"])
    seeds = C.seeds_for(exp_name)
    p = exp["probe"]
    monos = monomial_set(task, p["degrees"], p["off_support_per_degree"], seeds["monomials"])
    steps = C.teacher_checkpoints(exp)
    rows, t0, last = [], time.monotonic(), time.monotonic()
    for i, step in enumerate(steps):
        jobtime.mark("read")
        teacher, _ = read_checkpoint_arrays(
            checkpoint_file(ckpt_dir, step), n=task.n, width=exp["teacher"]["width"]
        )
        jobtime.mark("work")
        acc, probed = probe_checkpoint(teacher, task, monos, seeds["probe"], p["samples"])
        rows += [dict(r, checkpoint=step, teacher_accuracy=acc) for r in probed]
        if time.monotonic() - last > 10 or i + 1 == len(steps):
            last = time.monotonic()
            log.info("%s %s: probed %d/%d checkpoints (%.1f s)", exp_name, tid, i + 1, len(steps), last - t0)
    jobtime.mark("write")
    write_rows(rows, out_path, experiment=exp_name, teacher=tid)


def distil_schedules(exp: dict, selection: dict | None) -> list[tuple[tuple[int, int], ...]]:
    """The teacher schedule of every distilling strategy of an experiment."""
    return [C.schedule(st, exp, selection) for st in C.distills(exp)]


def run_teacher_logits(
    cfg: dict,
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

    exp = cfg["experiments"][exp_name]
    task = make_task(exp["task"])
    device, _ = setup(cfg, device)
    selection = None
    if C.needs_selection(exp) and selection_path:
        with open(selection_path) as fh:
            selection = json.load(fh)
    stream = C.student_stream(exp_name, seed)
    size = exp["students"].get("train_set_size")
    bank = TeacherBank(_teacher_loader(exp, task, ckpt_dir, device), train_set_size=size)
    need = needed_blocks(distil_schedules(exp, selection), exp["students"]["steps"], bank.block)
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


def _teacher_loader(exp: dict, task, ckpt_dir: str, device):
    tw = exp["teacher"]["width"]

    def load(step):
        params, _ = load_checkpoint(checkpoint_file(ckpt_dir, step), n=task.n, width=tw, device=device)
        return params

    return load


def run_students(
    cfg: dict,
    exp_name: str,
    strategy_name: str,
    width: int,
    selected_path: str,
    ckpt_dir: str,
    out_path: str,
    state_path: str | None = None,
    selection_path: str | None = None,
    logit_paths: list[str] | None = None,
    device: str | None = None,
) -> None:
    """Train every LR x seed of one (strategy, width) cell at once in the engine.

    ``ckpt_dir`` is the selected teacher's checkpoint folder (layout.TEACHER_CHECKPOINTS);
    ``selection_path`` is the select_checkpoints output, needed by strategies that name e.g. 'transition';
    ``logit_paths`` are the teacher_logits stage's files of the experiment (config ``teacher_logits:
    stage``; None or empty: every target is computed here); ``device`` is the job's placement (see setup)."""
    from .training import RunSpec, TeacherBank, train

    exp = cfg["experiments"][exp_name]
    task = make_task(exp["task"])
    device, backend = setup(cfg, device)
    st = C.strategy(exp, strategy_name)
    jobtime.mark("read")
    with open(selected_path) as fh:
        tid = json.load(fh)["teacher"]
    selection = None
    if C.uses_selection(st) and selection_path:
        with open(selection_path) as fh:
            selection = json.load(fh)
    sched = C.schedule(st, exp, selection)
    if selection:
        log.info(
            "%s uses teacher checkpoints %s (automatic selection)",
            strategy_name,
            C.resolved_checkpoints(st, selection),
        )
    s = exp["students"]
    runs, meta = [], []
    for lr in s["lrs"]:
        for seed in s["seeds"]:
            init_seed, stream_seed = C.student_seeds(exp_name, width, seed)
            runs.append(
                RunSpec(
                    lr,
                    init_seed,
                    stream_seed,
                    alpha=st["alpha"],
                    temperature=st["temperature"],
                    schedule=sched,
                )
            )
            meta.append((lr, seed))
    stored = _logit_files(logit_paths, ckpt_dir, sched) if sched else None
    opts = C.train_options(s)
    bank = TeacherBank(
        _teacher_loader(exp, task, ckpt_dir, device), stored=stored, train_set_size=opts["train_set_size"]
    )
    heldout = _heldout(exp_name, exp, task)
    jobtime.mark("work")
    res = train(
        task,
        width,
        runs,
        s["steps"],
        heldout,
        exp["eval_every"],
        backend,
        device,
        teachers=bank if sched else None,
        chunk=cfg["chunk"],
        state_path=state_path,
        state_every=cfg["resume_every"] or None,
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
        temperature=float(st["temperature"]),
        alpha=float(st["alpha"]),
        teacher=tid,
    )
    _drop(state_path)


def _logit_files(paths: list[str] | None, ckpt_dir: str, sched) -> list:
    """The stage's files, checked before training starts: intact, and computed from the checkpoints this
    job uses as they are now (a stale or corrupt file is an error naming it)."""
    from .logit_store import LogitFile

    files, hashes = [], {}
    for path in paths or []:
        f = LogitFile(path)
        f.check_checkpoints(lambda s: checkpoint_file(ckpt_dir, s), {ck for _, ck in sched}, hashes)
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


def aggregate(curve_paths: list[str], probe_paths: list[str], curves_out: str, probe_out: str) -> None:
    """One tidy table of every curve, one of every probe row; sorted so reruns give identical files."""
    import pandas as pd

    jobtime.mark("read")
    curves = pd.concat([pd.read_parquet(p) for p in curve_paths], ignore_index=True)
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


def _drop(path: str | None) -> None:
    if path and os.path.exists(path):
        os.remove(path)
