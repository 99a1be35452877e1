"""progdistill.layout owns every path template, target list and the figure registry: the rules' paths agree
with it, no other module spells a path template, and evaluating the DAG loads no plotting or torch module."""

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, SMOKE, run_snakemake
from progdistill import config as C
from progdistill import layout as L

# The rule that writes each template (outputs and logs), as the dry run prints them.
RULE_TEMPLATES = {
    "teacher": [L.TEACHER_CURVE, L.TEACHER_CHECKPOINTS, L.TEACHER_LOG],
    "select_teacher": [L.SELECTED, L.SELECTED_LOG],
    "probe": [L.PROBE, L.PROBE_LOG],
    "select_checkpoints": [L.SELECTION, L.SELECTION_LOG],
    "teacher_logits": [L.TEACHER_LOGITS, L.TEACHER_LOGITS_LOG],
    "students": [L.STUDENT, L.STUDENT_LOG],
    "aggregate": [L.CURVES, L.PROBES, L.AGGREGATE_LOG],
    "summary": [L.SUMMARY_PARQUET, L.SUMMARY_MD, L.SUMMARY_HTML, L.SUMMARY_LOG],
    "record_config": [L.CONFIG_YAML, L.CONFIG_HTML, L.CONFIG_LOG],
    "figure": [L.FIGURE_PDF, L.FIGURE_PNG, L.FIGURES_LOG],
    "scaling_figure": [L.SCALING_PDF, L.SCALING_PNG, L.SCALING_LOG],
    "survival": [L.SURVIVAL, L.COMPARISONS, L.SURVIVAL_LOG],
    "survival_figure": [L.SURVIVAL_PDF, L.SURVIVAL_PNG, L.SURVIVAL_FIG_LOG],
    "theory_correlation": [L.THEORY_CORRELATION, L.THEORY_CORRELATION_LOG],
    "theory_students": [L.THEORY_STUDENTS, L.THEORY_STUDENTS_LOG],
    "theory_aggregate": [L.THEORY_TABLE, L.THEORY_MD, L.THEORY_LOG],
    "theory_figure": [L.FIGURE_PDF, L.FIGURE_PNG, L.FIGURE_LOG],
}


def _regex(template: str) -> re.Pattern:
    parts = re.split(r"\{(\w+)\}", template)
    out = ""
    for i, part in enumerate(parts):
        out += re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^/]+)"
    return re.compile(out + "$")


def _dry_run_jobs(text: str) -> list[tuple[str, list[str]]]:
    """(rule, output and log paths) of every job a dry run prints."""
    jobs = []
    for block in re.split(r"\n(?=(?:local)?(?:rule|checkpoint) \w+:)", text):
        m = re.match(r"(?:local)?(?:rule|checkpoint) (\w+):", block)
        if not m or m.group(1) == "all":
            continue
        paths = []
        for key in ("output", "log"):
            line = re.search(rf"^\s+{key}: (.*)$", block, re.M)
            if line:
                paths += [p.strip().split(" (")[0] for p in line.group(1).split(", ")]
        jobs.append((m.group(1), paths))
    return jobs


@pytest.mark.slow
def test_every_rule_writes_the_layouts_paths(smoke_run):
    jobs = []
    # --forceall plans every job but the probes (they wait on the select_teacher checkpoint); forcing
    # the probes alone plans them.
    for force in (["--forceall"], ["--forcerun", "probe"]):
        out = run_snakemake(smoke_run, "-n", *force, "--cores", "2", "--configfile", str(SMOKE))
        jobs += _dry_run_jobs(out.stdout + out.stderr)
    assert {rule for rule, _ in jobs} == set(RULE_TEMPLATES)
    for rule, paths in jobs:
        assert paths, rule
        pats = [_regex(t) for t in RULE_TEMPLATES[rule]]
        for p in paths:
            assert any(r.match(p) for r in pats), (rule, p, RULE_TEMPLATES[rule])
    # And every target the layout lists exists after the run.
    cfg = C.validate_config(yaml.safe_load(SMOKE.read_text()))
    for t in L.all_targets(cfg):
        assert (smoke_run / t).exists(), t


def _literals(path: Path):
    """String constants of a Python file other than docstrings (f-string parts included)."""
    tree = ast.parse(path.read_text())
    docs = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docs.add(id(first.value))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node.lineno, node.value


PATHLIKE = re.compile(
    r"(^|/)(teacher|teacher_logits|students|probe|checkpoints|figures|logs|cache|theory)/"
    r"|\.(parquet|safetensors|json|pt|bin)$"
    r"|^results|\{RES\}"
)


