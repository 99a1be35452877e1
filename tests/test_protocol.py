"""The authors' protocol as options: a per-step LR schedule (cosine / constant after a linear warm-up) and a
finite training set reshuffled each epoch, on every backend, against plain torch.optim.SGD + LambdaLR with
the schedule written here from HuggingFace's formula (not imported from the package)."""

import math

import numpy as np
import pytest
import torch
from helpers import engine_targets, fresh, same_samples
from progdistill import engine, lr_schedule, model, reference
from progdistill.checkpoints import load_checkpoint, save_checkpoint
from progdistill.engine import get_backend
from progdistill.logit_store import LogitFile, LogitFileError, needed_blocks, write_logits
from progdistill.streams import StreamSampler, epoch_permutation, sample_inputs, sample_inputs_at
from progdistill.tasks import SparseParity
from progdistill.training import HeldOut, RunSpec, TeacherBank, train
from test_kernel import as_dtype, backend_for, make_data

CPU = torch.device("cpu")
TASK = SparseParity(n=12, support=(0, 3, 7))


def hf_lambda(schedule, warmup, steps):
    """transformers' get_{cosine,constant}_schedule_with_warmup, W from TrainingArguments.get_warmup_steps."""
    W = math.ceil(steps * warmup)

    def lam(t):
        if t < W:
            return float(t) / float(max(1, W))
        if schedule == "constant":
            return 1.0
        progress = float(t - W) / float(max(1, steps - W))
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))

    return lam


# -- the schedule ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
@pytest.mark.parametrize("warmup,steps", [(0.0, 100), (0.06, 1000), (0.1, 7), (0.5, 3), (0.06, 300000)])
def test_factors_follow_the_huggingface_formula(schedule, warmup, steps):
    lam = hf_lambda(schedule, warmup, steps)
    want = np.array([lam(t) for t in range(steps)])
    got = lr_schedule.factors(schedule, warmup, steps, 0, steps)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-15)
    mid = steps // 3  # any window: a function of the global step alone
    np.testing.assert_array_equal(lr_schedule.factors(schedule, warmup, steps, mid, steps - mid), got[mid:])


def test_constant_without_warmup_keeps_the_base_lr_bits():
    base = np.array([0.02, 0.005, 1e-3])
    got = lr_schedule.step_lrs(base, "constant", 0.0, 100, 0, 10)
    assert np.array_equal(got, np.repeat(base.astype(np.float32)[:, None], 10, axis=1))


# -- every backend against autograd + LambdaLR ---------------------------------------------------------------

WARMUP, K = 0.1, 400  # W = 40 warm-up steps of a 400-step run
CHUNKS = [(0, 25), (25, 130), (130, 400)]  # boundaries inside the warm-up and inside the decay


def _reference64(params, X, Q, r, lr, schedule):
    net = reference.mlp_from_params(params, r)
    reference.train_reference(
        net, X[r].double(), Q[r].argmax(-1), lr, alpha=0.0, teacher_logits=Q[r].log(),
        lr_lambda=hf_lambda(schedule, WARMUP, K),
    )  # fmt: skip
    return net


def _engine(be, params, X, Q, base, schedule, dtype):
    params = params.clone()
    for a, b in CHUNKS:
        lr = lr_schedule.step_lrs(base, schedule, WARMUP, K, a, b - a, dtype=dtype)
        be.run_steps(params, X[:, a:b].contiguous(), Q[:, a:b].contiguous(), torch.from_numpy(lr))
    return params


