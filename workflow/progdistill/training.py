"""The training driver: chunks of online SGD over deterministic streams, targets, evaluation, resume.

One call trains R runs of one width together. Each run has its own init seed, learning rate, sample
stream and target schedule (CE on labels, or a teacher checkpoint per step range); the driver splits
training into chunks at every event (evaluation, checkpoint save, teacher switch, state save), builds
the targets of a chunk once per (checkpoint, stream) and hands the chunk to the engine backend.
"""

from __future__ import annotations

import bisect
import logging
import math
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from . import lr_schedule as lrs
from .checkpoints import atomic_torch_save
from .logit_store import BLOCK, TEACHER_CACHE, LogitFile, LogitFileError
from .model import MLPParams, forward, init_params, soft_targets
from .streams import StreamSampler, sample_inputs

log = logging.getLogger(__name__)

LABELS = -1  # pseudo checkpoint id: targets are the ground-truth labels


@dataclass(frozen=True)
class RunSpec:
    """One training run. ``schedule`` is a sorted list of (start_step, teacher_checkpoint_step); an empty
    schedule means cross-entropy on labels. ``alpha`` weighs labels against the teacher (Eq. 1)."""

    lr: float
    init_seed: int
    stream_seed: int
    alpha: float = 1.0
    temperature: float = 1.0
    schedule: tuple[tuple[int, int], ...] = ()

    def checkpoint_at(self, step: int) -> int:
        if not self.schedule:
            return LABELS
        starts = [s for s, _ in self.schedule]
        i = bisect.bisect_right(starts, step) - 1
        return LABELS if i < 0 else self.schedule[i][1]

    @property
    def switch_steps(self) -> list[int]:
        return [s for s, _ in self.schedule]


@dataclass
class HeldOut:
    x: torch.Tensor  # (N, n) int8
    y: torch.Tensor  # (N,) int64

    @classmethod
    def from_task(cls, task, stream_seed: int, size: int) -> HeldOut:
        x = sample_inputs(stream_seed, 0, size, task.n)
        return cls(torch.from_numpy(x), torch.from_numpy(task.labels(x)))


@dataclass
class TrainResult:
    params: MLPParams
    rows: list[dict] = field(default_factory=list)  # one per (run, evaluation step)
    diverged_at: list[int] = field(default_factory=list)  # per run; -1 when it never diverged


def evaluate(params: MLPParams, heldout: HeldOut) -> tuple[np.ndarray, np.ndarray]:
    """Held-out accuracy and mean cross-entropy on labels, one value per run."""
    with torch.no_grad():
        logits = forward(params, heldout.x)  # (R, N, C)
        y = heldout.y.to(logits.device)
        acc = (logits.argmax(-1) == y).float().mean(1)
        loss = torch.nn.functional.cross_entropy(
            logits.transpose(1, 2), y.expand(params.runs, -1), reduction="none"
        ).mean(1)
    return acc.cpu().numpy(), loss.cpu().numpy()


def teacher_logits(teacher: MLPParams, x: np.ndarray) -> torch.Tensor:
    """Blocked batched forward of a single teacher over a chunk of samples: (K, C)."""
    return forward(teacher, torch.from_numpy(x))[0]


