"""Scheduler resources (wall time, memory) of the training jobs, estimated from the configuration.

Torch-free: the Snakefile evaluates these for every job when it builds the DAG. The workflow asks a
cluster (``--profile profiles/slurm``) for what a job needs, so a paper-scale job is not killed at a
default time limit and a smoke-scale job does not wait in the queue for a day-long slot.

Wall time
---------
A training job is online SGD with batch size 1: ``steps`` sequential steps of ``R`` runs stacked
together (a teacher job trains one run; a students job trains ``len(lrs) * len(seeds)`` runs at once).
Its time is steps x runs / throughput, with throughputs measured on this project's engine:

CPU, one thread
    * compiled C kernel (backend ``auto``/``compiled``): ~1.2M model-steps/s at width 100, ~160k at
      width 1000 and ~50k for a width-2000 teacher, i.e. about ``1e8 / width`` model-steps/s (that
      formula matches the slowest measurement and undershoots the others: it is conservative);
      capped at ``CPU_MAX_STEPS`` for tiny widths, where per-step overhead dominates. Once one run's
      parameters outgrow the CPU caches (``CACHE_BYTES``) a step is bound by memory bandwidth instead:
      it reads and writes them all, ``2 * bytes / MEM_BW`` seconds (a width-50000, n=100 teacher:
      ~2 ms/step, as measured; docs/configuration.md).
    * batched torch loop (backend ``torch``): ~180k model-steps/s at width 100 with 32 runs; one
      iteration (one step of all runs) costs the larger of a fixed overhead (32 / 180k s, Python and
      kernel launches) and ``runs * width / TORCH_CPU_WORK`` seconds of arithmetic.
    * teacher forward passes (distillation targets, held-out evaluation): ~136k samples/s for a
      width-2000 teacher, scaling as 1 / width (``FORWARD_CPU / width`` samples/s). With
      ``teacher_logits: stage`` a teacher_logits job does them for one seed's stream: the union of the
      blocks its strategies use (``logit_samples``); with ``inline`` a students job that distils computes
      them once per data stream (one per seed), ``steps * len(seeds)`` samples.

GPU (jobs placed there: progdistill.placement) -- ASSUMED, NOT MEASURED: no GPU has been available to this
project. Until ``make bench-gpu`` has written ``results/bench/engine_cuda.json`` (``CostModel``), the model
uses these published orders of magnitude (../shared/notes/gpu-and-authors-code.md):
    * one batched step of a job's runs costs the larger of a launch-bound floor, 1e-4 s (~15 kernel
      launches of 5-10 us plus Python: ~10k steps/s whatever the width), and ``runs * width / GPU_WORK``
      seconds, with GPU_WORK = 20k steps/s x width 50000 (so a width-50000 teacher is launch-bound too);
    * teacher forward passes: ``GPU_FORWARD / width`` samples/s (5e6 samples/s at width 50000);
    * a GPU job starts ``GPU_STARTUP_S`` = 10 s later than a CPU job (CUDA context, first kernels, copies),
      counted for placement only, so a job of a few seconds stays on a CPU core.
A bench file replaces them with measurements: the floor is the fastest measured iteration of the torch
backend (runs / model-steps/s), GPU_WORK the model-steps/s x width of its timing with the most work
(runs x width), GPU_FORWARD the blocked teacher-target rate x its width (records ``torch`` and
``teacher_targets_blocked``; format in ``progdistill.bench``).

The estimate is ``STARTUP_S + SAFETY * compute`` seconds, in whole minutes, at least ``MIN_RUNTIME``
minutes, times the attempt: a job that hit its time limit is retried (``--retries``) with twice, then
three times the time. Each job is estimated on the side it is placed on (progdistill.placement). So, with
the assumed GPU figures, the paper teacher asks for 52 min on a GPU, a paper CE students job at width 100
for 10 min on a CPU core; the default configuration's jobs, and the smoke ones, ask for the minimum.

Memory
------
Host memory: ``BASE_MB`` (interpreter, torch, pandas; on GPU jobs the CUDA context too) plus the
arrays of the job: parameters of all runs (x3: live, resume state, checkpoint copy), the hidden
activations of a blocked forward pass (4096 samples at a time, x2: pre-activation and ReLU), the
sample chunk (int8 inputs, their float copy, soft targets) and, for distillation, up to 4 cached
teacher checkpoints plus one teacher forward block. With a finite training set (``train_set_size`` N), each
stream's epoch permutation (4N bytes, cached by the driver and by the teacher bank) plus 20N bytes while one
is drawn (hash keys, argsort). On a GPU the activations live on the device, so
counting them in host memory over-asks a little. Times ``MEM_SAFETY``, rounded up to 256 MB, and 50%
more on each retry (a job killed for memory gets more).

Override any of this per rule on the command line: ``--set-resources teacher:runtime=600`` (minutes)
or ``--set-resources students:mem_mb=16000``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass

from .layout import GPU_BENCH, teacher_checkpoints

# --- measured throughputs (see the module docstring) ------------------------------------------------
CPU_STEP_WORK = 1.0e8  # compiled kernel: model-steps/s x width (width 2000: 50k steps/s)
CPU_MAX_STEPS = 2.0e6  # compiled kernel: model-steps/s ceiling for tiny widths
TORCH_CPU_OVERHEAD_S = 32 / 1.8e5  # batched torch on CPU: seconds per iteration, overhead-bound
TORCH_CPU_WORK = 1.8e5 * 100  # batched torch on CPU: model-steps/s x width when compute-bound
CACHE_BYTES = 8 * 2**20  # parameters of one run that still fit in the CPU caches
MEM_BW = 2.0e10  # bytes/s of memory bandwidth one thread gets, for steps beyond the caches
FORWARD_CPU = 1.36e5 * 2000  # teacher forward on CPU: samples/s x width
# --- ASSUMED GPU throughputs (not measured here; make bench-gpu replaces them, see CostModel) ----------
GPU_STEP_FLOOR_S = 1.0e-4  # seconds per batched step when launch-bound (~10k steps/s)
GPU_WORK = 2.0e4 * 50000  # model-steps/s x width when compute-bound (20k steps/s at width 50000)
GPU_FORWARD = 5.0e6 * 50000  # teacher forward: samples/s x width
GPU_STARTUP_S = 10.0  # a GPU job's extra start-up (CUDA context, first kernels, copies): placement only

# --- margins -------------------------------------------------------------------------------------
STARTUP_S = 60  # interpreter + torch import, kernel compile or CUDA init, reading checkpoints
SAFETY = 1.5  # on the compute time: slower nodes, shared memory bandwidth, checkpoint and state writes
MIN_RUNTIME = 10  # minutes
BASE_MB = {"cpu": 1000, "gpu": 3000}
MEM_SAFETY = 1.3
FORWARD_BLOCK = 4096  # samples per block of progdistill.model.forward
TEACHER_CACHE = 4  # checkpoints kept by progdistill.training.TeacherBank


@dataclass(frozen=True)
class CostModel:
    """The GPU side of the cost model (the CPU side is the measured constants above)."""

    gpu_step_floor_s: float = GPU_STEP_FLOOR_S
    gpu_work: float = GPU_WORK
    gpu_forward: float = GPU_FORWARD
    gpu_source: str = "assumed (no make bench-gpu results)"

    @classmethod
    def from_bench(cls, path: str) -> CostModel:
        """From ``make bench-gpu``'s JSON: a list of records with impl, width, runs, model_steps_per_s."""
        with open(path) as fh:
            records = json.load(fh)

        def rated(impl):
            return [r for r in records if r.get("impl") == impl and (r.get("model_steps_per_s") or 0) > 0]

        torch_recs, fwd = rated("torch"), rated("teacher_targets_blocked")
        if not torch_recs:
            raise ValueError(f"{path}: no 'torch' records with model_steps_per_s (run make bench-gpu)")
        busiest = max(torch_recs, key=lambda r: r["runs"] * r["width"])  # the most compute-bound timing
        return cls(
            gpu_step_floor_s=min(r["runs"] / r["model_steps_per_s"] for r in torch_recs),
            gpu_work=busiest["model_steps_per_s"] * busiest["width"],
            gpu_forward=max(r["model_steps_per_s"] * r["width"] for r in fwd) if fwd else GPU_FORWARD,
            gpu_source=f"measured ({path})" + ("" if fwd else "; teacher forward assumed"),
        )

    @classmethod
    def load(cls, cfg: dict) -> CostModel:
        path = (cfg.get("placement") or {}).get("gpu_bench", GPU_BENCH)  # layout.GPU_BENCH by default
        return cls.from_bench(path) if path and os.path.exists(path) else cls()

    def gpu_step_s(self, runs: int, width: int) -> float:
        return max(self.gpu_step_floor_s, runs * width / self.gpu_work)


