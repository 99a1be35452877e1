"""The paper's figures from the aggregated tables, drawn with seaborn: mean +- standard error over seeds,
each strategy at its best learning rate (metrics.best_lr). Which figures exist, their captions and the
experiment each draws are in the registry layout.FIGURES; the functions here draw them (``@drawing``)."""

from __future__ import annotations

import functools
import logging

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from . import jobtime  # noqa: E402
from . import layout as L  # noqa: E402
from .config import step_label  # noqa: E402
from .io import atomic_path  # noqa: E402
from .metrics import best_lr, steps_to_accuracy  # noqa: E402, F401 - re-exported
from .noise import chance_level, draw_noise_floor, mark_chance, noise_floor  # noqa: E402
from .transition import feature_curves  # noqa: E402

log = logging.getLogger(__name__)
# Drawing functions by the name a layout.FIGURES entry gives in ``draw``; see drawing().
DRAWINGS: dict[str, callable] = {}
# Names kept for callers of the former per-module lists (the registry lives in layout.FIGURES).
PARITY_FIGURES = L.figures_of("parity")
HIERARCHICAL_FIGURES = L.figures_of("hierarchical")
CAPTIONS = {name: fig.caption for name, fig in L.FIGURES.items() if fig.family != "theory"}


def figure_kind(name: str) -> str:
    """Which experiment a figure draws: config key figures.parity or figures.hierarchical."""
    return L.FIGURES[name].family


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
    as fn(curves, probe, cfg, exp, selected, **options) and returns the matplotlib figure."""

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


def _students(curves, exp, width=None, kinds=None, cfg=None):
    df = curves[(curves.experiment == exp) & (curves.role == "student")]
    if width is not None:
        df = df[df.width == width]
    if kinds is not None:
        strat = cfg["experiments"][exp]["strategies"]
        names = [s["name"] for s in strat if kinds(s)]
        df = df[df.strategy.isin(names)]
    return df


def _teacher(curves, exp, selected):
    t = curves[(curves.experiment == exp) & (curves.role == "teacher")]
    return t[(t.lr == selected["lr"]) & (t.seed == selected["seed"])]


def _widths(cfg, exp):
    w = cfg["experiments"][exp]["students"]["widths"]
    return min(w), max(w)


def _main_kind(s):
    return s["kind"] in ("ce", "oneshot", "progressive")


def _pshot_tau(low: bool):
    return lambda s: s["kind"] == "pshot" and ((s["temperature"] < 1.0) if low else s["temperature"] == 1.0)


def _ck_label(c, selection) -> str:
    """A checkpoint for a legend; a named one shows the step the automatic selection chose."""
    if not isinstance(c, str):
        return step_label(c)
    chosen = (selection or {}).get("checkpoints", {}).get(c)
    return f"{c}={step_label(chosen)}" if chosen is not None else c


def _pshot_label(df, cfg, exp, selection=None):
    strat = {s["name"]: s for s in cfg["experiments"][exp]["strategies"]}

    def lab(name):
        cks = "+".join(_ck_label(c, selection) for c in strat[name]["checkpoints"])
        return f"{name} (from {cks})"

    return df.assign(strategy=df.strategy.map(lab))


def _ce_widths_fig(curves, cfg, exp, selected, with_teacher, title):
    fig, ax = plt.subplots(figsize=(5.5, 4))
    ce = [s["name"] for s in cfg["experiments"][exp]["strategies"] if s["kind"] == "ce"]
    df = _students(curves, exp)
    df = df[df.strategy.isin(ce)].assign(model=lambda d: "student w=" + d.width.astype(str))
    order = sorted(df.model.unique(), key=lambda s: int(s.split("=")[1]))
    if with_teacher:
        tw = cfg["experiments"][exp]["teacher"]["width"]
        t = _teacher(curves, exp, selected).assign(model=f"teacher w={tw}")
        df = pd.concat([df, t])
        order += list(t.model.unique())
    _lines(ax, df, "model", order, title=title, chance=chance_level(cfg, exp))
    return fig


@drawing("ce_widths")
def ce_widths(curves, probe, cfg, exp, selected, with_teacher, title):
    """CE students at every width (fig1a, fig3a, fig3b), with the teacher when asked."""
    return _ce_widths_fig(curves, cfg, exp, selected, with_teacher, title)


def _strategies_fig(curves, cfg, exp, width):
    fig, ax = plt.subplots(figsize=(5.5, 4))
    df = _students(curves, exp, width, _main_kind, cfg)
    order = [s["name"] for s in cfg["experiments"][exp]["strategies"] if _main_kind(s)]
    _lines(
        ax,
        df,
        "strategy",
        [o for o in order if o in set(df.strategy)],
        title=f"Strategies, student width {width}",
        chance=chance_level(cfg, exp),
    )
    return fig


@drawing("strategies")
def strategies(curves, probe, cfg, exp, selected, which):
    """CE, one-shot and progressive students (fig1b, fig4, fig5); ``which``: 0 smaller, 1 larger width."""
    return _strategies_fig(curves, cfg, exp, _widths(cfg, exp)[which])


def candidate_checkpoints(cfg, exp) -> list[int]:
    grid = cfg["experiments"][exp].get("pshot_grid")
    if grid:
        return sorted(grid["candidates"])
    return sorted(
        {
            c
            for s in cfg["experiments"][exp]["strategies"]
            if s["kind"] == "pshot"
            for c in s["checkpoints"]
            if not isinstance(c, str)
        }
    )


@drawing("teacher_selection")
def fig2a(curves, probe, cfg, exp, selected):
    fig, ax = plt.subplots(figsize=(6.5, 4))
    t = _teacher(curves, exp, selected)
    ax.plot(t.step, t.accuracy, color="black", label=f"teacher ({selected['teacher']})")
    for c in candidate_checkpoints(cfg, exp):
        acc = np.interp(c, t.step, t.accuracy)
        ax.plot([c], [acc], marker="v", markersize=9, linestyle="none", label=f"candidate {step_label(c)}")
    sel = selected.get("selection")
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
    _steps_axis(ax, "Teacher accuracy, p-shot candidates, automatic selection", chance_level(cfg, exp))
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
def fig2b(curves, probe, cfg, exp, selected):
    s = probe_summary(probe, exp, selected["teacher"], "p1")
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
    p1 = probe[(probe.experiment == exp) & (probe.teacher == selected["teacher"]) & (probe.output == "p1")]
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


def _pshot_fig(curves, cfg, exp, width, lows, titles, selection=None):
    fig, axes = plt.subplots(1, len(lows), figsize=(5.5 * len(lows), 4), squeeze=False)
    for ax, low, title in zip(axes[0], lows, titles, strict=True):
        df = _pshot_label(_students(curves, exp, width, _pshot_tau(low), cfg), cfg, exp, selection)
        _lines(ax, df, "strategy", sorted(df.strategy.unique()), title=title, chance=chance_level(cfg, exp))
    fig.tight_layout()
    return fig


def _low_tau(cfg, exp):
    taus = [s["temperature"] for s in cfg["experiments"][exp]["strategies"] if s["kind"] == "pshot"]
    return min(taus) if taus else 1.0


@drawing("pshot")
def pshot(curves, probe, cfg, exp, selected, which, lows, label):
    """p-shot students at one width (``which``: 0 smaller, 1 larger), one panel per entry of ``lows``
    (False: tau = 1, True: the lowest configured temperature)."""
    w = _widths(cfg, exp)[which]
    titles = [f"{label}, width {w}, tau = {_low_tau(cfg, exp) if low else 1:g}" for low in lows]
    return _pshot_fig(curves, cfg, exp, w, lows, titles, selected.get("selection"))


def feature_emergence(probe: pd.DataFrame, exp: str, teacher: str) -> pd.DataFrame:
    """Per checkpoint and internal node: the node's parity-feature |correlation| (transition.py)."""
    return feature_curves(probe[(probe.experiment == exp) & (probe.teacher == teacher)])


