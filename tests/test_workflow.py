"""The whole DAG on the smoke configuration, the paper configuration's dry run, and lint."""

import json
import re
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
# The experiments the smoke preset's toy nscaling section generates (d = 3, n = 10 and 14).
NSCALE = ("nscale_d3_n10", "nscale_d3_n14")
PAPER = ROOT / "workflow/configs/paper.yaml"
PARITY_FIGS = ["fig1a", "fig1b", "fig2a", "fig2b", "fig2c", "fig2d", "fig3a", "fig4", "fig6"]
PARITY_FIGS += ["curricula_parity", "pace_parity"]
HIER_FIGS = ["fig3b", "fig5", "fig7a", "fig7b", "fig7c", "fig7d", "fig7e", "fig8"]
HIER_FIGS += ["curricula_hierarchical", "pace_hierarchical"]
FIGS = PARITY_FIGS + HIER_FIGS
TASK_FIGS = ["fig9", "task_parity"]  # drawn from the task alone (rule task_figure)


def snakemake(*args, cwd, check=True):
    return run_snakemake(cwd, *args, check=check)


@pytest.mark.slow
def test_every_figure_file_exists(smoke_run):
    """The files only: what each figure draws is checked in tests/test_figures.py."""
    import yaml
    from progdistill import config as C
    from progdistill import layout as L

    study = C.load_study(yaml.safe_load(SMOKE.read_text()))
    files = [t for t in L.all_targets(study) if t.startswith(L.FIGURE_PDF.split("{")[0])]
    registered = [t.format(fig=f) for f in L.FIGURES for t in (L.FIGURE_PDF, L.FIGURE_PNG)]
    assert set(registered) <= set(files)  # the smoke configuration draws every registered figure
    for exp in ("parity", "hierarchical"):
        assert {L.SURVIVAL_PDF.format(exp=exp), L.SURVIVAL_PNG.format(exp=exp)} <= set(files)
    assert {L.SCALING_PDF.format(exp="parity"), L.SCALING_PNG.format(exp="parity")} <= set(files)
    for rel in files:
        magic = b"%PDF-" if rel.endswith(".pdf") else b"\x89PNG\r\n\x1a\n"
        assert (smoke_run / rel).read_bytes().startswith(magic), rel
    # No CE width sweep is configured for the hierarchical experiment: no scaling figure.
    assert not (smoke_run / L.SCALING_PNG.format(exp="hierarchical")).exists()


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
    assert set(df.experiment) == {"parity", "hierarchical", *NSCALE}
    df = df[df.experiment == "parity"]
    students = df[df.role == "student"]
    assert set(students.strategy) == {
        "ce",
        "oneshot_final",
        "progressive",
        "2shot_2k",
        "2shot_2k_lowT",
        "2shot_transition",
        "paced",
        "extraction",
    }
    # CE also runs at the scaling sweep's widths.
    assert set(students.width) == {4, 8, 16, 32} and set(students.seed) == {0, 1}
    assert set(students[students.strategy != "ce"].width) == {8, 16}
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
    pdf = smoke_run / "results/figures/fig2b.pdf"
    kept = pdf.read_bytes()
    pdf.unlink()
    # The target goes before --configfile, which takes every following word as a config file.
    target = "results/figures/fig2b.pdf"
    try:
        out = snakemake(target, "-n", "--cores", "2", "--configfile", str(SMOKE), cwd=smoke_run)
    finally:
        pdf.write_bytes(kept)  # the session's smoke run stays whole for the tests after this one
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


