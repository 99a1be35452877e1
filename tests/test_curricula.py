"""The two curricula beyond the paper (#24): student-paced progressive distillation (strategies.Paced,
runspec.Pace) and curriculum extraction (strategies.Extraction, runspec.HiddenPhase), each against an
independent from-scratch reference: the hidden-layer loss against autograd, the extraction targets against
a NumPy teacher and projection, the pacing decisions against a NumPy re-implementation of the rule."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from conftest import SMOKE
from progdistill import config as C
from progdistill import kernel, reference
from progdistill.engine import TorchBackend, available_backends, get_backend
from progdistill.model import MLPParams, init_params
from progdistill.runspec import HiddenPhase, Pace
from progdistill.streams import sample_inputs
from progdistill.tasks import SparseParity
from progdistill.training import HeldOut, RunSpec, TeacherBank, train
from test_kernel import backend_for

CPU = torch.device("cpu")
N, WIDTH, TEACHER_WIDTH = 12, 16, 24
TASK = SparseParity(n=N, support=(1, 4, 9))


# ------------------------------------------------------------------ the hidden-layer step, three backends


def _hidden_data(R, K, m, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    X = (torch.randint(0, 2, (R, K, N), generator=gen) * 2 - 1).to(torch.int8)
    Z = torch.randn(R, K, m, generator=gen, dtype=torch.float64).abs().to(dtype)  # like P h: mostly > 0
    return X, Z


def _as(params, dtype):
    return MLPParams(*(t.to(dtype) for t in params.tensors()))


def _reference_hidden(params, X, Z, lrs, scale):
    """float64 autograd (reference.train_hidden_reference), one run at a time."""
    out = []
    for r in range(params.runs):
        net = reference.mlp_from_params(_as(params, torch.float64), r)
        reference.train_hidden_reference(net, X[r].double(), Z[r].double(), float(lrs[r]), scale)
        out.append((net.fc1.weight.detach().t(), net.fc1.bias.detach()))
    return out


@pytest.mark.parametrize("m", [16, 700])  # one tile, and several tiles of the fused update
def test_the_hidden_step_matches_autograd_in_double(m):
    params = init_params(N, m, 3, [1, 2, 3])
    X, Z = _hidden_data(3, 1500, m, dtype=torch.float64)
    lrs, scale = torch.tensor([0.05, 0.02, 0.1], dtype=torch.float64), 1.0 / N
    want = _reference_hidden(params, X, Z, lrs, scale)
    for be in (TorchBackend(), backend_for("native", "float64")):
        got = _as(params, torch.float64)
        be.run_hidden_steps(got, X, Z, lrs, scale)
        for r, (w1t, b1) in enumerate(want):
            torch.testing.assert_close(got.W1t[r], w1t, rtol=0, atol=1e-10)
            torch.testing.assert_close(got.b1[r], b1, rtol=0, atol=1e-10)
        # The output layer does not learn in phase 1.
        assert torch.equal(got.W2, params.W2.double()) and torch.equal(got.b2, params.b2.double())


def test_the_float32_kernel_follows_the_torch_backend_and_chunking_changes_no_bit():
    params = init_params(N, 64, 2, [4, 5])
    X, Z = _hidden_data(2, 900, 64, seed=3)
    lrs, scale = torch.tensor([0.05, 0.03]), 1.0 / N
    be = backend_for("native")
    whole, torch_ = params.clone(), params.clone()
    be.run_hidden_steps(whole, X, Z, lrs, scale)
    TorchBackend().run_hidden_steps(torch_, X, Z, lrs, scale)
    torch.testing.assert_close(whole.W1t, torch_.W1t, rtol=0, atol=1e-5)
    parts = params.clone()
    for a, b in ((0, 250), (250, 251), (251, 900)):
        be.run_hidden_steps(parts, X[:, a:b].contiguous(), Z[:, a:b].contiguous(), lrs, scale)
    assert torch.equal(parts.W1t, whole.W1t) and torch.equal(parts.b1, whole.b1)


def test_the_kernel_refuses_bad_shapes():
    be = backend_for("native")
    params = init_params(N, 8, 2, [1])
    X, Z = _hidden_data(1, 10, 8)
    with pytest.raises(ValueError, match="Z must have shape"):
        be.run_hidden_steps(params, X, Z[:, :, :4], torch.tensor([0.1]), 0.1)
    assert kernel.PRECISIONS["float32"][1] == 5  # the ABI that has progdistill_sgd_hidden


# ------------------------------------------------------------------ a fake teacher, and NumPy references


FINAL = 3000


def _teacher(step):
    """Checkpoint ``step`` of a fake teacher that learns: a random network (a different one per step, far
    from uniform) mixed with a hand-built parity network in proportion step / FINAL, so its held-out
    accuracy climbs from chance to 1. The parity of the 3 support bits is a function of their sum s:
    -1 + relu(s + 3) - 2 relu(s + 1) + 2 relu(s - 1) is +1 exactly when the product is +1 (class 0)."""
    rnd = init_params(N, TEACHER_WIDTH - 3, 2, [5000 + step])
    w = min(step, FINAL) / FINAL
    W1t = torch.zeros(1, N, TEACHER_WIDTH)
    W1t[0, :, :-3] = 3.0 * rnd.W1t[0]
    W1t[0, list(TASK.support), -3:] = 1.0
    b1 = torch.cat([3.0 * rnd.b1[0], torch.tensor([3.0, 1.0, -1.0])])[None]
    g = torch.tensor([1.0, -2.0, 2.0])
    W2 = torch.zeros(1, 2, TEACHER_WIDTH)
    W2[0, :, :-3] = (1 - w) * 3.0 * rnd.W2[0]
    W2[0, 0, -3:], W2[0, 1, -3:] = 3.0 * w * g, -3.0 * w * g
    b2 = ((1 - w) * 3.0 * rnd.b2[0] + 3.0 * w * torch.tensor([-1.0, 1.0]))[None]
    return MLPParams(W1t, b1, W2, b2)


def _np_teacher(step):
    W1t, b1, W2, b2 = (t[0].numpy().astype(np.float64) for t in _teacher(step).tensors())
    return W1t, b1, W2, b2


def _np_hidden(step, x):
    W1t, b1, _, _ = _np_teacher(step)
    return np.maximum(x.astype(np.float64) @ W1t + b1, 0)


def _np_accuracy(step, x, y):
    W1t, b1, W2, b2 = _np_teacher(step)
    return np.mean((np.maximum(x.astype(np.float64) @ W1t + b1, 0) @ W2.T + b2).argmax(-1) == y)


def _np_projection(seed, width, teacher_width):
    """The documented rule (runspec.HiddenPhase): N(0, 1 / teacher width) entries from numpy's
    default_rng(seed)."""
    return np.random.default_rng(seed).normal(0.0, 1.0 / np.sqrt(teacher_width), (width, teacher_width))


class Recorder(TorchBackend):
    """The torch engine, recording what each call trains on and the parameters after it."""

    def __init__(self):
        self.calls = []

    def run_steps(self, params, X, Q, lr):
        super().run_steps(params, X, Q, lr)
        self.calls.append(("targets", X.clone(), Q.clone(), params.clone()))

    def run_hidden_steps(self, params, X, Z, lr, scale):
        super().run_hidden_steps(params, X, Z, lr, scale)
        self.calls.append(("hidden", X.clone(), Z.clone(), params.clone(), scale))


# ------------------------------------------------------------------ curriculum extraction in the driver


def test_extraction_trains_the_hidden_layer_on_the_projection_then_distils_the_final_teacher():
    final, phase1, steps = 3000, 700, 1500
    hidden = HiddenPhase(phase1, final, projection_seed=123, scale=1.0 / N)
    runs = [
        RunSpec(0.05, 1, 11, alpha=0.0, schedule=((phase1, final),), hidden=hidden),
        RunSpec(0.02, 2, 11, alpha=0.0, temperature=0.5, schedule=((phase1, final),), hidden=hidden),
    ]
    be = Recorder()
    res = train(
        TASK,
        WIDTH,
        runs,
        steps,
        HeldOut.from_task(TASK, 5, 64),
        500,
        be,
        CPU,
        TeacherBank(_teacher),
        chunk=300,
    )
    x = sample_inputs(11, 0, steps, N)
    P = _np_projection(123, WIDTH, TEACHER_WIDTH)
    want_z = _np_hidden(final, x) @ P.T
    t = 0
    for call in be.calls:
        K = call[1].shape[1]
        np.testing.assert_array_equal(call[1][0].numpy(), x[t : t + K])
        if t < phase1:
            assert call[0] == "hidden" and call[4] == pytest.approx(1.0 / N)
            np.testing.assert_allclose(call[2][0].numpy(), want_z[t : t + K], rtol=0, atol=2e-5)
        else:
            assert call[0] == "targets"
            W1t, b1, W2, b2 = _np_teacher(final)
            logits = np.maximum(x[t : t + K] @ W1t + b1, 0) @ W2.T + b2
            for r, tau in enumerate((1.0, 0.5)):
                q = np.exp(logits / tau - (logits / tau).max(1, keepdims=True))
                np.testing.assert_allclose(call[2][r].numpy(), q / q.sum(1, keepdims=True), atol=1e-5)
        t += K
    assert t == steps and be.calls[0][0] == "hidden" and be.calls[-1][0] == "targets"
    # Phase 1 leaves the output layer as initialised; the recorded checkpoint is the final teacher's.
    first_hidden_params, init = be.calls[0][3], init_params(N, WIDTH, 2, [1, 2])
    assert torch.equal(first_hidden_params.W2, init.W2) and not torch.equal(first_hidden_params.W1t, init.W1t)
    assert {r["teacher_checkpoint"] for r in res.rows} == {final}


def test_extraction_runs_mixed_with_others_train_each_their_own_way():
    """A job holds one strategy, but the driver does not rely on it: mixed runs give each run the bits it
    gets alone."""
    hidden = HiddenPhase(600, 3000, 7, 1.0 / N)
    ext = RunSpec(0.05, 1, 11, alpha=0.0, schedule=((600, 3000),), hidden=hidden)
    ce = RunSpec(0.05, 2, 12)
    heldout = HeldOut.from_task(TASK, 5, 64)

    def go(runs):
        return train(
            TASK, WIDTH, runs, 1200, heldout, 400, TorchBackend(), CPU, TeacherBank(_teacher), chunk=500
        )

    both, alone_ext, alone_ce = go([ext, ce]), go([ext]), go([ce])
    for r, alone in ((0, alone_ext), (1, alone_ce)):
        for a, b in zip(both.params.tensors(), alone.params.tensors(), strict=True):
            assert torch.equal(a[r], b[0])


# ------------------------------------------------------------------ student-paced progressive distillation


def _np_pacing(snapshots, heldout_x, heldout_y, pace, eval_every, steps):
    """The pacing rule written out from its description (strategies.Paced, runspec.Pace), on the student
    parameters at each evaluation: caught up = the student's held-out accuracy is at least the current
    checkpoint's less the tolerance: then to the first later checkpoint not caught up with (or the final
    one); otherwise, after max_steps on it: to the next. Returns the schedule."""
    cks, k, since, sched = pace.checkpoints, 0, 0, [(0, pace.checkpoints[0])]
    for step in range(0, steps, eval_every):
        W1t, b1, W2, b2 = snapshots[step]
        acc = np.mean((np.maximum(heldout_x @ W1t + b1, 0) @ W2.T + b2).argmax(-1) == heldout_y)

        def caught_up(c, acc=acc):
            return acc >= _np_accuracy(c, heldout_x, heldout_y) - pace.tolerance

        if k == len(cks) - 1:
            continue
        new = k
        if caught_up(cks[k]):
            new = k + 1
            while new < len(cks) - 1 and caught_up(cks[new]):
                new += 1
        elif step - since >= pace.max_steps:
            new = k + 1
        if new != k:
            if sched[-1][0] == step:
                sched.pop()
            sched.append((step, cks[new]))
            k, since = new, step
    return tuple(sched)


def _paced_runs(pace):
    """Three paced runs; the third has no tolerance, so it also moves on at the cap."""
    strict = Pace(pace.checkpoints, 0.0, pace.max_steps)
    return [
        RunSpec(0.05, 1, 11, alpha=0.0, schedule=((0, 0),), pace=pace),
        RunSpec(0.01, 2, 12, alpha=0.0, temperature=1e-4, schedule=((0, 0),), pace=pace),
        RunSpec(0.2, 3, 13, alpha=0.0, schedule=((0, 0),), pace=strict),
    ]


PACE = Pace(checkpoints=(0, 500, 1000, 1500, 2000, 2500, 3000), tolerance=0.05, max_steps=1000)
STEPS, EVAL = 4000, 250


@pytest.fixture(scope="module")
def paced():
    be = Recorder()
    heldout = HeldOut.from_task(TASK, 5, 256)
    res = train(
        TASK, WIDTH, _paced_runs(PACE), STEPS, heldout, EVAL, be, CPU, TeacherBank(_teacher), chunk=400
    )
    return be, heldout, res


def test_paced_runs_move_on_as_the_rule_says(paced):
    be, heldout, res = paced
    x, y = heldout.x.numpy().astype(np.float64), heldout.y.numpy()
    # The parameters at every evaluation step, from the recorded calls (chunks end at evaluations).
    snaps, t = {0: None}, 0
    for call in be.calls:
        t += call[1].shape[1]
        snaps[t] = call[3]
    init = init_params(N, WIDTH, 2, [1, 2, 3])
    for r in range(3):
        per_run = {
            s: tuple(p[r].numpy().astype(np.float64) for p in (init if v is None else v).tensors())
            for s, v in snaps.items()
        }
        want = _np_pacing(per_run, x, y, _paced_runs(PACE)[r].pace, EVAL, STEPS)
        assert res.schedules[r] == want, r
    # The runs did move, and not all alike (otherwise the comparison would prove little).
    assert all(len(s) > 2 for s in res.schedules) and len(set(res.schedules)) > 1
    reasons = {row["reason"] for row in res.rows if row.get("moved_to", -1) >= 0}
    assert reasons == {"caught up", "cap"}
    # Some run passed a checkpoint it had already caught up with (a jump of more than one).
    jumps = [
        PACE.checkpoints.index(b) - PACE.checkpoints.index(a)
        for s in res.schedules
        for (_, a), (_, b) in zip(s, s[1:], strict=False)
    ]
    assert max(jumps) > 1


def test_paced_targets_follow_the_runs_own_schedule(paced):
    be, _, res = paced
    t = 0
    for call in be.calls:
        K = call[1].shape[1]
        for r, sched in enumerate(res.schedules):
            ck = [c for s, c in sched if s <= t][-1]  # the last segment begun by the chunk's first step
            x = call[1][r].numpy()
            W1t, b1, W2, b2 = _np_teacher(ck)
            logits = np.maximum(x @ W1t + b1, 0) @ W2.T + b2
            tau = (1.0, 1e-4, 1.0)[r]
            z = logits / tau
            q = np.exp(z - z.max(1, keepdims=True))
            # At tau = 1e-4 a near-tie of the logits (float32 vs float64) decides the target: skip those.
            clear = np.abs(logits[:, 0] - logits[:, 1]) > (1e-2 if tau < 1 else -1)
            assert clear.mean() > 0.95
            got = call[2][r].numpy()[clear]
            np.testing.assert_allclose(got, (q / q.sum(1, keepdims=True))[clear], atol=1e-5)
        t += K
    # Each evaluation row names the checkpoint learnt from before it and how far the run is behind it.
    heldout = paced[1]
    x, y = heldout.x.numpy(), heldout.y.numpy()
    for row in res.rows:
        sched = res.schedules[row["run"]]
        # At step 0 nothing has been learnt yet: the row names the curriculum's first checkpoint (a move
        # at that evaluation replaces the schedule's first segment).
        before = [c for s, c in sched if s <= row["step"] - 1][-1] if row["step"] else PACE.checkpoints[0]
        assert row["teacher_checkpoint"] == before
        assert row["gap"] == pytest.approx(_np_accuracy(before, x, y) - row["accuracy"], abs=1e-6)


@pytest.mark.parametrize("backend", available_backends(CPU))
def test_a_killed_paced_job_resumes_bit_identically(tmp_path, backend):
    be = get_backend(backend, CPU)
    heldout = HeldOut.from_task(TASK, 5, 256)

    def go(**kw):
        runs = _paced_runs(PACE)
        return train(TASK, WIDTH, runs, STEPS, heldout, EVAL, be, CPU, TeacherBank(_teacher), chunk=400, **kw)

    whole = go()
    state = str(tmp_path / "state.pt")

    class Boom(RuntimeError):
        pass

    for stop_at in (1000, 2500):

        def explode(step, params, stop_at=stop_at):
            if step == stop_at:
                raise Boom

        with pytest.raises(Boom):
            go(state_path=state, state_every=500, save_every=500, on_save=explode)
    resumed = go(state_path=state, state_every=500)
    assert resumed.rows == whole.rows and resumed.schedules == whole.schedules
    for a, b in zip(whole.params.tensors(), resumed.params.tensors(), strict=True):
        assert torch.equal(a, b)


def test_chunking_changes_no_number_of_either_curriculum():
    heldout = HeldOut.from_task(TASK, 5, 256)
    hidden = HiddenPhase(900, 3000, 11, 1.0 / N)
    runs = [*_paced_runs(PACE)[:2], RunSpec(0.05, 4, 14, alpha=0.0, schedule=((900, 3000),), hidden=hidden)]

    def go(chunk):
        return train(
            TASK, WIDTH, runs, 2000, heldout, EVAL, TorchBackend(), CPU, TeacherBank(_teacher), chunk=chunk
        )

    a, b = go(2000), go(333)
    assert a.rows == b.rows and a.schedules == b.schedules


# ------------------------------------------------------------------ the configuration


def _smoke(*strategies):
    cfg = yaml.safe_load(SMOKE.read_text())
    cfg["experiments"]["parity"]["strategies"] = [{"name": "ce", "kind": "ce"}, *strategies]
    return cfg


@pytest.mark.parametrize(
    "strategy, message",
    [
        ({"kind": "paced", "interval": 1500, "max_steps": 2000}, "interval = 1500 is not a multiple"),
        ({"kind": "paced", "interval": 1000, "max_steps": 100}, "max_steps = 100: a run can only move on"),
        ({"kind": "paced", "interval": 1000}, "'max_steps' is a required property"),
        (
            {"kind": "paced", "interval": 1000, "max_steps": 2000, "tolerance": 1.5},
            "tolerance = 1.5 is invalid",
        ),
        ({"kind": "paced", "interval": 1000, "max_steps": 2000, "steps": 5}, "key 'steps' does not apply"),
        ({"kind": "extraction", "steps": 6000}, "steps = 6000: phase 1 would leave none"),
        ({"kind": "extraction"}, "'steps' is a required property"),
        (
            {"kind": "extraction", "steps": 100, "interval": 5},
            "key 'interval' does not apply to kind 'extraction'",
        ),
    ],
)
def test_bad_curricula_settings_are_refused_by_name(strategy, message):
    with pytest.raises(C.ConfigError, match=message):
        C.load_study(_smoke({"name": "s", **strategy}))


def test_the_kinds_own_their_schedules_options_and_storage():
    study = C.load_study(
        _smoke(
            {"name": "paced", "kind": "paced", "interval": 2000, "max_steps": 1000},
            {"name": "ext", "kind": "extraction", "steps": 1000, "temperature": 1.0e-4},
            {"name": "prog", "kind": "progressive", "interval": 1000},
            {"name": "one", "kind": "oneshot"},
        )
    )
    exp = study.experiment("parity")
    paced, ext = exp.strategy("paced"), exp.strategy("ext")
    assert paced.tolerance == 0.02  # the schema's default
    opts = paced.run_options(exp, None, 8, 0)
    assert opts == {"schedule": ((0, 0),), "pace": Pace((0, 2000, 4000, 6000), 0.02, 1000)}
    assert paced.schedule(exp) == ((0, 0), (2000, 2000), (4000, 4000))  # the stage's blocks: its nominal pace
    assert paced.teacher_checkpoints(exp) == [0, 2000, 4000, 6000]
    h = ext.run_options(exp, None, 16, 1)["hidden"]
    assert (h.steps, h.checkpoint, h.scale) == (1000, 6000, 1 / 12) and ext.schedule(exp) == ((1000, 6000),)
    assert h.projection_seed != ext.run_options(exp, None, 16, 0)["hidden"].projection_seed
    assert h.projection_seed == ext.run_options(exp, None, 16, 1)["hidden"].projection_seed
    assert ext.teacher_checkpoints(exp) == [6000] and exp.strategy("prog").teacher_checkpoints(exp) == list(
        range(0, 6000, 1000)
    )
    assert [(b.name, c) for b, c in paced.claims(exp)] == [
        ("prog", "paced vs progressive"),
        ("ce", "paced vs ce"),
    ]
    assert [(b.name, c) for b, c in ext.claims(exp)] == [("ce", "extraction vs ce")]  # no tau-1e-4 one-shot