@pytest.mark.parametrize("schedule", ["cosine", "constant"])
@pytest.mark.parametrize("backend", ["compiled", "torch"])
def test_scheduled_lr_matches_sgd_with_lambdalr_in_float64(backend, schedule):
    """The double build of the kernel and the float64 torch backend, fed the per-step LRs a chunk at a time,
    agree with autograd SGD under LambdaLR to 1e-10 (reordering errors are ~1e-16 per operation)."""
    be = backend_for("native", "float64") if backend == "compiled" else engine.TorchBackend()
    n, m, C = 20, 100, 4
    params = as_dtype(model.init_params(n, m, C, seeds=[0, 1]), torch.float64)
    X, Q = make_data(2, K, n, C, "soft", seed=5, dtype=torch.float64)
    base = np.array([0.05, 0.02])
    fast = _engine(be, params, X, Q, base, schedule, np.float64)
    for r in range(2):
        want = _reference64(params, X, Q, r, float(base[r]), schedule).state_dict()
        got = reference.mlp_from_params(fast, r).state_dict()
        for name, p in want.items():
            torch.testing.assert_close(got[name], p, atol=1e-10, rtol=0, msg=name)
    if schedule == "cosine":  # and the schedule mattered: a constant LR ends elsewhere
        const = _engine(be, params, X, Q, base, "constant", np.float64)
        assert (const.W2 - fast.W2).abs().max() > 1e-3


@pytest.mark.parametrize("backend", engine.available_backends(CPU))
def test_constant_lr_as_a_matrix_gives_the_bits_of_one_lr_per_run(backend):
    """The (R, K) form of the engine ABI with a constant row is today's (R,) call, bit for bit."""
    n, width, steps = 16, 64, 300
    _, x, y = same_samples(n=n, steps=steps)
    Q = engine_targets(y, None, 1.0, 1.0, 2)[None].expand(3, -1, -1).contiguous()
    X = torch.from_numpy(x)[None].expand(3, -1, -1).contiguous()
    lr = torch.tensor([0.01, 0.02, 0.0])  # the last row frozen, as a diverged run's
    be = get_backend(backend, CPU)
    a, b = fresh(n, width, 2, 3), fresh(n, width, 2, 3)
    be.run_steps(a, X, Q, lr)
    be.run_steps(b, X, Q, lr[:, None].expand(3, steps).contiguous())
    for p, q in zip(a.tensors(), b.tensors(), strict=True):
        assert torch.equal(p, q)
    assert torch.equal(b.W1t[2], fresh(n, width, 2, 3).W1t[2])


def test_training_driver_with_cosine_and_a_train_set_matches_the_reference():
    """train() end to end (float32, torch backend): the reference sees the examples the order test below
    checks, with the test's own LambdaLR."""
    n, width, steps, size = 20, 100, 1000, 300
    task = SparseParity(n=n, support=(0, 1, 2))
    run = RunSpec(0.005, 3, 77)
    heldout = HeldOut.from_task(task, 99, 64)
    res = train(
        task, width, [run], steps, heldout, 500, engine.TorchBackend(), CPU, chunk=128,
        lr_schedule="cosine", warmup=0.06, train_set_size=size,
    )  # fmt: skip
    idx = np.concatenate([epoch_permutation(77, e, size) for e in range(4)])[:steps]
    x = sample_inputs(77, 0, size, n)[idx]  # the first `size` samples of the stream, in epoch order
    net = reference.mlp_from_params(model.init_params(n, width, 2, [3]), 0)
    reference.train_reference(
        net, torch.from_numpy(x).float(), torch.from_numpy(task.labels(x)), 0.005,
        lr_lambda=hf_lambda("cosine", 0.06, steps),
    )  # fmt: skip
    got = reference.mlp_from_params(res.params, 0).state_dict()
    for name, p in net.state_dict().items():
        torch.testing.assert_close(got[name], p, atol=1e-5, rtol=0, msg=name)


# -- the finite training set ------------------------------------------------------------------------------


def test_every_epoch_is_a_permutation_of_the_first_n_samples():
    N, seed, n = 37, 5, 12
    sp = StreamSampler(seed, n, N)
    idx = sp.indices(0, 5 * N + 11)
    epochs = [idx[e * N : (e + 1) * N] for e in range(5)]
    for e in epochs:
        assert sorted(e.tolist()) == list(range(N))
    assert len({tuple(e) for e in epochs}) == 5  # reshuffled each epoch
    assert np.array_equal(idx[5 * N :], epoch_permutation(seed, 5, N)[:11])
    first = sample_inputs(seed, 0, N, n)
    assert np.array_equal(sp.inputs(0, 5 * N + 11), first[idx])