@pytest.mark.parametrize("preset", ["paper.yaml", "authors.yaml"])  # the authors' protocol: the same DAG
def test_paper_configuration_dry_run(tmp_path, preset):
    cfg = ROOT / "workflow/configs" / preset
    out = snakemake("-n", "--cores", "8", "--resources", "gpu=1", "--configfile", str(cfg), cwd=tmp_path)
    counts = _job_counts(out.stdout + out.stderr)
    assert counts["teacher"] == 3 + 3  # the LR grid, one seed, for each experiment
    # Probe jobs (41 checkpoints of the selected teacher) appear once select_teacher, a checkpoint, has run.
    assert "probe" not in counts
    # parity: 10 strategies x 2 widths; hierarchical: 6 listed + 15 pairs x 2 temperatures, x 2 widths
    assert counts["students"] == 10 * 2 + (6 + 30) * 2
    # The paper's grids have no paced or extraction strategy: their figures are not drawn.
    paper_figs = [f for f in FIGS if not f.startswith(("curricula_", "pace_"))]
    assert counts["figure"] == len(paper_figs) and counts["task_figure"] == len(TASK_FIGS)
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
        "diverged",
        "median_steps_to_90",
        "median_steps_to_95",
        "median_steps_to_95_ci_low",
        "median_steps_to_95_ci_high",
        "median_steps_to_99",
        "reached_95",
        "p_vs_ce_95",
        "p_vs_ce_95_holm",
        "speedup_vs_ce_95",
        "teacher_checkpoints",
        "teacher_mb",
    ]:
        assert col in s.columns, col
    # Holm never lowers a p-value; the teacher data each strategy needs (smoke: a checkpoint every 1000).
    tested = s.dropna(subset=["p_vs_ce_95"])
    assert (tested.p_vs_ce_95_holm >= tested.p_vs_ce_95 - 1e-12).all()
    need = s[s.experiment == "parity"].drop_duplicates("strategy").set_index("strategy").teacher_checkpoints
    assert need.to_dict() == {
        "ce": 0,
        "oneshot_final": 1,
        "progressive": 6,  # 0, 1000, .., 5000 (its last interval starts there)
        "2shot_2k": 2,
        "2shot_2k_lowT": 2,
        "2shot_transition": 2,
        "paced": 7,  # 0, 1000, .., 6000
        "extraction": 1,
    }
    assert set(s.experiment) == {"parity", "hierarchical", *NSCALE}
    seeds = s.experiment.map(lambda e: 3 if e in NSCALE else 2)
    assert (s.seeds == seeds).all() and (s.reached_95 >= 0).all() and (s.reached_95 <= seeds).all()
    md = (smoke_run / "results/summary.md").read_text()
    assert "## parity, student width 16" in md and "| progressive |" in md and "log-rank" in md


@pytest.mark.slow
def test_survival_and_comparison_tables(smoke_run):
    res = smoke_run / "results"
    surv = pd.read_parquet(res / "survival.parquet")
    cols = "experiment width strategy threshold median_steps ci_low ci_high runs reached".split()
    assert set(cols) <= set(surv.columns)
    # 2 seeds per cell; the toy nscaling section's experiments 3.
    assert set(surv.threshold) == {0.9, 0.95, 0.99}
    assert (surv.runs == surv.experiment.map(lambda e: 3 if e in NSCALE else 2)).all()
    got = surv.dropna(subset=["median_steps", "ci_low"])
    # Some rows, not a number: which cells reach a threshold is the training outcome, which may round
    # differently on another CPU model (README: determinism is per machine).
    assert len(got) and (got.ci_low <= got.median_steps).all()
    comp = pd.read_parquet(res / "comparisons.parquet")
    cols = "experiment width threshold strategy baseline test statistic p_value".split()
    assert set(cols) <= set(comp.columns)
    assert comp.p_value.between(0, 1).all() and set(comp.test) == {"log-rank"}
    assert (comp.p_holm >= comp.p_value - 1e-12).all() and comp.p_holm.between(0, 1).all()
    assert {"progressive vs ce", "progressive vs oneshot", "transition 2-shot vs other 2-shot"} <= set(
        comp.claim
    )
    assert {"paced vs progressive", "paced vs ce", "extraction vs one-shot", "extraction vs ce"} <= set(
        comp.claim
    )
    probe = pd.read_parquet(res / "probe.parquet")
    probe = probe[~probe.experiment.isin(NSCALE)]  # n = 14 there: a sampled probe
    # n = 12 in the smoke configuration: 2^12 inputs = the probe's samples, so the probe is exact.
    assert "stderr" in probe.columns and (probe.stderr == 0).all()


