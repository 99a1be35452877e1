"""Where jobs run (progdistill.placement, resources.CostModel) and one GPU per job (progdistill.gpus)."""

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from progdistill import config as pdc
from progdistill import gpus, placement
from progdistill import resources as R

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def load(name, **over):
    raw = yaml.safe_load((ROOT / name).read_text())
    raw.update(over)
    return pdc.load_study(raw)


ASSUMED = R.CostModel()


def sides(cfg, model=ASSUMED):
    return {j.name: j.side for j in placement.jobs(cfg, model)}


# -- decisions (cost model inputs -> chosen device) ------------------------------------------------------


def test_margin_decides():
    cfg = load("config.yaml")
    assert cfg.device == "auto" and cfg.placement["margin"] == 2.0
    assert placement.place(cfg, "students", cpu_s=100, gpu_s=49) == "gpu"
    assert placement.place(cfg, "students", cpu_s=100, gpu_s=51) == "cpu"  # faster, but not by the margin
    assert placement.place(load("config.yaml", placement={"margin": 1.0}), "students", 100, 51) == "gpu"
    assert placement.place(cfg, "probe", cpu_s=100, gpu_s=1) == "cpu"  # no GPU implementation


def test_cpu_only_machine_puts_everything_on_cpu():
    cfg = load("workflow/configs/paper.yaml", device="cpu")
    assert set(sides(cfg).values()) == {"cpu"}
    js = placement.jobs(cfg, ASSUMED)
    # The list schedule, recomputed: per stage, longest job first onto the least loaded of 8 cores, each
    # job JOB_START_S longer; the stages one after the other.
    wall = 0.0
    for stage in sorted({j.stage for j in js}):
        cores = [0.0] * 8
        for j in sorted((j for j in js if j.stage == stage), key=lambda j: j.cpu_s, reverse=True):
            cores[cores.index(min(cores))] += j.cpu_s + placement.JOB_START_S
        wall += max(cores)
    assert {j.stage for j in js} == {0, 1, 2, 3}  # teachers, probes, teacher logits, students
    assert placement.simulate(js, cores=8, gpus=0) == pytest.approx(wall, rel=1e-12)


def test_one_gpu_machine_default_config_keeps_students_on_cpu():
    """Default configuration: widths 20-200, where the compiled kernel on a core beats a launch-bound GPU."""
    cfg = load("config.yaml")
    got = sides(cfg)
    assert all(side == "cpu" for side in got.values())
    # The teacher-logit jobs: ~6 s of width-2000 forward passes on a core, a fraction of a second on the
    # assumed GPU, but a GPU job starts GPU_STARTUP_S later: they stay on cores unless forced. One job per
    # (experiment, student seed): 2 x 10.
    logits = [j for j in placement.jobs(cfg, ASSUMED) if j.rule == "teacher_logits"]
    assert len(logits) == 20 and all(j.side == "cpu" and j.cpu_s < j.gpu_s for j in logits)
    forced = load("config.yaml", placement={"teacher_logits": "gpu"})
    assert {j.side for j in placement.jobs(forced, ASSUMED) if j.rule == "teacher_logits"} == {"gpu"}


def test_one_gpu_machine_paper_config():
    cfg = load("workflow/configs/paper.yaml")
    jobs = {j.name: j for j in placement.jobs(cfg, ASSUMED)}
    teachers = [j for j in jobs.values() if j.rule == "teacher"]
    assert teachers and all(j.side == "gpu" for j in teachers)  # ~11 h on a core against ~35 min
    assert all(j.side == "cpu" for j in jobs.values() if j.rule == "probe")
    # The teacher_logits stage does the width-50000 forward passes (~3 h per seed on one core, seconds on
    # a GPU); the width-100 students, distilling or not, then belong on CPU cores.
    logits = [j for j in jobs.values() if j.rule == "teacher_logits"]
    assert len(logits) == 6 and all(j.side == "gpu" and j.cpu_s > 3600 for j in logits)
    assert all(j.side == "cpu" for n, j in jobs.items() if n.endswith("/w100"))
    assert jobs["parity/ce/w100"].side == "cpu"
    # Computing the targets in the students job instead (teacher_logits: inline) sends them to the GPU.
    inline = {j.name: j for j in placement.jobs(dataclasses.replace(cfg, teacher_logits="inline"), ASSUMED)}
    assert not any(j.rule == "teacher_logits" for j in inline.values())
    assert inline["parity/progressive/w100"].side == "gpu"
    assert inline["parity/progressive/w100"].cpu_s > 5 * inline["parity/progressive/w100"].gpu_s


def test_forcing_a_side():
    paper = load("workflow/configs/paper.yaml", device="cuda")
    got = sides(paper)
    assert {s for n, s in got.items() if "/step" not in n} == {"gpu"}  # every training job
    assert {s for n, s in got.items() if "/step" in n} == {"cpu"}  # probes stay numpy on CPU
    default = load("config.yaml", placement={"students": "gpu"})
    assert {s for n, s in sides(default).items() if "/w" in n} == {"gpu"}
    assert {s for n, s in sides(default).items() if "/lr" in n} == {"cpu"}  # teachers still by the model


