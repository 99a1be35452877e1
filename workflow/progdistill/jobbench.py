"""`make bench`, job section: whole workflow jobs of the default configuration's shapes, run by Snakemake.

Each job is a real ``snakemake`` invocation of one target (``--forcerun`` its rule, ``--allowed-rules`` so
nothing upstream runs) on a prepared results folder, so it pays what a user's job pays: Snakemake starting
the job, the interpreter, the script preamble, the imports, reading inputs, the work, writing outputs. Its
wall time is Snakemake's own record of the job (.snakemake/metadata: start and end); the job's log
(progdistill.jobtime) says how much of it was work. Everything else is the job's fixed cost, reported as a
ratio to a bare ``python -c pass`` measured in the same run.

Prepared here, in a temporary folder:
- ``train/``: the default's parity experiment as it trains, with its one selected teacher (lr 0.01, seed 1),
  its automatically selected checkpoint fixed to what the default run selects (155k), so no probe has to run
  before the students. Timed: the teacher, probes, a teacher_logits job (all 12 strategies' blocks) and the
  width-100 progressive students job of 3 seeds (6 runs, today's default).
- ``train10/``: the same with 10 student seeds and only the CE and progressive strategies (its teacher copied
  from ``train/``), so its ten teacher_logits files cost a third to prepare; timed: the progressive width-100
  students job of 20 runs (its files hold only the blocks it reads: it hashes ~60 MB less than the default's
  would).
- ``tables/``: the whole default configuration with synthetic per-job tables of its shapes (every teacher
  curve, student table and probe table, made-up but plausible numbers). Timed: aggregate, summary,
  survival and the figure jobs (today one job draws every parity and hierarchical figure; before, one job a
  figure).

The students job's model-steps/s, end to end (its whole wall time) and in training (its work phase), are
given as ratios to the compiled kernel's on the same shape, measured in this process: the same runs, width
and steps, in calls of the configuration's chunk size.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from . import layout as L

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
FIXED_PHASES = ("setup", "imports", "read", "write")  # jobtime phases that are not the job's work
SELECTED_TEACHER = (0.01, 1)  # the default's selected parity teacher (lr, seed)
TRANSITION = 155000  # the checkpoint the default run selects as 'transition'
# One probe job per checkpoint (the layout before the probe job did a teacher's every checkpoint): the
# bench runs on either, so one version of it measures the code before and after.
PROBE_PER_CHECKPOINT = "{step}" in L.PROBE
FIGURE_PER_JOB = not hasattr(L, "FIGURES_LOG")  # likewise one figure job per figure, before
SYMBOLIC = {"transition": TRANSITION, "before": 120000, "after": 195000, "level1": 100000, "level2": 130000}


def _load(root: Path) -> dict:
    with open(root / "config.yaml") as fh:
        return yaml.safe_load(fh)


def train_config(base: dict, seeds: list[int]) -> dict:
    """The default's parity experiment as one selected teacher trains it, with ``seeds`` student seeds."""
    cfg = {k: v for k, v in base.items() if k not in ("experiments", "theory", "figures")}
    exp = copy.deepcopy(base["experiments"]["parity"])
    exp["teacher"].update(lrs=[SELECTED_TEACHER[0]], seeds=[SELECTED_TEACHER[1]])
    exp["students"]["seeds"] = list(seeds)
    for st in exp["strategies"]:
        for key in ("checkpoint", "checkpoints"):
            if key in st:
                v = st[key]
                st[key] = [SYMBOLIC.get(c, c) for c in v] if isinstance(v, list) else SYMBOLIC.get(v, v)
    cfg["experiments"] = {"parity": exp}
    cfg["figures"] = {"parity": "parity", "hierarchical": "parity"}
    return cfg


def tables_config(base: dict) -> dict:
    """The configuration's own experiments (the default's shapes): no theory or nscaling section."""
    return {k: v for k, v in base.items() if k not in ("theory", "nscaling")}


