"""Write the SLURM test's profile: profiles/slurm/config.yaml with the settings a one-node test cluster
without accounting needs. Usage: derive_profile.py SRC DEST --logdir DIR"""

import argparse
from pathlib import Path

import yaml

OVERRIDES = {
    "jobs": 8,  # more than the node runs at once: SLURM, not Snakemake, queues them
    "retries": 0,  # a failure should fail the test, not double its time
    "keep-going": False,
    "latency-wait": 5,
    "verbose": True,  # the plugin logs each sbatch call at debug level: the checks read them
    # No slurmdbd here, so no sacct: poll squeue (the test cluster keeps finished jobs for an hour).
    "slurm-status-command": "squeue",
    "slurm-init-seconds-before-status-checks": 5,
    "slurm-no-account": True,
    "slurm-keep-successful-logs": True,
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("dest")
    ap.add_argument("--logdir", required=True)
    args = ap.parse_args()
    prof = yaml.safe_load(Path(args.src).read_text())
    if prof.get("executor") != "slurm":
        raise SystemExit(f"{args.src}: expected 'executor: slurm', got {prof.get('executor')!r}")
    prof.update(OVERRIDES)
    prof["slurm-logdir"] = args.logdir
    res = dict(prof.get("default-resources") or {})
    for key in ("slurm_partition", "slurm_account"):  # the test cluster's default partition, no accounts
        res.pop(key, None)
    res.update({"runtime": 10, "mem_mb": 1000})  # short jobs: small enough for a small node
    prof["default-resources"] = res
    dest = Path(args.dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(yaml.safe_dump(prof, sort_keys=False))


if __name__ == "__main__":
    main()
