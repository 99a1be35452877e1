"""The whole DAG on the smoke configuration, the paper configuration's dry run, and lint."""

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_snakemake

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SMOKE = ROOT / "workflow/configs/smoke.yaml"
PAPER = ROOT / "workflow/configs/paper.yaml"
PARITY_FIGS = ["fig1a", "fig1b", "fig2a", "fig2b", "fig2c", "fig2d", "fig3a", "fig4", "fig6"]
HIER_FIGS = ["fig3b", "fig5", "fig7a", "fig7b", "fig7c", "fig7d", "fig7e", "fig8"]
FIGS = PARITY_FIGS + HIER_FIGS


def snakemake(*args, cwd, check=True):
    return run_snakemake(cwd, *args, check=check)


@pytest.mark.slow
def test_every_figure_exists_and_is_a_valid_image(smoke_run):
    import matplotlib.image as mpimg

    for fig in FIGS:
        png = smoke_run / "results/figures" / f"{fig}.png"
        pdf = smoke_run / "results/figures" / f"{fig}.pdf"
        img = mpimg.imread(png)
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100
        assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000


@pytest.mark.slow
def test_curves_schema(smoke_run):
    df = pd.read_parquet(smoke_run / "results/curves.parquet")
    expected = {
        "experiment": "object",
        "role": "object",
        "strategy": "object",
        "width": "int64",
        "lr": "float64",
        "seed": "int64",
        "temperature": "float64",
        "alpha": "float64",
        "step": "int64",
        "accuracy": "float64",
        "loss": "float64",
        "teacher_checkpoint": "int64",
        "diverged": "bool",
    }
    for col, kind in expected.items():
        assert col in df.columns, col
        got = "object" if pd.api.types.is_string_dtype(df[col]) else str(df[col].dtype)
        assert got == kind, (col, got)
    assert set(df.role) == {"teacher", "student"}
    assert set(df.experiment) == {"parity", "hierarchical"}
    df = df[df.experiment == "parity"]
    students = df[df.role == "student"]
    assert set(students.strategy) == {"ce", "oneshot_final", "progressive", "2shot_2k", "2shot_2k_lowT"}
    assert set(students.width) == {8, 16} and set(students.seed) == {0, 1}
    assert (students[students.strategy == "ce"].teacher_checkpoint == -1).all()
    assert (students[students.strategy == "oneshot_final"].teacher_checkpoint == 6000).all()
    two = students[students.strategy == "2shot_2k"]
    assert set(two[two.step <= 1000].teacher_checkpoint) == {2000}
    assert set(two[two.step > 1000].teacher_checkpoint) == {6000}
    prog = students[(students.strategy == "progressive") & (students.step == 2500)]
    assert set(prog.teacher_checkpoint) == {2000}
    assert df.accuracy.between(0, 1).all()


@pytest.mark.slow
def test_probe_schema(smoke_run):
    df = pd.read_parquet(smoke_run / "results/probe.parquet")
    for col in [
        "experiment",
        "checkpoint",
        "teacher_accuracy",
        "degree",
        "monomial",
        "in_support",
        "output",
        "correlation",
    ]:
        assert col in df.columns
    assert df.in_support.dtype == bool and df.checkpoint.dtype == "int64"
    hier = df[df.experiment == "hierarchical"]
    df = df[df.experiment == "parity"]
    assert set(df.checkpoint) == set(range(0, 6001, 1000))
    assert set(df.output) == {"p1", "margin"}
    one = df[(df.checkpoint == 6000) & (df.output == "p1")]
    # The final teacher has learned the parity: its output correlates with the full support monomial.
    full = one[(one.degree == 3) & one.in_support]
    assert len(full) == 1 and abs(full.correlation.iloc[0]) > 0.3
    assert df.monomial.str.match(r"^\d+(_\d+)*$").all()
    assert set(hier.output) == {"p0", "p1", "p2", "p3"}
    ins = hier[hier.in_support]
    assert set(zip(ins.node, ins.level, strict=True)) == {(0, 0), (1, 1), (2, 1)}
    assert set(hier[~hier.in_support].node) == {-1}