@drawing("node_features")
def fig8(curves, probe, cfg, exp, selected):
    feats = feature_emergence(probe, exp, selected["teacher"])
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
    p = probe[(probe.experiment == exp) & (probe.teacher == selected["teacher"])]
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


def scaling_figure(curves_path: str, cfg: dict, exp: str, pdf: str, png: str) -> dict:
    """Section 4.1's width-steps trade-off: CE's steps to the target accuracy against width (log-log,
    fitted slope; the SQ bound steps x width ~ n^d predicts -1), with the progressive students and the
    teacher on the same axes. Returns the fit (also written into the figure)."""
    sns.set_theme(style="whitegrid", context="paper")
    e = cfg["experiments"][exp]
    target = e["scaling"]["accuracy"]
    curves = best_lr(pd.read_parquet(curves_path))
    curves = curves[curves.experiment == exp]
    ce_names = [s["name"] for s in e["strategies"] if s["kind"] == "ce"]
    # Progressive students, and p-shot ones (e.g. from the automatically selected transition).
    prog = [s["name"] for s in e["strategies"] if s["kind"] in ("progressive", "pshot")]
    pts = steps_to_accuracy(curves[curves.role == "student"], target)
    ce = pts[pts.strategy.isin(ce_names)]
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    fit = scaling_fit(ce)
    _scaling_points(ax, ce, "CE", "tab:blue", "o")
    markers = ["s", "D", "^", "v", "P", "X"]
    for i, name in enumerate(prog):
        color = sns.color_palette("tab10")[(i + 1) % 10]
        _scaling_points(ax, pts[pts.strategy == name], name, color, markers[i % len(markers)])
    t = steps_to_accuracy(curves[curves.role == "teacher"].assign(strategy="teacher"), target)
    _scaling_points(ax, t, "teacher (CE, its own LR)", "black", "*")
    info = {"experiment": exp, "target": target, "slope": None, "intercept": None}
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
    ax.set_title(f"{exp}: open markers: not every seed reached {target:.0%} (at the budget if none did)")
    fig.suptitle(f"scaling_{exp}: CE width sweep and distilled students", fontsize="small", y=1.0)
    save_figure(fig, pdf, png)
    log.info("%s: CE steps to %.2f vs width: %s", exp, target, info)
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


