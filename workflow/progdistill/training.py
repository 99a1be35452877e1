"""The training driver: chunks of online SGD over deterministic streams, targets, evaluation, resume.

One call trains R runs of one width together. Each run has its own init seed, learning rate, sample
stream and target schedule (CE on labels, or a teacher checkpoint per step range); the driver splits
training into chunks at every event (evaluation, checkpoint save, teacher switch, state save), builds
the targets of a chunk once per (checkpoint, stream) and hands the chunk to the engine backend.

Two curricula need more than a fixed schedule (progdistill.runspec): a paced run's schedule grows at its
evaluations (``Pace``: it moves on once it agrees with its checkpoint), and an extraction run's first phase
trains the hidden layer on a projection of the teacher's hidden layer (``HiddenPhase``).
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
from .runspec import LABELS, HiddenPhase, Pace, RunSpec, checkpoint_at  # noqa: F401 - the driver's API
from .streams import StreamSampler, sample_inputs

log = logging.getLogger(__name__)


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
    # Per run, the (start_step, checkpoint) schedule it trained on: a paced run's grows as it moves on.
    schedules: list[tuple[tuple[int, int], ...]] = field(default_factory=list)
    # Per paced run: [index of its current checkpoint in pace.checkpoints, the step it started on it].
    pace_state: dict[int, list[int]] = field(default_factory=dict)


def evaluate(params: MLPParams, heldout: HeldOut, predictions: bool = False):
    """Held-out accuracy and mean cross-entropy on labels, one value per run (and, with ``predictions``,
    every run's argmax predictions, (R, N))."""
    with torch.no_grad():
        logits = forward(params, heldout.x)  # (R, N, C)
        y = heldout.y.to(logits.device)
        pred = logits.argmax(-1)
        acc = (pred == y).float().mean(1)
        loss = torch.nn.functional.cross_entropy(
            logits.transpose(1, 2), y.expand(params.runs, -1), reduction="none"
        ).mean(1)
    out = acc.cpu().numpy(), loss.cpu().numpy()
    return (*out, pred.cpu()) if predictions else out


def projection(seed: int, width: int, teacher_width: int) -> torch.Tensor:
    """Curriculum extraction's fixed random projection (runspec.HiddenPhase): (width, teacher_width),
    entries N(0, 1 / teacher_width), a function of the seed alone."""
    rng = np.random.default_rng(seed)
    P = rng.standard_normal((width, teacher_width)) / np.sqrt(teacher_width)
    return torch.from_numpy(P.astype(np.float32))


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
        self._blocks: dict[tuple, torch.Tensor] = {}
        self._hidden: dict[tuple, torch.Tensor] = {}
        self._projections: dict[tuple[int, int, int], torch.Tensor] = {}
        self._heldout_acc: dict[int, float] = {}
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

    def hidden_targets(
        self, step: int, stream: int, start: int, count: int, n: int, seed: int, width: int
    ) -> torch.Tensor:
        """Curriculum extraction's targets (count, width) for samples start .. start+count-1 of a stream:
        the projection (seed) of checkpoint ``step``'s hidden layer, per aligned block (as the logits)."""
        B = self.block
        parts = []
        for b in range(start // B, (start + count - 1) // B + 1):
            key = (step, stream, seed, width, b)
            if key not in self._hidden:
                x = torch.from_numpy(self.sampler(stream, n).inputs(b * B, B))
                teacher = self.get(step)
                P = self._projection(seed, width, teacher.width)
                with torch.no_grad():
                    h = torch.addmm(teacher.b1[0], x.to(teacher.W1t.dtype), teacher.W1t[0]).relu_()
                    if len(self._hidden) >= 64:  # block x width floats each: keep a chunk's worth
                        self._hidden.pop(next(iter(self._hidden)))
                    self._hidden[key] = (h @ P.t()).cpu()
                self.stats["hidden"] += 1
            lo, hi = max(start, b * B) - b * B, min(start + count, (b + 1) * B) - b * B
            parts.append(self._hidden[key][lo:hi])
        return torch.cat(parts)

    def _projection(self, seed: int, width: int, teacher_width: int) -> torch.Tensor:
        key = (seed, width, teacher_width)
        if key not in self._projections:
            self._projections[key] = projection(seed, width, teacher_width)
        return self._projections[key]

    def heldout_accuracy(self, step: int, heldout: HeldOut) -> float:
        """Checkpoint ``step``'s held-out accuracy (a paced run's yardstick), computed once."""
        if step not in self._heldout_acc:
            pred = forward(self.get(step), heldout.x)[0].argmax(-1).cpu()
            self._heldout_acc[step] = float((pred == heldout.y).double().mean())
        return self._heldout_acc[step]

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
    if any(r.schedule or r.pace or r.hidden for r in runs) and teachers is None:
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
    result = TrainResult(
        params=params,
        diverged_at=[-1] * len(runs),
        schedules=[tuple(r.schedule) for r in runs],
        pace_state={i: [0, 0] for i, r in enumerate(runs) if r.pace},
    )
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
        _evaluate(result, runs, 0, steps, heldout, teachers)
        if on_save and save_every:
            on_save(0, params)

    t = start
    while t < steps:
        end = events[bisect.bisect_right(events, t)]
        K = end - t
        xs = [sp.inputs(t, K) for sp in samplers]
        X = torch.from_numpy(np.stack(xs))[stream_idx]  # (R, K, n) int8
        if constant_lr:
            step_lr = lr
        else:  # (R, K): the schedule's LR of each step; a frozen (diverged) run's row is 0
            base = np.where(lr.numpy() == 0, 0.0, base_lr)
            step_lr = torch.from_numpy(lrs.step_lrs(base, lr_schedule, warmup, steps, t, K))
        # Runs in an extraction's first phase learn their hidden layer; the others their targets.
        groups: dict[float | None, list[int]] = {}
        for i, r in enumerate(runs):
            groups.setdefault(r.hidden.scale if r.hidden and t < r.hidden.steps else None, []).append(i)
        for scale, idx in groups.items():
            whole = len(idx) == len(runs)  # the usual case: no copies
            sub = params if whole else params.select(idx)
            Xg, lrg = (X, step_lr) if whole else (X[idx], step_lr[idx])
            subset = [runs[i] for i in idx]
            sched = [result.schedules[i] for i in idx]
            stream_of = stream_idx[idx].tolist()
            if scale is None:
                Q = _targets(task, subset, sched, streams, stream_of, xs, t, teachers, C)
                backend.run_steps(sub, Xg, Q, lrg)
            else:
                Z = torch.stack(
                    [
                        teachers.hidden_targets(
                            r.hidden.checkpoint, streams[s], t, K, task.n, r.hidden.projection_seed, width
                        )
                        for r, s in zip(subset, stream_of, strict=True)
                    ]
                )
                backend.run_hidden_steps(sub, Xg, Z, lrg, scale)
            if sub is not params:
                with torch.no_grad():
                    for dst, src in zip(params.tensors(), sub.tensors(), strict=True):
                        dst[idx] = src
        t = end
        _check_divergence(result, runs, lr, t, label)
        if t % eval_every == 0 or t == steps:
            _evaluate(result, runs, t, steps, heldout, teachers)
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


def _targets(task, runs, schedules, streams, stream_of_run, xs, t, teachers, C) -> torch.Tensor:
    """The targets Q (R, K, C) of a chunk from step ``t``: each run's schedule (``schedules``, as trained so
    far: a paced run's grows) names its checkpoint at ``t``."""
    K = xs[0].shape[0]
    Q = torch.empty(len(runs), K, C, dtype=torch.float32)
    onehot = {}
    soft = {}
    for i, (r, sched, s) in enumerate(zip(runs, schedules, stream_of_run, strict=True)):
        ck = checkpoint_at(sched, t)
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


def _evaluate(result: TrainResult, runs, step: int, steps: int, heldout: HeldOut, teachers) -> None:
    """One held-out evaluation of every run: a row each; a paced run's row also says how far it is behind
    its checkpoint (``gap``: the checkpoint's held-out accuracy less its own), and whether it moves on from
    here (``moved_to``: the checkpoint, else -1; ``reason``: "caught up" or "cap")."""
    acc, loss = evaluate(result.params, heldout)
    for i, r in enumerate(runs):
        div = result.diverged_at[i] >= 0
        ck = checkpoint_at(result.schedules[i], max(step - 1, 0))
        if r.hidden and max(step - 1, 0) < r.hidden.steps:
            ck = r.hidden.checkpoint  # its first phase learns that checkpoint's hidden layer
        row = dict(
            run=i,
            step=step,
            accuracy=float("nan") if div else float(acc[i]),
            loss=float("nan") if div else float(loss[i]),
            teacher_checkpoint=ck,
            diverged=div,
        )
        if r.pace:  # how far the run is behind the checkpoint it learnt from until now
            row["gap"] = float("nan") if div else teachers.heldout_accuracy(ck, heldout) - float(acc[i])
            moved = (
                None
                if div or step >= steps
                else _move_on(result, r, i, step, float(acc[i]), heldout, teachers)
            )
            row["moved_to"], row["reason"] = moved or (-1, "")
        result.rows.append(row)


def _move_on(result: TrainResult, run: RunSpec, i: int, step: int, acc: float, heldout, teachers):
    """runspec.Pace: a run whose held-out accuracy ``acc`` is within the tolerance of its checkpoint's has
    caught up, and moves to the first later checkpoint it has not caught up with; one that has spent
    max_steps on its checkpoint moves to the next. The move takes effect from ``step``; returns (the new
    checkpoint, why) or None."""
    cks = run.pace.checkpoints
    k, since = result.pace_state[i]
    if k == len(cks) - 1:
        return None  # on the final teacher for good

    def caught_up(c):
        return acc >= teachers.heldout_accuracy(c, heldout) - run.pace.tolerance

    new, reason = k, None
    if caught_up(cks[k]):
        new, reason = k + 1, "caught up"
        while new < len(cks) - 1 and caught_up(cks[new]):
            new += 1
    elif step - since >= run.pace.max_steps:
        new, reason = k + 1, "cap"
    if new == k:
        return None
    sched = result.schedules[i]
    if sched and sched[-1][0] == step:  # moved on at its very first evaluation (step 0)
        sched = sched[:-1]
    result.schedules[i] = (*sched, (step, cks[new]))
    result.pace_state[i] = [new, step]
    return cks[new], reason


def _fingerprint(task, width, runs, steps, eval_every, heldout, protocol) -> str:
    key = (repr(task), width, runs, steps, eval_every, int(heldout.x.shape[0]))
    extras = [(r.pace, r.hidden) for r in runs]
    if any(p or h for p, h in extras):  # after the runs' repr, which leaves them out (runspec.RunSpec)
        key = (*key, extras)
    # The online protocol's fingerprint is unchanged, so states written before these options still resume.
    return repr((*key, protocol) if protocol else key)


def _save_state(path: str, fingerprint: str, result: TrainResult, step: int) -> None:
    state = {
        "fingerprint": fingerprint,
        "step": step,
        "params": [p.cpu() for p in result.params.tensors()],
        "rows": result.rows,
        "diverged_at": result.diverged_at,
        "schedules": [[list(seg) for seg in sched] for sched in result.schedules],
        "pace_state": [[i, *state] for i, state in sorted(result.pace_state.items())],
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
    if "schedules" in state:  # a state written before paced runs existed: the schedules are the runs'
        result.schedules[:] = [tuple(tuple(seg) for seg in sched) for sched in state["schedules"]]
        result.pace_state = {i: [k, since] for i, k, since in state["pace_state"]}
    return int(state["step"])