class TeacherBank:
    """Loads teacher checkpoints on demand (keeping the few in use) and computes their logits.

    Logits are computed in blocks of ``block`` samples aligned to the stream (block i covers the samples at
    positions i*block .. (i+1)*block - 1) and cached, so the numbers never depend on how training was
    chunked: a GEMM's rounding can depend on its row count, and an aligned block always has the same rows.
    ``train_set_size``: the students' finite training set (streams.StreamSampler), which decides which
    example each position shows; None: a fresh sample per position.

    With ``stored`` (logit_store.LogitFile, one per stream: the teacher_logits stage's outputs) a block is
    read from its stream's file when the file holds it, else computed; the stage computed each stored
    block with this class's ``compute``, so the numbers do not change."""

    def __init__(
        self,
        loader: Callable[[int], MLPParams],
        keep: int = TEACHER_CACHE,
        block: int = BLOCK,
        stored: list[LogitFile] | None = None,
        train_set_size: int | None = None,
    ):
        self.loader = loader
        self.keep = keep
        self.block = block
        self.train_set_size = train_set_size
        self.stored = {f.stream: f for f in stored or []}
        for f in self.stored.values():
            if f.block != block:
                raise ValueError(f"{f.path} holds blocks of {f.block} samples, this job uses {block}")
            if f.train_set_size != train_set_size:
                raise LogitFileError(
                    f"teacher-logit file {f.path} is stale: it was computed for train_set_size = "
                    f"{f.train_set_size}, this job uses {train_set_size}; delete it and rerun the workflow"
                )
        self._samplers: dict[int, StreamSampler] = {}
        self._cache: dict[int, MLPParams] = {}
        self._blocks: dict[tuple[int, int, int], torch.Tensor] = {}
        self.stats = Counter()  # blocks computed here, blocks read from the stage's files

    def get(self, step: int) -> MLPParams:
        if step not in self._cache:
            if len(self._cache) >= self.keep:
                self._cache.pop(next(iter(self._cache)))
            self._cache[step] = self.loader(step)
        return self._cache[step]

    def logits(self, step: int, stream_seed: int, start: int, count: int, n: int) -> torch.Tensor:
        """Teacher logits (count, C) for samples start .. start+count-1 of a stream."""
        B = self.block
        parts = []
        for b in range(start // B, (start + count - 1) // B + 1):
            lo, hi = max(start, b * B) - b * B, min(start + count, (b + 1) * B) - b * B
            parts.append(self._block(step, stream_seed, b, n)[lo:hi])
        return torch.cat(parts)

    def _block(self, step: int, stream: int, b: int, n: int) -> torch.Tensor:
        key = (step, stream, b)
        if key not in self._blocks:
            f = self.stored.get(stream)
            if f is not None and f.has(step, b):
                self._put(key, torch.from_numpy(f.read(step, b)))
                self.stats["read"] += 1
            else:
                self._put(key, self.compute(step, stream, b, b + 1, n)[0])
        return self._blocks[key]

    def _put(self, key, logits: torch.Tensor) -> None:
        if len(self._blocks) >= 512:  # small (block x C floats each); a chunk touches few
            self._blocks.pop(next(iter(self._blocks)))
        self._blocks[key] = logits

    def sampler(self, stream: int, n: int) -> StreamSampler:
        if stream not in self._samplers:
            self._samplers[stream] = StreamSampler(stream, n, self.train_set_size)
        return self._samplers[stream]

    def compute(self, step: int, stream: int, b0: int, b1: int, n: int) -> torch.Tensor:
        """Logits of blocks b0 .. b1-1, (b1-b0, block, C): one forward pass per aligned block (the
        teacher_logits stage computes its files with this too)."""
        B = self.block
        x = self.sampler(stream, n).inputs(b0 * B, (b1 - b0) * B)
        teacher = self.get(step)
        out = torch.stack([teacher_logits(teacher, x[i * B : (i + 1) * B]).cpu() for i in range(b1 - b0)])
        self.stats["computed"] += b1 - b0
        return out


class Progress:
    """Periodic log lines with steps done, steps/s and ETA (no terminal needed, readable in job logs)."""

    def __init__(self, label: str, total: int, start: int = 0, every_s: float = 10.0):
        self.label, self.total, self.start, self.every_s = label, total, start, every_s
        self.t0 = self.last = time.monotonic()

    def update(self, step: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.every_s:
            return
        self.last = now
        rate = (step - self.start) / max(now - self.t0, 1e-9)
        eta = (self.total - step) / rate if rate > 0 else math.inf
        log.info(
            "%s: step %d/%d (%.0f%%), %.0f steps/s, ETA %s",
            self.label,
            step,
            self.total,
            100 * step / max(self.total, 1),
            rate,
            _fmt_eta(eta),
        )


def _fmt_eta(sec: float) -> str:
    if not math.isfinite(sec):
        return "?"
    h, rem = divmod(int(sec), 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def train(
    task,
    width: int,
    runs: list[RunSpec],
    steps: int,
    heldout: HeldOut,
    eval_every: int,
    backend,
    device: torch.device,
    teachers: TeacherBank | None = None,
    save_every: int | None = None,
    on_save: Callable[[int, MLPParams], None] | None = None,
    chunk: int = 2048,
    state_path: str | None = None,
    state_every: int | None = None,
    label: str = "train",
    lr_schedule: str = "constant",
    warmup: float = 0.0,
    train_set_size: int | None = None,
) -> TrainResult:
    """Train ``runs`` for ``steps`` online-SGD steps each; evaluate every ``eval_every`` steps (and at 0
    and the end); call ``on_save(step, params)`` at multiples of ``save_every`` (0 included).

    ``lr_schedule`` / ``warmup``: each run's LR times the schedule's factor of the step (lr_schedule.py);
    ``train_set_size``: a finite training set per stream, reshuffled each epoch (streams.StreamSampler;
    None: a fresh sample every step). With ``teachers``, the bank must use the same train_set_size.

    With ``state_path`` the driver writes a resumable state every ``state_every`` steps (atomically) and,
    if one exists, resumes from it: the result is bit-identical to an uninterrupted run, because sample t
    of every stream, and the LR of step t, are functions of (stream seed, t) alone and the backends are
    deterministic."""
    if any(r.schedule for r in runs) and teachers is None:
        raise ValueError("runs with a teacher schedule need a TeacherBank")
    if teachers is not None and teachers.train_set_size != train_set_size:
        raise ValueError(
            f"the TeacherBank uses train_set_size = {teachers.train_set_size}, training uses {train_set_size}"
        )
    lrs.factors(lr_schedule, warmup, steps, 0, 0)  # an unknown schedule fails here, before any compute
    constant_lr = lrs.is_constant(lr_schedule, warmup)
    C = task.num_classes
    params = init_params(task.n, width, C, [r.init_seed for r in runs], device=device)
    lr = torch.tensor([r.lr for r in runs], dtype=torch.float32)  # a diverged run's entry becomes 0
    base_lr = np.array([r.lr for r in runs], dtype=np.float64)
    result = TrainResult(params=params, diverged_at=[-1] * len(runs))
    protocol = {} if constant_lr else {"lr_schedule": lr_schedule, "warmup": warmup}
    if train_set_size is not None:
        protocol["train_set_size"] = train_set_size
    fingerprint = _fingerprint(task, width, runs, steps, eval_every, heldout, protocol)

    start = 0
    if state_path and os.path.exists(state_path):
        start = _load_state(state_path, fingerprint, result, device)
        log.info("%s: resuming from %s at step %d", label, state_path, start)
        for i, d in enumerate(result.diverged_at):
            if d >= 0:
                lr[i] = 0.0  # diverged runs stay frozen after a resume

    events = _event_steps(runs, steps, eval_every, save_every, state_every, chunk)
    streams = sorted({r.stream_seed for r in runs})
    samplers = [StreamSampler(s, task.n, train_set_size) for s in streams]
    stream_idx = torch.tensor([streams.index(r.stream_seed) for r in runs])
    progress = Progress(label, steps, start)

    if start == 0:
        _record(result, runs, 0, heldout)
        if on_save and save_every:
            on_save(0, params)

    t = start
    while t < steps:
        end = events[bisect.bisect_right(events, t)]
        K = end - t
        xs = [sp.inputs(t, K) for sp in samplers]
        X = torch.from_numpy(np.stack(xs))[stream_idx]  # (R, K, n) int8
        Q = _targets(task, runs, streams, stream_idx.tolist(), xs, t, teachers, C)
        if constant_lr:
            backend.run_steps(params, X, Q, lr)
        else:  # (R, K): the schedule's LR of each step; a frozen (diverged) run's row is 0
            base = np.where(lr.numpy() == 0, 0.0, base_lr)
            backend.run_steps(
                params, X, Q, torch.from_numpy(lrs.step_lrs(base, lr_schedule, warmup, steps, t, K))
            )
        t = end
        _check_divergence(result, runs, lr, t, label)
        if t % eval_every == 0 or t == steps:
            _record(result, runs, t, heldout)
        if on_save and save_every and t % save_every == 0:
            on_save(t, params)
        if state_path and state_every and (t % state_every == 0) and t < steps:
            _save_state(state_path, fingerprint, result, t)
        progress.update(t, force=(t == steps))
    if teachers is not None and teachers.stats:
        log.info("%s: teacher-logit blocks %s", label, dict(sorted(teachers.stats.items())))
    return result


def _event_steps(runs, steps, eval_every, save_every, state_every, chunk) -> list[int]:
    ev = set(range(chunk, steps, chunk)) | set(range(eval_every, steps, eval_every)) | {steps}
    for every in (save_every, state_every):
        if every:
            ev |= set(range(every, steps, every))
    for r in runs:
        ev |= {s for s in r.switch_steps if 0 < s < steps}
    return sorted(ev)


def _targets(task, runs, streams, stream_of_run, xs, t, teachers, C) -> torch.Tensor:
    K = xs[0].shape[0]
    Q = torch.empty(len(runs), K, C, dtype=torch.float32)
    onehot = {}
    soft = {}
    for i, (r, s) in enumerate(zip(runs, stream_of_run, strict=True)):
        ck = r.checkpoint_at(t)
        need_labels = ck == LABELS or r.alpha > 0
        if need_labels and s not in onehot:
            y = torch.from_numpy(task.labels(xs[s]))
            onehot[s] = torch.nn.functional.one_hot(y, C).float()
        if ck == LABELS:
            Q[i] = onehot[s]
            continue
        key = (ck, s, r.temperature)
        if key not in soft:
            logits = teachers.logits(ck, streams[s], t, K, task.n)
            soft[key] = soft_targets(logits, r.temperature).cpu()
        Q[i] = soft[key] if r.alpha == 0 else r.alpha * onehot[s] + (1 - r.alpha) * soft[key]
    return Q


def _check_divergence(result: TrainResult, runs, lr: torch.Tensor, t: int, label: str) -> None:
    ok = result.params.finite().cpu()
    for i in torch.nonzero(~ok).flatten().tolist():
        if result.diverged_at[i] < 0:
            result.diverged_at[i] = t
            log.warning(
                "%s: run %d (lr=%g, seed=%d) diverged (non-finite parameters) by step %d; "
                "it is frozen and recorded as diverged",
                label,
                i,
                runs[i].lr,
                runs[i].init_seed,
                t,
            )
            # Freeze the run: zero lr and parameters so NaNs cannot spread into shared reductions.
            lr[i] = 0.0
            for p in result.params.tensors():
                p[i] = 0.0


def _record(result: TrainResult, runs, step: int, heldout: HeldOut) -> None:
    acc, loss = evaluate(result.params, heldout)
    for i, r in enumerate(runs):
        div = result.diverged_at[i] >= 0
        result.rows.append(
            dict(
                run=i,
                step=step,
                accuracy=float("nan") if div else float(acc[i]),
                loss=float("nan") if div else float(loss[i]),
                teacher_checkpoint=r.checkpoint_at(max(step - 1, 0)),
                diverged=div,
            )
        )


def _fingerprint(task, width, runs, steps, eval_every, heldout, protocol) -> str:
    key = (repr(task), width, runs, steps, eval_every, int(heldout.x.shape[0]))
    # The online protocol's fingerprint is unchanged, so states written before these options still resume.
    return repr((*key, protocol) if protocol else key)


def _save_state(path: str, fingerprint: str, result: TrainResult, step: int) -> None:
    state = {
        "fingerprint": fingerprint,
        "step": step,
        "params": [p.cpu() for p in result.params.tensors()],
        "rows": result.rows,
        "diverged_at": result.diverged_at,
    }
    atomic_torch_save(state, path)


def _load_state(path: str, fingerprint: str, result: TrainResult, device) -> int:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise RuntimeError(
            f"resume state {path} is unreadable ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
            "delete it to start over"
        ) from exc
    if state.get("fingerprint") != fingerprint:
        raise RuntimeError(
            f"resume state {path} was written for a different configuration; delete it to start over"
        )
    for dst, src in zip(result.params.tensors(), state["params"], strict=True):
        dst.copy_(src.to(device))
    result.rows[:] = state["rows"]
    result.diverged_at[:] = state["diverged_at"]
    return int(state["step"])
