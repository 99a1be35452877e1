"""Where each job runs, CPU core or GPU, decided by a cost model when the DAG is built.

Standard library only, and independent of the machine that builds the DAG: a SLURM login node has no GPU,
and its jobs still go to GPU nodes. The decision reads the configuration and the cost model, nothing else.

``device: cpu``        every job on CPU cores (``gpu=0``).
``device: cuda[:N]``   every training job on the GPU (``gpu=1``); a job whose node has no GPU fails with a
                       clear error (``engine.resolve_device``), so submitting from a GPU-less node works.
``device: auto``       per job: the GPU only when the model predicts the job at least ``placement.margin``
                       times faster there than on one CPU core with the best CPU backend (CPU slots are
                       many, the GPU is one). ``placement.teacher`` / ``placement.teacher_logits`` /
                       ``placement.students`` (``cpu``, ``gpu``) override the model for a rule. A
                       GPU-placed job falls back to the CPU, with a warning, when its node's CUDA does
                       not work.

The probe has no GPU implementation (numpy), so its jobs are always CPU jobs. The cost model lives in
``progdistill.resources`` (``CostModel``): CPU figures measured here; GPU figures assumed until
``make bench-gpu`` has written ``results/bench/engine_cuda.json``, which is then what it reads.

``python -m progdistill.placement --configfile config.yaml --cores 8 --gpus 1`` prints the plan: per rule,
how many jobs go where, their predicted CPU and GPU time, and the predicted wall time on that machine.
"""

from __future__ import annotations

import argparse
import heapq
import sys
from dataclasses import dataclass

from . import config as C
from . import layout as L
from .resources import CostModel, job_seconds

RULES = ("teacher", "teacher_logits", "students")  # the rules placement decides; the others are CPU jobs


def overrides(cfg: dict) -> dict[str, str]:
    p = cfg.get("placement") or {}
    return {r: p.get(r, "auto") for r in RULES}


def place(cfg: dict, rule: str, cpu_s: float, gpu_s: float) -> str:
    """'cpu' or 'gpu' for a job of ``rule`` predicted to take ``cpu_s`` on one core, ``gpu_s`` on the GPU."""
    dev = cfg.get("device", "auto")
    if rule not in RULES or dev == "cpu":
        return "cpu"
    if dev.startswith("cuda"):
        return "gpu"
    forced = overrides(cfg)[rule]
    if forced != "auto":
        return forced
    margin = (cfg.get("placement") or {}).get("margin", 2.0)
    return "gpu" if gpu_s * margin < cpu_s else "cpu"


def side_of(
    cfg: dict, exp: dict, rule: str, model: CostModel, strategy: str | None = None, width: int | None = None
) -> str:
    """Where one job of ``rule`` runs ('cpu' or 'gpu'), from the cost model's predictions."""
    if rule not in RULES or cfg.get("device", "auto") == "cpu":
        return "cpu"  # no need to evaluate the model
    return place(cfg, rule, *job_seconds(cfg, exp, rule, model, strategy=strategy, width=width))


def job_device(cfg: dict, side: str) -> str:
    """The ``device`` a job placed on ``side`` runs with: 'cpu', or the configured GPU device ('auto' falls
    back to the CPU inside the job when CUDA does not work; 'cuda[:N]' fails there)."""
    return "cpu" if side == "cpu" else cfg.get("device", "auto")


@dataclass(frozen=True)
class Job:
    rule: str
    name: str
    stage: int  # jobs of a stage wait for every job of the stages before it
    cpu_s: float
    gpu_s: float
    side: str

    @property
    def seconds(self) -> float:
        return self.gpu_s if self.side == "gpu" else self.cpu_s


def jobs(cfg: dict, model: CostModel | None = None) -> list[Job]:
    """Every teacher, probe, teacher_logits and students job of the configuration with its predicted times
    and placement (stage 0: teachers; 1: probes of the selected teacher; 2: teacher logits; 3: students)."""
    model = model or CostModel.load(cfg)
    out = []
    for exp_name, exp in cfg["experiments"].items():
        for tid in L.teacher_ids(exp):
            cpu_s, gpu_s = job_seconds(cfg, exp, "teacher", model)
            out.append(
                Job("teacher", f"{exp_name}/{tid}", 0, cpu_s, gpu_s, place(cfg, "teacher", cpu_s, gpu_s))
            )
        cpu_s, gpu_s = job_seconds(cfg, exp, "probe", model)  # the selected teacher's, every checkpoint
        out.append(Job("probe", f"{exp_name}/probe", 1, cpu_s, gpu_s, "cpu"))
        for strategy, width in L.student_cells(exp):
            cpu_s, gpu_s = job_seconds(cfg, exp, "students", model, strategy=strategy, width=width)
            side = place(cfg, "students", cpu_s, gpu_s)
            out.append(Job("students", f"{exp_name}/{strategy}/w{width}", 3, cpu_s, gpu_s, side))
        if cfg.get("teacher_logits", "stage") == "stage" and C.distills(exp):
            cpu_s, gpu_s = job_seconds(cfg, exp, "teacher_logits", model)
            side = place(cfg, "teacher_logits", cpu_s, gpu_s)
            for seed in exp["students"]["seeds"]:
                out.append(Job("teacher_logits", f"{exp_name}/seed{seed}", 2, cpu_s, gpu_s, side))
    return out


