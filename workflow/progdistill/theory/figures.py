"""Figures of the appendix-B check (results/theory/theory.parquet), in the workflow's seaborn style."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .. import layout as L  # noqa: E402
from ..figures import save_figure  # noqa: E402
from .tables import loglog_slope  # noqa: E402

# Captions by drawing name (the registry, layout.FIGURES, holds them by figure name theory_<drawing>).


def _mean_se(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    g = df.groupby(keys).value
    out = g.agg(["mean", "std", "count"]).reset_index()
    out["se"] = out["std"].fillna(0) / np.sqrt(out["count"])
    return out


def _n_axis(ax, ns) -> None:
    """Log-scaled n with the configured values as plain tick labels (log ticks overlap at these ranges)."""
    ax.set_xscale("log")
    ax.set_xticks(sorted(set(int(n) for n in ns)))
    ax.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _errorbars(ax, df, x, label, color, marker="o"):
    ax.errorbar(df[x], df["mean"], yerr=df["se"], label=label, color=color, marker=marker, capsize=3, lw=1.2)


def corr_figure(df: pd.DataFrame, target_loss: float | None = None):
    corr = df[df.part == "correlation"]
    kappas = sorted(corr.batch_factor.unique())
    ds = sorted(corr.d.unique())
    pal = sns.color_palette("deep", len(ds) * len(kappas))
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    if corr.empty:
        for ax in axes:
            ax.text(0.5, 0.5, "no cells configured", ha="center", transform=ax.transAxes)
        return fig
    ax = axes[0]
    for i, (d, kappa) in enumerate((d, k) for d in ds for k in kappas):
        c = corr[(corr.d == d) & (corr.batch_factor == kappa)]
        if c.empty:
            continue
        col = pal[i]
        al = _mean_se(c[c.quantity == "corr_in_aligned"], ["n"])
        _errorbars(ax, al, "n", f"d={d} κ={kappa:g}: per neuron, aligned", col)
        net = _mean_se(c[c.quantity.str.startswith("corr_in_network_x")], ["n"])
        _errorbars(ax, net, "n", f"d={d} κ={kappa:g}: network E[f x_i] (signed)", col, marker="s")
        ax.axhline(1 / (8 * d), color=col, ls="--", lw=1)
        ax.axhline(1 / (4 * d), color=col, ls=":", lw=1)
    ax.axhline(0, color="grey", lw=0.8)
    _n_axis(ax, corr.n)
    ax.set(
        xlabel="n",
        ylabel="correlation with x_i, i in S",
        title="In the support (dashed 1/(8d) paper, dotted 1/(4d) exact)",
    )
    ax.legend(fontsize="x-small")
    ax = axes[1]
    for i, (d, kappa) in enumerate((d, k) for d in ds for k in kappas):
        c = corr[(corr.d == d) & (corr.batch_factor == kappa) & (corr.quantity == "corr_out_aligned")]
        if c.empty:
            continue
        col = pal[i]
        m = _mean_se(c, ["n"])
        slope, se, _ = loglog_slope(c.n, c.value)
        fitted = f", slope {slope:.2f} ± {se:.2f}" if np.isfinite(slope) else ""
        _errorbars(ax, m, "n", f"d={d} κ={kappa:g}: measured{fitted}", col)
        ex = c.groupby("n")[["exact", "paper"]].first().reset_index()
        ax.plot(ex.n, ex.exact, color=col, ls=":", lw=1.2)
        ax.plot(ex.n, ex.paper, color=col, ls="--", lw=1)
    _n_axis(ax, corr.n)
    ax.set(
        yscale="log",
        xlabel="n",
        ylabel="per-neuron correlation with x_u, u not in S",
        title="Off the support (dashed (dn)^-2 paper, dotted exact)",
    )
    ax.legend(fontsize="x-small")
    ax = axes[2]
    for i, (d, kappa) in enumerate((d, k) for d in ds for k in kappas):
        c = corr[(corr.d == d) & (corr.batch_factor == kappa)]
        if c.empty:
            continue
        col = pal[i]
        for q, marker, where in (("corr_in_network_abs", "o", "in"), ("corr_out_network_abs", "v", "off")):
            m = _mean_se(c[c.quantity == q], ["n"])
            _errorbars(ax, m, "n", f"d={d} κ={kappa:g}: {where} S", col, marker=marker)
            ex = c[c.quantity == q].groupby("n").exact.first()
            ax.plot(ex.index, ex.values, color=col, ls=":", lw=1)
    _n_axis(ax, corr.n)
    ax.set(
        yscale="log",
        xlabel="n",
        ylabel="|E[f(x) x_u]| of the network",
        title="Network level, in vs off S (dotted: first-order prediction)",
    )
    ax.legend(fontsize="x-small")
    return fig


def samples_figure(df: pd.DataFrame, target_loss: float | None = None):
    st = df[df.part == "student"]
    runs = df[df.part == "student_run"]
    fits = df[df.part == "fit"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    if st.empty:
        for ax in axes:
            ax.text(0.5, 0.5, "no students configured", ha="center", transform=ax.transAxes)
        return fig
    colors = {"progressive": sns.color_palette("deep")[2], "oneshot": sns.color_palette("deep")[3]}
    for ax, quantity, title in (
        (axes[0], "samples", "Samples to the target loss (B_1 + stage-2 steps)"),
        (axes[1], "support_batch", "Stage-1 batch that recovers the support"),
    ):
        q = st[st.quantity == quantity]
        finite = q[np.isfinite(q.value)]
        top = finite.value.max() * 2 if len(finite) else 1.0
        for strategy, g in q.groupby("strategy"):
            col = colors.get(strategy)
            ok = g[np.isfinite(g.value)]
            ax.scatter(ok.n, ok.value, color=col, alpha=0.5, s=18)
            miss = g[~np.isfinite(g.value)]
            if len(miss):
                lab = f"{strategy}: not reached (drawn at the top)"
                ax.scatter(miss.n, np.full(len(miss), top), color=col, marker="^", s=30, label=lab)
            if len(ok):
                gm = ok.groupby("n").value.apply(lambda v: np.exp(np.log(v).mean()))
                f = fits[(fits.strategy == strategy) & (fits.quantity == f"slope_{quantity}_vs_n")]
                lab = strategy
                if len(f) and np.isfinite(f.value.iloc[0]):
                    r = f.iloc[0]
                    lab += f": slope {r.value:.2f} ± {r.slope_se:.2f}"
                    lab += f" (paper {r.paper:.2g}, population {r.exact:.2g})"
                ax.plot(gm.index, gm.values, color=col, marker="o", label=lab)
        _n_axis(ax, st.n)
        ax.set(yscale="log", xlabel="n", ylabel="samples", title=title)
        ax.legend(fontsize="x-small")
    ax = axes[2]
    nmax = runs.n.max()
    r = runs[(runs.n == nmax) & (runs.quantity == "run_best_loss")]
    for strategy, g in r.groupby("strategy"):
        m = g.groupby("batch").value.median()
        ax.plot(m.index, m.values, marker="o", color=colors.get(strategy), label=strategy)
    if target_loss:
        ax.axhline(target_loss, color="grey", ls="--", lw=1, label="target")
    ax.set(
        xscale="log",
        xlabel="student stage-1 batch B_1",
        ylabel="lowest held-out loss (median over seeds)",
        title=f"n = {nmax}: best loss reached after stage 2",
    )
    ax.legend(fontsize="x-small")
    return fig


# Drawing functions by the name layout.FIGURES entries of family "theory" give in ``draw``.
DRAWINGS = {"corr": corr_figure, "samples": samples_figure}


def make_figure(name: str, table: str, pdf: str, png: str, target_loss: float | None = None) -> None:
    """Draw the registered theory figure ``name`` (theory_corr or theory_samples)."""
    spec = L.FIGURES[name]
    sns.set_theme(style="whitegrid", context="paper")
    fig = DRAWINGS[spec.draw](pd.read_parquet(table), target_loss, **spec.options)
    fig.suptitle(f"{name}: {spec.caption}", fontsize="small", y=1.0)
    fig.tight_layout()
    save_figure(fig, pdf, png)
