"""The paper's figures from the aggregated tables, drawn with seaborn: mean +- standard error over seeds,
each strategy at its best learning rate (metrics.best_lr). Which figures exist, their captions and the
experiment each draws are in the registry layout.FIGURES; the functions here draw them (``@drawing``), each
from a ``FigureData`` and the registry entry's options."""

from __future__ import annotations

import logging
import textwrap
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from . import jobtime  # noqa: E402
from . import layout as L  # noqa: E402
from .config import Experiment, Study, as_study  # noqa: E402
from .io import atomic_path  # noqa: E402
from .metrics import best_lr, steps_to_accuracy  # noqa: E402
from .noise import draw_noise_floor, mark_chance, noise_floor  # noqa: E402
from .strategies import step_label  # noqa: E402
from .task_figure import draw_task  # noqa: E402
from .transition import feature_curves  # noqa: E402

log = logging.getLogger(__name__)
# Drawing functions by the name a layout.FIGURES entry gives in ``draw``; see drawing().
DRAWINGS: dict[str, callable] = {}


@dataclass(frozen=True)
class FigureData:
    """What a drawing function draws from: ``curves``, every run at its strategy's best LR; ``probe``, the
    probe table; ``experiment``, the study model's experiment; ``teacher``, the select_teacher rule's choice
    (selected.json: teacher id, lr, seed); ``selection``, the select_checkpoints output (transition.json) or
    None; ``switches``, the paced runs' moves (switches.parquet). A figure of the task alone
    (layout.Figure.needs == "task") gets the experiment only."""

    curves: pd.DataFrame | None
    probe: pd.DataFrame | None
    experiment: Experiment
    teacher: dict | None = None
    selection: dict | None = None
    switches: pd.DataFrame | None = None

    @property
    def chance(self) -> float:
        return 1.0 / self.experiment.task.num_classes

    def students(self, width: int | None = None, strategies=None) -> pd.DataFrame:
        """The experiment's student curves, at one width and of the given Strategy objects when asked."""
        c = self.curves
        df = c[(c.experiment == self.experiment.name) & (c.role == "student")]
        if width is not None:
            df = df[df.width == width]
        if strategies is not None:
            df = df[df.strategy.isin([st.name for st in strategies])]
        return df

    def teacher_curve(self) -> pd.DataFrame:
        """The chosen teacher's curve."""
        c = self.curves
        t = c[(c.experiment == self.experiment.name) & (c.role == "teacher")]
        return t[(t.lr == self.teacher["lr"]) & (t.seed == self.teacher["seed"])]

    def teacher_probe(self) -> pd.DataFrame:
        p = self.probe
        return p[(p.experiment == self.experiment.name) & (p.teacher == self.teacher["teacher"])]

    def width(self, which: str) -> int:
        """A figure option's student width: 'smallest' or 'largest' of the configured ones."""
        if which not in ("smallest", "largest"):
            raise ValueError(f"figure option width = {which!r}; valid: 'smallest', 'largest'")
        return getattr(self.experiment.students, which)


def save_figure(fig, pdf: str, png: str) -> None:
    """PDF and PNG, each written atomically, without timestamps (reruns give identical bytes); closes it."""
    for path in (pdf, png):
        with atomic_path(path) as tmp:
            fig.savefig(
                tmp,
                bbox_inches="tight",
                dpi=110,
                metadata={"CreationDate": None} if path.endswith(".pdf") else {"Software": None},
            )
    plt.close(fig)


def drawing(name):
    """Register a drawing function under the name layout.FIGURES entries give in ``draw``. It is called
    as fn(data: FigureData, **options) and returns the matplotlib figure."""

    def deco(fn):
        DRAWINGS[name] = fn
        return fn

    return deco


def _steps_axis(ax, title=None, chance=0.5):
    ax.set_xlabel("training steps")
    ax.set_ylabel("held-out accuracy")
    mark_chance(ax, chance)  # the whole run: from the task's chance level
    ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter(sep=""))
    if title:
        ax.set_title(title)


def _lines(ax, df, hue, hue_order=None, palette=None, title=None, chance=0.5):
    if df.empty:
        ax.text(0.5, 0.5, "no runs configured", ha="center", transform=ax.transAxes)
    else:
        sns.lineplot(
            df, x="step", y="accuracy", hue=hue, hue_order=hue_order, errorbar="se", ax=ax, palette=palette
        )
        ax.legend(fontsize="small", title=hue)
    _steps_axis(ax, title, chance)


