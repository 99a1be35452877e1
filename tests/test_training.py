"""The training driver: resume is bit-identical, targets follow the schedule, divergence is contained."""

import numpy as np
import pytest
import torch
from progdistill.engine import TorchBackend, available_backends, get_backend
from progdistill.model import init_params
from progdistill.tasks import SparseParity
from progdistill.training import LABELS, HeldOut, RunSpec, TeacherBank, train

CPU = torch.device("cpu")
TASK = SparseParity(n=12, support=(0, 3, 7))


def _teacher_bank():
    # A fixed family of random "checkpoints": enough to check which one supplied targets.
    cache = {}

    def load(step):
        if step not in cache:
            cache[step] = init_params(12, 32, 2, [1000 + step])
        return cache[step]

    return TeacherBank(load)


def _runs():
    sched = ((0, 0), (1500, 1000), (3000, 2000))
    return [
        RunSpec(0.05, 1, 11),
        RunSpec(0.05, 2, 12, alpha=0.0, temperature=1.0, schedule=sched),
        RunSpec(0.02, 3, 11, alpha=0.5, temperature=1e-4, schedule=sched),
    ]


def _train(backend, **kw):
    heldout = HeldOut.from_task(TASK, 99, 256)
    return train(TASK, 16, _runs(), 4000, heldout, 500, backend, CPU, teachers=_teacher_bank(), **kw)


class Boom(RuntimeError):
    pass


@pytest.mark.parametrize("backend", available_backends(CPU))
def test_resume_after_interruption_is_bit_identical(tmp_path, backend):
    be = get_backend(backend, CPU)
    whole = _train(be, chunk=300)
    state = str(tmp_path / "state.pt")
    for stop_at in (1000, 2500):

        def explode(step, params, stop_at=stop_at):
            if step == stop_at:
                raise Boom

        with pytest.raises(Boom):
            _train(be, chunk=300, state_path=state, state_every=500, save_every=500, on_save=explode)
    resumed = _train(be, chunk=300, state_path=state, state_every=500)
    assert resumed.rows == whole.rows
    for a, b in zip(whole.params.tensors(), resumed.params.tensors(), strict=True):
        assert torch.equal(a, b)


def test_chunk_size_does_not_change_any_number():
    a = _train(TorchBackend(), chunk=4000)
    b = _train(TorchBackend(), chunk=333)
    assert a.rows == b.rows


def test_teacher_checkpoint_column_follows_the_schedule():
    rows = _train(TorchBackend()).rows
    by = {(r["run"], r["step"]): r["teacher_checkpoint"] for r in rows}
    assert by[(0, 2000)] == LABELS
    assert by[(1, 1500)] == 0 and by[(1, 2000)] == 1000 and by[(1, 3500)] == 2000
    assert RunSpec(0.1, 0, 0, schedule=((0, 5), (10, 7))).checkpoint_at(9) == 5


def test_divergence_is_recorded_and_contained(caplog):
    heldout = HeldOut.from_task(TASK, 99, 256)
    runs = [RunSpec(0.05, 1, 11), RunSpec(1e30, 2, 11)]
    res = train(TASK, 16, runs, 2000, heldout, 500, TorchBackend(), CPU)
    # An LR of 1e30 overflows within the first steps; the finite check runs at the end of each chunk,
    # and the first chunk ends at the first evaluation (eval_every 500; the chunk of 2048 is longer).
    assert res.diverged_at == [-1, 500]
    good = [r for r in res.rows if r["run"] == 0]
    bad = [r for r in res.rows if r["run"] == 1 and r["step"] >= res.diverged_at[1]]
    assert all(np.isfinite(r["accuracy"]) for r in good)
    assert bad and all(r["diverged"] and np.isnan(r["accuracy"]) for r in bad)
    assert "diverged" in caplog.text
