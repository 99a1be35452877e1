"""The training targets the driver feeds the engine, against a from-scratch NumPy reference of Eq. 1.

The reference below shares no code with the package's target construction: it reads each strategy as the
paper defines it (CE: alpha = 1 on labels; one-shot: one checkpoint throughout; progressive: the teacher's
checkpoint at the start of each interval; p-shot: each intermediate checkpoint for its steps, then the
final teacher), labels a sample by counting its -1 coordinates on the support, runs the teacher
checkpoint with its own NumPy forward pass and mixes
    Q = alpha * onehot(y) + (1 - alpha) * softmax(f_T(x) / tau)      (tau on the teacher only).
The driver side is the real path: strategy dict -> Strategy.schedule -> RunSpec -> training.train ->
_targets -> backend.run_steps, captured by a recording backend. A swapped alpha, a tau on the wrong side
or a schedule shifted by one interval changes Q at some step and fails these tests (README "Tests").
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from progdistill import strategies as S
from progdistill.engine import TorchBackend
from progdistill.model import MLPParams, init_params
from progdistill.streams import sample_inputs
from progdistill.tasks import SparseParity
from progdistill.training import HeldOut, RunSpec, TeacherBank, train

CPU = torch.device("cpu")
N, SUPPORT = 12, (1, 4, 9)
TASK = SparseParity(n=N, support=SUPPORT)
TEACHER_WIDTH, TEACHER_FINAL, CKPT_EVERY = 24, 4000, 500
STUDENT_STEPS = 3000
SELECTION = {"checkpoints": {"transition": 2000, "after": 3500}, "reasons": {}, "window": {"learned": True}}

# Every strategy kind, with numbered and named checkpoints, alpha in {0, 0.3, 1} and tau in {1, 0.5}.
STRATEGIES = [
    {"name": "ce", "kind": "ce", "alpha": 1.0, "temperature": 1.0},
    {"name": "oneshot_final", "kind": "oneshot", "checkpoint": "final", "alpha": 0.0, "temperature": 1.0},
    {"name": "oneshot_1500", "kind": "oneshot", "checkpoint": 1500, "alpha": 0.3, "temperature": 0.5},
    {"name": "oneshot_after", "kind": "oneshot", "checkpoint": "after", "alpha": 0.0, "temperature": 0.5},
    {"name": "prog_500", "kind": "progressive", "interval": 500, "alpha": 0.0, "temperature": 1.0},
    {"name": "prog_1000", "kind": "progressive", "interval": 1000, "alpha": 0.3, "temperature": 0.5},
    {
        "name": "3shot",
        "kind": "pshot",
        "checkpoints": [1000, 2500],
        "steps": 700,
        "alpha": 0.0,
        "temperature": 1.0,
    },
    {
        "name": "2shot_transition",
        "kind": "pshot",
        "checkpoints": ["transition"],
        "steps": 1200,
        "alpha": 0.3,
        "temperature": 0.5,
    },
    {
        "name": "3shot_uneven",
        "kind": "pshot",
        "checkpoints": [500, "transition"],
        "steps": [300, 900],
        "alpha": 0.0,
        "temperature": 0.5,
    },
]
# What a strategy's schedule reads of its experiment (progdistill.config.Experiment): the teacher's and the
# students' steps.
EXP = SimpleNamespace(
    teacher=SimpleNamespace(steps=TEACHER_FINAL), students=SimpleNamespace(steps=STUDENT_STEPS)
)


def teacher_arrays(step: int) -> dict[str, np.ndarray]:
    """Checkpoint ``step`` of a fake teacher: a distinct random network per step, weights scaled up so its
    softmax is far from uniform (a wrong checkpoint, alpha or tau then moves Q well beyond rounding)."""
    p = init_params(N, TEACHER_WIDTH, 2, [7000 + step])
    return {
        k: 4.0 * t[0].numpy().astype(np.float64)
        for k, t in zip(("W1t", "b1", "W2", "b2"), p.tensors(), strict=True)
    }


def load_teacher(step: int):
    a = teacher_arrays(step)
    return MLPParams(*(torch.from_numpy(a[k][None].astype(np.float32)) for k in ("W1t", "b1", "W2", "b2")))


# ------------------------------------------------------------------------------- the reference (NumPy)


def ref_checkpoint(st: dict, t: int) -> int | None:
    """The teacher checkpoint that supervises student step t (None: ground-truth labels)."""
    named = SELECTION["checkpoints"]

    def step_of(c):
        return TEACHER_FINAL if c == "final" else named.get(c, c)

    kind = st["kind"]
    if kind == "ce":
        return None
    if kind == "oneshot":
        return step_of(st["checkpoint"])
    if kind == "progressive":
        return min((t // st["interval"]) * st["interval"], TEACHER_FINAL)
    if kind == "pshot":
        lengths = st["steps"] if isinstance(st["steps"], list) else [st["steps"]] * len(st["checkpoints"])
        end = 0
        for c, length in zip(st["checkpoints"], lengths, strict=True):
            end += length
            if t < end:
                return step_of(c)
        return TEACHER_FINAL
    raise AssertionError(kind)


def ref_labels(x: np.ndarray) -> np.ndarray:
    """Class 1 when an odd number of support coordinates are -1 (the parity is -1), else class 0."""
    return (np.count_nonzero(x[:, list(SUPPORT)] < 0, axis=1) % 2).astype(np.int64)


def ref_teacher_logits(step: int, x: np.ndarray) -> np.ndarray:
    a = teacher_arrays(step)
    h = np.maximum(x.astype(np.float64) @ a["W1t"] + a["b1"], 0.0)
    return h @ a["W2"].T + a["b2"]


def ref_softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def ref_targets(st: dict, x: np.ndarray) -> np.ndarray:
    """Eq. 1's target distribution at every step 0 .. len(x)-1 of one run, float64."""
    onehot = np.eye(2)[ref_labels(x)]
    q = np.empty((len(x), 2))
    cks = np.array([-1 if (c := ref_checkpoint(st, t)) is None else c for t in range(len(x))])
    for ck in np.unique(cks):
        rows = cks == ck
        if ck < 0:
            q[rows] = onehot[rows]
        else:
            soft = ref_softmax(ref_teacher_logits(int(ck), x[rows]) / st["temperature"])
            q[rows] = st["alpha"] * onehot[rows] + (1 - st["alpha"]) * soft
    return q


