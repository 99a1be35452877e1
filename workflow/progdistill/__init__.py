"""progdistill: progressive distillation on sparse and hierarchical parity.

The package never imports Snakemake; the workflow's thin scripts call into it.
"""

import os

# Idle OpenMP threads must sleep, not spin: spinning threads stole the only other core here and made
# per-step loops up to 10x slower. torch's libgomp reads this once, when torch is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
