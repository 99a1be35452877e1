"""The on-disk teacher-logit cache (LogitStore): the numbers of no cache, shared between jobs, never stale."""

import os
import threading
import time

import pytest
import torch
from progdistill.checkpoints import load_checkpoint, save_checkpoint
from progdistill.engine import get_backend
from progdistill.model import init_params
from progdistill.tasks import SparseParity
from progdistill.training import HeldOut, LogitStore, RunSpec, TeacherBank, train

CPU = torch.device("cpu")
TASK = SparseParity(n=12, support=(0, 3, 7))
STEPS = 3000
BLOCK = 64  # small blocks and files so a short run spans many of both
SEGMENT = 4
ONESHOT = ((0, 2000),)
PSHOT = ((0, 1000), (1000, 2000))  # checkpoint 1000 for 1000 steps, then the "final" 2000
PROGRESSIVE = ((0, 0), (700, 1000), (1900, 2000))  # ranges that do not start on a file boundary


@pytest.fixture
def ckpts(tmp_path):
    d = tmp_path / "ckpt"
    for step in (0, 1000, 2000):
        save_checkpoint(
            d / f"step{step}.safetensors", init_params(12, 32, 2, [100 + step]), 0, {"step": step}
        )
    return d


def _bank(ckpts, cache=None):
    path = lambda step: str(ckpts / f"step{step}.safetensors")  # noqa: E731
    load = lambda step: load_checkpoint(path(step))[0]  # noqa: E731
    store = LogitStore(str(cache), path, CPU, segment=SEGMENT) if cache else None
    return TeacherBank(load, block=BLOCK, store=store)


def _train(schedule, bank, chunk=250, **kw):
    runs = [
        RunSpec(0.05, 1, 11, alpha=0.0, schedule=schedule),
        RunSpec(0.02, 2, 12, alpha=0.5, temperature=1e-4, schedule=schedule),
    ]
    heldout = HeldOut.from_task(TASK, 99, 256)
    be = get_backend("auto", CPU)
    return train(TASK, 16, runs, STEPS, heldout, 500, be, CPU, teachers=bank, chunk=chunk, **kw)


def _same(a, b):
    assert a.rows == b.rows
    for x, y in zip(a.params.tensors(), b.params.tensors(), strict=True):
        assert torch.equal(x, y)


def _files(cache):
    return sorted(p for p in cache.rglob("*.bin") if ".tmp-" not in p.name)


@pytest.mark.parametrize("schedule", [ONESHOT, PSHOT, PROGRESSIVE])
def test_cached_training_is_bit_identical_to_uncached(tmp_path, ckpts, schedule):
    cache = tmp_path / "cache"
    plain = _train(schedule, _bank(ckpts))
    cold_bank = _bank(ckpts, cache)
    cold = _train(schedule, cold_bank, chunk=333)  # another chunking: the files must not depend on it
    warm_bank = _bank(ckpts, cache)
    warm = _train(schedule, warm_bank)
    _same(plain, cold)
    _same(plain, warm)
    assert cold_bank.stats["computed"] > 0 and not cold_bank.stats["loaded"]
    assert warm_bank.stats["loaded"] == cold_bank.stats["computed"] and not warm_bank.stats["computed"]
    assert not list(cache.rglob("*.lock")) and not list(cache.rglob("*.tmp-*"))