def test_placement_does_not_depend_on_the_machine(tmp_path):
    """Decided from the configuration alone: no torch import, so no look at a GPU (a login node has none)."""
    code = "import sys, progdistill.placement, progdistill.gpus; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_bench_gpu_results_replace_the_assumptions(tmp_path):
    """make bench-gpu's JSON (same format as make bench) is what the model reads when it exists."""
    bench = tmp_path / "engine_cuda.json"
    records = [
        dict(impl="reference", width=100, runs=1, threads=1, model_steps_per_s=900, speedup_vs_reference=1),
        dict(impl="torch", width=100, runs=1, threads=1, model_steps_per_s=5e4, speedup_vs_reference=55),
        dict(impl="torch", width=100, runs=32, threads=1, model_steps_per_s=1.6e8, speedup_vs_reference=9e4),
        dict(impl="torch", width=50000, runs=1, threads=1, model_steps_per_s=4e4, speedup_vs_reference=100),
        dict(impl="teacher_targets_blocked", width=2000, runs=1, threads=1, model_steps_per_s=2e8),
    ]
    bench.write_text(json.dumps(records))
    cfg = load("config.yaml", placement={"gpu_bench": str(bench)})
    model = R.CostModel.load(cfg)
    assert model.gpu_source.startswith("measured")
    assert model.gpu_step_floor_s == pytest.approx(32 / 1.6e8)  # the fastest measured iteration
    assert model.gpu_work == pytest.approx(50000 * 4e4)
    assert model.gpu_forward == pytest.approx(2000 * 2e8)
    # A GPU measured this fast (5M batched steps/s) takes the paper's width-1000 students, which the assumed
    # launch-bound one leaves on cores (~20 min there against ~33 min).
    paper = load("workflow/configs/paper.yaml", placement={"gpu_bench": str(bench)})
    assert sides(paper, model)["parity/ce/w1000"] == "gpu"
    assert sides(paper, ASSUMED)["parity/ce/w1000"] == "cpu"
    assert R.CostModel.load(load("config.yaml", placement={"gpu_bench": str(tmp_path / "none")})) == ASSUMED
    bench.write_text(json.dumps(records[:1]))
    with pytest.raises(ValueError, match="no 'torch' records"):
        R.CostModel.from_bench(str(bench))


def test_simulation_is_list_scheduling():
    J = placement.Job
    jobs = [J("teacher", "t", 0, 10, 1, "cpu")] + [J("students", f"s{i}", 2, 6, 1, "cpu") for i in range(4)]
    assert placement.simulate(jobs, cores=2, gpus=0, start_s=0) == 10 + 12
    assert placement.simulate(jobs, cores=4, gpus=0, start_s=0) == 10 + 6
    jobs.append(J("students", "g", 2, 100, 30, "gpu"))
    assert placement.simulate(jobs, cores=4, gpus=1, start_s=0) == 10 + 30
    with pytest.raises(ValueError, match="--gpus is 0"):
        placement.simulate(jobs, cores=4, gpus=0)


def test_plan_command_prints_every_rule():
    cmd = [sys.executable, "-m", "progdistill.placement", "--configfile", str(ROOT / "config.yaml")]
    out = subprocess.run([*cmd, "--cores", "8", "--gpus", "1"], capture_output=True, text=True, check=True)
    for word in (
        "| teacher |",
        "| probe |",
        "| teacher_logits |",
        "| students |",
        "predicted wall time",
        "assumed",
    ):
        assert word in out.stdout, out.stdout
    bad = subprocess.run([*cmd, "--config", "device=tpu"], capture_output=True, text=True)
    assert bad.returncode and "device" in bad.stderr


# -- the dry runs carry the placement ------------------------------------------------------------------


def dry_run_jobs(tmp_path, configfile, *extra):
    cmd = [str(BIN / "snakemake"), "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path), "-n"]
    cmd += ["--cores", "8", "--resources", "gpu=1", "--configfile", str(configfile), *extra]
    env = {k: v for k, v in os.environ.items() if k != "CUDA_VISIBLE_DEVICES"}
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, env=env)
    text = out.stdout + out.stderr
    assert out.returncode == 0, text[-3000:]
    jobs = []
    for block in re.split(r"(?m)^\[\w{3} \w{3} ", text):  # one block per job (each starts with its date)
        rule = re.search(r"(?m)^(?:rule|checkpoint) (\w+):", block)
        wc = re.search(r"(?m)^\s+wildcards: (.*)$", block)
        gpu = re.search(r"\bgpu=(\d+)", block)
        if rule:
            jobs.append((rule.group(1), wc.group(1) if wc else "", int(gpu.group(1)) if gpu else 0))
    return jobs


