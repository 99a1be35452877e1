#!/usr/bin/env bash
# Run by Snakemake after it creates the conda environment of progdistill.yaml (--sdm conda): lifelines and
# its own dependencies without theirs (lifelines declares pandas<3; the pinned pandas 3 works). The pins of
# envs/requirements-nodeps.txt, which the Makefile installs (tests/test_nscaling.py checks they agree).
set -euo pipefail
python -m pip install --no-deps \
  lifelines==0.30.3 \
  autograd==1.9.1 \
  autograd-gamma==0.5.0 \
  formulaic==1.2.2 \
  interface-meta==2.0.1 \
  narwhals==2.29.0 \
  wrapt==2.5.2 \
  typing-extensions==4.16.0