# Start-up of a local job (interpreter, imports, reading its inputs), measured: the default run's CPU time
# (372 CPU-s) less the model's compute (~170 s) over its ~180 jobs. Figures and tables are not simulated.
JOB_START_S = 1.1


def simulate(job_list: list[Job], cores: int, gpus: int, start_s: float = JOB_START_S) -> float:
    """Predicted wall seconds: stage by stage, longest job first onto the next free slot of its side (a GPU
    job holds one GPU and one core, as the rules declare threads: 1), each job ``start_s`` longer. Stages
    are barriers, which is conservative: Snakemake starts a student as soon as its own inputs exist."""
    if gpus < 1 and any(j.side == "gpu" for j in job_list):
        raise ValueError("jobs are placed on the GPU but --gpus is 0: plan with --gpus >= 1 or device: cpu")
    total = 0.0
    for stage in sorted({j.stage for j in job_list}):
        cpu = [0.0] * max(cores, 1)
        gpu = [0.0] * max(gpus, 1)
        for j in sorted((j for j in job_list if j.stage == stage), key=lambda j: -j.seconds):
            slots = gpu if j.side == "gpu" else cpu
            heapq.heappush(slots, heapq.heappop(slots) + j.seconds + start_s)
        total += max(max(cpu), max(gpu))
    return total


def plan_table(cfg: dict, cores: int, gpus: int, model: CostModel | None = None) -> str:
    if gpus < 1 and cfg.get("device", "auto") == "auto":
        # device auto on a machine without a GPU runs every job on the CPU: plan that, not an error.
        cfg = {**cfg, "device": "cpu"}
    model = model or CostModel.load(cfg)
    js = jobs(cfg, model)
    lines = [
        f"placement plan: device {cfg.get('device', 'auto')}, {cores} cores, {gpus} GPU(s); "
        f"GPU figures: {model.gpu_source}",
        "",
        "| rule | jobs on CPU | jobs on GPU | CPU time (placed on CPU) | GPU time (placed on GPU) |",
        "|---|---|---|---|---|",
    ]
    for rule in ("teacher", "probe", "teacher_logits", "students"):
        rj = [j for j in js if j.rule == rule]
        if not rj:
            continue
        on_cpu = [j for j in rj if j.side == "cpu"]
        on_gpu = [j for j in rj if j.side == "gpu"]
        lines.append(
            f"| {rule} | {len(on_cpu)} | {len(on_gpu)} | {_fmt(sum(j.cpu_s for j in on_cpu))} | "
            f"{_fmt(sum(j.gpu_s for j in on_gpu))} |"
        )
    wall = _fmt(simulate(js, cores, gpus))
    how = f"stage by stage, longest first, {JOB_START_S:g} s start-up a job"
    lines += ["", f"predicted wall time: {wall} ({how})"]
    return "\n".join(lines)


def _fmt(sec: float) -> str:
    if sec < 90:
        return f"{sec:.0f} s"
    if sec < 5400:
        return f"{sec / 60:.1f} min"
    return f"{sec / 3600:.1f} h"


def main(argv=None) -> None:
    import yaml

    ap = argparse.ArgumentParser(description="Print where each job would run and the predicted wall time.")
    ap.add_argument("--configfile", default="config.yaml")
    ap.add_argument("--config", nargs="*", default=[], help="KEY=VALUE overrides (top-level keys)")
    ap.add_argument("--cores", type=int, default=8)
    ap.add_argument("--gpus", type=int, default=1)
    args = ap.parse_args(argv)
    with open(args.configfile) as fh:
        raw = yaml.safe_load(fh)
    for kv in args.config:
        key, _, value = kv.partition("=")
        raw[key] = yaml.safe_load(value)
    try:
        cfg = C.validate_config(raw)
    except C.ConfigError as err:
        sys.exit(str(err))
    print(plan_table(cfg, args.cores, args.gpus))


if __name__ == "__main__":
    main()
