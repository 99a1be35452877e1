"""Jobs import only what they use: the training and probe jobs write their tables without pandas
(io.write_rows), and the modules every job and the DAG import load neither pandas nor torch."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from progdistill.io import write_rows

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT / "workflow"))


def test_write_rows_reads_back_as_the_pandas_frame(tmp_path):
    rows = [
        dict(
            step=i * 500,
            accuracy=float("nan") if i == 3 else 0.5 + i / 100,
            loss=np.float32(0.25) if i == 1 else 0.7,  # numpy scalars count as their Python kind
            teacher_checkpoint=np.int64(-1),
            diverged=i == 3,
            lr=0.01 if i else 1,  # an int among floats: a float column, as pandas makes it
            monomial=f"{i}_{i + 1}",
        )
        for i in range(7)
    ]
    consts = dict(experiment="parity", width=100, temperature=1.0, in_support=True)
    write_rows(rows, tmp_path / "t.parquet", **consts)
    got = pd.read_parquet(tmp_path / "t.parquet")
    want = pd.DataFrame(rows).assign(**consts)
    pd.testing.assert_frame_equal(got, want)
    assert list(got.columns) == list(want.columns)
    with pytest.raises(TypeError, match="column step"):
        write_rows([dict(step=1), dict(step="a")], tmp_path / "bad.parquet")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys; print(' '.join(sys.modules))"],
        env=ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    return set(out.stdout.split())


def test_job_modules_import_neither_pandas_nor_torch():
    loaded = _modules_after("from progdistill import config, layout, logs, study")
    assert not {"pandas", "torch", "matplotlib", "seaborn"} & loaded


def test_a_probe_job_runs_without_pandas(tmp_path):
    """A whole probe job (read a checkpoint, probe it, write its table) in a fresh process: no pandas,
    no torch, and the table it writes reads back with the columns the aggregation expects."""
    ck, out = str(tmp_path / "ck.safetensors"), str(tmp_path / "p.parquet")
    code = f"""
import yaml
from progdistill import config as C, study
cfg = C.validate_config(yaml.safe_load(open({str(ROOT / "workflow/configs/smoke.yaml")!r})))
study.run_probe(cfg, "parity", "lr0.05_s0", 1000, {ck!r}, {out!r})
"""
    save = """
import torch
from progdistill.checkpoints import save_checkpoint
from progdistill.model import init_params
save_checkpoint(PATH, init_params(12, 64, 2, [0]), 0, dict(step=1000))
""".replace("PATH", repr(str(tmp_path / "ck.safetensors")))
    subprocess.run([sys.executable, "-c", save], env=ENV, check=True)
    loaded = _modules_after(code)
    assert not {"pandas", "torch"} & loaded
    df = pd.read_parquet(tmp_path / "p.parquet")
    from progdistill.study import PROBE_COLUMNS

    assert set(PROBE_COLUMNS) <= set(df.columns) and len(df) > 10
