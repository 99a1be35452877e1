import logging
import subprocess
import sys
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # Per-sample steps are far slower with more than one intra-op thread on small CPUs.
    torch.set_num_threads(1)
    logging.getLogger("progdistill").setLevel(logging.WARNING)


ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "workflow/configs/smoke.yaml"


def run_snakemake(wd, *args, check=True):
    """Run the workflow in directory ``wd`` with this interpreter's snakemake."""
    cmd = [
        str(Path(sys.executable).parent / "snakemake"),
        "-s",
        str(ROOT / "Snakefile"),
        "-d",
        str(wd),
        *args,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if check and out.returncode:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    """The smoke configuration run once for the whole session (--cores 2)."""
    wd = tmp_path_factory.mktemp("smoke")
    run_snakemake(wd, "--cores", "2", "--configfile", str(SMOKE))
    return wd
