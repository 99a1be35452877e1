"""`--resources gpu=1` on one machine: the training rules declare a GPU, so Snakemake runs one training
job at a time while CPU-only jobs (probe, select_teacher, aggregate, figure) run beside it."""

import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent / "slurm"))
from derive_config import gpu_smoke_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SMOKE = ROOT / "workflow/configs/smoke.yaml"
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
SM_TIME = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
SM_RULE = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")
SM_JOBID = re.compile(r"^\s+jobid: (\d+)$")
TRAINING = {"teacher", "teacher_logits", "students"}
SM_DONE = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")


def log_span(path: Path) -> tuple[datetime, datetime] | None:
    """First and last timestamp of a job's log (None when it has no timestamped line)."""
    stamps = [m.group(1) for line in path.read_text().splitlines() if (m := STAMP.match(line))]
    if not stamps:
        return None
    parse = lambda s: datetime.strptime(s, "%Y-%m-%d %H:%M:%S,%f")  # noqa: E731
    return parse(stamps[0]), parse(stamps[-1])


def snakemake_spans(log: Path) -> dict[int, tuple[str, datetime, datetime]]:
    """(rule, start, end) of every job in Snakemake's own log, to the second; the CPU-only rules' job
    logs are empty, so this is where their timing is."""
    now = rule = None
    start: dict[int, tuple[str, datetime]] = {}
    spans = {}
    for line in log.read_text().splitlines():
        if m := SM_TIME.match(line):
            now = datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
        elif m := SM_RULE.match(line):
            rule = m.group(1)
        elif (m := SM_JOBID.match(line)) and rule:
            start[int(m.group(1))] = (rule, now)
            rule = None
        elif m := SM_DONE.match(line):
            jobid = int(m.group(1))
            name, began = start[jobid]
            # Printed times are truncated to the second: the job ran until the end of that second.
            spans[jobid] = (name, began, now.replace(microsecond=999999))
    return spans


def overlaps(a, b) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@pytest.mark.slow
def test_training_jobs_take_turns_on_the_gpu(tmp_path):
    # The smoke configuration with device auto: the training rules declare gpu=1 (and run on the CPU
    # here, as there is no GPU); its sparse-parity experiment only, to keep it short.
    config = tmp_path / "smoke-gpu.yaml"
    config.write_text(yaml.safe_dump(gpu_smoke_config(yaml.safe_load(SMOKE.read_text()))))
    cmd = [str(BIN / "snakemake"), "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path / "wd")]
    cmd += ["--cores", "2", "--resources", "gpu=1", "--configfile", str(config)]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "gpu=1" in out.stdout + out.stderr  # the jobs did declare it

    logs = tmp_path / "wd/results/logs"
    (sm_log,) = (tmp_path / "wd/.snakemake/log").glob("*.snakemake.log")
    jobs = snakemake_spans(sm_log)
    n_training = sum(name in TRAINING for name, _, _ in jobs.values())
    job_logs = [*logs.glob("*/teacher/*.log"), *logs.glob("*/teacher_logits/*.log")]
    training = {p: log_span(p) for p in [*job_logs, *logs.glob("*/students/*/*.log")]}
    assert n_training >= 2 and len(training) == n_training, (sorted(training), jobs)
    assert all(span is not None for span in training.values()), training
    spans = sorted(training.items(), key=lambda kv: kv[1][0])
    for (pa, a), (pb, b) in zip(spans, spans[1:], strict=False):
        assert a[1] <= b[0], f"{pa.name} and {pb.name} ran at the same time: {a} / {b}"

    # The second core was not left idle: some CPU-only job (probe, select_teacher, ...) ran while a
    # training job held the GPU. Their own logs are empty, so their times come from Snakemake's log.
    cpu_spans = [(b, e) for name, b, e in jobs.values() if name not in TRAINING | {"all"}]
    assert cpu_spans, jobs
    assert any(overlaps(c, t) for c in cpu_spans for t in training.values()), (cpu_spans, spans)