def make_figure(
    name: str,
    curves_path: str,
    probe_path: str,
    cfg: dict,
    selected: dict,
    pdf: str,
    png: str,
    selection: dict | None = None,
) -> None:
    """Draw one figure of the registry (layout.FIGURES); ``selection`` (select_checkpoints output) is
    drawn on fig2a / fig7a."""
    jobtime.mark("read")
    curves = pd.read_parquet(curves_path)
    probe = pd.read_parquet(probe_path)
    jobtime.mark("work")  # drawing, then rendering to PDF and PNG
    _draw(name, best_lr(curves), probe, cfg, selected, pdf, png, selection)


def make_figures(
    names: list[str],
    curves_path: str,
    probe_path: str,
    cfg: dict,
    selected_paths: list[str],
    selection_paths: list[str],
    pdfs: list[str],
    pngs: list[str],
) -> None:
    """Draw several figures of the registry in one process (the figure rule's job): the tables are read
    and each strategy's best LR chosen once. ``selected_paths`` / ``selection_paths``: the select_teacher and
    select_checkpoints outputs of the experiments drawn."""
    import json

    jobtime.mark("read")
    curves = pd.read_parquet(curves_path)
    probe = pd.read_parquet(probe_path)
    chosen = {}
    for sel_path, selection_path in zip(selected_paths, selection_paths, strict=True):
        with open(sel_path) as fh, open(selection_path) as gh:
            selected = json.load(fh)
            chosen[selected["experiment"]] = (selected, json.load(gh))
    jobtime.mark("work")  # drawing, then rendering to PDF and PNG
    curves = best_lr(curves)
    for name, pdf, png in zip(names, pdfs, pngs, strict=True):
        selected, selection = chosen[cfg["figures"][L.FIGURES[name].family]]
        _draw(name, curves, probe, cfg, selected, pdf, png, selection)
        log.info("drew %s", name)


def _draw(name, curves, probe, cfg, selected, pdf, png, selection) -> None:
    """One figure from the tables (``curves`` at each strategy's best LR) to its PDF and PNG."""
    sns.set_theme(style="whitegrid", context="paper")
    exp = selected["experiment"]
    selected = {**selected, "selection": selection}
    spec = L.FIGURES[name]
    fig = DRAWINGS[spec.draw](curves, probe, cfg, exp, selected, **spec.options)
    fig.suptitle(f"{name}: {spec.caption}", fontsize="small", y=1.0)
    save_figure(fig, pdf, png)


# Every registered figure by name, as a callable (curves, probe, cfg, exp, selected) -> figure.
FIGURES = {
    name: functools.partial(DRAWINGS[spec.draw], **spec.options)
    for name, spec in L.FIGURES.items()
    if spec.family != "theory"
}