@pytest.mark.slow
def test_hierarchical_experiment_runs_its_three_shot_grid(smoke_run):
    df = pd.read_parquet(smoke_run / "results/curves.parquet")
    hier = df[(df.experiment == "hierarchical") & (df.role == "student")]
    assert {"3shot_2k_4k", "3shot_2k_4k_lowT", "progressive", "ce"} <= set(hier.strategy)
    three = hier[hier.strategy == "3shot_2k_4k"]
    assert set(three[three.step <= 1000].teacher_checkpoint) == {2000}
    assert set(three[(three.step > 1000) & (three.step <= 2000)].teacher_checkpoint) == {4000}
    assert set(three[three.step > 2000].teacher_checkpoint) == {6000}


@pytest.mark.slow
def test_rerun_does_nothing(smoke_run):
    out = snakemake("-n", "--cores", "2", "--configfile", str(SMOKE), cwd=smoke_run)
    assert "Nothing to be done" in out.stdout + out.stderr


@pytest.mark.slow
def test_single_figure_target_reruns_only_that_figure(smoke_run):
    (smoke_run / "results/figures/fig2b.pdf").unlink()
    # The target goes before --configfile, which takes every following word as a config file.
    target = "results/figures/fig2b.pdf"
    out = snakemake(target, "-n", "--cores", "2", "--configfile", str(SMOKE), cwd=smoke_run)
    text = out.stdout + out.stderr
    assert "figure" in text and "students" not in text and "teacher " not in text


def _job_counts(text):
    counts, started = {}, False
    for line in text.splitlines():
        if line.startswith("job ") and "count" in line:
            started = True
            continue
        if started:
            parts = line.split()
            if len(parts) == 2 and parts[1].isdigit():
                counts[parts[0]] = int(parts[1])
            elif counts and not line.startswith("-"):
                break
    return counts


def test_paper_configuration_dry_run(tmp_path):
    out = snakemake("-n", "--cores", "8", "--resources", "gpu=1", "--configfile", str(PAPER), cwd=tmp_path)
    counts = _job_counts(out.stdout + out.stderr)
    assert counts["teacher"] == 3 + 3  # the LR grid, one seed, for each experiment
    # Probe jobs (41 checkpoints of the selected teacher) appear once select_teacher, a checkpoint, has run.
    assert "probe" not in counts
    # parity: 10 strategies x 2 widths; hierarchical: 6 listed + 15 pairs x 2 temperatures, x 2 widths
    assert counts["students"] == 10 * 2 + (6 + 30) * 2
    assert counts["figure"] == len(FIGS)
    assert counts["aggregate"] == 1 and counts["select_teacher"] == 2


def test_training_rules_declare_a_gpu(tmp_path):
    out = snakemake("-n", "-p", "--cores", "8", "--configfile", str(PAPER), cwd=tmp_path)
    text = out.stdout + out.stderr
    blocks = text.split("\n\n")
    for rule in ("rule teacher:", "rule students:"):
        block = next(b for b in blocks if rule in b)
        assert "gpu=1" in block, block
    for rule in ("checkpoint select_teacher:", "rule figure:", "rule aggregate:"):
        block = next(b for b in blocks if rule in b)
        assert "gpu=" not in block, block


def test_lint_is_clean():
    for cmd in (
        ["snakefmt", "--check", "Snakefile", "workflow/rules"],
        ["ruff", "check", "."],
        ["snakemake", "--lint", "--cores", "1"],
    ):
        exe = shutil.which(cmd[0], path=str(BIN)) or cmd[0]
        out = subprocess.run([exe, *cmd[1:]], capture_output=True, text=True, cwd=ROOT)
        assert out.returncode == 0, (cmd, out.stdout[-2000:], out.stderr[-2000:])
        if cmd[0] == "snakemake":
            assert "good condition" in out.stdout + out.stderr, out.stdout + out.stderr


@pytest.mark.slow
def test_summary_table(smoke_run):
    s = pd.read_parquet(smoke_run / "results/summary.parquet")
    for col in [
        "experiment",
        "width",
        "strategy",
        "lr",
        "seeds",
        "final_accuracy",
        "steps_to_90",
        "steps_to_95",
        "steps_to_99",
        "reached_95",
        "speedup_vs_ce_95",
    ]:
        assert col in s.columns, col
    assert set(s.experiment) == {"parity", "hierarchical"}
    assert (s.seeds == 2).all() and s.reached_95.between(0, 2).all()
    md = (smoke_run / "results/summary.md").read_text()
    assert "## parity, student width 16" in md and "| progressive |" in md
