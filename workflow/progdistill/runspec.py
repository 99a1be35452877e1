"""What one training run is, as the driver (progdistill.training) sees it: its LR, seeds, target schedule
and, for the curricula that need more than a schedule, how its pace is decided (``Pace``) or what its
first phase learns (``HiddenPhase``). Standard library only: the strategy kinds (progdistill.strategies)
build these objects without torch."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

LABELS = -1  # pseudo checkpoint id: targets are the ground-truth labels


@dataclass(frozen=True)
class Pace:
    """Student-paced progressive distillation (strategies.Paced). ``checkpoints``: the curriculum in order,
    the final teacher last. At each of its held-out evaluations a run on ``checkpoints[k]`` has caught up
    with it when its held-out accuracy is at least the checkpoint's less ``tolerance``; it then moves to the
    first later checkpoint it has not caught up with. A run that has spent ``max_steps`` steps on a
    checkpoint without catching up moves to the next one."""

    checkpoints: tuple[int, ...]
    tolerance: float
    max_steps: int


@dataclass(frozen=True)
class HiddenPhase:
    """Phase 1 of curriculum extraction (strategies.Extraction): for the first ``steps`` steps only the
    student's first layer learns, on the squared loss ``scale / 2 * ||relu(W1 x + b1) - P h_T(x)||^2``
    between its hidden layer and a fixed random projection P of teacher ``checkpoint``'s hidden layer
    h_T(x) = relu(W1_T x + b1_T). P is (student width x teacher width), entries N(0, 1 / teacher width),
    drawn from ``projection_seed`` (progdistill.training.projection)."""

    steps: int
    checkpoint: int
    projection_seed: int
    scale: float


@dataclass(frozen=True)
class RunSpec:
    """One training run. ``schedule`` is a sorted list of (start_step, teacher_checkpoint_step); an empty
    schedule means cross-entropy on labels. ``alpha`` weighs labels against the teacher (Eq. 1). With
    ``pace`` the schedule is decided during training (it starts on ``pace.checkpoints[0]``); with
    ``hidden`` the steps before ``hidden.steps`` train the hidden layer (``schedule`` then starts there)."""

    lr: float
    init_seed: int
    stream_seed: int
    alpha: float = 1.0
    temperature: float = 1.0
    schedule: tuple[tuple[int, int], ...] = ()
    # Not in repr: the driver's resume fingerprint is the runs' repr, and the runs of the strategies that
    # existed before these fields keep theirs (it appends the fields when a run sets them).
    pace: Pace | None = field(default=None, repr=False)
    hidden: HiddenPhase | None = field(default=None, repr=False)

    def checkpoint_at(self, step: int) -> int:
        return checkpoint_at(self.schedule, step)

    @property
    def switch_steps(self) -> list[int]:
        out = [s for s, _ in self.schedule]
        return out + [self.hidden.steps] if self.hidden else out


def checkpoint_at(schedule, step: int) -> int:
    """The teacher checkpoint of a (start_step, checkpoint) schedule at ``step`` (LABELS before it starts)."""
    if not schedule:
        return LABELS
    starts = [s for s, _ in schedule]
    i = bisect.bisect_right(starts, step) - 1
    return LABELS if i < 0 else schedule[i][1]
