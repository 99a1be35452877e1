"""The job section of `make bench` (progdistill.jobbench) and the job-time records it reads from every job's
log (progdistill.jobtime)."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from progdistill import config as C
from progdistill import jobbench
from progdistill import layout as L

ROOT = Path(__file__).resolve().parents[1]
SMOKE = ROOT / "workflow/configs/smoke.yaml"


def _job_time(log: Path) -> dict:
    lines = [ln for ln in log.read_text().splitlines() if " job-time " in ln]
    assert len(lines) == 1, log.read_text()[-2000:]
    return json.loads(lines[0].split(" job-time ", 1)[1])


def test_job_time_splits_a_job_into_its_phases(tmp_path):
    """Each mark closes the phase before it: the phases add up to the job's time from setup to exit, each
    is as long as the script made it (sleeps of 0.2, 0.4, 0.8 and 0.2 s; a sleep lasts at least that long,
    and the upper bound leaves a loaded machine room), and an import inside a phase (one that sleeps 0.6 s)
    counts as imports, not as that phase. Sleeping uses no CPU: the CPU phases stay small."""
    log = tmp_path / "job.log"
    (tmp_path / "slow_module.py").write_text("import time\ntime.sleep(0.6)\n")
    script = (
        "import time\n"
        "from progdistill import jobtime, logs\n"
        f"logs.setup({str(log)!r})\n"
        "time.sleep(0.2); jobtime.mark('read')\n"
        "time.sleep(0.4); jobtime.mark('work')\n"
        "time.sleep(0.4); import slow_module; time.sleep(0.4); jobtime.mark('write')\n"
        "time.sleep(0.2)\n"
    )
    env = dict(os.environ, PYTHONPATH=f"{ROOT / 'workflow'}{os.pathsep}{tmp_path}")
    subprocess.run([sys.executable, "-c", script], check=True, env=env, capture_output=True)
    rec = _job_time(log)
    want = {"setup": 0.2, "read": 0.4, "work": 0.8, "write": 0.2, "imports": 0.6}
    assert set(rec["phases"]) == set(want) and set(rec["cpu"]) <= set(want)
    for phase, seconds in want.items():
        assert seconds <= rec["phases"][phase] < seconds + 0.35, rec
        assert rec["cpu"].get(phase, 0) < 0.1, rec
    assert 0 < rec["startup_cpu"] < 5
    total = rec["t_end"] - rec["t_start"]
    assert abs(sum(rec["phases"].values()) - total) < 0.01, rec
    assert rec["startup"] is None or 0 <= rec["startup"] < 5
    assert "job time: " in log.read_text()


def test_the_bench_trains_the_default_experiment_without_a_probe():
    """The training folder's configuration is the default's parity experiment with its selected teacher and
    the named checkpoints fixed, so it validates and needs no selection job."""
    base = jobbench._load(ROOT)
    default = C.load_study(jobbench._load(ROOT)).experiment("parity")
    for seeds in ([0, 1, 2], list(range(10))):
        exp = C.load_study(jobbench.train_config(base, seeds)).experiment("parity")
        assert exp.students.seeds == tuple(seeds)
        assert exp.students.steps == default.students.steps
        assert exp.task == default.task and exp.teacher.width == default.teacher.width
        assert not exp.needs_selection
        assert len(exp.strategies) == len(default.strategies)


@pytest.mark.slow
def test_synthetic_tables_have_the_real_tables_shapes(smoke_run, tmp_path):
    """The tables folder's per-job tables stand in for real ones: same files, columns, dtypes and rows."""
    cfg = jobbench.tables_config(yaml.safe_load(SMOKE.read_text()))
    jobbench.write_tables(tmp_path, cfg)
    model = C.load_study(cfg)
    real_files = []
    for exp_name, exp in model.experiments.items():
        real_files += L.curve_tables(exp)
        tid = json.loads((smoke_run / L.TEACHER_CHOICE.format(exp=exp_name)).read_text())["teacher"]
        real_files += L.probe_tables(exp, tid)
    assert len(real_files) > 20
    for rel in real_files:
        real, fake = pd.read_parquet(smoke_run / rel), pd.read_parquet(tmp_path / rel)
        assert sorted(real.columns) == sorted(fake.columns), rel
        assert real.dtypes.sort_index().equals(fake.dtypes.sort_index()), rel
        assert len(real) == len(fake), rel


@pytest.mark.slow
def test_every_job_of_a_run_logs_its_time_and_the_bench_reads_it(smoke_run):
    """The bench's reading of a finished run: Snakemake's wall time of a job, of which the job's log says
    how much was work."""
    runner = jobbench.Runner(ROOT, smoke_run, SMOKE)
    tid = json.loads((smoke_run / L.TEACHER_CHOICE.format(exp="parity")).read_text())["teacher"]
    cases = [
        (L.STUDENT.format(exp="parity", strategy="progressive", width=16), "students"),
        (L.PROBE.format(exp="parity", tid=tid, step=2000), "probe"),
        (L.TEACHER_CURVE.format(exp="parity", tid=tid), "teacher"),
        (L.TEACHER_LOGITS.format(exp="parity", seed=0), "teacher_logits"),
        (L.CURVES, "aggregate"),
        (L.SUMMARY_PARQUET, "summary"),
        (L.SURVIVAL, "survival"),
        (L.FIGURE_PDF.format(fig="fig1b"), "figure"),
    ]
    logs = {
        "students": L.STUDENT_LOG.format(exp="parity", strategy="progressive", width=16),
        "probe": L.PROBE_LOG.format(exp="parity", tid=tid, step=2000),
        "teacher": L.TEACHER_LOG.format(exp="parity", tid=tid),
        "teacher_logits": L.TEACHER_LOGITS_LOG.format(exp="parity", seed=0),
        "aggregate": L.AGGREGATE_LOG,
        "summary": L.SUMMARY_LOG,
        "survival": L.SURVIVAL_LOG,
        "figure": L.FIGURE_LOG.format(fig="fig1b"),
    }
    for output, rule in cases:
        job = runner.job(output, logs[rule])
        assert job["rule"] == rule
        assert "work" in job["phases"], (rule, job)
        assert 0 < job["work"] < job["wall"], (rule, job)
        assert job["fixed"] == pytest.approx(job["wall"] - job["work"])
        assert job["startup"] is None or 0 < job["startup"] < job["wall"]


@pytest.mark.slow
def test_the_bench_times_exactly_the_figure_rules_figures(smoke_run):
    """Every figure the bench times is drawn by the figure rule, and it times every one of them."""
    names = jobbench.table_figures(jobbench.tables_config(yaml.safe_load(SMOKE.read_text())))
    assert "fig9" not in names and "curricula_parity" in names and "theory_corr" not in names
    pdfs = [L.FIGURE_PDF.format(fig=f) for f in names]
    cmd = [
        str(Path(sys.executable).with_name("snakemake")),
        "-s",
        str(ROOT / "Snakefile"),
        "-d",
        str(smoke_run),
    ]
    cmd += [
        "-n",
        "--cores",
        "1",
        "--configfile",
        str(SMOKE),
        "--allowed-rules",
        "figure",
        "--forcerun",
        "figure",
    ]
    out = subprocess.run([*cmd, "--", *pdfs], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", out.stdout, re.M))
    assert int(counts["figure"]) == len(names), out.stdout[-3000:]
    drawn = set(re.findall(r"results/figures/(\w+)\.pdf", out.stdout))
    assert drawn == set(names)