def test_a_second_strategy_reuses_the_first_ones_logits(tmp_path, ckpts):
    cache = tmp_path / "cache"
    oneshot = _bank(ckpts, cache)
    _train(ONESHOT, oneshot)
    final_blocks = -(-STEPS // BLOCK)  # checkpoint 2000 throughout, on two streams
    assert oneshot.stats["computed"] == 2 * final_blocks
    pshot = _bank(ckpts, cache)
    res = _train(PSHOT, pshot)
    # Only checkpoint 1000's blocks (0 .. 15, block 15 shared with the switch) are new; checkpoint 2000's
    # blocks 15 .. 46 come from the first job's files, except block 15's range 15 .. 15 (its own file).
    ck1000 = -(-1000 // BLOCK)
    assert pshot.stats["computed"] == 2 * (ck1000 + 1)
    assert pshot.stats["loaded"] == 2 * (final_blocks - ck1000)
    _same(res, _train(PSHOT, _bank(ckpts)))


def test_a_retrained_teacher_invalidates_its_logits(tmp_path, ckpts):
    cache = tmp_path / "cache"
    first = _bank(ckpts, cache)
    _train(ONESHOT, first)
    save_checkpoint(ckpts / "step2000.safetensors", init_params(12, 32, 2, [999]), 0, {"step": 2000})
    again = _bank(ckpts, cache)
    res = _train(ONESHOT, again)
    assert again.stats["computed"] == first.stats["computed"] and not again.stats["loaded"]
    _same(res, _train(ONESHOT, _bank(ckpts)))


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_a_truncated_or_corrupt_file_is_recomputed(tmp_path, ckpts, caplog, damage):
    cache = tmp_path / "cache"
    _train(ONESHOT, _bank(ckpts, cache))
    victim = _files(cache)[3]
    good = victim.read_bytes()
    bad = {
        "truncate": good[: len(good) // 2],
        "flip": good[:10] + bytes([good[10] ^ 1]) + good[11:],
        "empty": b"",
    }
    victim.write_bytes(bad[damage])
    bank = _bank(ckpts, cache)
    res = _train(ONESHOT, bank)
    b0, b1 = map(int, victim.stem.split("-")[1:])
    assert bank.stats["computed"] == b1 - b0  # that file's blocks, nothing else
    assert bank.store.corrupt > 0 and "truncated or corrupt" in caplog.text
    assert victim.read_bytes() == good  # rewritten with the same bytes
    _same(res, _train(ONESHOT, _bank(ckpts)))


def test_a_job_computes_other_ranges_while_another_holds_a_lock(tmp_path, ckpts):
    cache = tmp_path / "cache"
    bank = _bank(ckpts, cache)
    other = _bank(ckpts, cache).store  # "another job" computing the first range of stream 11
    key = other.key(2000, 11, 0, SEGMENT, BLOCK, TASK.n)
    holding, release = threading.Event(), threading.Event()

    def hold():
        with other.lock(key) as held:
            assert held
            holding.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    holding.wait(10)
    threading.Timer(1.5, release.set).start()
    t0 = time.monotonic()
    res = _train(ONESHOT, bank)
    t.join()
    assert bank.stats["prefetched"] > 0 and bank.stats["waited"] == 1
    assert time.monotonic() - t0 >= 1.4
    _same(res, _train(ONESHOT, _bank(ckpts)))


def test_temporaries_of_a_killed_writer_are_removed(tmp_path, ckpts):
    cache = tmp_path / "cache"
    _train(ONESHOT, _bank(ckpts, cache))
    f = _files(cache)[0]
    tmp = f.with_name(f.stem + ".tmp-999999999.bin")
    tmp.write_bytes(b"half")
    _bank(ckpts, cache)
    assert not tmp.exists() and f.exists()


def test_auto_uses_the_cache_on_cpu_only(tmp_path):
    from progdistill.study import logit_store

    def path(step):
        return os.devnull

    assert logit_store({"teacher_cache": "auto"}, CPU, str(tmp_path), path) is not None
    assert logit_store({"teacher_cache": "auto"}, torch.device("cuda"), str(tmp_path), path) is None
    assert logit_store({"teacher_cache": False}, CPU, str(tmp_path), path) is None
    assert logit_store({"teacher_cache": True}, CPU, None, path) is None


def test_the_setting_is_validated():
    import yaml
    from progdistill.config import ConfigError, validate_config

    with open(os.path.join(os.path.dirname(__file__), "..", "config.yaml")) as fh:
        cfg = yaml.safe_load(fh)
    cfg.pop("teacher_cache", None)
    assert validate_config(cfg)["teacher_cache"] == "auto"
    with pytest.raises(ConfigError, match="teacher_cache = 'yes' is invalid"):
        validate_config(dict(cfg, teacher_cache="yes"))