@pytest.mark.slow
def test_automatic_checkpoint_selection(smoke_run):
    import json

    for exp, names in [("parity", {"before", "transition", "after"}), ("hierarchical", {"level0", "level1"})]:
        sel = json.loads((smoke_run / f"results/{exp}/teacher/transition.json").read_text())
        assert sel["window"]["learned"]
        assert names <= set(sel["checkpoints"]) and set(sel["checkpoints"]) <= set(sel["reasons"])
        ckpt_dir = smoke_run / f"results/{exp}/teacher/{sel['teacher']}/checkpoints"
        for step in sel["checkpoints"].values():
            assert (ckpt_dir / f"step{step}.safetensors").exists(), step
    df = pd.read_parquet(smoke_run / "results/curves.parquet")
    sel = json.loads((smoke_run / "results/parity/teacher/transition.json").read_text())
    two = df[(df.experiment == "parity") & (df.strategy == "2shot_transition")]
    assert set(two[(two.step > 0) & (two.step <= 1000)].teacher_checkpoint) == {
        sel["checkpoints"]["transition"]
    }
    assert set(two[two.step > 1000].teacher_checkpoint) == {6000}
    sel = json.loads((smoke_run / "results/hierarchical/teacher/transition.json").read_text())
    three = df[(df.experiment == "hierarchical") & (df.strategy == "3shot_levels")]
    assert set(three[(three.step > 0) & (three.step <= 1000)].teacher_checkpoint) == {
        sel["checkpoints"]["level0"]
    }
    assert set(three[(three.step > 1000) & (three.step <= 2000)].teacher_checkpoint) == {
        sel["checkpoints"]["level1"]
    }