def table_figures(cfg: dict) -> list[str]:
    """The figures the figure rule draws for a configuration: not the theory's, nor those drawn from the
    task alone (rule task_figure)."""
    from . import config as C

    names = L.figure_names(C.load_study(copy.deepcopy(cfg)))
    return [f for f in names if L.FIGURES[f].family != "theory" and L.FIGURES[f].needs == "tables"]


class Runner:
    """Runs single jobs of a Snakefile on a folder and reads back how long each took."""

    def __init__(self, root: Path, workdir: Path, configfile: Path):
        self.root, self.workdir, self.configfile = root, workdir, configfile
        self.env = dict(os.environ, PYTHONPATH=str(root / "workflow"))

    def run(self, targets: list[str], rules: list[str], cores: int = 1, force: bool = True) -> None:
        snakemake = Path(sys.executable).with_name("snakemake")
        cmd = [str(snakemake), "-s", str(self.root / "Snakefile"), "-d", str(self.workdir)]
        cmd += ["--cores", str(cores), "--configfile", str(self.configfile), "--allowed-rules", *rules]
        if force:
            cmd += ["--forcerun", *rules]
        res = subprocess.run([*cmd, "--", *targets], env=self.env, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} {' '.join(targets)} failed:\n{res.stderr[-4000:]}")

    def record(self, output: str) -> dict:
        """Snakemake's record of the job that wrote ``output``: its rule and wall time."""
        name = base64.urlsafe_b64encode(output.encode()).decode()
        with open(self.workdir / ".snakemake" / "metadata" / name) as fh:
            rec = json.load(fh)
        return {"rule": rec["rule"], "wall": rec["endtime"] - rec["starttime"], "t0": rec["starttime"]}

    def job(self, output: str, log: str) -> dict:
        """The job's wall time, split by its log's job-time record."""
        rec = self.record(output)
        jt = None
        with open(self.workdir / log) as fh:
            for line in fh:
                if " job-time " in line:
                    jt = json.loads(line.split(" job-time ", 1)[1])
        phases = dict(jt["phases"]) if jt else {}
        work = sum(v for k, v in phases.items() if k not in FIXED_PHASES)
        out = {**rec, "work": work, "fixed": rec["wall"] - work, "phases": phases}
        if jt and "cpu" in jt:  # the job process's own CPU seconds (not Snakemake's, nor the shell's)
            cpu = jt["cpu"]
            out["cpu_work"] = sum(v for k, v in cpu.items() if k not in FIXED_PHASES)
            out["cpu"] = jt["startup_cpu"] + sum(cpu.values())
            out["cpu_fixed"] = out["cpu"] - out["cpu_work"]
        if jt:
            out["startup"] = jt["startup"]
            # Snakemake's start of the job to the process's start (script written, shell started), and from
            # the process's last log line to Snakemake's end of the job (interpreter exit, bookkeeping).
            if jt["startup"] is not None:
                out["launch"] = jt["t_start"] - jt["startup"] - rec["t0"]
            out["finish"] = rec["t0"] + rec["wall"] - jt["t_end"]
        return out


def python_pass(repeats: int = 9) -> tuple[float, float]:
    """Median wall time and CPU time of a bare interpreter start (`python -c pass`)."""
    import resource

    times, cpus = [], []
    for _ in range(repeats):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime)
    return statistics.median(times), statistics.median(cpus)


