"""Scheduler requests of the training jobs (progdistill.resources) and the profiles that carry them."""

import copy
import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from progdistill import config as pdc
from progdistill import resources as R

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def load(name, **over):
    """The study model of a shipped configuration, top-level keys overridden."""
    return pdc.load_study({**yaml.safe_load((ROOT / name).read_text()), **over})


def changed(study, exp_name, edit):
    """The experiment of a copy of ``study`` whose (validated) configuration block ``edit`` modified; not
    validated again: only the sizes the estimates read change."""
    cfg = copy.deepcopy(study.config)
    edit(cfg["experiments"][exp_name])
    return pdc.Study.from_config(cfg).experiment(exp_name)


@pytest.fixture(scope="module")
def paper():
    return load("workflow/configs/paper.yaml")


def test_paper_requests_on_gpu(paper):
    exp = paper.experiment("parity")
    ce, prog = exp.strategy("ce"), exp.strategy("progressive")
    # Assumed GPU (no bench-gpu results): 20M launch-bound steps at 10k/s, x1.5, + 60 s start-up: 52 min;
    # a students job likewise (its batched step is launch-bound too, its targets a few seconds).
    assert R.teacher_runtime(paper, exp) == 52
    assert R.students_runtime(paper, exp, prog, 1000) == 52
    assert 4000 <= R.teacher_mem_mb(paper, exp) <= 8000
    assert R.students_mem_mb(paper, exp, ce, 1000) < R.students_mem_mb(paper, exp, prog, 1000)
    assert exp.students.runs == 9


def test_requests_scale_with_steps_width_and_attempt(paper):
    exp = paper.experiment("parity")
    ce = exp.strategy("ce")

    def longer(e):
        e["teacher"]["steps"] *= 4
        e["students"]["steps"] *= 4

    big = changed(paper, "parity", longer)
    assert R.teacher_runtime(paper, big) > 3 * R.teacher_runtime(paper, exp) - 2
    assert R.students_runtime(paper, big, ce, 1000) > 3 * R.students_runtime(paper, exp, ce, 1000) - 2
    wide = changed(paper, "parity", lambda e: e["teacher"].update(width=4 * e["teacher"]["width"]))
    assert R.teacher_runtime(paper, wide) > R.teacher_runtime(paper, exp)
    assert R.teacher_mem_mb(paper, wide) > R.teacher_mem_mb(paper, exp)
    assert R.teacher_runtime(paper, exp, attempt=2) == 2 * R.teacher_runtime(paper, exp)
    assert R.teacher_mem_mb(paper, exp, attempt=2) > R.teacher_mem_mb(paper, exp)


def test_cpu_estimates_follow_the_measured_throughputs(paper):
    cpu = dataclasses.replace(paper, device="cpu")
    exp = paper.experiment("parity")
    # Width-50000 teacher on one CPU thread: ~2 ms/step (memory-bound), 20M steps: ~11 h.
    assert 10 * 3600 < R.teacher_compute_s(cpu, exp) < 13 * 3600
    default = load("config.yaml", device="cpu")
    dexp = default.experiment("parity")
    # Width-2000 teacher: ~50k steps/s, 300k steps: seconds; every small job asks for the minimum.
    assert R.teacher_compute_s(default, dexp) < 30
    assert R.teacher_runtime(default, dexp) == R.MIN_RUNTIME
    assert R.teacher_mem_mb(default, dexp) < R.teacher_mem_mb(load("config.yaml"), dexp)  # no CUDA base


def test_paper_dry_run_carries_the_requests(tmp_path):
    cmd = [str(BIN / "snakemake"), "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "-n"]
    cmd += ["--cores", "8", "--configfile", str(ROOT / "workflow/configs/paper.yaml")]
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    assert "workflow specific profile" in text  # profiles/default was applied
    blocks = re.split(r"(?m)^\[\w{3} \w{3} ", text)  # one block per job (each starts with its date)
    teacher = next(b for b in blocks if "rule teacher:" in b)
    assert "runtime=52" in teacher and "mem_mb=" in teacher and "cpus_per_gpu=1" in teacher, teacher
    students = [b for b in blocks if "rule students:" in b]
    logits = next(b for b in blocks if "rule teacher_logits:" in b)  # on the GPU
    assert re.search(r"\bgpu=1\b", logits) and "runtime=10" in logits and "cpus_per_gpu=1" in logits, logits
    on_cpu = next(b for b in students if re.search(r"strategy=ce, width=100\b", b))  # on a CPU core
    assert "runtime=10" in on_cpu and "mem_mb=" in on_cpu and re.search(r"\bgpu=0\b", on_cpu), on_cpu
    aggregate = next(b for b in blocks if "rule aggregate:" in b)
    assert "runtime=" not in aggregate and "gpu=" not in aggregate, aggregate


def test_slurm_profile_is_valid():
    prof = yaml.safe_load((ROOT / "profiles/slurm/config.yaml").read_text())
    assert prof["executor"] == "slurm"
    # The values its comments describe: one resubmission, a minute for a network file system, 50 jobs
    # queued at once; 30 minutes and 4 GB for the short jobs (the training rules estimate their own).
    assert (prof["retries"], prof["latency-wait"], prof["jobs"]) == (1, 60, 50)
    assert prof["rerun-incomplete"] is True and prof["keep-going"] is True
    res = prof["default-resources"]
    assert (res["runtime"], res["mem_mb"]) == (30, 4000)
    assert "slurm_partition" not in res and "slurm_account" not in res  # left to the user (commented)
    default = yaml.safe_load((ROOT / "profiles/default/config.yaml").read_text())
    for rule in ("teacher", "teacher_logits", "students"):
        assert "gpu" not in default["set-resources"][rule]  # the rules declare it
