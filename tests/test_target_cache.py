"""The teacher_logits stage's files (progdistill.logit_store): the numbers of computing every target in the
students job, for every strategy kind; corrupt, truncated or stale files are refused by name."""

import os

import numpy as np
import pytest
import torch
from progdistill.checkpoints import load_checkpoint, save_checkpoint
from progdistill.engine import get_backend
from progdistill.logit_store import LogitFile, LogitFileError, needed_blocks, write_logits
from progdistill.model import init_params
from progdistill.tasks import SparseParity
from progdistill.training import HeldOut, RunSpec, TeacherBank, train

CPU = torch.device("cpu")
TASK = SparseParity(n=12, support=(0, 3, 7))
STEPS = 3000
BLOCK = 64  # small blocks so a short run spans many
STREAMS = (11, 12)
ONESHOT = ((0, 2000),)
PSHOT = ((0, 1000), (1000, 2000))  # checkpoint 1000 for 1000 steps, then the "final" 2000
PROGRESSIVE = ((0, 0), (700, 1000), (1900, 2000))  # switches that do not fall on a block boundary


@pytest.fixture
def ckpts(tmp_path):
    d = tmp_path / "ckpt"
    for step in (0, 1000, 2000):
        save_checkpoint(
            d / f"step{step}.safetensors", init_params(12, 32, 2, [100 + step]), 0, {"step": step}
        )
    return d


def _path(ckpts):
    return lambda step: str(ckpts / f"step{step}.safetensors")


def _bank(ckpts, stored=None):
    load = lambda step: load_checkpoint(_path(ckpts)(step))[0]  # noqa: E731
    return TeacherBank(load, block=BLOCK, stored=stored)


def _stage(ckpts, out, schedules, batch=5):
    """What the teacher_logits rule does, per stream: the union of the schedules' blocks, to one file."""
    paths = []
    for stream in STREAMS:
        bank = _bank(ckpts)
        path = str(out / f"stream{stream}.bin")
        need = needed_blocks(schedules, STEPS, BLOCK)
        compute = lambda ck, b0, b1, s=stream, bk=bank: bk.compute(ck, s, b0, b1, TASK.n).numpy()  # noqa: E731
        write_logits(path, stream, TASK.n, 2, need, _path(ckpts), compute, block=BLOCK, batch=batch)
        paths.append(path)
    return paths


def _open(paths, ckpts):
    return [LogitFile(p, _path(ckpts)) for p in paths]


def _train(schedule, bank, chunk=250, **kw):
    runs = [
        RunSpec(0.05, 1, STREAMS[0], alpha=0.0, schedule=schedule),
        RunSpec(0.02, 2, STREAMS[1], alpha=0.5, temperature=1e-4, schedule=schedule),
    ]
    heldout = HeldOut.from_task(TASK, 99, 256)
    be = get_backend("auto", CPU)
    return train(TASK, 16, runs, STEPS, heldout, 500, be, CPU, teachers=bank, chunk=chunk, **kw)