def uses_gpu(cfg: dict) -> bool:
    """Whether any training job may run on a GPU (device is not pinned to the CPU)."""
    return cfg["device"] != "cpu"


def num_classes(task: dict) -> int:
    if task["kind"] == "sparse_parity":
        return 2
    if "depth" in task:
        return 2 ** task["depth"]
    return len(task["blocks"]) + 1


def student_runs(exp: dict) -> int:
    """Runs trained together by one students job: every LR x seed."""
    s = exp["students"]
    return len(s["lrs"]) * len(s["seeds"])


def _strategy(exp: dict, name: str) -> dict:
    for st in exp["strategies"]:
        if st["name"] == name:
            return st
    raise KeyError(f"no strategy {name!r}")


# ------------------------------------------------------------------------------------------ runtime


def _cpu_train_s(cfg: dict, exp: dict, steps: int, runs: int, width: int) -> float:
    nbytes = _param_floats(exp["task"]["n"], width, num_classes(exp["task"])) * 4
    memory_s = 2 * nbytes / MEM_BW if nbytes > CACHE_BYTES else 0.0  # one run's step, beyond the caches
    if cfg["backend"] == "torch":
        per_iter = max(TORCH_CPU_OVERHEAD_S, runs * width / TORCH_CPU_WORK, runs * memory_s)
        return steps * per_iter
    return steps * runs * max(1 / min(CPU_MAX_STEPS, CPU_STEP_WORK / width), memory_s)