def test_no_path_template_outside_the_layout():
    offenders = []
    for path in sorted((ROOT / "workflow").rglob("*.py")):
        # bench.py, jobbench.py: a command-line default for their own reports, not workflow paths.
        if path.name in ("layout.py", "bench.py", "jobbench.py"):
            continue
        offenders += [f"{path}:{n}: {s!r}" for n, s in _literals(path) if PATHLIKE.search(s)]
    for path in [ROOT / "Snakefile", *sorted((ROOT / "workflow/rules").glob("*.smk"))]:
        # Docstrings may name the files a rule writes; code may not spell them.
        text = re.sub(r'"""(.|\n)*?"""', lambda m: "\n" * m.group(0).count("\n"), path.read_text())
        for n, line in enumerate(text.splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            if re.search(r"[\"'][^\"']*(results/|\{RES\}|\.parquet|\.json|\.safetensors)", line):
                offenders.append(f"{path}:{n}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_figure_registry():
    names = list(L.FIGURES)
    assert len(names) == len(set(names))
    assert set(L.figures_of("parity")) | set(L.figures_of("hierarchical")) | set(
        L.figures_of("theory")
    ) == set(names)
    # Every registered figure has a drawing function (the paper's in figures.py, the theory's in theory).
    from progdistill import figures
    from progdistill.theory import figures as theory_figures

    for name, fig in L.FIGURES.items():
        drawings = theory_figures.DRAWINGS if fig.family == "theory" else figures.DRAWINGS
        assert fig.draw in drawings, name
        assert fig.caption.endswith("."), name
    cfg = C.validate_config(yaml.safe_load(SMOKE.read_text()))
    assert L.figure_names(cfg) == names  # the smoke configuration draws every figure
    no_hier = {**cfg, "experiments": {"parity": cfg["experiments"]["parity"]}}
    no_hier.pop("theory")
    assert L.figure_names(no_hier) == L.figures_of("parity")


def test_checkpoint_paths_round_trip():
    exp = C.validate_config(yaml.safe_load(SMOKE.read_text()))["experiments"]["parity"]
    tid = L.teacher_ids(exp)[0]
    assert L.parse_teacher_id(tid) == (exp["teacher"]["lrs"][0], exp["teacher"]["seeds"][0])
    ckpt = L.checkpoint_file(L.TEACHER_CHECKPOINTS.format(exp="parity", tid=tid), 2000)
    assert ckpt == f"results/parity/teacher/{tid}/checkpoints/step2000.safetensors"
    assert L.probe_tables("parity", exp, tid) == [f"results/parity/probe/{tid}.parquet"]


def test_dag_evaluation_imports_no_plotting_or_torch(tmp_path):
    """The Snakefile is evaluated by every job (each cluster job too): matplotlib, seaborn and torch
    cost seconds there and are needed only inside the jobs that draw or train."""
    exe = str(Path(sys.executable).parent / "snakemake")
    cmd = [sys.executable, "-X", "importtime", exe, "-n", "-s", str(ROOT / "Snakefile"), "-d", str(tmp_path)]
    out = subprocess.run([*cmd, "--configfile", str(SMOKE)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    modules = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "import time" in line}
    assert "progdistill.layout" in modules
    heavy = sorted(m for m in modules if m.split(".")[0] in ("matplotlib", "seaborn", "torch"))
    assert not heavy, heavy


@pytest.mark.slow
def test_adding_a_figure_is_one_entry_and_one_function(smoke_run, monkeypatch, tmp_path):
    """The extension guide's example (docs/design.md, "Add a figure"), drawn from the smoke run's tables."""
    import json

    import matplotlib.pyplot as plt
    import seaborn as sns
    from progdistill import figures

    monkeypatch.setitem(
        L.FIGURES,
        "fig9",
        L.Figure("parity", "Final accuracy of every strategy, by width.", "final_accuracy", dict(step=None)),
    )

    def final_accuracy(curves, probe, cfg, exp, selected, step):
        fig, ax = plt.subplots(figsize=(5.5, 4))
        df = figures._students(curves, exp)
        last = df[df.step == (step or df.step.max())]
        sns.barplot(last, x="strategy", y="accuracy", hue="width", errorbar="se", ax=ax)
        return fig

    monkeypatch.setitem(figures.DRAWINGS, "final_accuracy", final_accuracy)
    cfg = C.validate_config(yaml.safe_load(SMOKE.read_text()))
    assert "fig9" in L.figure_names(cfg)
    assert L.FIGURE_PDF.format(fig="fig9") in L.all_targets(cfg)
    res = smoke_run / "results"
    selected = json.loads((res / "parity/teacher/selected.json").read_text())
    selection = json.loads((res / "parity/teacher/transition.json").read_text())
    pdf, png = tmp_path / "fig9.pdf", tmp_path / "fig9.png"
    figures.make_figure(
        "fig9", res / "curves.parquet", res / "probe.parquet", cfg, selected, str(pdf), str(png), selection
    )
    assert pdf.read_bytes()[:5] == b"%PDF-" and png.stat().st_size > 1000
