"""The workflow on a real (single-node, local) SLURM scheduler: tests/slurm/run_slurm_test.sh.

Opt-in (it installs packages and starts daemons as root, ~5 minutes): PROGDISTILL_SLURM_TEST=1, or
`make test-slurm`."""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "tests/slurm/run_slurm_test.sh"


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("PROGDISTILL_SLURM_TEST") != "1",
    reason="starts a local SLURM cluster as root (minutes): PROGDISTILL_SLURM_TEST=1 or `make test-slurm`",
)
def test_workflow_on_a_local_slurm_cluster():
    out = subprocess.run(["bash", str(SCRIPT)], capture_output=True, text=True, cwd=ROOT, timeout=900)
    text = out.stdout + out.stderr
    assert out.returncode == 0 and "SLURM TEST: PASS" in text, text[-6000:]
