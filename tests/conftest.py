import logging

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    # Per-sample steps are far slower with more than one intra-op thread on small CPUs.
    torch.set_num_threads(1)
    logging.getLogger("progdistill").setLevel(logging.WARNING)