def _labelled(df: pd.DataFrame, exp: Experiment, selection: dict | None) -> pd.DataFrame:
    """Strategy names replaced by their legend labels (a p-shot strategy shows its checkpoints)."""
    labels = {st.name: st.legend_label(selection) for st in exp.strategies}
    return df.assign(strategy=df.strategy.map(labels))


@drawing("ce_widths")
def ce_widths(data: FigureData, with_teacher: bool, title: str):
    """Baseline (CE) students at every width (fig1a, fig3a, fig3b), with the chosen teacher when asked."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    exp = data.experiment
    df = data.students(strategies=[st for st in exp.strategies if st.is_baseline])
    df = df.assign(model=lambda d: "student w=" + d.width.astype(str))
    order = sorted(df.model.unique(), key=lambda s: int(s.split("=")[1]))
    if with_teacher:
        t = data.teacher_curve().assign(model=f"teacher w={exp.teacher.width}")
        df = pd.concat([df, t])
        order += list(t.model.unique())
    _lines(ax, df, "model", order, title=title, chance=data.chance)
    return fig


@drawing("strategies")
def strategies(data: FigureData, width: str):
    """The strategies of the "main" figure group (CE, one-shot, progressive: fig1b, fig4, fig5) at the
    ``width`` option's student width ('smallest' or 'largest')."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    w = data.width(width)
    group = data.experiment.in_figure_group("main")
    df = data.students(w, group)
    order = [st.name for st in group if st.name in set(df.strategy)]
    _lines(ax, df, "strategy", order, title=f"Strategies, student width {w}", chance=data.chance)
    return fig


@drawing("teacher_selection")
def teacher_selection(data: FigureData):
    """The chosen teacher's accuracy, the p-shot candidates on it, the automatic selection (fig2a, fig7a)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    t = data.teacher_curve()
    ax.plot(t.step, t.accuracy, color="black", label=f"teacher ({data.teacher['teacher']})")
    for c in data.experiment.candidate_checkpoints():
        acc = np.interp(c, t.step, t.accuracy)
        ax.plot([c], [acc], marker="v", markersize=9, linestyle="none", label=f"candidate {step_label(c)}")
    sel = data.selection
    if sel:
        win = sel["window"]
        if win["learned"]:
            ax.axvspan(win["start"], win["end"], color="tab:orange", alpha=0.12, label="detected transition")
        by_step: dict[int, list[str]] = {}
        for name, c in sel["checkpoints"].items():
            by_step.setdefault(c, []).append(name)
        for c, names in sorted(by_step.items()):
            ax.axvline(c, color="tab:orange", linestyle="--", linewidth=0.8)
            ax.annotate(
                f"{', '.join(sorted(names))} = {step_label(c)}",
                (c, 0.98),
                xycoords=("data", "axes fraction"),
                fontsize="x-small",
                color="tab:orange",
                rotation=90,
                ha="right",
                va="top",
            )
    ax.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    _steps_axis(ax, "Teacher accuracy, p-shot candidates, automatic selection", data.chance)
    return fig


def probe_summary(probe: pd.DataFrame, exp: str, teacher: str, output: str | None = None) -> pd.DataFrame:
    """Mean |correlation| per checkpoint, degree and in/off support (for the given output)."""
    p = probe[(probe.experiment == exp) & (probe.teacher == teacher)]
    if output is not None:
        p = p[p.output == output]
    p = p.assign(abs_corr=p.correlation.abs())
    return (
        p.groupby(["checkpoint", "degree", "in_support"])
        .agg(abs_corr=("abs_corr", "mean"), teacher_accuracy=("teacher_accuracy", "first"))
        .reset_index()
    )


@drawing("probe_degrees")
def probe_degrees(data: FigureData):
    """The chosen teacher's degree-1 correlations in / off support and every in-support degree (fig2b)."""
    probe = data.teacher_probe()
    s = probe_summary(probe, data.experiment.name, data.teacher["teacher"], "p1")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    d1 = s[s.degree == 1].assign(monomials=lambda d: np.where(d.in_support, "in support", "off support"))
    sns.lineplot(
        d1,
        x="checkpoint",
        y="abs_corr",
        hue="monomials",
        hue_order=["in support", "off support"],
        ax=axes[0],
        marker="o",
        markersize=3,
    )
    ax2 = axes[0].twinx()
    acc = d1.drop_duplicates("checkpoint")
    ax2.plot(acc.checkpoint, acc.teacher_accuracy, color="grey", linestyle=":", label="teacher accuracy")
    ax2.set_ylabel("teacher accuracy", color="grey")
    p1 = probe[probe.output == "p1"]
    draw_noise_floor(axes[0], noise_floor(p1[p1.degree == 1]))
    axes[0].legend(fontsize="small")
    axes[0].set_title(r"degree 1: mean $|E[f_T(x)\,x_i]|$")
    axes[0].set_ylabel("mean |correlation|")
    ins = s[s.in_support]
    sns.lineplot(ins, x="checkpoint", y="abs_corr", hue="degree", palette="viridis", ax=axes[1])
    off = s[~s.in_support].groupby("checkpoint").abs_corr.mean()
    axes[1].plot(off.index, off.values, color="black", linestyle="--", label="off support (all degrees)")
    draw_noise_floor(axes[1], noise_floor(p1))
    axes[1].legend(fontsize="small", title="in-support degree")
    # Log scale: the full-support monomial (the label) dwarfs the low-degree curriculum signal.
    axes[1].set_yscale("log")
    axes[1].set_title("in-support monomials by degree (log scale)")
    axes[1].set_ylabel("mean |correlation|")
    for ax in axes:
        ax.set_xlabel("teacher checkpoint (steps)")
        ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter(sep=""))
    fig.tight_layout()
    return fig


