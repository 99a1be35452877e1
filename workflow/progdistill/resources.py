"""Scheduler resources (wall time, memory) of the training jobs, estimated from the configuration.

Torch-free: the Snakefile evaluates these for every job when it builds the DAG. The workflow asks a
cluster (``--profile profiles/slurm``) for what a job needs, so a paper-scale job is not killed at a
default time limit and a smoke-scale job does not wait in the queue for a day-long slot.

Wall time
---------
A training job is online SGD with batch size 1: ``steps`` sequential steps of ``R`` runs stacked
together (a teacher job trains one run; a students job trains ``len(lrs) * len(seeds)`` runs at once).
Its time is steps x runs / throughput, with throughputs measured on this project's engine:

CPU, one thread (``device: cpu``)
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
      width-2000 teacher, scaling as 1 / width (``FORWARD_CPU / width`` samples/s). A students job that
      distils computes targets once per data stream (one per seed), so ``steps * len(seeds)`` samples.

GPU (any other ``device``: training rules then declare ``gpu=1`` and run on it; paper configuration)
    * teacher: ~20k steps/s for a width-50000 teacher (conservative); at smaller widths the step is
      bound by kernel launches, so no faster is assumed; wider teachers scale as 1 / width.
    * students: ~10k batched steps/s (all runs of the job together, targets and evaluation included)
      for the paper's 9 runs at width <= 1000; more work per step (runs x width) scales it down.

The estimate is ``STARTUP_S + SAFETY * compute`` seconds, in whole minutes, at least ``MIN_RUNTIME``
minutes, times the attempt: a job that hit its time limit is retried (``--retries``) with twice, then
three times the time. So the paper teacher asks for 26 min and a paper students job for 51 min on a
GPU; the default configuration's jobs, and the smoke ones, ask for the minimum.

Memory
------
Host memory: ``BASE_MB`` (interpreter, torch, pandas; on GPU jobs the CUDA context too) plus the
arrays of the job: parameters of all runs (x3: live, resume state, checkpoint copy), the hidden
activations of a blocked forward pass (4096 samples at a time, x2: pre-activation and ReLU), the
sample chunk (int8 inputs, their float copy, soft targets) and, for distillation, up to 4 cached
teacher checkpoints plus one teacher forward block. On a GPU the activations live on the device, so
counting them in host memory over-asks a little. Times ``MEM_SAFETY``, rounded up to 256 MB, and 50%
more on each retry (a job killed for memory gets more).

Override any of this per rule on the command line: ``--set-resources teacher:runtime=600`` (minutes)
or ``--set-resources students:mem_mb=16000``.
"""

from __future__ import annotations

import math

# --- measured throughputs (see the module docstring) ------------------------------------------------
CPU_STEP_WORK = 1.0e8  # compiled kernel: model-steps/s x width (width 2000: 50k steps/s)
CPU_MAX_STEPS = 2.0e6  # compiled kernel: model-steps/s ceiling for tiny widths
TORCH_CPU_OVERHEAD_S = 32 / 1.8e5  # batched torch on CPU: seconds per iteration, overhead-bound
TORCH_CPU_WORK = 1.8e5 * 100  # batched torch on CPU: model-steps/s x width when compute-bound
CACHE_BYTES = 8 * 2**20  # parameters of one run that still fit in the CPU caches
MEM_BW = 2.0e10  # bytes/s of memory bandwidth one thread gets, for steps beyond the caches
FORWARD_CPU = 1.36e5 * 2000  # teacher forward on CPU: samples/s x width
GPU_TEACHER_STEPS = 2.0e4  # steps/s of a width-50000 teacher on a GPU (conservative)
GPU_TEACHER_WIDTH = 50000
GPU_STUDENT_STEPS = 1.0e4  # batched student steps/s on a GPU (all runs together)
GPU_STUDENT_WORK = 9 * 1000  # the runs x width that rate was assumed for (paper: 9 runs, width 1000)