def test_paper_dry_run_without_a_gpu(tmp_path):
    jobs = dry_run_jobs(tmp_path, ROOT / "workflow/configs/paper.yaml")
    teachers = [g for r, _, g in jobs if r == "teacher"]
    assert teachers and set(teachers) == {1}
    logits = [g for r, _, g in jobs if r == "teacher_logits"]
    assert len(logits) == 6 and set(logits) == {1}  # 2 experiments x 3 student seeds
    w100 = [g for r, wc, g in jobs if r == "students" and re.search(r"width=100\b", wc)]
    assert len(w100) == 46 and set(w100) == {0}  # every width-100 student, distilling ones included


def test_default_dry_run_keeps_students_off_the_gpu(tmp_path):
    jobs = dry_run_jobs(tmp_path, ROOT / "config.yaml")
    students = [g for r, _, g in jobs if r == "students"]
    assert students and set(students) == {0}


def test_smoke_with_device_cuda_plans_on_a_machine_without_a_gpu(tmp_path):
    jobs = dry_run_jobs(tmp_path, ROOT / "workflow/configs/smoke.yaml", "--config", "device=cuda")
    training = [g for r, _, g in jobs if r in placement.RULES]
    assert training and set(training) == {1}
    assert {r for r, _, _ in jobs} >= set(placement.RULES)
    assert {g for r, _, g in jobs if r not in placement.RULES} == {0}


# -- one GPU per running job ---------------------------------------------------------------------------


@pytest.fixture
def no_visible(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    yield
    for index in list(gpus._held):
        gpus.release(index)


def test_each_job_gets_its_own_gpu(tmp_path, no_visible):
    got = [gpus.acquire(4, str(tmp_path)) for _ in range(4)]
    assert sorted(got) == [0, 1, 2, 3]
    with pytest.raises(TimeoutError, match="all 4 GPUs are held"):
        gpus.acquire(4, str(tmp_path), timeout_s=0.2, poll_s=0.05)
    gpus.release(2)
    assert gpus.acquire(4, str(tmp_path)) == 2


def test_slots_are_per_process_and_freed_when_a_job_dies(tmp_path, no_visible):
    """Another process holding device 0 (a running job) makes this one take device 1; when it is killed,
    its lock goes with it."""
    code = (
        "import sys, time; from progdistill import gpus; "
        f"print(gpus.acquire(2, {str(tmp_path)!r}), flush=True); time.sleep(60)"
    )
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout.readline().strip() == "0"
        assert gpus.acquire(2, str(tmp_path)) == 1
        gpus.release(1)
    finally:
        other.kill()
        other.wait()
    assert gpus.acquire(2, str(tmp_path)) == 0


def test_devices_the_scheduler_set_are_honoured(tmp_path, monkeypatch, no_visible):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,7")
    assert gpus.visible_ids(2) == ["5", "7"]
    assert gpus.acquire(2, str(tmp_path)) == 0
    assert (tmp_path / "gpu-5.lock").exists()
    # One visible device (a SLURM job given one GPU): it is this job's, no lock needed.
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3")
    assert gpus.acquire(1, str(tmp_path)) == 0
    assert not (tmp_path / "gpu-3.lock").exists()
    with pytest.raises(RuntimeError, match="no CUDA device"):
        gpus.acquire(0, str(tmp_path))


def test_resources_follow_the_side():
    cfg = load("workflow/configs/paper.yaml")
    exp = cfg.experiment("parity")
    ce = exp.strategy("ce")
    on_gpu = R.teacher_runtime(cfg, exp, side="gpu")
    on_cpu = R.teacher_runtime(cfg, exp, side="cpu")
    assert on_cpu > 10 * on_gpu  # ~11 h on one core
    assert R.students_mem_mb(cfg, exp, ce, 100, side="gpu") > R.students_mem_mb(cfg, exp, ce, 100, side="cpu")
    assert placement.side_of(cfg, exp, "teacher", ASSUMED) == "gpu"
    assert placement.side_of(dataclasses.replace(cfg, device="cpu"), exp, "teacher", ASSUMED) == "cpu"


def test_plan_without_gpus_plans_device_auto_on_the_cpu():
    """device auto on a GPU-less machine runs every job on the CPU, so '--gpus 0' plans that instead of
    refusing; device cuda with no GPU is still refused."""
    paper = load("workflow/configs/paper.yaml")
    assert "gpu" in set(sides(paper, ASSUMED).values())  # auto would use a GPU if there were one
    table = placement.plan_table(paper, cores=8, gpus=0, model=ASSUMED)
    rows = [r for r in table.splitlines() if r.startswith("| teacher")]
    assert rows and all(r.split("|")[3].strip() == "0" for r in rows), table  # no job on the GPU
    assert "device cpu" in table
    with pytest.raises(ValueError, match="--gpus is 0"):
        placement.plan_table(dataclasses.replace(paper, device="cuda"), cores=8, gpus=0, model=ASSUMED)