TAUS = {"1": lambda tau, low: tau == 1.0, "low": lambda tau, low: tau < 1.0}


@drawing("pshot_panels")
def pshot_panels(data: FigureData, width: str, taus: tuple[str, ...], label: str):
    """The "p-shot" figure group's students at one width, one panel per entry of ``taus`` ("1": tau = 1,
    "low": every lower temperature; the title names the lowest) (fig2c, fig2d, fig6, fig7b-e)."""
    bad = [t for t in taus if t not in TAUS]
    if bad:
        raise ValueError(f"figure option taus = {list(taus)}: {bad} unknown; valid: {sorted(TAUS)}")
    w = data.width(width)
    group = data.experiment.in_figure_group("p-shot")
    low = min((st.temperature for st in group), default=1.0)
    fig, axes = plt.subplots(1, len(taus), figsize=(5.5 * len(taus), 4), squeeze=False)
    for ax, tau in zip(axes[0], taus, strict=True):
        chosen = [st for st in group if TAUS[tau](st.temperature, low)]
        df = _labelled(data.students(w, chosen), data.experiment, data.selection)
        title = f"{label}, width {w}, tau = {low if tau == 'low' else 1:g}"
        _lines(ax, df, "strategy", sorted(df.strategy.unique()), title=title, chance=data.chance)
    fig.tight_layout()
    return fig


def feature_emergence(probe: pd.DataFrame, exp: str, teacher: str) -> pd.DataFrame:
    """Per checkpoint and internal node: the node's parity-feature |correlation| (transition.py)."""
    return feature_curves(probe[(probe.experiment == exp) & (probe.teacher == teacher)])


@drawing("node_features")
def node_features(data: FigureData):
    """Per-node feature correlations of the chosen teacher through training, by tree level (fig8)."""
    feats = feature_emergence(data.probe, data.experiment.name, data.teacher["teacher"])
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    sns.lineplot(
        feats,
        x="checkpoint",
        y="abs_corr",
        hue="level",
        units="node",
        estimator=None,
        palette="viridis",
        ax=axes[0],
    )
    axes[0].set_title("each node's parity feature (max over class probabilities)")
    axes[0].set_ylabel("|correlation|")
    p = data.teacher_probe()
    low = p[p.degree < p[p.in_support].degree.max()].assign(abs_corr=lambda d: d.correlation.abs())
    low = low.groupby(["checkpoint", "in_support", "level", "output"]).abs_corr.mean().reset_index()
    low = low.groupby(["checkpoint", "in_support", "level"]).abs_corr.max().reset_index()
    low["monomials"] = np.where(low.in_support, "level " + low.level.astype(str), "off support")
    sns.lineplot(low, x="checkpoint", y="abs_corr", hue="monomials", ax=axes[1])
    draw_noise_floor(axes[1], noise_floor(p[p.degree < p[p.in_support].degree.max()]))
    draw_noise_floor(
        axes[0], noise_floor(p[p.in_support & (p.degree == p.groupby("node").degree.transform("max"))])
    )
    axes[1].set_title("lower-degree monomials, by level")
    axes[1].set_ylabel("mean |correlation| (max over outputs)")
    acc = p.drop_duplicates("checkpoint")
    for ax in axes:
        ax2 = ax.twinx()
        ax2.plot(acc.checkpoint, acc.teacher_accuracy, color="grey", linestyle=":")
        ax2.set_ylabel("teacher accuracy", color="grey")
        ax.set_xlabel("teacher checkpoint (steps)")
        ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter(sep=""))
    fig.tight_layout()
    return fig


