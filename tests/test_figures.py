"""What every figure draws, checked against the data: each registered figure (layout.FIGURES), the scaling
figure and the survival figures, drawn from the smoke run's tables as their rules draw them, and their
lines, legends, markers and titles compared with values this module computes itself from the tables
(best learning rate, steps to a threshold, Kaplan-Meier, probe means: each written here from scratch).

The smoke run trains one student LR, which would make every best-LR choice trivial; the tables are
therefore drawn with extra learning rates added to each cell (``_augment``): one that reaches 95% first
but is poor on average, or one that is good on average but where only one seed reaches 95%, late; and one
that is fastest on one seed but diverged on the other. A second teacher LR reaches 95% first but is not the
teacher select_teacher chose (lower mean accuracy)."""

from __future__ import annotations

import json

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402
from conftest import SMOKE  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from progdistill import config as C  # noqa: E402
from progdistill import figures, survival  # noqa: E402
from progdistill import layout as L  # noqa: E402
from progdistill.theory import figures as theory_figures  # noqa: E402

pytestmark = pytest.mark.slow

KEYS = ["experiment", "role", "strategy", "width"]
TARGET = 0.95  # the best-LR rule's accuracy (README: fewest steps to 95%)
EMPTY = ("no runs configured", "no cells configured", "no students configured")


# ------------------------------------------------------------------------------------ the inputs