# --- margins -------------------------------------------------------------------------------------
STARTUP_S = 60  # interpreter + torch import, kernel compile or CUDA init, reading checkpoints
SAFETY = 1.5  # on the compute time: slower nodes, shared memory bandwidth, checkpoint and state writes
MIN_RUNTIME = 10  # minutes
BASE_MB = {"cpu": 1000, "gpu": 3000}
MEM_SAFETY = 1.3
FORWARD_BLOCK = 4096  # samples per block of progdistill.model.forward
TEACHER_CACHE = 4  # checkpoints kept by progdistill.training.TeacherBank


def uses_gpu(cfg: dict) -> bool:
    """Training jobs run on (and ask for) a GPU unless the configuration pins them to the CPU."""
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


def _cpu_eval_s(exp: dict, steps: int, runs: int, width: int) -> float:
    evals = steps // exp["eval_every"] + 2
    return evals * exp["heldout"] * runs / (FORWARD_CPU / width)


def _minutes(compute_s: float, attempt: int) -> int:
    return max(MIN_RUNTIME, math.ceil((STARTUP_S + SAFETY * compute_s) / 60)) * max(1, attempt)


def teacher_compute_s(cfg: dict, exp: dict) -> float:
    """Seconds of compute of one teacher job (one run)."""
    t = exp["teacher"]
    steps, width = t["steps"], t["width"]
    if uses_gpu(cfg):
        return steps / (GPU_TEACHER_STEPS * min(1.0, GPU_TEACHER_WIDTH / width))
    return _cpu_train_s(cfg, exp, steps, 1, width) + _cpu_eval_s(exp, steps, 1, width)


def students_compute_s(cfg: dict, exp: dict, strategy: str, width: int) -> float:
    """Seconds of compute of one students job: every LR x seed of one (strategy, width) cell."""
    s = exp["students"]
    steps, runs = s["steps"], student_runs(exp)
    if uses_gpu(cfg):
        return steps / (GPU_STUDENT_STEPS * min(1.0, GPU_STUDENT_WORK / (runs * width)))
    sec = _cpu_train_s(cfg, exp, steps, runs, width) + _cpu_eval_s(exp, steps, runs, width)
    if _strategy(exp, strategy)["kind"] != "ce":  # distillation: teacher targets, one per data stream
        sec += steps * len(s["seeds"]) / (FORWARD_CPU / exp["teacher"]["width"])
    return sec


def teacher_runtime(cfg: dict, exp: dict, attempt: int = 1) -> int:
    """Wall time (minutes) to ask for one teacher job."""
    return _minutes(teacher_compute_s(cfg, exp), attempt)


def students_runtime(cfg: dict, exp: dict, strategy: str, width: int, attempt: int = 1) -> int:
    """Wall time (minutes) to ask for one students job."""
    return _minutes(students_compute_s(cfg, exp, strategy, width), attempt)


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


def _mb(cfg: dict, nbytes: float, attempt: int) -> int:
    base = BASE_MB["gpu" if uses_gpu(cfg) else "cpu"]
    mb = (base + nbytes / 2**20) * MEM_SAFETY * (1 + 0.5 * (max(1, attempt) - 1))
    return int(math.ceil(mb / 256) * 256)


def teacher_mem_mb(cfg: dict, exp: dict, attempt: int = 1) -> int:
    """Host memory (MB) to ask for one teacher job."""
    return _mb(cfg, _train_bytes(cfg, exp, 1, exp["teacher"]["width"]), attempt)


def students_mem_mb(cfg: dict, exp: dict, strategy: str, width: int, attempt: int = 1) -> int:
    """Host memory (MB) to ask for one students job."""
    nbytes = _train_bytes(cfg, exp, student_runs(exp), width)
    if _strategy(exp, strategy)["kind"] != "ce":
        tw = exp["teacher"]["width"]
        n, classes = exp["task"]["n"], num_classes(exp["task"])
        nbytes += TEACHER_CACHE * _param_floats(n, tw, classes) * 4
        nbytes += min(FORWARD_BLOCK, cfg["chunk"]) * tw * 4 * 2
    return _mb(cfg, nbytes, attempt)
