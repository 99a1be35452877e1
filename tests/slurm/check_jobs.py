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

TRAINING = {"teacher", "teacher_logits", "students"}  # every other rule must not get a GPU
MUST_RUN = ["teacher", "select_teacher", "probe", "teacher_logits", "students", "aggregate", "figure"]
RULE_OF_COMMENT = re.compile(r"^rule_(.+?)(?:_wildcards_.*)?$")
SM_RULE = re.compile(r"^(local)?(?:rule|checkpoint) (\w+):$")
SM_JOBID = re.compile(r"^\s+jobid: (\d+)$")


def snakemake_jobs(log: str) -> Counter:
    """Jobs per rule that Snakemake ran (its log prints each once), local rules (`all`) left out."""
    jobs, rule = {}, None
    for line in log.splitlines():
        if m := SM_RULE.match(line):
            rule = None if m.group(1) else m.group(2)
        elif (m := SM_JOBID.match(line)) and rule:
            jobs[int(m.group(1))] = rule
            rule = None
    return Counter(jobs.values())


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
    log_text = Path(log_path).read_text()
    expected = snakemake_jobs(log_text)
    print("SLURM jobs per rule:", dict(sorted(counts.items())))
    if counts != expected:
        errors.append(f"SLURM jobs per rule {dict(counts)} differ from Snakemake's jobs {dict(expected)}")
    for rule in MUST_RUN:
        if not counts.get(rule):
            errors.append(f"no SLURM job of rule {rule}")
    for rule, js in sorted(by_rule.items()):
        for job in js:
            where = f"job {job['JobId']} ({job.get('Comment')})"
            if job.get("JobState") != "COMPLETED":
                errors.append(f"{where}: state {job.get('JobState')}")
            gpu = asks_gpu(job)
            if rule in TRAINING and not gpu:
                errors.append(f"{where}: a training job without a GPU ({job.get('TresPerJob')!r})")
            if rule not in TRAINING and gpu:
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
    if sum(seen.values()) != sum(counts.values()):
        errors.append(f"{sum(counts.values())} SLURM jobs but {sum(seen.values())} SLURM job logs")

    # What the plugin asked sbatch for (verbose log): --gpus for training rules only.
    calls = [line for line in log_text.splitlines() if "sbatch call:" in line]
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
        if rule not in TRAINING and gpu:
            errors.append(f"sbatch call of {rule} with a GPU: {call[:300]}")
    print("sbatch calls (rule, --gpus):", dict(sorted(asked.items())))
    if sum(asked.values()) != sum(counts.values()):
        errors.append(f"{sum(counts.values())} SLURM jobs but {sum(asked.values())} sbatch calls")

    root = Path(wd) / "results"
    # The fake GPU has no CUDA behind it: device 'auto' must have fallen back to the CPU.
    teacher_logs = sorted((root / "logs").glob("*/teacher/*.log"))
    if not teacher_logs:
        errors.append("no teacher log under results/logs/*/teacher/")
    for log in teacher_logs[:1]:
        lines = [ln for ln in log.read_text().splitlines() if " device " in ln]
        print("teacher:", *(ln.split(": ", 1)[-1] for ln in lines))
        if not any("device cpu" in ln for ln in lines):
            errors.append(f"{log}: no 'device cpu' line (did device auto fall back to the CPU?)")
    for out in ["curves.parquet", "probe.parquet"]:
        if not (root / out).is_file():
            errors.append(f"missing output results/{out}")
    if not list((root / "figures").glob("*.png")):
        errors.append("no figure under results/figures/")
    for e in errors:
        print("CHECK FAILED:", e)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