def _eval_samples(exp: dict, steps: int, runs: int) -> int:
    return (steps // exp["eval_every"] + 2) * exp["heldout"] * runs


def _cpu_eval_s(exp: dict, steps: int, runs: int, width: int) -> float:
    return _eval_samples(exp, steps, runs) / (FORWARD_CPU / width)


def _minutes(compute_s: float, attempt: int) -> int:
    return max(MIN_RUNTIME, math.ceil((STARTUP_S + SAFETY * compute_s) / 60)) * max(1, attempt)


def teacher_compute_s(cfg: dict, exp: dict, side: str | None = None, model: CostModel | None = None) -> float:
    """Seconds of compute of one teacher job (one run) on ``side`` ('cpu' or 'gpu'; None: 'gpu' unless the
    device is pinned to the CPU)."""
    side = side or ("gpu" if uses_gpu(cfg) else "cpu")
    t = exp["teacher"]
    steps, width = t["steps"], t["width"]
    if side == "gpu":
        model = model or CostModel.load(cfg)
        return steps * model.gpu_step_s(1, width) + _eval_samples(exp, steps, 1) * width / model.gpu_forward
    return _cpu_train_s(cfg, exp, steps, 1, width) + _cpu_eval_s(exp, steps, 1, width)


def students_compute_s(
    cfg: dict, exp: dict, strategy: str, width: int, side: str | None = None, model: CostModel | None = None
) -> float:
    """Seconds of compute of one students job: every LR x seed of one (strategy, width) cell, on ``side``."""
    side = side or ("gpu" if uses_gpu(cfg) else "cpu")
    s = exp["students"]
    steps, runs = s["steps"], student_runs(exp)
    # Teacher targets, one per data stream (seed), unless the teacher_logits stage computed them.
    distil = _strategy(exp, strategy)["kind"] != "ce" and cfg.get("teacher_logits", "stage") == "inline"
    targets = steps * len(s["seeds"]) * exp["teacher"]["width"] if distil else 0.0  # samples x width
    if side == "gpu":
        model = model or CostModel.load(cfg)
        evals = _eval_samples(exp, steps, runs) * width
        return steps * model.gpu_step_s(runs, width) + (evals + targets) / model.gpu_forward
    sec = _cpu_train_s(cfg, exp, steps, runs, width) + _cpu_eval_s(exp, steps, runs, width)
    return sec + targets / FORWARD_CPU


def logit_samples(exp: dict) -> int:
    """Samples one teacher_logits job (one student seed) passes through the teacher: the deduplicated union
    of the blocks every distilling strategy uses. A checkpoint the automatic selection names is not known
    when the DAG is built: each such name counts as a checkpoint of its own (an upper bound)."""
    from . import config as C
    from .logit_store import BLOCK, needed_blocks

    names = sorted({c for st in C.distills(exp) for c in C.symbolic_names(st)})
    stand_in = {"checkpoints": {name: -1 - i for i, name in enumerate(names)}}
    scheds = [C.schedule(st, exp, stand_in) for st in C.distills(exp)]
    return BLOCK * sum(len(b) for b in needed_blocks(scheds, exp["students"]["steps"]).values())


def teacher_logits_compute_s(cfg: dict, exp: dict, side: str, model: CostModel | None = None) -> float:
    """Seconds of one teacher_logits job: forward passes of the teacher over its blocks (and, as large as
    them on a CPU, nothing else: the samples are generated in a fraction of that time)."""
    work = logit_samples(exp) * exp["teacher"]["width"]  # samples x width
    if side == "gpu":
        return work / (model or CostModel.load(cfg)).gpu_forward
    return work / FORWARD_CPU


def teacher_logits_runtime(cfg: dict, exp: dict, attempt: int = 1, side: str = "cpu") -> int:
    """Wall time (minutes) to ask for one teacher_logits job."""
    return _minutes(teacher_logits_compute_s(cfg, exp, side), attempt)


def teacher_logits_mem_mb(cfg: dict, exp: dict, attempt: int = 1, side: str = "cpu") -> int:
    """Host memory (MB) of one teacher_logits job: the checkpoints in use, a forward block's activations,
    one batch of 64 blocks of logits."""
    tw = exp["teacher"]["width"]
    n, classes = exp["task"]["n"], num_classes(exp["task"])
    nbytes = TEACHER_CACHE * _param_floats(n, tw, classes) * 4 + 1024 * tw * 4 * 2
    nbytes += 64 * 1024 * (classes * 4 + n)
    nbytes += _train_set_bytes(exp["students"], 1)
    return _mb(cfg, nbytes, attempt, side)


def probe_compute_s(exp: dict) -> float:
    """Seconds of one probe job (CPU only: numpy): the teacher's forward pass over the probe sample, for
    every checkpoint of the teacher."""
    ckpts = len(teacher_checkpoints(exp))
    return ckpts * exp["probe"]["samples"] * exp["teacher"]["width"] / FORWARD_CPU


def job_seconds(
    cfg: dict, exp: dict, rule: str, model: CostModel, strategy: str | None = None, width: int | None = None
) -> tuple[float, float]:
    """(seconds on one CPU core, seconds on the GPU) of one job of ``rule``; inf where it cannot run. The
    GPU side includes GPU_STARTUP_S, so a job of a few seconds stays on a core."""
    if rule == "teacher":
        cpu, gpu = teacher_compute_s(cfg, exp, "cpu"), teacher_compute_s(cfg, exp, "gpu", model)
    elif rule == "students":
        cpu = students_compute_s(cfg, exp, strategy, width, "cpu")
        gpu = students_compute_s(cfg, exp, strategy, width, "gpu", model)
    elif rule == "teacher_logits":
        cpu, gpu = teacher_logits_compute_s(cfg, exp, "cpu"), teacher_logits_compute_s(cfg, exp, "gpu", model)
    else:
        gpu = None
    if gpu is not None:
        return cpu, gpu + GPU_STARTUP_S
    if rule == "probe":
        return probe_compute_s(exp), math.inf
    raise ValueError(f"no cost model for rule {rule!r}")


def teacher_runtime(cfg: dict, exp: dict, attempt: int = 1, side: str | None = None) -> int:
    """Wall time (minutes) to ask for one teacher job."""
    return _minutes(teacher_compute_s(cfg, exp, side), attempt)


def students_runtime(
    cfg: dict, exp: dict, strategy: str, width: int, attempt: int = 1, side: str | None = None
) -> int:
    """Wall time (minutes) to ask for one students job."""
    return _minutes(students_compute_s(cfg, exp, strategy, width, side), attempt)


# ------------------------------------------------------------------------------------------- memory


def _param_floats(n: int, width: int, classes: int) -> int:
    return (n + 1 + classes) * width + classes


def _train_bytes(cfg: dict, exp: dict, runs: int, width: int) -> float:
    n, classes = exp["task"]["n"], num_classes(exp["task"])
    chunk = cfg["chunk"]
    params = runs * _param_floats(n, width, classes) * 4 * 3
    activations = runs * min(FORWARD_BLOCK, max(exp["heldout"], chunk)) * width * 4 * 2
    samples = runs * chunk * (n * (1 + 4) + classes * 4 * 2) + exp["heldout"] * (n + 8)
    return params + activations + samples


def _train_set_bytes(block: dict, cached: int) -> float:
    """A finite training set's permutations: ``cached`` of them held, one being drawn (streams.py)."""
    size = block.get("train_set_size")
    return 0.0 if size is None else size * (4 * cached + 20)


def _mb(cfg: dict, nbytes: float, attempt: int, side: str | None = None) -> int:
    base = BASE_MB[side or ("gpu" if uses_gpu(cfg) else "cpu")]
    mb = (base + nbytes / 2**20) * MEM_SAFETY * (1 + 0.5 * (max(1, attempt) - 1))
    return int(math.ceil(mb / 256) * 256)


def teacher_mem_mb(cfg: dict, exp: dict, attempt: int = 1, side: str | None = None) -> int:
    """Host memory (MB) to ask for one teacher job."""
    nbytes = _train_bytes(cfg, exp, 1, exp["teacher"]["width"]) + _train_set_bytes(exp["teacher"], 1)
    return _mb(cfg, nbytes, attempt, side)


def students_mem_mb(
    cfg: dict, exp: dict, strategy: str, width: int, attempt: int = 1, side: str | None = None
) -> int:
    """Host memory (MB) to ask for one students job."""
    nbytes = _train_bytes(cfg, exp, student_runs(exp), width)
    distils = (
        _strategy(exp, strategy)["kind"] != "ce"
    )  # then the teacher bank holds a permutation per seed too
    nbytes += _train_set_bytes(exp["students"], len(exp["students"]["seeds"]) * (2 if distils else 1))
    if distils:
        tw = exp["teacher"]["width"]
        n, classes = exp["task"]["n"], num_classes(exp["task"])
        nbytes += TEACHER_CACHE * _param_floats(n, tw, classes) * 4
        nbytes += min(FORWARD_BLOCK, cfg["chunk"]) * tw * 4 * 2
    return _mb(cfg, nbytes, attempt, side)