def test_sample_inputs_at_any_index_is_the_stream():
    idx = np.array([5, 0, 999, 3, 3, 64])
    for n in (12, 64, 100, 130):
        whole = sample_inputs(9, 0, 1000, n)
        assert np.array_equal(sample_inputs_at(9, idx, n), whole[idx])


def test_the_order_is_deterministic_and_independent_of_chunking():
    N, n = 50, 12
    whole = StreamSampler(3, n, N).inputs(0, 400)
    again = StreamSampler(3, n, N)
    parts = [again.inputs(a, b - a) for a, b in [(0, 7), (7, 49), (49, 51), (51, 333), (333, 400)]]
    assert np.array_equal(np.concatenate(parts), whole)  # windows across epoch boundaries
    assert np.array_equal(StreamSampler(3, n, N).inputs(210, 40), whole[210:250])  # a fresh start mid-way
    assert not np.array_equal(StreamSampler(4, n, N).inputs(0, 400), whole)  # another seed, another set
    assert np.array_equal(StreamSampler(3, n, None).inputs(0, 400), sample_inputs(3, 0, 400, n))


class Spy:
    """A backend that records what the engine is given, then trains with torch."""

    def __init__(self):
        self.X, self.lr = [], []

    def run_steps(self, params, X, Q, lr):
        self.X.append(X.clone())
        self.lr.append(lr.clone() if lr.dim() == 2 else lr[:, None].expand(-1, X.shape[1]).clone())
        engine.TorchBackend().run_steps(params, X, Q, lr)


def test_the_driver_shows_each_run_its_stream_set_and_the_lr_of_each_step():
    N, steps = 90, 400
    runs = [RunSpec(0.05, 1, 11), RunSpec(0.02, 2, 12), RunSpec(0.03, 3, 11)]
    spy = Spy()
    heldout = HeldOut.from_task(TASK, 99, 64)
    train(
        TASK, 8, runs, steps, heldout, 100, spy, CPU, chunk=64, lr_schedule="cosine", warmup=0.1,
        train_set_size=N,
    )  # fmt: skip
    X, lr = torch.cat(spy.X, 1), torch.cat(spy.lr, 1)
    for r, run in enumerate(runs):
        first = sample_inputs(run.stream_seed, 0, N, TASK.n)
        for e in range(steps // N):  # every epoch shows exactly the first N samples, each once
            rows = X[r, e * N : (e + 1) * N].numpy()
            assert sorted(map(bytes, rows)) == sorted(map(bytes, first))
        lam = hf_lambda("cosine", 0.1, steps)
        want = np.array([np.float32(run.lr * lam(t)) for t in range(steps)])
        np.testing.assert_allclose(lr[r].numpy(), want, rtol=1e-6, atol=0)
    assert torch.equal(X[0], X[2]) and not torch.equal(X[0], X[1])  # a stream is shared by its runs


# -- teacher logits follow the examples ------------------------------------------------------------------


@pytest.fixture
def ckpts(tmp_path):
    d = tmp_path / "ckpt"
    for step in (0, 1000, 2000):
        save_checkpoint(d / f"step{step}.safetensors", model.init_params(12, 32, 2, [100 + step]), 0, {})
    return d


def _bank(ckpts, size, stored=None):
    return TeacherBank(
        lambda s: load_checkpoint(str(ckpts / f"step{s}.safetensors"))[0], block=64, stored=stored,
        train_set_size=size,
    )  # fmt: skip


SCHED = ((0, 0), (700, 1000), (1900, 2000))
STEPS, SIZE = 3000, 450  # 6.7 epochs; neither block (64) nor chunk divides the set


def _distil(bank, size, chunk, **kw):
    runs = [
        RunSpec(0.05, 1, 11, alpha=0.0, schedule=SCHED),
        RunSpec(0.02, 2, 12, alpha=0.5, temperature=1e-4, schedule=SCHED),
    ]
    heldout = HeldOut.from_task(TASK, 99, 128)
    return train(
        TASK, 16, runs, STEPS, heldout, 500, get_backend("auto", CPU), CPU, teachers=bank, chunk=chunk,
        lr_schedule="cosine", warmup=0.06, train_set_size=size, **kw,
    )  # fmt: skip


def _same(a, b):
    assert a.rows == b.rows
    for x, y in zip(a.params.tensors(), b.params.tensors(), strict=True):
        assert torch.equal(x, y)


def test_teacher_logits_are_those_of_the_examples_shown(ckpts):
    bank = _bank(ckpts, SIZE)
    got = bank.logits(1000, 11, 400, 700, TASK.n)  # spans an epoch boundary (450)
    idx = np.concatenate([epoch_permutation(11, e, SIZE) for e in range(3)])[400:1100]
    teacher = load_checkpoint(str(ckpts / "step1000.safetensors"))[0]
    want = model.forward(teacher, torch.from_numpy(sample_inputs(11, 0, SIZE, TASK.n)[idx]))[0]
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)


