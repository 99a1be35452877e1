"""The configuration the GPU-scheduling tests run: the smoke configuration with `device: auto` and the
training rules placed on the GPU, so they declare gpu=1 (inside a job they fall back to the CPU when no
CUDA works), reduced to its sparse-parity experiment, which exercises every rule, to keep the run short.

Usage: derive_config.py SMOKE_YAML OUT_YAML (also imported by tests/test_gpu_resources.py)."""

import sys
from pathlib import Path

import yaml


def gpu_smoke_config(smoke: dict) -> dict:
    # The cost model would keep these tiny jobs on the CPU: force the training rules onto the GPU.
    cfg = dict(smoke, device="auto", placement={"teacher": "gpu", "teacher_logits": "gpu", "students": "gpu"})
    keep = (cfg.get("figures") or {}).get("parity", "parity")
    cfg["experiments"] = {keep: smoke["experiments"][keep]}
    cfg.pop("nscaling", None)  # its experiments are sparse parities too: ordinary rules, more jobs
    return cfg


def main() -> None:
    src, dest = sys.argv[1:3]
    cfg = gpu_smoke_config(yaml.safe_load(Path(src).read_text()))
    Path(dest).write_text(yaml.safe_dump(cfg, sort_keys=False))


if __name__ == "__main__":
    main()