# ------------------------------------------------------------------------------ the driver, recorded


class RecordingBackend(TorchBackend):
    """The torch engine, keeping a copy of every (X, Q) the driver hands it."""

    def __init__(self):
        self.X, self.Q = [], []

    def run_steps(self, params, X, Q, lr):
        self.X.append(X.clone())
        self.Q.append(Q.clone())
        super().run_steps(params, X, Q, lr)


def driver_runs(strategies=STRATEGIES) -> list[RunSpec]:
    runs = []
    for i, st in enumerate(strategies):
        sched = S.from_config(st).schedule(EXP, SELECTION)  # as study.run_students does
        runs.append(
            RunSpec(
                0.02, 100 + i, 200 + i % 3, alpha=st["alpha"], temperature=st["temperature"], schedule=sched
            )
        )
    return runs


@pytest.fixture(scope="module")
def recorded():
    be = RecordingBackend()
    runs = driver_runs()
    heldout = HeldOut.from_task(TASK, 5, 64)
    teachers = TeacherBank(load_teacher)
    res = train(TASK, 8, runs, STUDENT_STEPS, heldout, 1000, be, CPU, teachers=teachers, chunk=400)
    X = torch.cat(be.X, dim=1).numpy()
    Q = torch.cat(be.Q, dim=1).numpy().astype(np.float64)
    return runs, X, Q, res


def test_every_step_was_trained_once(recorded):
    runs, X, Q, _ = recorded
    assert X.shape == (len(runs), STUDENT_STEPS, N) and Q.shape == (len(runs), STUDENT_STEPS, 2)
    for i, r in enumerate(runs):  # sample t of a run is sample t of its stream, whatever the chunking
        np.testing.assert_array_equal(X[i], sample_inputs(r.stream_seed, 0, STUDENT_STEPS, N))


@pytest.mark.parametrize("i", range(len(STRATEGIES)), ids=[s["name"] for s in STRATEGIES])
def test_targets_match_the_reference(recorded, i):
    _, X, Q, _ = recorded
    st = STRATEGIES[i]
    ref = ref_targets(st, X[i])
    bad = np.flatnonzero(np.abs(Q[i] - ref).max(axis=1) > 1e-5)
    assert not len(bad), (
        f"{st['name']}: driver targets differ from Eq. 1 at {len(bad)} steps, first at step {bad[0]} "
        f"(reference checkpoint {ref_checkpoint(st, int(bad[0]))}): "
        f"driver {Q[i, bad[0]]}, reference {ref[bad[0]]}"
    )


def test_the_reference_tells_the_strategies_apart():
    """The fixture is sensitive: the teachers' checkpoints give different soft targets, and alpha, tau and
    each schedule boundary matter at the steps they govern (otherwise the comparison proves nothing)."""
    x = sample_inputs(200, 0, 512, N)
    soft = {s: ref_softmax(ref_teacher_logits(s, x)) for s in (0, 500, 1000, 1500)}
    for a, b in [(0, 500), (500, 1000), (1000, 1500)]:
        assert np.abs(soft[a] - soft[b]).max() > 0.1
    assert np.abs(ref_softmax(ref_teacher_logits(500, x) / 0.5) - soft[500]).max() > 0.05
    assert np.abs(soft[500] - 0.5).max() > 0.2  # far from uniform: alpha <-> 1 - alpha shows


def test_training_matches_a_numpy_sgd_on_the_reference_targets():
    """End to end, engine included: online SGD on Eq. 1 written out in NumPy (gradient softmax(s) - Q with
    respect to the student logits, the student at tau = 1) gives the driver's parameters."""
    st = STRATEGIES[5]  # progressive, alpha 0.3, tau 0.5
    steps, width, lr = 600, 6, 0.05
    run = RunSpec(
        lr,
        11,
        21,
        alpha=st["alpha"],
        temperature=st["temperature"],
        schedule=S.from_config(st).schedule(EXP, SELECTION),
    )
    heldout = HeldOut.from_task(TASK, 5, 64)
    got = train(
        TASK, width, [run], steps, heldout, 300, TorchBackend(), CPU, teachers=TeacherBank(load_teacher)
    )
    W1, b1, W2, b2 = (t[0].numpy().astype(np.float64) for t in init_params(N, width, 2, [11]).tensors())
    x = sample_inputs(21, 0, steps, N).astype(np.float64)
    q = ref_targets(st, x.astype(np.int8))
    for t in range(steps):
        pre = x[t] @ W1 + b1
        h = np.maximum(pre, 0)
        g = ref_softmax(W2 @ h + b2) - q[t]  # d loss / d student logits
        dh = (W2.T @ g) * (pre > 0)
        W2 -= lr * np.outer(g, h)
        b2 -= lr * g
        W1 -= lr * np.outer(x[t], dh)
        b1 -= lr * dh
    for name, a, b in zip(("W1t", "b1", "W2", "b2"), got.params.tensors(), (W1, b1, W2, b2), strict=True):
        np.testing.assert_allclose(a[0].numpy(), b, atol=2e-5, err_msg=name)