def _augment(curves: pd.DataFrame) -> pd.DataFrame:
    """The smoke run's curves plus extra learning rates per cell (see the module docstring)."""
    extra = []
    students = curves[curves.role == "student"]
    for i, (_, cell) in enumerate(students.groupby(["experiment", "strategy", "width"], sort=True)):
        base = cell[cell.lr == cell.lr.min()]
        first = np.sort(base.step.unique())[1]  # the first evaluation after step 0
        steps = np.sort(base.step.unique())
        mid, budget = steps[len(steps) // 2], steps[-1]
        hit = [g.step[g.accuracy >= 0.95].min() for _, g in base.groupby("seed")]
        slow = np.mean([budget if h != h else h for h in hit]) > (mid + budget) / 2
        # Where the trained LR is slow the 94.5% LR below wins; elsewhere it loses to the trained LR or
        # the cell gets the LR that is fastest to 95% (every kind of choice happens somewhere).
        if not slow and i % 2:  # at 96% at the first evaluation only: fewest steps, lowest mean accuracy
            extra.append(base.assign(lr=0.2, accuracy=np.where(base.step == first, 0.96, 0.5)))
        else:  # 94.5% from the first evaluation on, a high mean accuracy; only the first seed gets to
            # 96%, at the middle step (a censored seed where this LR is the best)
            mid = np.sort(base.step.unique())[len(base.step.unique()) // 2]
            late = (base.seed == base.seed.min()) & (base.step >= mid)
            acc = np.select([base.step == 0, late], [0.5, 0.96], 0.945)
            extra.append(base.assign(lr=0.01, accuracy=acc))
        # At 100% from the first evaluation, but every seed after the first diverges there.
        div = (base.seed != base.seed.min()) & (base.step >= first)
        acc = pd.Series(np.where(base.step > 0, 1.0, 0.5), index=base.index).where(~div)
        extra.append(base.assign(lr=0.5, accuracy=acc, diverged=div))
    for _, t in curves[curves.role == "teacher"].groupby("experiment"):
        first = np.sort(t.step.unique())[1]
        acc = np.select([t.step == first, t.step > first], [0.96, 0.6], 0.5)
        extra.append(t.assign(lr=0.3, accuracy=acc))  # first at 95%, but a lower mean accuracy
    return pd.concat([curves, *extra], ignore_index=True)


@pytest.fixture(scope="module")
def run(smoke_run, tmp_path_factory):
    res = smoke_run / "results"
    curves = _augment(pd.read_parquet(res / "curves.parquet"))
    path = tmp_path_factory.mktemp("figures") / "curves.parquet"
    curves.to_parquet(path)
    study = C.load_study(yaml.safe_load(SMOKE.read_text()))
    teachers = {e: json.loads((res / f"{e}/teacher/selected.json").read_text()) for e in study.experiments}
    selections = {
        e: json.loads((res / f"{e}/teacher/transition.json").read_text()) for e in study.experiments
    }
    for exp, t in teachers.items():  # the added teacher LR would not have been chosen (lower mean accuracy)
        mine = curves[(curves.experiment == exp) & (curves.role == "teacher")]
        assert mine.groupby("lr").accuracy.mean().idxmax() == t["lr"]
    return dict(
        res=res,
        curves=curves,
        curves_path=str(path),
        probe=pd.read_parquet(res / "probe.parquet"),
        study=study,
        teachers=teachers,
        selections=selections,
        best=ref_best_lr(curves),
    )


@pytest.fixture
def capture(monkeypatch):
    """Figures as the drawing code hands them to save_figure (kept open for inspection, not written)."""
    drawn = []

    def keep(fig, pdf, png):
        drawn.append(fig)

    monkeypatch.setattr(figures, "save_figure", keep)
    monkeypatch.setattr(theory_figures, "save_figure", keep)
    yield drawn
    plt.close("all")


def _draw(run, capture, name):
    """A registered figure drawn as the figure rule draws it (figures.make_figure)."""
    exp = run["study"].figures[L.FIGURES[name].family]
    figures.make_figure(
        name,
        run["curves_path"],
        str(run["res"] / "probe.parquet"),
        run["study"],
        run["teachers"][exp],
        "unused.pdf",
        "unused.png",
        selection=run["selections"][exp],
        switches_path=str(run["res"] / "switches.parquet"),
    )
    (fig,) = capture
    return fig, run["study"].experiment(exp)


def _figures_drawn_by(*draws):
    return [n for n, f in L.FIGURES.items() if f.draw in draws]


# ------------------------------------------------------------------------- references, from scratch


def ref_best_lr(curves: pd.DataFrame) -> dict:
    """Per (experiment, role, strategy, width): the LR whose seeds reach TARGET in the fewest steps on
    average, a seed that never does or diverged counted at its last step; an LR with a diverged seed only
    when every LR has one; ties to the highest mean accuracy, the highest final accuracy, the smaller LR."""
    chosen = {}
    for key, cell in curves.groupby(KEYS):
        scores = []
        for lr, runs in cell.groupby("lr"):
            steps, finals = [], []
            for _, r in runs.groupby("seed"):
                r = r.sort_values("step")
                hits = r.step[r.accuracy.to_numpy() >= TARGET]
                clean = not r.diverged.any()
                steps.append(hits.iloc[0] if len(hits) and clean else r.step.iloc[-1])
                finals.append(r.accuracy.dropna().iloc[-1])
            score = (bool(runs.diverged.any()), np.mean(steps), -runs.accuracy.mean(), -np.mean(finals), lr)
            scores.append(score)
        chosen[key] = min(scores)[-1]
    return chosen


def best_runs(run, exp, strategy, width, role="student") -> pd.DataFrame:
    c = run["curves"]
    lr = run["best"].get((exp, role, strategy, width))  # None: a cell that was not trained
    sel = (c.experiment == exp) & (c.role == role) & (c.strategy == strategy) & (c.width == width)
    return c[sel & (c.lr == lr)]


def mean_curve(runs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Mean held-out accuracy over seeds at each evaluated step."""
    steps = np.sort(runs.step.unique())
    return steps, np.array([runs.accuracy[runs.step == s].mean() for s in steps])


def first_at(r: pd.DataFrame, level: float) -> tuple[int, bool]:
    """One run's time to ``level``: (first step at or above it, True), else (its last step, False); a
    diverged run never gets there."""
    r = r.sort_values("step")
    hits = r.step[r.accuracy.to_numpy() >= level]
    if len(hits) and not r.diverged.any():
        return int(hits.iloc[0]), True
    return int(r.step.iloc[-1]), False


def kaplan_meier_reached(times, reached) -> tuple[np.ndarray, np.ndarray]:
    """At each distinct time: the fraction of runs at the threshold, 1 - the Kaplan-Meier estimate
    (product over event times of 1 - events / runs still at risk)."""
    times, reached = np.asarray(times), np.asarray(reached, dtype=bool)
    out, s = [], 1.0
    uniq = np.unique(times)
    for t in uniq:
        s *= 1 - np.sum((times == t) & reached) / np.sum(times >= t)
        out.append(1 - s)
    return uniq, np.array(out)


# ------------------------------------------------------------------------------ reading the artists


def _is_data_line(ax, line) -> bool:
    # Proxies seaborn adds for the legend have no data; axhline / axvline are drawn in axes coordinates.
    return len(line.get_xdata()) > 0 and line.get_transform() == ax.transData


def legend_texts(ax) -> list[str]:
    leg = ax.get_legend()
    return [t.get_text() for t in leg.get_texts()] if leg else []


def lines_by_legend(ax) -> dict:
    """Legend entry -> the one data line drawn in its colour."""
    leg = ax.get_legend()
    assert leg is not None, ax.get_title()
    out = {}
    for text, handle in zip(leg.get_texts(), leg.legend_handles, strict=True):
        same = [
            ln
            for ln in ax.lines
            if _is_data_line(ax, ln) and to_rgba(ln.get_color()) == to_rgba(handle.get_color())
        ]
        assert len(same) == 1, (text.get_text(), len(same))
        out[text.get_text()] = same[0]
    return out


def xy(line) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(line.get_xdata(), dtype=float), np.asarray(line.get_ydata(), dtype=float)


def assert_line(line, x, y, label=""):
    gx, gy = xy(line)
    np.testing.assert_array_equal(gx, np.asarray(x, dtype=float), err_msg=f"{label}: x")
    np.testing.assert_allclose(gy, np.asarray(y, dtype=float), rtol=0, atol=1e-12, err_msg=f"{label}: y")


def all_texts(fig) -> list[str]:
    out = [fig._suptitle.get_text()] if fig._suptitle else []
    for ax in fig.axes:
        out += [ax.get_title(), *(t.get_text() for t in ax.texts), *legend_texts(ax)]
    return out


# ------------------------------------------------------------------------------------- the tests


def test_the_augmented_tables_make_every_choice_a_real_one(run):
    """Each kind of added LR is the best somewhere and the diverged one nowhere; some cells have every,
    some and no seed at a threshold; the CE sweep has a width where only some seeds reach 95% (the
    scaling fit must leave it out)."""
    assert set(run["best"].values()) == {0.05, 0.2, 0.01, 0.3}
    cases = set()
    for (exp, role, strategy, width), _ in run["best"].items():
        runs = best_runs(run, exp, strategy, width, role)
        for level in (0.95, 0.99):
            cases.add(sum(first_at(r, level)[1] for _, r in runs.groupby("seed")) / runs.seed.nunique())
    assert {0.0, 0.5, 1.0} <= cases
    ce = [best_runs(run, "parity", "ce", w) for w in (4, 8, 16, 32)]
    hits = [sum(first_at(r, 0.95)[1] for _, r in runs.groupby("seed")) for runs in ce]
    assert hits == [1, 2, 2, 2]


DRAWN_HERE = {"ce_widths", "strategies", "teacher_selection", "probe_degrees", "pshot_panels"}
DRAWN_HERE |= {"node_features", "corr", "samples", "curricula", "pace"}
# The task figures (fig9, task_parity) draw the configuration's task, not the tables: their drawing is
# checked against the task in tests/test_task_figure.py.
DRAWN_THERE = {"task"}


def test_every_registered_drawing_is_checked_here():
    """A figure added to the registry needs a test of what it draws in this module."""
    assert {f.draw for f in L.FIGURES.values()} <= DRAWN_HERE | DRAWN_THERE


@pytest.mark.parametrize("name", _figures_drawn_by(*(DRAWN_HERE - {"corr", "samples"})))
def test_no_panel_is_empty_and_the_caption_is_the_title(run, capture, name):
    fig, _ = _draw(run, capture, name)
    texts = all_texts(fig)
    assert not [t for t in texts if any(e in t for e in EMPTY)], (name, texts)
    assert fig._suptitle.get_text() == f"{name}: {L.FIGURES[name].caption}"


@pytest.mark.parametrize("name", _figures_drawn_by("ce_widths"))
def test_ce_widths_draws_the_baseline_at_every_width(run, capture, name):
    fig, exp = _draw(run, capture, name)
    spec = L.FIGURES[name]
    (ax,) = fig.axes
    assert ax.get_title() == spec.options["title"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("training steps", "held-out accuracy")
    base = [st.name for st in exp.strategies if st.is_baseline]
    assert base == ["ce"]  # the smoke configuration's one baseline
    widths = sorted({w for s, w in exp.student_cells() if s in base})  # the students and the CE sweep
    want = [f"student w={w}" for w in widths]
    if spec.options["with_teacher"]:
        want.append(f"teacher w={exp.teacher.width}")
    assert legend_texts(ax) == want
    lines = lines_by_legend(ax)
    for w in widths:
        assert_line(lines[f"student w={w}"], *mean_curve(best_runs(run, exp.name, "ce", w)), f"w={w}")
    if spec.options["with_teacher"]:
        # The chosen teacher (selected.json), not the teacher LR first at 95%.
        t, c = run["teachers"][exp.name], run["curves"]
        chosen = c[
            (c.experiment == exp.name) & (c.role == "teacher") & (c.lr == t["lr"]) & (c.seed == t["seed"])
        ]
        chosen = chosen.sort_values("step")
        assert_line(lines[f"teacher w={exp.teacher.width}"], chosen.step, chosen.accuracy, "teacher")


@pytest.mark.parametrize("name", _figures_drawn_by("strategies"))
def test_strategies_draws_the_main_group_at_its_best_lr(run, capture, name):
    fig, exp = _draw(run, capture, name)
    (ax,) = fig.axes
    w = getattr(exp.students, L.FIGURES[name].options["width"])  # 'smallest' / 'largest'
    assert ax.get_title() == f"Strategies, student width {w}"
    group = [st.name for st in exp.in_figure_group("main")]
    # The smoke configuration's CE, one-shot and progressive strategies (the model's figure groups).
    assert group == ["ce", "oneshot_final", "progressive"]
    assert legend_texts(ax) == group
    for name_, line in lines_by_legend(ax).items():
        assert_line(line, *mean_curve(best_runs(run, exp.name, name_, w)), name_)


@pytest.mark.parametrize("name", _figures_drawn_by("pshot_panels"))
def test_pshot_panels_draw_each_temperature_with_its_checkpoints(run, capture, name):
    fig, exp = _draw(run, capture, name)
    opts = L.FIGURES[name].options
    w = getattr(exp.students, opts["width"])
    sel = run["selections"][exp.name]
    group = exp.in_figure_group("p-shot")
    pshots = {"parity": ["2shot_2k", "2shot_2k_lowT", "2shot_transition"]}
    pshots["hierarchical"] = ["3shot_2k_4k", "3shot_2k_4k_lowT", "3shot_levels"]  # with pshot_grid's
    assert sorted(st.name for st in group) == pshots[exp.name]  # every p-shot strategy of smoke.yaml
    low = min(st.temperature for st in group)
    assert low == 1e-4
    axes = fig.axes
    assert len(axes) == len(opts["taus"])
    for ax, tau in zip(axes, opts["taus"], strict=True):
        shown = [st for st in group if (st.temperature == 1.0) == (tau == "1")]
        assert ax.get_title() == f"{opts['label']}, width {w}, tau = {1 if tau == '1' else low:g}"
        labels = {st.legend_label(sel): st for st in shown}
        assert legend_texts(ax) == sorted(labels)
        for label, line in lines_by_legend(ax).items():
            assert_line(line, *mean_curve(best_runs(run, exp.name, labels[label].name, w)), label)
    # The named checkpoints show the step the selection chose.
    texts = [t for ax in axes for t in legend_texts(ax)]
    if exp.name == "parity" and "1" in opts["taus"]:
        assert f"2shot_transition (from transition={sel['checkpoints']['transition'] // 1000}k)" in texts
    if exp.name == "hierarchical" and "1" in opts["taus"]:
        lv = [sel["checkpoints"][f"level{i}"] // 1000 for i in (0, 1)]
        assert f"3shot_levels (from level0={lv[0]}k+level1={lv[1]}k)" in texts
        assert "3shot_2k_4k (from 2k+4k)" in texts


@pytest.mark.parametrize("name", _figures_drawn_by("teacher_selection"))
def test_teacher_selection_marks_the_candidates_and_the_selection(run, capture, name):
    fig, exp = _draw(run, capture, name)
    (ax,) = fig.axes
    t, c = run["teachers"][exp.name], run["curves"]
    teacher = c[
        (c.experiment == exp.name) & (c.role == "teacher") & (c.lr == t["lr"]) & (c.seed == t["seed"])
    ]
    teacher = teacher.sort_values("step")
    lines = {ln.get_label(): ln for ln in ax.lines}
    assert_line(lines[f"teacher ({t['teacher']})"], teacher.step, teacher.accuracy, "teacher")
    # One triangle per candidate: pshot_grid.candidates, else the p-shot strategies' fixed steps.
    grid = exp.config.get("pshot_grid")
    cands = sorted(grid["candidates"]) if grid else [2000]  # parity: 2shot_2k and 2shot_2k_lowT
    tri = [ln for ln in ax.lines if ln.get_marker() == "v"]
    assert [ln.get_label() for ln in tri] == [f"candidate {k // 1000}k" for k in cands]
    for k, ln in zip(cands, tri, strict=True):
        below = teacher[teacher.step <= k].iloc[-1]  # linear between the evaluations around k
        above = teacher[teacher.step >= k].iloc[0]
        frac = 0.0 if above.step == below.step else (k - below.step) / (above.step - below.step)
        acc = below.accuracy + frac * (above.accuracy - below.accuracy)
        assert_line(ln, [k], [acc], f"candidate {k}")
    # A dashed line per selected step, annotated with the names that chose it; the detected window.
    sel = run["selections"][exp.name]
    by_step = {}
    for n, k in sel["checkpoints"].items():
        by_step.setdefault(k, []).append(n)
    dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--" and ln.get_color() == "tab:orange"]
    assert sorted(xy(ln)[0][0] for ln in dashed) == sorted(by_step)
    assert all(xy(ln)[0][0] == xy(ln)[0][1] for ln in dashed)  # vertical
    notes = sorted(tx.get_text() for tx in ax.texts)
    assert notes == sorted(f"{', '.join(sorted(v))} = {figures.step_label(k)}" for k, v in by_step.items())
    assert sel["window"]["learned"]
    (band,) = [p for p in ax.patches if p.get_label() == "detected transition"]
    assert (band.get_x(), band.get_x() + band.get_width()) == (sel["window"]["start"], sel["window"]["end"])


def _teacher_probe(run, exp):
    p = run["probe"]
    return p[(p.experiment == exp) & (p.teacher == run["teachers"][exp]["teacher"])]


@pytest.mark.parametrize("name", _figures_drawn_by("probe_degrees"))
def test_probe_degrees_draws_the_probe_means(run, capture, name):
    fig, exp = _draw(run, capture, name)
    p = _teacher_probe(run, exp.name)
    p1 = p[p.output == "p1"].assign(a=lambda d: d.correlation.abs())
    left, right = fig.axes[0], fig.axes[1]
    lines = lines_by_legend(left)
    assert list(lines) == ["in support", "off support"]
    for label, ins in (("in support", True), ("off support", False)):
        d1 = p1[(p1.degree == 1) & (p1.in_support == ins)]
        want = d1.groupby("checkpoint").a.mean()
        assert_line(lines[label], want.index, want.values, label)
    twin = [ax for ax in fig.axes[2:] if ax.get_ylabel() == "teacher accuracy"]
    acc = p.groupby("checkpoint").teacher_accuracy.first()
    assert_line(twin[0].lines[0], acc.index, acc.values, "teacher accuracy")
    # Right panel: one line per in-support degree, and the off-support monomials' mean.
    degrees = sorted(p1[p1.in_support].degree.unique())
    assert degrees == list(exp.probe.degrees)
    assert legend_texts(right) == [str(d) for d in degrees] + ["off support (all degrees)"]
    for d in degrees:
        want = p1[p1.in_support & (p1.degree == d)].groupby("checkpoint").a.mean()
        assert_line(lines_by_legend(right)[str(d)], want.index, want.values, f"degree {d}")
    (off,) = [ln for ln in right.lines if ln.get_label() == "off support (all degrees)"]
    per_degree = p1[~p1.in_support].groupby(["checkpoint", "degree"]).a.mean().groupby("checkpoint").mean()
    assert_line(off, per_degree.index, per_degree.values, "off support")
    assert right.get_yscale() == "log"
    # n = 12 and 4096 probe samples: every input enumerated, so no noise floor, and the figure says so.
    assert (p.stderr == 0).all()
    assert any("exact coefficients" in t.get_text() for ax in (left, right) for t in ax.texts)


@pytest.mark.parametrize("name", _figures_drawn_by("node_features"))
def test_node_features_draws_each_node_and_each_level(run, capture, name):
    fig, exp = _draw(run, capture, name)
    p = _teacher_probe(run, exp.name).assign(a=lambda d: d.correlation.abs())
    left, right = fig.axes[0], fig.axes[1]
    # Left: one line per internal node, its full-block monomial's |corr|, max over the outputs.
    ins = p[p.in_support]
    nodes = sorted(set(zip(ins.node, ins.level, strict=True)))
    assert nodes == [(0, 0), (1, 1), (2, 1)]  # depth 2, k = 2: the root and its two children
    colors = {
        t.get_text(): to_rgba(h.get_color())
        for t, h in zip(left.get_legend().get_texts(), left.get_legend().legend_handles, strict=True)
    }
    assert sorted(colors) == ["0", "1"]
    want = []
    for node, level in nodes:
        mine = ins[ins.node == node]
        full = mine[mine.degree == mine.degree.max()]
        m = full.groupby("checkpoint").a.max()
        want.append((colors[str(level)], tuple(m.index.astype(float)), tuple(m.values)))
    got = [
        (to_rgba(ln.get_color()), tuple(xy(ln)[0]), tuple(xy(ln)[1]))
        for ln in left.lines
        if _is_data_line(left, ln)
    ]
    assert sorted(got) == sorted(want)
    # Right: lower-degree monomials, mean |corr| per output, the largest over outputs, by level.
    top = ins.degree.max()
    low = p[p.degree < top]
    lines = lines_by_legend(right)
    assert sorted(lines) == ["level 0", "level 1", "off support"]
    for label, rows in (
        ("level 0", low[low.in_support & (low.level == 0)]),
        ("level 1", low[low.in_support & (low.level == 1)]),
        ("off support", low[~low.in_support]),
    ):
        m = rows.groupby(["checkpoint", "output"]).a.mean().groupby("checkpoint").max()
        assert_line(lines[label], m.index, m.values, label)


def test_a_teacher_lr_first_at_95_percent_does_not_hide_the_chosen_teacher(run, capture):
    """The figures' teacher is select_teacher's choice (highest mean accuracy); the best-LR rule, which
    picks the added teacher LR here, must not drop the chosen teacher's curve from the figure data."""
    assert {run["best"][(e, "teacher", "teacher", 64)] for e in run["teachers"]} == {0.3}
    for name in ("fig1a", "fig2a", "fig7a"):
        capture.clear()
        fig, exp = _draw(run, capture, name)
        t = run["teachers"][exp.name]
        labels = [ln.get_label() for ln in fig.axes[0].lines] + legend_texts(fig.axes[0])
        assert f"teacher ({t['teacher']})" in labels or f"teacher w={exp.teacher.width}" in labels


@pytest.mark.parametrize("name", _figures_drawn_by("curricula"))
def test_curricula_draws_each_width_and_temperature_at_the_best_lr(run, capture, name):
    fig, exp = _draw(run, capture, name)
    group = exp.in_figure_group("curricula")
    assert {st.kind for st in group} == {"ce", "oneshot", "progressive", "paced", "extraction"}
    widths = sorted({exp.students.smallest, exp.students.largest})
    taus = ["1"] + (["low"] if any(st.temperature < 1 for st in group) else [])
    low = min(st.temperature for st in group)
    assert len(fig.axes) == len(widths) * len(taus)
    for i, w in enumerate(widths):
        for j, tau in enumerate(taus):
            ax = fig.axes[i * len(taus) + j]
            assert ax.get_title() == f"width {w}, tau = {1 if tau == '1' else low:g}"
            shown = [st.name for st in group if (st.temperature == 1.0) == (tau == "1")]
            assert legend_texts(ax) == shown
            for label, line in lines_by_legend(ax).items():
                assert_line(line, *mean_curve(best_runs(run, exp.name, label, w)), label)


@pytest.mark.parametrize("name", _figures_drawn_by("pace"))
def test_pace_draws_each_paced_runs_checkpoints_from_its_moves(run, capture, name):
    fig, exp = _draw(run, capture, name)
    paced = exp.in_figure_group("pace")
    assert paced and {st.kind for st in paced} == {"paced"}
    sw = pd.read_parquet(run["res"] / "switches.parquet")
    widths = sorted({exp.students.smallest, exp.students.largest})
    assert len(fig.axes) == len(widths) + 1
    for ax, w in zip(fig.axes[:-1], widths, strict=True):
        assert ax.get_title() == f"paced runs, student width {w}"
        want = set()
        for st in paced:
            runs = best_runs(run, exp.name, st.name, w)
            for seed, r in runs.groupby("seed"):
                m = sw[(sw.experiment == exp.name) & (sw.strategy == st.name) & (sw.width == w)]
                m = m[(m.lr == r.lr.iloc[0]) & (m.seed == seed)].sort_values("step")
                # Written out: start on the curriculum's first checkpoint (0), then each move's target.
                x = [0, *m.step, r.step.max()]
                y = [0, *m.to_checkpoint, (list(m.to_checkpoint) or [0])[-1]]
                want.add((tuple(float(v) for v in x), tuple(float(v) for v in y)))
        steps = [ln for ln in ax.lines if ln.get_drawstyle() == "steps-post"]
        assert {(tuple(xy(ln)[0]), tuple(xy(ln)[1])) for ln in steps} == want
        (pace_line,) = [ln for ln in ax.lines if ln.get_label() == "teacher's pace (progressive)"]
        final = exp.teacher.steps
        steps = exp.students.steps
        if steps > final:  # the diagonal up to the final checkpoint, then flat on it
            assert_line(pace_line, [0, final, steps], [0, final, final], "pace")
        else:
            assert_line(pace_line, [0, steps], [0, steps], "pace")
    t, c = run["teachers"][exp.name], run["curves"]
    chosen = c[(c.experiment == exp.name) & (c.role == "teacher") & (c.lr == t["lr"]) & (c.seed == t["seed"])]
    chosen = chosen.sort_values("step")
    assert_line(fig.axes[-1].lines[0], chosen.accuracy, chosen.step, "teacher")


@pytest.mark.parametrize("name", _figures_drawn_by("pace"))
def test_pace_line_stays_on_the_final_checkpoint_when_students_train_longer(run, capture, name):
    """The default's hierarchical students train 500k steps on a 200k-step teacher: the teacher's pace is
    the diagonal up to the final checkpoint and flat after it (not a diagonal to the students' budget)."""
    cfg = yaml.safe_load(SMOKE.read_text())
    exp_name = run["study"].figures[L.FIGURES[name].family]
    teacher_steps = cfg["experiments"][exp_name]["teacher"]["steps"]
    cfg["experiments"][exp_name]["students"]["steps"] = 2 * teacher_steps
    fig, exp = _draw(dict(run, study=C.load_study(cfg)), capture, name)
    assert exp.students.steps == 2 * exp.teacher.steps
    for ax in fig.axes[:-1]:
        (pace_line,) = [ln for ln in ax.lines if ln.get_label() == "teacher's pace (progressive)"]
        t = teacher_steps
        assert_line(pace_line, [0, t, 2 * t], [0, t, t], "pace")


# ------------------------------------------------------------------------------ scaling, survival


def test_scaling_figure_fits_the_complete_widths(run, capture):
    exp = run["study"].experiment("parity")
    target = exp.scaling.accuracy
    info = figures.scaling_figure(run["curves_path"], run["study"], "parity", "unused.pdf", "unused.png")
    (fig,) = capture
    (ax,) = [a for a in fig.axes]

    def points(strategy, widths, role="student"):
        """(width, mean steps of the seeds at the target or the budget if none, every seed got there)."""
        out = []
        for w in widths:
            runs = best_runs(run, "parity", strategy, w, role)
            times = [first_at(r, target) for _, r in runs.groupby("seed")]
            ok = [s for s, hit in times if hit]
            out.append((w, np.mean(ok) if ok else runs.step.max(), len(ok) == len(times), ok))
        return out

    ce_widths = sorted({w for s, w in exp.student_cells() if s == "ce"})
    ce = points("ce", ce_widths)
    full = [(w, s) for w, _, complete, ok in ce if complete for s in ok]
    assert len({w for w, _ in full}) >= 2, "the augmented smoke tables give a fit"
    slope, icpt = np.polyfit(np.log10([w for w, _ in full]), np.log10([s for _, s in full]), 1)
    assert info["slope"] == pytest.approx(slope, abs=1e-12) and info["intercept"] == pytest.approx(
        icpt, abs=1e-12
    )
    assert info["target"] == target
    # The points, in drawing order: CE by width, each strategy drawn beside it, the teacher.
    beside = [st.name for st in exp.strategies if st.in_scaling_figure]
    assert beside == ["progressive", "2shot_2k", "2shot_2k_lowT", "2shot_transition"]
    want = ce + [p for s in beside for p in points(s, sorted(exp.students.widths))]
    want += points("teacher", [exp.teacher.width], role="teacher")
    got = []
    for cont in ax.containers:
        line = cont.lines[0]
        filled = line.get_markerfacecolor() != "white"
        got.append((xy(line)[0][0], xy(line)[1][0], filled))
    assert len(got) == len(want)
    for g, (w, y, complete, _) in zip(got, want, strict=True):
        assert g[0] == w and g[1] == pytest.approx(y, abs=1e-9) and g[2] == complete, (g, w, y, complete)
    (fit,) = [ln for ln in ax.lines if ln.get_label().startswith("CE fit")]
    assert fit.get_label() == f"CE fit: slope {slope:.2f}"
    fx, fy = xy(fit)
    np.testing.assert_allclose(fy, 10**icpt * fx**slope, rtol=1e-12)
    assert (fx.min(), fx.max()) == (min(ce_widths), max(ce_widths))
    assert ax.get_ylabel() == f"steps to {target:.0%} held-out accuracy"


@pytest.mark.parametrize("exp_name", ["parity", "hierarchical"])
@pytest.mark.parametrize("threshold", [0.95, 0.99])  # 0.99: cells where no run gets there
def test_survival_figure_is_one_minus_kaplan_meier(run, capture, exp_name, threshold):
    exp = run["study"].experiment(exp_name)
    if threshold == 0.95:  # as the survival_figure rule draws it
        survival.write_survival_figure(run["curves_path"], run["study"], exp_name, "unused.pdf", "unused.png")
    else:
        times = survival.run_times(run["curves"])
        survival.survival_figure(times, run["study"], exp_name, "unused.pdf", "unused.png", threshold)
    (fig,) = capture
    c = run["curves"]
    widths = sorted(c[(c.experiment == exp_name) & (c.role == "student")].width.unique())
    axes = fig.axes
    assert len(axes) == len(widths)
    for ax, w in zip(axes, widths, strict=True):
        assert ax.get_title() == f"{exp_name}, student width {w}"
        assert ax.get_ylabel() == f"fraction of runs at >= {threshold:.0%}"
        cells, budget = {}, 0
        for st in exp.strategies:
            runs = best_runs(run, exp_name, st.name, w)
            if len(runs):
                cells[st] = [first_at(r, threshold) for _, r in runs.groupby("seed")]
                budget = max(budget, runs.step.max())  # the longest run's last step
        lines = [ln for ln in ax.lines if _is_data_line(ax, ln)]
        labels = [f"{st.name} ({sum(h for _, h in t)}/{len(t)})" for st, t in cells.items()]
        assert [ln.get_label() for ln in lines] == labels
        for (st, times), ln in zip(cells.items(), lines, strict=True):
            steps, hit = zip(*times, strict=True)
            if any(hit):
                t, frac = kaplan_meier_reached(steps, hit)
                x, y = np.r_[0, t, budget], np.r_[0, frac, frac[-1]]
            else:
                x, y = [0, budget], [0, 0]
            assert_line(ln, x, y, f"{exp_name} w{w} {st.name}")
            assert ln.get_drawstyle() == "steps-post"
            assert ln.get_linestyle() == ("--" if st.temperature < 1 else "-")
    assert legend_texts(axes[-1]) == [ln.get_label() for ln in axes[-1].lines if _is_data_line(axes[-1], ln)]


# ------------------------------------------------------------------------------------- theory


def _theory(run, capture, name):
    table = str(run["res"] / "theory/theory.parquet")
    theory_figures.make_figure(
        name, table, "unused.pdf", "unused.png", target_loss=run["study"].theory["students"]["target_loss"]
    )
    (fig,) = capture
    return fig, pd.read_parquet(table)


def _errorbar(ax, label):
    """(x, y, yerr) of the errorbar series with this label."""
    (cont,) = [c for c in ax.containers if c.get_label() == label]
    x, y = xy(cont.lines[0])
    seg = cont.lines[2][0].get_segments()
    return x, y, np.array([(s[1][1] - s[0][1]) / 2 for s in seg])


def _mean_se(rows, by="n"):
    """Per ``by``: mean and standard error (sample s.d. / sqrt(count)) of ``value``."""
    keys = sorted(rows[by].unique())
    vals = [rows.value[rows[by] == k].to_numpy() for k in keys]
    se = [v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0 for v in vals]
    return np.array(keys, dtype=float), np.array([v.mean() for v in vals]), np.array(se)


def test_theory_corr_draws_the_measured_correlations(run, capture):
    from scipy.stats import linregress

    fig, df = _theory(run, capture, "theory_corr")
    corr = df[df.part == "correlation"]
    assert fig._suptitle.get_text() == f"theory_corr: {L.FIGURES['theory_corr'].caption}"
    assert not [t for t in all_texts(fig) if any(e in t for e in EMPTY)]
    ax0, ax1, ax2 = fig.axes
    for (d, kappa), c in corr.groupby(["d", "batch_factor"]):
        tag = f"d={d} κ={kappa:g}"
        for ax, label, rows in (
            (ax0, f"{tag}: per neuron, aligned", c[c.quantity == "corr_in_aligned"]),
            (ax0, f"{tag}: network E[f x_i] (signed)", c[c.quantity.str.startswith("corr_in_network_x")]),
            (ax2, f"{tag}: in S", c[c.quantity == "corr_in_network_abs"]),
            (ax2, f"{tag}: off S", c[c.quantity == "corr_out_network_abs"]),
        ):
            gx, gy, ge = _errorbar(ax, label)
            wx, wy, we = _mean_se(rows)
            np.testing.assert_array_equal(gx, wx)
            np.testing.assert_allclose(gy, wy, atol=1e-12)
            np.testing.assert_allclose(ge, we, atol=1e-12)
        # Lemma B.5's two in-support levels, 1/(8d) (paper) and 1/(4d) (exact).
        levels = sorted(ln.get_ydata()[0] for ln in ax0.lines if ln.get_linestyle() in ("--", ":"))
        assert levels == pytest.approx(sorted([1 / (8 * d), 1 / (4 * d)]))
        out = c[c.quantity == "corr_out_aligned"]
        fit = linregress(np.log(out.n.astype(float)), np.log(out.value))
        label = f"{tag}: measured, slope {fit.slope:.2f} ± {fit.stderr:.2f}"
        gx, gy, _ = _errorbar(ax1, label)
        wx, wy, _ = _mean_se(out)
        np.testing.assert_allclose(gy, wy, atol=1e-12)
        ex = out.groupby("n")[["exact", "paper"]].first()
        dotted = [ln for ln in ax1.lines if ln.get_linestyle() == ":"]
        dashed = [ln for ln in ax1.lines if ln.get_linestyle() == "--"]
        assert_line(dotted[0], ex.index, ex.exact, "exact")
        assert_line(dashed[0], ex.index, ex.paper, "paper")
    assert ax1.get_yscale() == "log" and ax2.get_yscale() == "log"


def test_theory_samples_draws_the_samples_and_the_losses(run, capture):
    fig, df = _theory(run, capture, "theory_samples")
    st, fits, runs = df[df.part == "student"], df[df.part == "fit"], df[df.part == "student_run"]
    assert not [t for t in all_texts(fig) if any(e in t for e in EMPTY)]
    ax0, ax1, ax2 = fig.axes
    for ax, quantity in ((ax0, "samples"), (ax1, "support_batch")):
        q = st[st.quantity == quantity]
        finite = q[np.isfinite(q.value)]
        top = finite.value.max() * 2
        for strategy, g in q.groupby("strategy"):
            ok = g[np.isfinite(g.value)]
            # Each finite run is a point; a run that never got there, a triangle at the top.
            pts = sorted(
                map(tuple, np.vstack([c.get_offsets() for c in ax.collections if len(c.get_offsets())]))
            )
            for n, v in zip(ok.n, ok.value, strict=True):
                assert (n, v) in pts, (quantity, strategy, n, v)
            for n in g.n[~np.isfinite(g.value)]:
                assert (n, top) in pts, (quantity, strategy, n)
            lines = [ln for ln in ax.lines if ln.get_label().split(":")[0] == strategy]
            if not len(ok):
                assert not lines, (quantity, strategy)
                continue
            (line,) = lines
            gm = {n: np.exp(np.log(ok.value[ok.n == n]).mean()) for n in sorted(ok.n.unique())}
            assert_line(line, list(gm), list(gm.values()), f"{quantity} {strategy}")
            f = fits[(fits.strategy == strategy) & (fits.quantity == f"slope_{quantity}_vs_n")]
            if len(f) and np.isfinite(f.value.iloc[0]):
                r = f.iloc[0]
                want = f"{strategy}: slope {r.value:.2f} ± {r.slope_se:.2f}"
                want += f" (paper {r.paper:.2g}, population {r.exact:.2g})"
                assert line.get_label() == want
    nmax = runs.n.max()
    assert ax2.get_title() == f"n = {nmax}: best loss reached after stage 2"
    best = runs[(runs.n == nmax) & (runs.quantity == "run_best_loss")]
    lines = {ln.get_label(): ln for ln in ax2.lines}
    for strategy, g in best.groupby("strategy"):
        batches = sorted(g.batch.unique())
        assert_line(lines[strategy], batches, [np.median(g.value[g.batch == b]) for b in batches], strategy)
    target = run["study"].theory["students"]["target_loss"]
    assert lines["target"].get_ydata()[0] == target
