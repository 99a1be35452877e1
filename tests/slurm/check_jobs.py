"""Checks of the SLURM test run. Usage: check_jobs.py JOBS_TXT SNAKEMAKE_LOG WORKDIR SLURM_LOGDIR

JOBS_TXT is `scontrol -o show job` after the run (the test cluster keeps finished jobs for an hour):
what SLURM allocated. SNAKEMAKE_LOG is the verbose log of the run, with each `sbatch call`: what the
executor plugin asked for. SLURM_LOGDIR holds each job's own log, whose verbose Snakemake header prints
the job's environment: what the job saw. All three must agree that the training rules (teacher,
students), and only they, got a GPU; every job completed; the teacher fell back to the CPU (the GPU is
fake); the workflow's final outputs exist."""

import re
import sys
from collections import Counter
from pathlib import Path

TRAINING = {"teacher", "students"}
CPU_ONLY = {"probe", "select_teacher", "aggregate", "figure"}
# Jobs of the smoke configuration (workflow/configs/smoke.yaml): 1 teacher, checkpoints 0..6000 every
# 1000, 5 strategies x 2 widths, 8 figures.
EXPECTED = {"teacher": 1, "select_teacher": 1, "probe": 7, "students": 10, "aggregate": 1, "figure": 8}
RULE_OF_COMMENT = re.compile(r"^rule_(.+?)(?:_wildcards_.*)?$")


def parse_jobs(text: str) -> list[dict]:
    jobs = []
    for line in text.splitlines():
        if line.startswith("JobId="):
            jobs.append(dict(re.findall(r"(\w+)=(\S*)", line)))
    return jobs


def asks_gpu(job: dict) -> bool:
    fields = ("TresPerJob", "TresPerNode", "TresPerTask", "TresPerSocket", "AllocTRES", "ReqTRES")
    return any("gpu" in job.get(f, "") for f in fields)


def main() -> int:
    jobs_txt, log_path, wd, slurm_logdir = sys.argv[1:5]
    errors: list[str] = []
    jobs = parse_jobs(Path(jobs_txt).read_text())
    by_rule: dict[str, list[dict]] = {}
    for job in jobs:
        m = RULE_OF_COMMENT.match(job.get("Comment", ""))
        by_rule.setdefault(m.group(1) if m else "?", []).append(job)
    counts = Counter({rule: len(js) for rule, js in by_rule.items()})
    print("SLURM jobs per rule:", dict(sorted(counts.items())))
    for rule, n in EXPECTED.items():
        if counts.get(rule, 0) != n:
            errors.append(f"expected {n} SLURM job(s) of rule {rule}, found {counts.get(rule, 0)}")
    for rule, js in sorted(by_rule.items()):
        for job in js:
            where = f"job {job['JobId']} ({job.get('Comment')})"
            if job.get("JobState") != "COMPLETED":
                errors.append(f"{where}: state {job.get('JobState')}")
            gpu = asks_gpu(job)
            if rule in TRAINING and not gpu:
                errors.append(f"{where}: a training job without a GPU ({job.get('TresPerJob')!r})")
            if rule in CPU_ONLY and gpu:
                errors.append(f"{where}: a CPU-only job with a GPU ({job.get('TresPerJob')!r})")
    for rule in sorted(TRAINING):
        for job in by_rule.get(rule, [])[:1]:
            print(f"{rule}: TresPerJob={job.get('TresPerJob')} TRES={job.get('TRES')}")

    # What each job saw: SLURM sets CUDA_VISIBLE_DEVICES in a job given a GPU, and only there.
    seen = Counter()
    for log in sorted(Path(slurm_logdir).glob("rule_*/**/*.log")):
        rule = log.relative_to(slurm_logdir).parts[0].removeprefix("rule_")
        has_gpu = "'CUDA_VISIBLE_DEVICES': '0'" in log.read_text(errors="replace")
        seen[(rule, has_gpu)] += 1
        if (rule in TRAINING) != has_gpu:
            errors.append(f"{log}: CUDA_VISIBLE_DEVICES {'set' if has_gpu else 'unset'} in a {rule} job")
    print("jobs' environment (rule, CUDA_VISIBLE_DEVICES=0):", dict(sorted(seen.items())))
    if sum(seen.values()) != sum(EXPECTED.values()):
        errors.append(f"expected {sum(EXPECTED.values())} SLURM job logs, found {sum(seen.values())}")

    # What the plugin asked sbatch for (verbose log): --gpus for training rules only.
    calls = [line for line in Path(log_path).read_text().splitlines() if "sbatch call:" in line]
    asked = Counter()
    for call in calls:
        m = re.search(r"--comment '?rule_(.+?)(?:_wildcards_[^' ]*)?'?\s", call)
        if not m:
            errors.append(f"sbatch call without a rule comment: {call[:200]}")
            continue
        rule, gpu = m.group(1), "--gpus" in call
        asked[(rule, gpu)] += 1
        if rule in TRAINING and not re.search(r"--gpus[= ]1\b", call):
            errors.append(f"sbatch call of {rule} without --gpus=1: {call[:300]}")
        if rule in CPU_ONLY and gpu:
            errors.append(f"sbatch call of {rule} with a GPU: {call[:300]}")
    print("sbatch calls (rule, --gpus):", dict(sorted(asked.items())))
    if sum(asked.values()) != sum(EXPECTED.values()):
        errors.append(f"expected {sum(EXPECTED.values())} sbatch calls, found {sum(asked.values())}")

    root = Path(wd) / "results"
    # The fake GPU has no CUDA behind it: device 'auto' must have fallen back to the CPU.
    for log in sorted((root / "logs").glob("*/teacher/*.log"))[:1]:
        lines = [ln for ln in log.read_text().splitlines() if " device " in ln]
        print("teacher:", *(ln.split(": ", 1)[-1] for ln in lines))
        if not any("device cpu" in ln for ln in lines):
            errors.append(f"{log}: no 'device cpu' line (did device auto fall back to the CPU?)")
    for out in ["curves.parquet", "probe.parquet", "figures/fig2b.png", "figures/fig6.pdf"]:
        if not (root / out).is_file():
            errors.append(f"missing output results/{out}")
    for e in errors:
        print("CHECK FAILED:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