@pytest.mark.slow
def test_report_is_self_contained_and_renders_offline(smoke_run):
    import re

    args = ["--report", "report.html", "--configfile", str(SMOKE)]
    # No network namespace where the machine allows one: the report must not need the network.
    offline = shutil.which("unshare") and subprocess.run(["unshare", "-rn", "true"]).returncode == 0
    if offline:
        cmd = [
            "unshare",
            "-rn",
            str(BIN / "snakemake"),
            "-s",
            str(ROOT / "Snakefile"),
            "-d",
            str(smoke_run),
            *args,
        ]
        out = subprocess.run(cmd, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr[-3000:]
    else:
        snakemake(*args, cwd=smoke_run)
    html = (smoke_run / "report.html").read_text()
    assert not re.search(r"<(script|img|link|iframe)[^>]+(src|href)=[\"']?https?://", html)
    for fig in [*FIGS, *TASK_FIGS, "scaling_parity"]:
        assert f"{fig}.png" in html, fig
    assert "summary.html" in html and "transition.json" in html
    assert "config.html" in html  # the configuration


@pytest.mark.slow
def test_theory_outputs(smoke_run):
    """The appendix-B check (smoke.yaml's theory section): one table and its markdown (its two figures:
    tests/test_figures.py)."""
    df = pd.read_parquet(smoke_run / "results/theory/theory.parquet")
    assert {"correlation", "teacher", "student", "student_run", "fit"} <= set(df.part)
    corr = df[df.part == "correlation"]
    assert set(zip(corr.d, corr.n, strict=True)) == {(2, 8), (2, 12)} and set(corr.seed) == {0, 1}
    assert corr[corr.quantity == "corr_in_aligned"].paper.eq(1 / 16).all()
    st = df[df.part == "student"]
    assert set(st.strategy) == {"progressive", "oneshot"} and set(st.n) == {8, 12}
    assert set(st.quantity) == {"samples", "stage2_steps", "support_batch"}
    assert (smoke_run / "results/theory/theory.md").read_text().startswith("# Theory check (appendix B)")


@pytest.mark.slow
def test_nscaling_outputs(smoke_run):
    """The toy nscaling section (two n): its experiments run through the ordinary rules, then the fits, the
    medians, the tests and the log-log figure."""
    import matplotlib.image as mpimg

    res = smoke_run / "results"
    sl = pd.read_parquet(res / "nscaling/slopes.parquet")
    main = sl[(sl.fit == "all n") & (sl.lrs == "best")]
    assert set(main.strategy) == {"ce", "oneshot_final", "progressive", "2shot_transition"}
    assert (
        set(main.model) == {"lognormal", "weibull"} and (main.n_min == 10).all() and (main.n_max == 14).all()
    )
    assert (main.runs == 6).all() and main.slope.notna().all()  # 3 seeds x 2 n, every fit determined
    teacher = sl[(sl.strategy == "teacher") & (sl.fit == "all n")]
    assert (teacher.runs == 4).all() and (teacher.width == 64).all()
    med = pd.read_parquet(res / "nscaling/medians.parquet")
    assert set(med.n) == {10, 14} and med.transition.notna().all() and (med.teacher != "").all()
    tests = pd.read_parquet(res / "nscaling/tests.parquet")
    assert {"separate vs common slope", "curvature (log n)^2"} == set(tests.test)
    assert (res / "nscaling/nscaling.md").read_text().startswith("# How steps to 95% grow with n")
    img = mpimg.imread(res / "figures/nscaling.png")
    assert img.ndim == 3 and img.shape[1] > 600
    assert (res / "figures/nscaling.pdf").read_bytes()[:5] == b"%PDF-"
    curves = pd.read_parquet(res / "curves.parquet")
    assert {"nscale_d3_n10", "nscale_d3_n14"} <= set(curves.experiment)
    # The rule's tables are the package's on the run's own curves (its inputs reach it as they should).
    import yaml
    from progdistill import config as C
    from progdistill import nscaling as NS

    study = C.load_study(yaml.safe_load(SMOKE.read_text()))
    pd.testing.assert_frame_equal(NS.slopes(NS.run_times(curves, study), study), sl)
    # The record reruns as it is: no experiment generated twice, nothing to do.
    out = snakemake("-n", "--cores", "1", "--configfile", str(res / "config.yaml"), cwd=smoke_run)
    assert "Nothing to be done" in out.stdout + out.stderr


def _plan_after_edit(smoke_run, tmp_path, edit):
    """Job counts of a dry run on the finished smoke run after editing its configuration."""
    import copy

    import yaml

    cfg = copy.deepcopy(yaml.safe_load(SMOKE.read_text()))
    edit(cfg)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = snakemake("-n", "--cores", "2", "--configfile", str(path), cwd=smoke_run)
    return _job_counts(out.stdout + out.stderr), out.stdout + out.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    "change,new_students,new_logits",
    [
        ("width", 8, 0),  # the parity experiment's 8 strategies at a new width; its logits serve it
        # A strategy naming a selected checkpoint, at both widths; the teacher-logit files stay as they are
        # (its students compute the blocks the files lack), so no existing student reruns.
        ("strategy", 2, 0),
        # A seed: every parity cell's job trains all LR x seed runs together, so each reruns (8 strategies
        # x 2 widths + CE at the 2 scaling widths); nothing of the hierarchical experiment does. The new
        # seed's stream gets its logits file; the other seeds' files stay.
        ("seed", 18, 1),
    ],
)
def test_a_new_student_reruns_only_what_it_affects(smoke_run, tmp_path, change, new_students, new_logits):
    """Probe outputs are kept and students depend on the selected teacher only, so adding a student
    plans its jobs, the aggregation and what reads it, and nothing upstream (no probe, no selection, no
    existing student: a named-checkpoint strategy must not see transition.json as updated)."""

    def edit(cfg):
        exp = cfg["experiments"]["parity"]
        if change == "width":
            exp["students"]["widths"].append(12)
        elif change == "seed":
            exp["students"]["seeds"].append(2)
        else:
            exp["strategies"].append(
                {"name": "2shot_before", "kind": "pshot", "checkpoints": ["before"], "steps": 1000}
            )

    counts, text = _plan_after_edit(smoke_run, tmp_path, edit)
    expected = {
        "students": new_students,
        **({"teacher_logits": new_logits} if new_logits else {}),
        "aggregate": 1,
        "summary": 1,
        "record_config": 1,
        "figure": len(FIGS),
        "scaling_figure": 1,
        "survival": 1,
        "survival_figure": 4,  # one per experiment (the nscaling section's two included): all read curves
        "nscaling_table": 1,  # reads curves.parquet too
        "nscaling_figure": 1,
        "all": 1,
    }
    counts.pop("total", None)
    assert counts == expected, text[-3000:]