def scaling_fit(points: pd.DataFrame) -> tuple[float, float] | None:
    """Least-squares slope and intercept of log10(steps) on log10(width), over the widths where every seed
    reached the target (censored widths would bias the slope); None with fewer than two such widths."""
    full = points.groupby("width").steps.apply(lambda s: s.notna().all())
    ok = points[points.width.isin(full[full].index)]
    if ok.width.nunique() < 2:
        return None
    slope, icpt = np.polyfit(np.log10(ok.width), np.log10(ok.steps), 1)
    return float(slope), float(icpt)


def scaling_figure(curves_path: str, cfg: dict | Study, exp_name: str, pdf: str, png: str) -> dict:
    """Section 4.1's width-steps trade-off: CE's steps to the target accuracy against width (log-log,
    fitted slope; the SQ bound steps x width ~ n^d predicts -1), with the strategies drawn beside it
    (``in_scaling_figure``: progressive and p-shot, e.g. from the automatically selected transition) and the
    teacher on the same axes. Returns the fit (also written into the figure)."""
    sns.set_theme(style="whitegrid", context="paper")
    exp = as_study(cfg).experiment(exp_name)
    target = exp.scaling.accuracy
    curves = best_lr(pd.read_parquet(curves_path))
    curves = curves[curves.experiment == exp_name]
    ce_names = [st.name for st in exp.strategies if st.is_baseline]
    beside = [st.name for st in exp.strategies if st.in_scaling_figure]
    pts = steps_to_accuracy(curves[curves.role == "student"], target)
    ce = pts[pts.strategy.isin(ce_names)]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    fit = scaling_fit(ce)
    _scaling_points(ax, ce, "CE", "tab:blue", "o")
    markers = ["s", "D", "^", "v", "P", "X"]
    for i, name in enumerate(beside):
        color = sns.color_palette("tab10")[(i + 1) % 10]
        _scaling_points(ax, pts[pts.strategy == name], name, color, markers[i % len(markers)])
    t = steps_to_accuracy(curves[curves.role == "teacher"].assign(strategy="teacher"), target)
    _scaling_points(ax, t, "teacher (CE, its own LR)", "black", "*")
    info = {"experiment": exp_name, "target": target, "slope": None, "intercept": None}
    if fit:
        slope, icpt = fit
        info.update(slope=slope, intercept=icpt)
        w = np.geomspace(ce.width.min(), ce.width.max(), 50)
        ax.plot(w, 10**icpt * w**slope, color="tab:blue", linewidth=1, label=f"CE fit: slope {slope:.2f}")
        gm = np.exp(np.log(ce.dropna().width).mean()), np.exp(np.log(ce.dropna().steps).mean())
        ax.plot(
            w,
            gm[1] * (w / gm[0]) ** -1.0,
            color="grey",
            linestyle=":",
            label="slope -1 (steps x width ~ n^d)",
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("width")
    ax.set_ylabel(f"steps to {target:.0%} held-out accuracy")
    ax.legend(fontsize="x-small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    ax.set_title(f"{exp_name}: open markers: not every seed reached {target:.0%} (at the budget if none did)")
    fig.suptitle(f"scaling_{exp_name}: CE width sweep and distilled students", fontsize="small", y=1.0)
    save_figure(fig, pdf, png)
    log.info("%s: CE steps to %.2f vs width: %s", exp_name, target, info)
    return info


def _scaling_points(ax, pts: pd.DataFrame, label: str, color, marker) -> None:
    """Mean +- standard error over the seeds that reached the target, per width; a width where some seed
    did not is drawn open (a lower bound), at the budget when none did."""
    first = True
    for width, g in pts.groupby("width"):
        ok = g.steps.dropna()
        complete = len(ok) == len(g)
        y = ok.mean() if len(ok) else g.budget.max()
        se = ok.std(ddof=1) / np.sqrt(len(ok)) if len(ok) > 1 else 0.0
        ax.errorbar(
            [width],
            [y],
            yerr=[[se], [se]],
            marker=marker,
            markersize=8 if marker == "*" else 6,
            color=color,
            markerfacecolor=color if complete else "white",
            linestyle="none",
            capsize=3,
            label=f"{label}" if first else None,
        )
        if not len(ok):
            ax.annotate("", (width, y * 1.5), (width, y), arrowprops=dict(arrowstyle="->", color=color))
        first = False


def figure_data(
    curves_path: str,
    probe_path: str,
    cfg: dict | Study,
    teacher: dict,
    selection: dict | None = None,
    switches_path: str | None = None,
) -> FigureData:
    """The tables a figure of ``teacher["experiment"]`` draws from: each student strategy at its best LR,
    and every teacher run (the figures draw the one select_teacher chose, which the best-LR rule, fewest
    steps to 95%, need not keep: selection ranks teachers by mean accuracy)."""
    exp = as_study(cfg).experiment(teacher["experiment"])
    switches = pd.read_parquet(switches_path) if switches_path else None
    curves = pd.read_parquet(curves_path)
    teachers = curves.role == "teacher"
    curves = pd.concat([best_lr(curves[~teachers]), curves[teachers]], ignore_index=True)
    return FigureData(curves, pd.read_parquet(probe_path), exp, teacher, selection, switches)


def make_figure(
    name: str,
    curves_path: str,
    probe_path: str,
    cfg: dict | Study,
    teacher: dict,
    pdf: str,
    png: str,
    selection: dict | None = None,
    switches_path: str | None = None,
) -> None:
    """Draw one figure of the registry (layout.FIGURES) for the experiment of ``teacher`` (the
    select_teacher rule's choice); ``selection`` (select_checkpoints output) is drawn on fig2a / fig7a,
    ``switches_path`` (switches.parquet) on the paced runs' figures."""
    sns.set_theme(style="whitegrid", context="paper")
    spec = L.FIGURES[name]
    jobtime.mark("read")
    data = figure_data(curves_path, probe_path, cfg, teacher, selection, switches_path)
    jobtime.mark("work")  # drawing, then rendering to PDF and PNG
    fig = DRAWINGS[spec.draw](data, **spec.options)
    fig.suptitle(f"{name}: {spec.caption}", fontsize="small", y=1.0)
    save_figure(fig, pdf, png)


def _tau_columns(strategies) -> list[str]:
    """The temperature classes present: "1" and, when some strategy is below 1, "low"."""
    return ["1"] + (["low"] if any(st.temperature < 1 for st in strategies) else [])


@drawing("curricula")
def curricula(data: FigureData):
    """The "curricula" figure group (CE, one-shot, progressive, paced, extraction) at both student widths
    (rows) and at tau = 1 and the low temperature (columns), each strategy in one colour throughout."""
    exp = data.experiment
    group = exp.in_figure_group("curricula")
    widths = sorted({exp.students.smallest, exp.students.largest})
    taus = _tau_columns(group)
    low = min(st.temperature for st in group)
    colors = dict(zip([st.name for st in group], sns.color_palette("tab10", len(group)), strict=True))
    size = (5.5 * len(taus), 4 * len(widths))
    fig, axes = plt.subplots(len(widths), len(taus), figsize=size, squeeze=False)
    for row, w in zip(axes, widths, strict=True):
        for ax, tau in zip(row, taus, strict=True):
            chosen = [st for st in group if TAUS[tau](st.temperature, low)]
            df = data.students(w, chosen)
            order = [st.name for st in chosen if st.name in set(df.strategy)]
            title = f"width {w}, tau = {low if tau == 'low' else 1:g}"
            _lines(ax, df, "strategy", order, palette=colors, title=title, chance=data.chance)
    fig.tight_layout()
    return fig


def pace_line(moves: pd.DataFrame, first: int, budget: int) -> tuple[np.ndarray, np.ndarray]:
    """A paced run's checkpoint against its steps as a step function's corners: it starts on ``first``
    and moves to ``to_checkpoint`` at each ``step`` of ``moves`` (switches.parquet rows), until ``budget``."""
    moves = moves.sort_values("step")
    x = np.r_[0, moves.step.to_numpy(), budget]
    y = np.r_[first, moves.to_checkpoint.to_numpy()]
    return x, np.r_[y, y[-1]]


@drawing("pace")
def pace(data: FigureData):
    """Per student width: the teacher checkpoint each paced run (at its best LR) learns from against its
    steps (a step at each move; x: moved on at the cap; dot: where the run first reached 95% held-out
    accuracy), beside the teacher's own pace (progressive distillation: checkpoint = step); right, the
    teacher's held-out accuracy against its checkpoint, on the same axis."""
    exp = data.experiment
    paced = exp.in_figure_group("pace")
    widths = sorted({exp.students.smallest, exp.students.largest})
    final = exp.teacher.steps
    fig, axes = plt.subplots(
        1,
        len(widths) + 1,
        figsize=(5 * len(widths) + 2.5, 4.5),
        sharey=True,
        gridspec_kw={"width_ratios": [4] * len(widths) + [1.5]},
    )
    colors = dict(zip([st.name for st in paced], sns.color_palette("tab10", len(paced)), strict=True))
    sw = data.switches
    sw = sw[sw.experiment == exp.name]
    for ax, w in zip(axes[:-1], widths, strict=True):
        runs = data.students(w, paced)
        for (name, lr, seed), g in runs.groupby(["strategy", "lr", "seed"], sort=True):
            moves = sw[(sw.strategy == name) & (sw.width == w) & (sw.lr == lr) & (sw.seed == seed)]
            first = exp.strategy(name).curriculum(exp)[0]
            x, y = pace_line(moves, first, int(g.step.max()))
            ax.step(x, y, where="post", color=colors[name], alpha=0.6, linewidth=1)
            cap = moves[moves.reason == "cap"]
            ax.plot(cap.step, cap.to_checkpoint, "x", color=colors[name], markersize=4, linestyle="none")
            hit = g[g.accuracy >= 0.95].step.min()
            if hit == hit:  # NaN: never reached 95%
                ax.plot([hit], [y[np.searchsorted(x, hit, side="right") - 1]], "o", color=colors[name], ms=4)
        # Checkpoint = step until the final one, then the final one (a longer student budget stays on it).
        budget = exp.students.steps
        xs = np.array([0, final, budget] if final < budget else [0, budget])
        ax.plot(xs, np.minimum(xs, final), color="black", linestyle=":", label="teacher's pace (progressive)")
        for name, c in colors.items():
            ax.plot([], [], color=c, label=f"{name} (tau {exp.strategy(name).temperature:g})")
        ax.set_title(f"paced runs, student width {w}")
        ax.set_xlabel("student training steps")
        ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter(sep=""))
        ax.legend(fontsize="x-small", loc="lower right")
    axes[0].set_ylabel("teacher checkpoint learnt from (steps)")
    axes[0].yaxis.set_major_formatter(matplotlib.ticker.EngFormatter(sep=""))
    t = data.teacher_curve()
    axes[-1].plot(t.accuracy, t.step, color="black")
    axes[-1].set_xlabel("teacher held-out\naccuracy")
    axes[-1].set_title("teacher")
    fig.tight_layout()
    return fig


@drawing("task")
def task(data: FigureData):
    """fig9 / task_parity: the experiment's task itself (task_figure.draw_task); reads no table."""
    return draw_task(data.experiment.task)


def make_task_figure(name: str, cfg: dict | Study, pdf: str, png: str) -> None:
    """Draw one figure of the registry that needs only the configuration's task (Figure.needs == "task"):
    the experiment that config key figures.<family> names, nothing trained."""
    spec = L.FIGURES[name]
    exp = as_study(cfg).figure_experiment(spec.family)
    fig = DRAWINGS[spec.draw](FigureData(None, None, exp), **spec.options)
    # Wrapped by hand to the figure's width (~14 characters per inch at this size): matplotlib's wrap=True
    # leaves a tight bounding box with blank space.
    title = textwrap.fill(f"{name} ({exp.name}): {spec.caption}", int(fig.get_figwidth() * 14))
    fig.suptitle(title, fontsize="small", y=1.02)
    save_figure(fig, pdf, png)
