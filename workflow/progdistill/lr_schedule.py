"""Per-step learning-rate schedules (config ``lr_schedule`` and ``warmup`` of the teacher and the students).

The multiplier of optimizer step t (0-based) of a ``steps``-step run follows HuggingFace transformers'
``get_cosine_schedule_with_warmup`` / ``get_constant_schedule_with_warmup`` with the warm-up length of
``TrainingArguments.get_warmup_steps``: W = ceil(warmup * steps) and
  lambda(t) = t / max(1, W)                                               for t < W
  cosine:   max(0, 0.5 * (1 + cos(pi * (t - W) / max(1, steps - W))))     for t >= W
  constant: 1                                                             for t >= W
The authors' parity scripts write the same curve by hand, one step apart in places (docs/configuration.md,
"The authors' protocol"). A step's learning rate is float32(base_lr * lambda(t)), with the product in double,
as torch.optim.SGD under LambdaLR applies it to float32 parameters; lambda = 1 gives the base LR's bits, so
the constant schedule without warm-up is today's training exactly.
"""

from __future__ import annotations

import math

import numpy as np

SCHEDULES = ("constant", "cosine")


def warmup_steps(warmup: float, steps: int) -> int:
    return math.ceil(steps * warmup)  # transformers.TrainingArguments.get_warmup_steps


def factors(schedule: str, warmup: float, steps: int, start: int, count: int) -> np.ndarray:
    """lambda(t) for t = start .. start+count-1, float64."""
    if schedule not in SCHEDULES:
        raise ValueError(f"lr_schedule: unknown schedule {schedule!r}; valid: {', '.join(SCHEDULES)}")
    t = np.arange(start, start + count, dtype=np.float64)
    W = warmup_steps(warmup, steps)
    if schedule == "cosine":
        after = np.maximum(0.0, 0.5 * (1.0 + np.cos(math.pi * (t - W) / max(1, steps - W))))
    else:
        after = np.ones_like(t)
    return np.where(t < W, t / max(1, W), after)


def is_constant(schedule: str, warmup: float) -> bool:
    return schedule == "constant" and warmup == 0


def step_lrs(
    base, schedule: str, warmup: float, steps: int, start: int, count: int, dtype=np.float32
) -> np.ndarray:
    """(R, count) learning rates of R runs with base LRs ``base`` at steps start .. start+count-1: the product
    in double, rounded to ``dtype`` (the parameters' precision; float64 for the tests' double builds)."""
    base = np.asarray(base, dtype=np.float64)
    return (base[:, None] * factors(schedule, warmup, steps, start, count)[None, :]).astype(dtype)