@pytest.mark.slow
def test_stage_and_inline_teacher_logits_give_identical_students(smoke_run, tmp_path):
    """The students of the smoke run, trained again computing every teacher logit in the job
    (teacher_logits: inline, today's path without the stage): byte-identical tables."""
    wd = tmp_path / "run"
    shutil.copytree(smoke_run, wd, symlinks=True)
    out = snakemake(
        "--cores",
        "2",
        "--configfile",
        str(SMOKE),
        "--config",
        "teacher_logits=inline",
        "--until",
        "aggregate",
        cwd=wd,
    )
    text = out.stdout + out.stderr
    counts = _job_counts(text)
    # Every distilling student job reruns, 7 strategies x 2 widths in each experiment and 3 in each nscaling
    # one (width 16); CE's jobs read no teacher logits, so the setting does not concern them. Compared: all
    # 42 student tables (parity 8 strategies x 2 widths and CE at the 2 sweep widths; hierarchical 6 listed
    # + the p-shot grid's 2, x 2; nscaling 4 strategies x 2 n).
    assert counts.get("students") == 14 + 14 + 6 and "teacher_logits" not in counts, text[-3000:]
    students = sorted(p.relative_to(smoke_run) for p in smoke_run.glob("results/*/students/*/*.parquet"))
    assert len(students) == 18 + 16 + 8
    for rel in [*students, Path("results/curves.parquet")]:
        assert (wd / rel).read_bytes() == (smoke_run / rel).read_bytes(), rel
    logs = "".join(p.read_text() for p in (wd / "results/logs").glob("*/students/*/*.log"))
    assert "'computed'" in logs and "'read'" not in logs  # this time the jobs computed them


@pytest.mark.slow
def test_an_unselected_teacher_reruns_no_student(smoke_run, tmp_path):
    """A teacher added to the grid that is not selected: it trains, select_teacher reruns (and rewrites
    selected.json), the tables and figures are redone; no probe, selection or student job reruns."""
    import yaml

    wd = tmp_path / "run"
    shutil.copytree(smoke_run, wd, symlinks=True)  # keeps modification times
    cfg = yaml.safe_load(SMOKE.read_text())
    # Far too small a learning rate to learn the parity in 6000 steps: never the best teacher.
    cfg["experiments"]["parity"]["teacher"]["lrs"].append(0.0001)
    path = tmp_path / "edited.yaml"
    path.write_text(yaml.safe_dump(cfg))
    out = snakemake("--cores", "2", "--configfile", str(path), cwd=wd)
    text = out.stdout + out.stderr
    ran = set(re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):", text, re.M))
    assert {"teacher", "select_teacher", "aggregate"} <= ran, text[-3000:]
    assert not ran & {"probe", "select_checkpoints", "students"}, (ran, text[-3000:])
    assert json.loads((wd / "results/parity/teacher/selected.json").read_text())["lr"] == 0.05


@pytest.mark.slow
def test_paced_runs_switches_and_extraction_rows(smoke_run):
    """switches.parquet holds every move of the smoke run's paced runs, and their curves follow it; an
    extraction run's rows name the final teacher throughout (its hidden layer, then its outputs)."""
    res = smoke_run / "results"
    sw = pd.read_parquet(res / "switches.parquet")
    assert list(sw.columns) == [
        "experiment",
        "strategy",
        "width",
        "lr",
        "seed",
        "step",
        "from_checkpoint",
        "to_checkpoint",
        "gap",
        "reason",
    ]
    assert set(sw.strategy) == {"paced", "paced_lowT"} and set(sw.reason) <= {"caught up", "cap"}
    curves = pd.read_parquet(res / "curves.parquet")
    for (exp, strategy, width, lr, seed), g in curves[curves.strategy.str.startswith("paced")].groupby(
        ["experiment", "strategy", "width", "lr", "seed"]
    ):
        moves = sw[(sw.experiment == exp) & (sw.strategy == strategy) & (sw.width == width)]
        moves = moves[(moves.lr == lr) & (moves.seed == seed)].sort_values("step")
        g = g.sort_values("step")
        # The checkpoint each evaluation row names changes exactly after the steps the run moved at.
        changed = g.step[g.teacher_checkpoint.ne(g.teacher_checkpoint.shift())].iloc[1:] - 500
        assert list(changed) == list(moves.step)
        assert list(moves.to_checkpoint) == sorted(moves.to_checkpoint)  # only ever forward
        assert (moves.to_checkpoint > moves.from_checkpoint).all()
    ext = curves[curves.strategy.str.startswith("extraction")]
    assert not ext.empty and set(ext.teacher_checkpoint) == {6000}
