"""Reliability guarantees: resume after SIGKILL, atomic outputs, determinism, checked loading, divergence."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from progdistill import io
from progdistill.checkpoints import CheckpointError, load_checkpoint, read_checkpoint_arrays, save_checkpoint
from progdistill.engine import get_backend
from progdistill.figures import best_lr
from progdistill.model import init_params
from progdistill.tasks import SparseParity
from progdistill.training import HeldOut, RunSpec, train

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
KILLABLE = ROOT / "tests/configs/killable.yaml"
SMOKE = ROOT / "workflow/configs/smoke.yaml"


def _snakemake(wd, *args):
    return [str(BIN / "snakemake"), "-s", str(ROOT / "Snakefile"), "-d", str(wd), *args]


def _run(wd, *args):
    out = subprocess.run(_snakemake(wd, *args), capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def _states(wd):
    res = wd / "results"
    return {p: p.stat().st_mtime_ns for p in res.rglob("*resume*.pt")} if res.exists() else {}


def _wait_for_new_state(wd, before, timeout=120):
    """Block until a training job writes a resumable state it did not have before (mid-training)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        now = _states(wd)
        if any(before.get(p) != m for p, m in now.items()):
            return
        time.sleep(0.02)
    raise AssertionError("no training state was written in time")


@pytest.mark.slow
def test_sigkill_at_random_points_then_rerun_gives_identical_results(tmp_path):
    clean = tmp_path / "clean"
    _run(clean, "--cores", "2", "--configfile", str(KILLABLE))
    killed = tmp_path / "killed"
    rng = random.Random(1234)
    resumed = 0
    for _attempt in range(3):
        before = _states(killed)
        proc = subprocess.Popen(
            _snakemake(killed, "--cores", "2", "--rerun-incomplete", "--configfile", str(KILLABLE)),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_for_new_state(killed, before)  # the job is now mid-training
        time.sleep(rng.uniform(0.0, 1.5))  # an arbitrary point after that: mid-step, mid-write, ...
        os.killpg(proc.pid, signal.SIGKILL)  # snakemake and every job it started
        proc.wait()
        resumed += sum("resuming from" in p.read_text() for p in (killed / "results/logs").rglob("*.log"))
        _run(killed, "--unlock", "--configfile", str(KILLABLE))
    _run(killed, "--cores", "2", "--rerun-incomplete", "--configfile", str(KILLABLE))
    resumed += sum("resuming from" in p.read_text() for p in (killed / "results/logs").rglob("*.log"))
    # At least one, not a number: how many training jobs a kill at a wall-clock moment finds mid-training
    # (and so resumes) depends on how fast this machine runs them.
    assert resumed > 0, "no killed training job was resumed"
    for name in ("curves.parquet", "probe.parquet"):
        assert (clean / "results" / name).read_bytes() == (killed / "results" / name).read_bytes(), name
    ck = "results/parity/teacher/lr0.05_s0/checkpoints/step30000.safetensors"
    assert (clean / ck).read_bytes() == (killed / ck).read_bytes()
    assert not list((killed / "results").rglob("*.tmp-*")), "a temporary file was left behind"


@pytest.mark.slow
def test_same_config_gives_byte_identical_tables_across_cores_and_chunks(tmp_path, smoke_run):
    rechunked = tmp_path / "rechunked.yaml"
    rechunked.write_text(SMOKE.read_text().replace("chunk: 1000", "chunk: 777"))
    assert "chunk: 777" in rechunked.read_text()
    other = tmp_path / "other"
    _run(other, "--cores", "1", "--configfile", str(rechunked))  # the session's smoke run used --cores 2
    for name in ("curves.parquet", "probe.parquet"):
        assert (smoke_run / "results" / name).read_bytes() == (other / "results" / name).read_bytes(), name


def test_runs_batched_together_or_alone_give_identical_numbers():
    task = SparseParity(n=12, support=(0, 3, 7))
    heldout = HeldOut.from_task(task, 5, 256)
    be = get_backend("auto", torch.device("cpu"))
    runs = [RunSpec(0.05, 1, 11), RunSpec(0.02, 2, 12), RunSpec(0.05, 3, 11)]
    together = train(task, 32, runs, 3000, heldout, 500, be, torch.device("cpu"))
    alone = train(task, 32, runs[1:2], 3000, heldout, 500, be, torch.device("cpu"))
    if be.name == "compiled":  # the kernel's per-run arithmetic is independent of the batch: exact
        assert [r for r in together.rows if r["run"] == 1] == [dict(r, run=1) for r in alone.rows]
    else:  # batched BLAS may round differently per batch size
        a = [r["accuracy"] for r in together.rows if r["run"] == 1]
        np.testing.assert_allclose(a, [r["accuracy"] for r in alone.rows], atol=1e-3)


def test_atomic_write_leaves_old_file_when_the_writer_crashes(tmp_path, monkeypatch):
    path = tmp_path / "t.parquet"
    io.write_parquet(pd.DataFrame({"a": [1, 2]}), path)
    before = path.read_bytes()

    def crash(self, p, **kw):
        Path(p).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", crash)
    with pytest.raises(OSError, match="disk full"):
        io.write_parquet(pd.DataFrame({"a": [3]}), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_temporaries_of_a_killed_writer_are_removed(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    stale = tmp_path / f"t.tmp-{int(dead.stdout)}.parquet"
    stale.write_bytes(b"half written")
    io.write_parquet(pd.DataFrame({"a": [1]}), tmp_path / "t.parquet")
    assert [p.name for p in tmp_path.iterdir()] == ["t.parquet"]


def test_corrupt_or_truncated_checkpoint_names_the_file(tmp_path):
    params = init_params(10, 8, 2, [0])
    path = tmp_path / "step5.safetensors"
    save_checkpoint(path, params, 0, {"step": 5})
    good, meta = load_checkpoint(path, n=10, width=8)
    assert torch.equal(good.W1t, params.W1t) and meta["step"] == 5
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"step5.safetensors is unreadable or corrupt.*rerun"):
        load_checkpoint(path)
    path.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="step5.safetensors"):
        read_checkpoint_arrays(path)


def test_checkpoint_that_does_not_match_the_configuration_is_refused(tmp_path):
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, init_params(10, 8, 2, [0]), 0, {})
    with pytest.raises(CheckpointError, match="width=8 but the configuration says width=16"):
        load_checkpoint(path, n=10, width=16)
    with pytest.raises(CheckpointError, match="n=10 but the configuration says n=12"):
        read_checkpoint_arrays(path, n=12)


def test_unreadable_resume_state_is_reported(tmp_path):
    task = SparseParity(n=8, support=(0, 1))
    state = tmp_path / "resume.pt"
    state.write_bytes(b"not a torch file")
    with pytest.raises(RuntimeError, match=r"resume.pt is unreadable.*delete it"):
        train(
            task,
            8,
            [RunSpec(0.05, 1, 1)],
            100,
            HeldOut.from_task(task, 1, 16),
            50,
            get_backend("torch", torch.device("cpu")),
            torch.device("cpu"),
            state_path=str(state),
        )


def test_figures_use_the_best_lr_that_did_not_diverge():
    rows = []
    for lr, acc, div in [(0.1, 0.99, True), (0.05, 0.8, False), (0.01, 0.6, False)]:
        for seed in (0, 1):
            for step in (0, 100):
                rows.append(
                    dict(
                        experiment="e",
                        role="student",
                        strategy="s",
                        width=8,
                        lr=lr,
                        seed=seed,
                        step=step,
                        accuracy=acc if not (div and step) else np.nan,
                        diverged=div and step > 0,
                    )
                )
    picked = best_lr(pd.DataFrame(rows))
    assert set(picked.lr) == {0.05}