def _blocks_used(schedule) -> set[tuple[int, int]]:
    """(checkpoint, block) pairs one stream's training uses, asked step by step."""
    run = RunSpec(0.1, 0, 0, schedule=schedule)
    return {(run.checkpoint_at(t), t // BLOCK) for t in range(STEPS)}


def _same(a, b):
    assert a.rows == b.rows
    for x, y in zip(a.params.tensors(), b.params.tensors(), strict=True):
        assert torch.equal(x, y)


def test_needed_blocks_match_a_step_by_step_reference():
    """Independent of needed_blocks' segment arithmetic: ask each step which checkpoint teaches it."""
    scheds = [ONESHOT, PSHOT, PROGRESSIVE, ((0, 1000), (4000, 2000))]  # the last one's switch is past STEPS
    ref: dict[int, set[int]] = {}
    for sched in scheds:
        run = RunSpec(0.1, 0, 0, schedule=sched)
        for t in range(STEPS):
            ref.setdefault(run.checkpoint_at(t), set()).add(t // BLOCK)
    assert needed_blocks(scheds, STEPS, BLOCK) == {ck: sorted(b) for ck, b in sorted(ref.items())}
    assert needed_blocks([], STEPS, BLOCK) == {}


@pytest.mark.parametrize("schedule", [ONESHOT, PSHOT, PROGRESSIVE])
def test_stage_logits_give_the_bits_of_computing_them_in_the_job(tmp_path, ckpts, schedule):
    plain = _train(schedule, _bank(ckpts))
    paths = _stage(ckpts, tmp_path, [schedule])
    bank = _bank(ckpts, _open(paths, ckpts))
    staged = _train(schedule, bank, chunk=333)  # another chunking: the blocks must not depend on it
    _same(plain, staged)
    # Every block a stream uses read once, none computed: one-shot 47 blocks of checkpoint 2000; p-shot
    # 16 + 32, progressive 11 + 20 + 18 (a block across a switch is used by both checkpoints).
    want = {ONESHOT: 47, PSHOT: 48, PROGRESSIVE: 49}[schedule]
    assert len(_blocks_used(schedule)) == want
    assert bank.stats == {"read": len(STREAMS) * want}


def test_one_file_serves_every_strategy_and_a_new_one_only_adds_blocks(tmp_path, ckpts):
    """The union of the strategies' blocks serves each of them; a strategy the file was not made for
    computes what the file lacks in the job (same numbers), which is why the files can stay as they are
    when a strategy is added to a finished run."""
    (tmp_path / "all").mkdir()
    (tmp_path / "one").mkdir()
    union = LogitFile(_stage(ckpts, tmp_path / "all", [ONESHOT, PSHOT, PROGRESSIVE])[0])
    paths = _stage(ckpts, tmp_path / "one", [ONESHOT])
    oneshot = LogitFile(paths[0])
    for ck, blocks in needed_blocks([ONESHOT], STEPS, BLOCK).items():
        for b in blocks:
            assert np.array_equal(union.read(ck, b), oneshot.read(ck, b))  # more strategies changed no block
    bank = _bank(ckpts, _open(paths, ckpts))
    res = _train(PSHOT, bank)
    # The file holds checkpoint 2000's blocks, which p-shot uses from step 1000 (blocks 15 .. 46); the
    # blocks of checkpoint 1000 (steps 0 .. 999: blocks 0 .. 15) are computed; per stream.
    final = {b for ck, b in _blocks_used(PSHOT) if ck == 2000}
    assert sorted(final) == list(range(1000 // BLOCK, -(-STEPS // BLOCK)))
    assert bank.stats == {"read": 2 * len(final), "computed": 2 * (-(-1000 // BLOCK))}
    _same(res, _train(PSHOT, _bank(ckpts)))


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "extend"])
def test_a_truncated_or_corrupt_file_is_refused_by_name(tmp_path, ckpts, damage):
    path = _stage(ckpts, tmp_path, [ONESHOT])[0]
    with open(path, "rb") as fh:
        good = fh.read()
    bad = {
        "truncate": good[: len(good) // 2],
        "flip": good[:-100] + bytes([good[-100] ^ 1]) + good[-99:],  # one bit of one logit
        "empty": b"",
        "extend": good + b"\0\0\0\0",
    }
    with open(path, "wb") as fh:
        fh.write(bad[damage])
    with pytest.raises(LogitFileError, match=f"{path} is unreadable, truncated or corrupt"):
        LogitFile(path)


def test_a_retrained_teacher_makes_the_file_stale(tmp_path, ckpts):
    path = _stage(ckpts, tmp_path, [PSHOT])[0]
    LogitFile(path, _path(ckpts))
    save_checkpoint(ckpts / "step1000.safetensors", init_params(12, 32, 2, [999]), 0, {"step": 1000})
    with pytest.raises(LogitFileError, match=f"{path} is stale: .*step1000.safetensors"):
        LogitFile(path, _path(ckpts))
    f = LogitFile(path)
    f.check_checkpoints(_path(ckpts), only=[2000])  # a job using only the unchanged checkpoint may use it
    with pytest.raises(LogitFileError, match="is stale"):
        f.check_checkpoints(_path(ckpts), only=[1000, 2000])


def test_a_killed_writer_leaves_no_file(tmp_path, ckpts):
    path = str(tmp_path / "x.bin")

    def dies(ck, b0, b1):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_logits(path, 11, TASK.n, 2, {2000: [0, 1]}, _path(ckpts), dies, block=BLOCK)
    assert os.listdir(tmp_path) == ["ckpt"]


def test_the_setting_is_validated():
    import yaml
    from progdistill.config import ConfigError, validate_config

    with open(os.path.join(os.path.dirname(__file__), "..", "config.yaml")) as fh:
        cfg = yaml.safe_load(fh)
    cfg.pop("teacher_logits", None)
    assert validate_config(cfg)["teacher_logits"] == "stage"
    with pytest.raises(ConfigError, match="teacher_logits = 'yes' is invalid"):
        validate_config(dict(cfg, teacher_logits="yes"))
    with pytest.raises(ConfigError, match="teacher_cache"):  # the retired key is refused by name
        validate_config(dict(cfg, teacher_cache="auto"))