def test_stage_and_inline_teacher_logits_agree_with_a_train_set(tmp_path, ckpts):
    plain = _distil(_bank(ckpts, SIZE), SIZE, chunk=250)
    paths = []
    for stream in (11, 12):  # what the teacher_logits rule writes
        bank, path = _bank(ckpts, SIZE), str(tmp_path / f"s{stream}.bin")
        need = needed_blocks([SCHED], STEPS, 64)
        compute = lambda ck, b0, b1, s=stream, bk=bank: bk.compute(ck, s, b0, b1, TASK.n).numpy()  # noqa: E731
        ck_path = lambda s: str(ckpts / f"step{s}.safetensors")  # noqa: E731
        write_logits(path, stream, TASK.n, 2, need, ck_path, compute, block=64, batch=7, train_set_size=SIZE)
        paths.append(path)
    stored = [LogitFile(p) for p in paths]
    staged_bank = _bank(ckpts, SIZE, stored)
    staged = _distil(staged_bank, SIZE, chunk=333)
    _same(plain, staged)
    # Every (checkpoint, block) a stream uses, read once from its file and none computed: checkpoint 0 on
    # blocks 0 .. 10 (steps 0 .. 699), 1000 on 10 .. 29, 2000 on 29 .. 46, per stream.
    run = RunSpec(0.1, 0, 0, schedule=SCHED)
    used = {(run.checkpoint_at(t), t // 64) for t in range(STEPS)}
    assert len(used) == 11 + 20 + 18
    assert staged_bank.stats == {"read": 2 * len(used)}
    # A file for another training set (or for fresh samples) is refused by name, before training.
    for other in (None, SIZE + 1):
        with pytest.raises(LogitFileError, match=rf"{paths[0]} is stale: .*train_set_size = {SIZE}"):
            _bank(ckpts, other, [LogitFile(p) for p in paths])
    with pytest.raises(ValueError, match="TeacherBank uses train_set_size = 450, training uses None"):
        _distil(_bank(ckpts, SIZE), None, chunk=250)


# -- resume --------------------------------------------------------------------------------------------------


class Boom(RuntimeError):
    pass


def _killed_then_resumed(run, tmp_path, stops):
    state = str(tmp_path / "state.pt")
    for stop_at in stops:

        def explode(step, params, stop_at=stop_at):
            if step == stop_at:
                raise Boom

        with pytest.raises(Boom):
            run(state_path=state, state_every=250, save_every=250, on_save=explode)
    return run(state_path=state, state_every=250)


def test_a_teacher_job_resumes_with_identical_numbers(tmp_path):
    heldout = HeldOut.from_task(TASK, 99, 128)

    def run(**kw):
        return train(
            TASK, 32, [RunSpec(0.05, 1, 11)], 2000, heldout, 250, get_backend("auto", CPU), CPU, chunk=300,
            lr_schedule="cosine", warmup=0.06, train_set_size=SIZE, **kw,
        )  # fmt: skip

    _same(run(), _killed_then_resumed(run, tmp_path, (500, 1250)))  # killed in epochs 2 and 3


def test_a_students_job_resumes_with_identical_numbers(tmp_path, ckpts):
    def run(**kw):
        return _distil(_bank(ckpts, SIZE), SIZE, chunk=300, **kw)

    _same(run(), _killed_then_resumed(run, tmp_path, (1000, 2250)))


def test_a_state_from_other_settings_is_refused(tmp_path):
    heldout = HeldOut.from_task(TASK, 99, 128)
    state = str(tmp_path / "state.pt")

    def run(**kw):
        return train(TASK, 16, [RunSpec(0.05, 1, 11)], 1000, heldout, 250, engine.TorchBackend(), CPU, **kw)

    def explode(step, params):
        if step == 500:
            raise Boom

    with pytest.raises(Boom):
        run(state_path=state, state_every=250, save_every=250, on_save=explode, train_set_size=100)
    for other in ({}, {"train_set_size": 101}, {"train_set_size": 100, "lr_schedule": "cosine"}):
        with pytest.raises(RuntimeError, match="written for a different configuration"):
            run(state_path=state, state_every=250, **other)
    run(state_path=state, state_every=250, train_set_size=100)  # the same settings resume


def test_an_unknown_schedule_fails_before_any_compute():
    heldout = HeldOut.from_task(TASK, 99, 16)
    with pytest.raises(ValueError, match="lr_schedule: unknown schedule 'linear'; valid: constant, cosine"):
        train(TASK, 8, [RunSpec(0.05, 1, 11)], 100, heldout, 50, None, CPU, lr_schedule="linear")


def test_a_diverged_run_stays_frozen_under_a_schedule():
    heldout = HeldOut.from_task(TASK, 99, 64)
    runs = [RunSpec(0.05, 1, 11), RunSpec(1e30, 2, 11)]
    res = train(
        TASK, 16, runs, 2000, heldout, 500, get_backend("auto", CPU), CPU, chunk=256, lr_schedule="cosine",
        warmup=0.06, train_set_size=300,
    )  # fmt: skip
    assert res.diverged_at[0] == -1 and 0 < res.diverged_at[1] < 2000
    assert all(not bool(p[1].any()) for p in res.params.tensors())  # zeroed, and no update moved it since
    assert all(bool(torch.isfinite(p[0]).all()) for p in res.params.tensors())


def test_the_settings_enter_the_job_digests_that_depend_on_them():
    import copy

    import yaml
    from conftest import SMOKE
    from progdistill import config as C

    base = yaml.safe_load(SMOKE.read_text())

    def specs(**change):
        cfg = copy.deepcopy(base)
        for key, value in change.items():
            role, name = key.split("__")
            cfg["experiments"]["parity"][role][name] = value
        exp = C.load_study(cfg).experiment("parity")
        return tuple(
            C.digest(f(exp)) for f in (C.teacher_spec, lambda e: C.student_spec(e, "ce"), C.logits_spec)
        )

    default = specs()
    # The defaults written out are the online protocol: no digest changes (finished results stay valid).
    assert (
        specs(teacher__lr_schedule="constant", students__warmup=0, students__train_set_size=None) == default
    )
    teacher, students, logits = zip(default, specs(teacher__lr_schedule="cosine"), strict=True)
    assert teacher[0] != teacher[1] and students[0] != students[1] and logits[0] != logits[1]
    for change in ({"teacher__warmup": 0.1}, {"teacher__train_set_size": 100}):
        assert all(a != b for a, b in zip(default, specs(**change), strict=True))
    for change in ({"students__lr_schedule": "cosine"}, {"students__warmup": 0.06}):
        got = specs(**change)  # the students rerun, the teacher and its logits do not
        assert got[0] == default[0] and got[1] != default[1] and got[2] == default[2]
    got = specs(students__train_set_size=100)  # the students and the logit files rerun
    assert got[0] == default[0] and got[1] != default[1] and got[2] != default[2]