def preamble_imports(repeats: int = 5) -> float:
    """Median wall time of `python -c` importing what Snakemake's script preamble imports."""
    code = "import pickle; from snakemake.logging import logger; from snakemake.iocontainers import Snakemake"
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def kernel_rate(
    runs: int, steps: int, n: int, width: int, classes: int, chunk: int, repeats: int
) -> tuple[float, float]:
    """Model-steps/s (per wall second, per CPU second) of the compiled kernel alone on a students job's
    shape, in calls of ``chunk`` steps (the same chunk of random inputs and one-hot targets every call: the
    kernel's speed does not depend on the numbers)."""
    import torch

    from .engine import get_backend
    from .model import init_params

    torch.set_num_threads(1)
    backend = get_backend("compiled", torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    X = (torch.randint(0, 2, (runs, chunk, n), generator=gen) * 2 - 1).to(torch.int8)
    Q = torch.nn.functional.one_hot(torch.randint(0, classes, (runs, chunk), generator=gen), classes).float()
    lr = torch.full((runs,), 0.01)
    rates, cpu_rates = [], []
    for _ in range(repeats):
        params = init_params(n, width, classes, list(range(runs)))
        t0, c0 = time.perf_counter(), time.process_time()
        done = 0
        while done < steps:
            k = min(chunk, steps - done)
            backend.run_steps(params, X[:, :k], Q[:, :k], lr)
            done += k
        rates.append(runs * steps / (time.perf_counter() - t0))
        cpu_rates.append(runs * steps / (time.process_time() - c0))
    return statistics.median(rates), statistics.median(cpu_rates)


# -- synthetic tables of the default's shapes ---------------------------------------------------------------


def _curve(rng, steps: np.ndarray, chance: float, budget: int) -> np.ndarray:
    """A plausible held-out accuracy curve: chance, then a sigmoid rise at a random step (often past the
    budget, so some runs never reach 95%)."""
    t0 = rng.uniform(0.15, 1.4) * budget
    rise = 1.0 / (1.0 + np.exp(-(steps - t0) / (0.04 * budget)))
    acc = chance + (1.0 - chance) * rise + rng.normal(0, 0.005, len(steps))
    return np.clip(acc, 0, 1).astype(np.float64)


def write_tables(workdir: Path, cfg: dict, seed: int = 0) -> None:
    """Every per-job table the aggregate rule reads, and the two selection files the figures read, with
    the columns and row counts of the configuration's real ones (checks none of the numbers)."""
    import pandas as pd

    from . import config as C
    from . import study
    from .probe import monomial_set

    model = C.load_study(copy.deepcopy(cfg))
    rng = np.random.default_rng(seed)
    for exp_name, exp in model.experiments.items():
        task = exp.task
        chance = 1.0 / task.num_classes
        t, s = exp.teacher, exp.students
        steps = np.arange(0, t.steps + 1, exp.eval_every)
        for lr in t.lrs:
            for sd in t.seeds:
                acc = _curve(rng, steps, chance, t.steps // 2)
                df = pd.DataFrame(
                    dict(step=steps, accuracy=acc, loss=1 - acc, teacher_checkpoint=-1, diverged=False)
                ).assign(
                    experiment=exp_name,
                    role="teacher",
                    strategy="teacher",
                    width=t.width,
                    lr=lr,
                    seed=sd,
                    temperature=1.0,
                    alpha=1.0,
                )
                _write(df, workdir / L.TEACHER_CURVE.format(exp=exp_name, tid=L.teacher_id(lr, sd)))
        # The selections as the workflow's own jobs make them from these tables.
        selected = str(workdir / L.TEACHER_CHOICE.format(exp=exp_name))
        curves = [str(workdir / c) for c in L.teacher_curves(exp)]
        tid = study.select_teacher(exp_name, curves, selected)["teacher"]
        ssteps = np.arange(0, s.steps + 1, exp.eval_every)
        for strategy, width in exp.student_cells():
            st = exp.strategy(strategy)
            rows = []
            for lr in s.lrs:
                for sd in s.seeds:
                    acc = _curve(rng, ssteps, chance, s.steps)
                    cols = dict(step=ssteps, accuracy=acc, loss=1 - acc, diverged=False, lr=lr, seed=sd)
                    rows.append(pd.DataFrame(cols))
            df = pd.concat(rows, ignore_index=True)
            df.insert(3, "teacher_checkpoint", t.steps if st.distills else -1)
            stand_in = {"checkpoints": {c: t.steps for c in st.symbolic_names()}}
            if "pace" in st.run_options(exp, stand_in, width, 0):  # a paced run's rows say how it moves on
                df = df.assign(gap=0.0, moved_to=-1, reason="")
            df = df.assign(
                experiment=exp_name,
                role="student",
                strategy=strategy,
                width=width,
                temperature=float(st.temperature),
                alpha=float(st.alpha),
                teacher=tid,
            )
            _write(df, workdir / L.STUDENT.format(exp=exp_name, strategy=strategy, width=width))
        p = exp.probe
        monos = monomial_set(task, list(p.degrees), p.off_support_per_degree, 0)
        outputs = ["p1", "margin"] if task.num_classes == 2 else [f"p{c}" for c in range(task.num_classes)]
        tables = []
        for step in t.checkpoint_steps:
            rows = [
                dict(
                    output=o,
                    degree=m.degree,
                    monomial=m.name,
                    in_support=m.in_support,
                    node=m.node,
                    level=m.level,
                    correlation=float(rng.normal(0, 0.01)),
                    stderr=0.004,
                )
                for o in outputs
                for m in monos
            ]
            df = pd.DataFrame(rows).assign(checkpoint=step, teacher_accuracy=float(rng.uniform(0.5, 1)))
            if PROBE_PER_CHECKPOINT:
                df = df.assign(experiment=exp_name, teacher=tid)
                _write(df, workdir / L.PROBE.format(exp=exp_name, tid=tid, step=step))
            tables.append(df)
        if not PROBE_PER_CHECKPOINT:
            df = pd.concat(tables, ignore_index=True).assign(experiment=exp_name, teacher=tid)
            _write(df, workdir / L.PROBE.format(exp=exp_name, tid=tid))
        curve = str(workdir / L.TEACHER_CURVE.format(exp=exp_name, tid=tid))
        probes = [str(workdir / p) for p in L.probe_tables(exp, tid)]
        study.select_checkpoints(
            model, exp_name, tid, curve, probes, str(workdir / L.CHECKPOINT_SELECTION.format(exp=exp_name))
        )


def _write(df, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)


# -- the section --------------------------------------------------------------------------------------------


def _median_job(samples: list[dict]) -> dict:
    keys = ("wall", "work", "fixed", "startup", "launch", "finish", "cpu", "cpu_work", "cpu_fixed")
    keys = [k for k in keys if all(s.get(k) is not None for s in samples)]
    out = {k: statistics.median(s[k] for s in samples) for k in keys}
    phases = sorted({p for s in samples for p in s["phases"]})
    out["phases"] = {p: statistics.median(s["phases"].get(p, 0.0) for s in samples) for p in phases}
    out["rule"] = samples[0]["rule"]
    out["samples"] = len(samples)
    return out


def run(root: Path, workdir: Path, repeats: int = 3, quick: bool = False) -> dict:
    """Prepare the folders, time every job kind, return the section's record."""
    base = _load(root)
    reps = 1 if quick else repeats
    t_begin = time.perf_counter()
    record: dict = {"root": str(root), "load_before": os.getloadavg()}
    record["python_pass_s"], record["python_pass_cpu_s"] = python_pass()
    record["preamble_imports_s"] = preamble_imports()
    jobs: dict[str, list[dict]] = {}

    def add(name, sample):
        jobs.setdefault(name, []).append(sample)

    # -- training jobs: the default's parity experiment (3 seeds), then 10 seeds (CE and progressive only,
    # so preparing their teacher_logits files costs a third: the students job reads only progressive's blocks)
    tdir, tdir10 = workdir / "train", workdir / "train10"
    cfg3 = train_config(base, [0, 1, 2])
    cfg10 = train_config(base, list(range(10)))
    from . import config as C
    from . import strategies as S

    # The baseline and progressive distillation: the students job the bench times.
    model = C.load_study(copy.deepcopy(cfg10)).experiment("parity")
    keep = [st.name for st in model.strategies if st.is_baseline or isinstance(st, S.Progressive)]
    progressive = next(st.name for st in model.strategies if isinstance(st, S.Progressive))
    blocks = cfg10["experiments"]["parity"]["strategies"]
    cfg10["experiments"]["parity"]["strategies"] = [st for st in blocks if st["name"] in keep]
    for d, cfg in ((tdir, cfg3), (tdir10, cfg10)):
        d.mkdir(parents=True, exist_ok=True)
        (d / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    r3, r10 = Runner(root, tdir, tdir / "config.yaml"), Runner(root, tdir10, tdir10 / "config.yaml")
    tid = L.teacher_id(*SELECTED_TEACHER)
    curve = L.TEACHER_CURVE.format(exp="parity", tid=tid)
    selected = L.TEACHER_CHOICE.format(exp="parity")
    r3.run([curve, selected], ["teacher", "select_teacher"], force=False)
    add("teacher", r3.job(curve, L.TEACHER_LOG.format(exp="parity", tid=tid)))
    teacher_dir = L.TEACHER_DIR.format(exp="parity", tid=tid)
    shutil.copytree(tdir / teacher_dir, tdir10 / teacher_dir, dirs_exist_ok=True)
    shutil.copy2(tdir / selected, tdir10 / selected)
    if PROBE_PER_CHECKPOINT:
        probe_steps = [100000, 150000, 200000]
        for _ in range(reps):
            outs = [L.PROBE.format(exp="parity", tid=tid, step=s) for s in probe_steps]
            r3.run(outs, ["probe"])
            for s, o in zip(probe_steps, outs, strict=True):
                add("probe", r3.job(o, L.PROBE_LOG.format(exp="parity", tid=tid, step=s)))
    else:
        out, log = L.PROBE.format(exp="parity", tid=tid), L.PROBE_LOG.format(exp="parity", tid=tid)
        for _ in range(reps):
            r3.run([out], ["probe"])
            add("probe", r3.job(out, log))
    logits0 = L.TEACHER_LOGITS.format(exp="parity", seed=0)
    r3.run([logits0], ["teacher_logits"])
    add("teacher_logits", r3.job(logits0, L.TEACHER_LOGITS_LOG.format(exp="parity", seed=0)))
    r3.run([L.TEACHER_LOGITS.format(exp="parity", seed=s) for s in (1, 2)], ["teacher_logits"], 2, False)
    r10.run([L.TEACHER_LOGITS.format(exp="parity", seed=s) for s in range(10)], ["teacher_logits"], 2, False)
    student = L.STUDENT.format(exp="parity", strategy=progressive, width=100)
    slog = L.STUDENT_LOG.format(exp="parity", strategy=progressive, width=100)
    # The kernel alone on each job's shape right after the job, so a load that drifts over the run moves
    # both sides of a ratio alike; the ratios are medians of these pairs.
    exp = cfg3["experiments"]["parity"]
    steps, chunk = exp["students"]["steps"], base.get("chunk", 4096)
    kernel: dict[str, list[float]] = {}
    shapes = (("students_6runs", r3, 3), ("students_20runs", r10, 10))
    for _ in range(reps):
        for name, runner, nseeds in shapes:
            runner.run([student], ["students"])
            add(name, runner.job(student, slog))
            runs = nseeds * len(exp["students"]["lrs"])
            kernel.setdefault(name, []).append(kernel_rate(runs, steps, exp["task"]["n"], 100, 2, chunk, 1))

    # -- tables and a figure
    gdir = workdir / "tables"
    gdir.mkdir(parents=True, exist_ok=True)
    tcfg = tables_config(base)
    (gdir / "config.yaml").write_text(yaml.safe_dump(tcfg, sort_keys=False))
    write_tables(gdir, tcfg)
    g = Runner(root, gdir, gdir / "config.yaml")

    paper = table_figures(tcfg)
    pdfs = [L.FIGURE_PDF.format(fig=f) for f in paper]
    drawing = []  # per repeat: the jobs that drew every figure
    for _ in range(reps):
        g.run([L.CURVES], ["aggregate"])
        add("aggregate", g.job(L.CURVES, L.AGGREGATE_LOG))
        g.run([L.SUMMARY_PARQUET, L.SURVIVAL, *pdfs], ["summary", "survival", "figure"])
        add("summary", g.job(L.SUMMARY_PARQUET, L.SUMMARY_LOG))
        add("survival", g.job(L.SURVIVAL, L.SURVIVAL_LOG))
        if FIGURE_PER_JOB:
            drawing.append(
                [g.job(pdf, L.FIGURE_LOG.format(fig=f)) for f, pdf in zip(paper, pdfs, strict=True)]
            )
        else:
            drawing.append([g.job(pdfs[0], L.FIGURES_LOG)])
        for job in drawing[-1]:
            add("figure", job)

    record["jobs"] = {name: _median_job(s) for name, s in jobs.items()}
    for rec in record["jobs"].values():
        rec["fixed_vs_python_pass"] = rec["fixed"] / record["python_pass_s"]
        if "cpu_fixed" in rec:
            rec["cpu_fixed_vs_python_pass"] = rec["cpu_fixed"] / record["python_pass_cpu_s"]
    # What probing the teacher's every checkpoint costs: one job, or one job per checkpoint.
    ckpts = len(C.load_study(copy.deepcopy(cfg3)).experiment("parity").teacher.checkpoint_steps)
    probe = record["jobs"]["probe"]
    probe["checkpoints"] = 1 if PROBE_PER_CHECKPOINT else ckpts
    jobs_per_teacher = ckpts if PROBE_PER_CHECKPOINT else 1
    # What drawing every figure costs: one job, or one job per figure.
    record["jobs"]["figure"]["figures"] = 1 if FIGURE_PER_JOB else len(paper)
    record["figures_all"] = {
        "figures": len(paper),
        "jobs": len(drawing[0]),
        "wall": statistics.median(sum(j["wall"] for j in rep) for rep in drawing),
        "fixed": statistics.median(sum(j["fixed"] for j in rep) for rep in drawing),
    }
    record["figures_all"]["fixed_per_figure"] = record["figures_all"]["fixed"] / len(paper)
    record["probe_teacher"] = {
        "checkpoints": ckpts,
        "jobs": jobs_per_teacher,
        "wall": probe["wall"] * jobs_per_teacher,
        "fixed": probe["fixed"] * jobs_per_teacher,
        "fixed_per_checkpoint": probe["fixed"] * jobs_per_teacher / ckpts,
    }

    # -- the students' model-steps/s against the kernel's on the same shape
    record["students"] = {}
    for name, _runner, nseeds in shapes:
        runs = nseeds * len(exp["students"]["lrs"])
        ms = runs * steps
        pairs = list(zip(jobs[name], kernel[name], strict=True))
        record["students"][name] = {
            "runs": runs,
            "steps": steps,
            "kernel_model_steps_per_s": statistics.median(k[0] for k in kernel[name]),
            "job_model_steps_per_s": ms / record["jobs"][name]["wall"],
            "training_model_steps_per_s": ms / record["jobs"][name]["phases"]["work"],
            "job_vs_kernel": statistics.median(ms / j["wall"] / k[0] for j, k in pairs),
            "training_vs_kernel": statistics.median(ms / j["phases"]["work"] / k[0] for j, k in pairs),
        }
        if all("cpu" in j for j, _ in pairs):  # the same ratios in CPU seconds (the job process's own)
            record["students"][name].update(
                kernel_model_steps_per_cpu_s=statistics.median(k[1] for k in kernel[name]),
                job_vs_kernel_cpu=statistics.median(ms / j["cpu"] / k[1] for j, k in pairs),
                training_vs_kernel_cpu=statistics.median(ms / j["cpu_work"] / k[1] for j, k in pairs),
            )
    record["load_after"] = os.getloadavg()
    record["seconds"] = time.perf_counter() - t_begin
    return record


def format_section(rec: dict) -> str:
    lines = [
        f"python -c pass: {rec['python_pass_s'] * 1e3:.0f} ms ({rec['python_pass_cpu_s'] * 1e3:.0f} ms CPU); "
        "the script preamble's imports: "
        f"{rec['preamble_imports_s'] * 1e3:.0f} ms (medians)",
        "",
        "| job | wall | startup | imports | setup | read | work | write | fixed | fixed / python -c pass | "
        "CPU: fixed | CPU: work | CPU: fixed / python -c pass |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, j in rec["jobs"].items():
        ph = j["phases"]
        cells = [j["wall"], j.get("startup", float("nan")), ph.get("imports", 0), ph.get("setup", 0)]
        cells += [ph.get("read", 0), j["work"]]
        cells += [ph.get("write", 0), j["fixed"]]
        cpu = (
            f"{j['cpu_fixed']:.2f} | {j['cpu_work']:.2f} | {j['cpu_fixed_vs_python_pass']:.0f}x"
            if "cpu_fixed" in j
            else " | | "
        )
        lines.append(
            f"| {name} | {' | '.join(f'{c:.2f}' for c in cells)} | {j['fixed_vs_python_pass']:.0f}x | {cpu} |"
        )
    lines += [
        "",
        "| students job (width 100) | model-steps | kernel | job end to end | in training | job / kernel | "
        "training / kernel | CPU: job / kernel | CPU: training / kernel |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in rec["students"].values():
        lines.append(
            f"| {s['runs']} runs x {s['steps']:,} steps | {s['runs'] * s['steps'] / 1e6:.1f}M | "
            f"{s['kernel_model_steps_per_s'] / 1e6:.2f}M/s | {s['job_model_steps_per_s'] / 1e6:.2f}M/s | "
            f"{s['training_model_steps_per_s'] / 1e6:.2f}M/s | {s['job_vs_kernel']:.2f} | "
            f"{s['training_vs_kernel']:.2f} | {s.get('job_vs_kernel_cpu', float('nan')):.2f} | "
            f"{s.get('training_vs_kernel_cpu', float('nan')):.2f} |"
        )
    fa = rec["figures_all"]
    lines.append(
        f"\ndrawing the default's {fa['figures']} parity and hierarchical figures: {fa['jobs']} job(s), "
        f"{fa['wall']:.1f} s of job wall time, {fa['fixed']:.1f} s of it fixed cost "
        f"({fa['fixed_per_figure'] * 1e3:.0f} ms a figure)"
    )
    pt = rec["probe_teacher"]
    lines.append(
        f"\nprobing the teacher's {pt['checkpoints']} checkpoints: {pt['jobs']} job(s), {pt['wall']:.1f} s "
        f"of job wall time, {pt['fixed']:.1f} s of it fixed cost ({pt['fixed_per_checkpoint'] * 1e3:.0f} ms "
        "a checkpoint)"
    )
    lines.append(
        f"\nseconds in s (medians of {min(j['samples'] for j in rec['jobs'].values())}+ samples); load "
        f"{rec['load_before'][0]:.1f} before, {rec['load_after'][0]:.1f} after; took {rec['seconds']:.0f} s"
    )
    return "\n".join(lines)


def main(argv=None) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=L.JOB_BENCH)
    ap.add_argument("--root", default=str(PACKAGE_ROOT), help="the checkout whose Snakefile and package run")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="one sample per job (for tests)")
    ap.add_argument("--keep", help="prepare and keep the folders here instead of a temporary folder")
    args = ap.parse_args(argv)
    root = Path(args.root).resolve()
    if args.keep:
        workdir = Path(args.keep)
        rec = run(root, workdir, args.repeats, args.quick)
    else:
        with tempfile.TemporaryDirectory(prefix="progdistill-jobbench-") as tmp:
            rec = run(root, Path(tmp), args.repeats, args.quick)
    write(rec, args.out)
    print(format_section(rec))
    print(f"\nwritten to {args.out}")


def write(rec: dict, path: str) -> None:
    from .io import atomic_path

    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        json.dump(rec, fh, indent=1)


if __name__ == "__main__":
    main()
