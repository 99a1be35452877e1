"""Steps to accuracy as censored data: Kaplan-Meier estimates, medians with confidence intervals and
log-rank tests (scikit-survival), one row per claim the README makes.

A run's "time" to a threshold is the first evaluated step at or above it (an event). A run that never got
there within its budget is censored at its last step; so is a diverged run, which counts as never
reaching any threshold (its accuracy before diverging does not count). Averaging only the runs that got
there, as a mean over seeds did, drops exactly the slow runs; a survival estimate keeps them.

The smallest p-value a two-sided log-rank test can give is set by the runs: 3 against 3 never go below about
0.02 (0.025 when every run of one strategy reaches the threshold, at distinct steps, before any run of the
other; 0.022 with ties), 10 against 10 not below 3e-6 (``min_logrank_p`` computes the distinct-steps floor).
The comparisons of one experiment are many, so each p-value comes with its Holm adjustment over the family
(``holm``: statsmodels), which controls the chance of any false claim among them.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .config import Experiment, Study, as_study
from .metrics import best_lr, censored_steps  # the same LR choice and threshold rule everywhere
from .strategies import KINDS

log = logging.getLogger(__name__)

THRESHOLDS = (0.90, 0.95, 0.99)
SURVIVAL_COLUMNS = [
    "experiment",
    "width",
    "strategy",
    "threshold",
    "median_steps",
    "ci_low",
    "ci_high",
    "runs",
    "reached",
    "diverged",
    "budget",
]
COMPARISON_COLUMNS = [
    "experiment",
    "width",
    "threshold",
    "strategy",
    "baseline",
    "claim",
    "test",
    "statistic",
    "p_value",
    "p_holm",
    "median_strategy",
    "median_baseline",
]
TEST = "log-rank"


def run_times(curves: pd.DataFrame, thresholds=THRESHOLDS) -> pd.DataFrame:
    """One row per (experiment, width, strategy, seed, threshold) of the students at their best LR:
    ``steps`` (first step at or above the threshold, else the run's budget), ``reached`` (the event) and
    ``diverged``."""
    df = best_lr(curves[curves.role == "student"])
    rows = []
    for (exp, width, strategy, seed), g in df.groupby(["experiment", "width", "strategy", "seed"], sort=True):
        g = g.sort_values("step")
        diverged = bool(g.diverged.any())
        budget = int(g.step.max())
        for thr in thresholds:
            steps, reached = censored_steps(g.step, g.accuracy, thr, diverged)
            rows.append(
                dict(
                    experiment=exp,
                    width=int(width),
                    strategy=strategy,
                    seed=int(seed),
                    threshold=float(thr),
                    steps=steps,
                    reached=reached,
                    diverged=diverged,
                    budget=budget,
                )
            )
    return pd.DataFrame(rows)


def kaplan_meier(steps, reached) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Times, the estimated fraction of runs *not yet* at the threshold S(t), and its 95% log-log band."""
    from sksurv.nonparametric import kaplan_meier_estimator

    steps = np.asarray(steps, dtype=np.float64)
    reached = np.asarray(reached, dtype=bool)
    t, s, ci = kaplan_meier_estimator(reached, steps, conf_type="log-log")
    return t, s, ci[0], ci[1]


def median_with_ci(steps, reached) -> tuple[float, float, float]:
    """Median steps to the threshold and its 95% interval (the steps where the Kaplan-Meier band contains
    one half); NaN where the estimate never gets there within the budget (unbounded above)."""
    if not np.any(reached):
        return np.nan, np.nan, np.nan
    t, s, lo, hi = kaplan_meier(steps, reached)

    def first(mask):
        idx = np.flatnonzero(mask)
        return float(t[idx[0]]) if len(idx) else np.nan

    return first(s <= 0.5), first(lo <= 0.5), first(hi <= 0.5)


def logrank(a: pd.DataFrame, b: pd.DataFrame) -> tuple[float, float]:
    """Two-sided log-rank test of two groups of run times: (chi-square statistic, p-value). With no run
    of either group at the threshold, or no step at which the test's variance is positive (e.g. every run
    of both groups reaching it at the same evaluation), there is no evidence either way: (0, 1)."""
    from sksurv.compare import compare_survival
    from sksurv.util import Surv

    both = pd.concat([a, b])
    if not both.reached.any():
        return 0.0, 1.0
    y = Surv.from_arrays(event=both.reached.to_numpy(), time=both.steps.to_numpy(dtype=np.float64))
    group = np.r_[np.zeros(len(a), dtype=int), np.ones(len(b), dtype=int)]
    try:
        stat, p = compare_survival(y, group)
    except np.linalg.LinAlgError:  # zero variance: the groups cannot be told apart at any event
        return 0.0, 1.0
    return float(stat), float(p)


def min_logrank_p(n_a: int, n_b: int) -> float:
    """The smallest p-value the log-rank test can give for n_a against n_b runs: every run of one group
    reaches the threshold, in distinct steps, before any run of the other (which never does)."""
    a = pd.DataFrame({"steps": np.arange(1, n_a + 1), "reached": True})
    b = pd.DataFrame({"steps": np.full(n_b, n_a + 1), "reached": False})
    return logrank(a, b)[1]


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (statsmodels' multipletests): each adjusted
    p-value, compared with alpha, controls the family-wise error rate at alpha without assuming the tests
    independent. NaN (no test) stays NaN and does not count in the family."""
    from statsmodels.stats.multitest import multipletests

    p = np.asarray(p_values, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = multipletests(p[ok], method="holm")[1]
    return out


def survival_table(times: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (exp, width, strategy, thr), g in times.groupby(["experiment", "width", "strategy", "threshold"]):
        med, lo, hi = median_with_ci(g.steps, g.reached)
        rows.append(
            dict(
                experiment=exp,
                width=int(width),
                strategy=strategy,
                threshold=float(thr),
                median_steps=med,
                ci_low=lo,
                ci_high=hi,
                runs=int(len(g)),
                reached=int(g.reached.sum()),
                diverged=int(g.diverged.sum()),
                budget=int(g.budget.max()),
            )
        )
    return pd.DataFrame(rows, columns=SURVIVAL_COLUMNS)


def claims(exp: Experiment) -> list[tuple[str, str, str]]:
    """(strategy, baseline, claim) pairs to test, as each strategy kind states them (Strategy.claims):
    every progressive strategy against CE and every one-shot; a 2-shot strategy from the automatically
    selected 'transition' against every other 2-shot one of its temperature. Kinds in the order they are
    defined, strategies in the configured order. The tests chosen from the data (e.g. the best 3-shot
    against the best 2-shot) are added per width and threshold by comparisons()."""
    out = []
    for cls in KINDS.values():
        for st in (s for s in exp.strategies if type(s) is cls):
            out += [(st.name, b.name, claim) for b, claim in st.claims(exp)]
    return out


def _best(times: pd.DataFrame, names: list[str]) -> str | None:
    """The fastest strategy: most runs at the threshold, then the smallest mean (censored) steps."""
    g = times[times.strategy.isin(names)].groupby("strategy")
    if not len(g):
        return None
    score = pd.DataFrame({"reached": g.reached.sum(), "steps": g.steps.mean()})
    return score.sort_values(["reached", "steps"], ascending=[False, True], kind="stable").index[0]


def comparisons(times: pd.DataFrame, cfg: dict | Study) -> pd.DataFrame:
    """A log-rank test per claim, experiment x student width x threshold (comparisons.parquet), its p-value
    as it is and Holm-adjusted (``p_holm``) over the family of one experiment's claims at one threshold
    (every claim and width of it)."""
    study = as_study(cfg)
    rows = []
    for (exp_name, width, thr), g in times.groupby(["experiment", "width", "threshold"], sort=True):
        exp = study.experiment(exp_name)
        pairs = claims(exp)
        for cls in KINDS.values():
            pairs += cls.group_claims(exp, lambda names, g=g: _best(g, names))
        for strategy, baseline, claim in pairs:
            a, b = g[g.strategy == strategy], g[g.strategy == baseline]
            if a.empty or b.empty:
                continue
            stat, p = logrank(a, b)
            rows.append(
                dict(
                    experiment=exp_name,
                    width=int(width),
                    threshold=float(thr),
                    strategy=strategy,
                    baseline=baseline,
                    claim=claim,
                    test=TEST,
                    statistic=stat,
                    p_value=p,
                    p_holm=np.nan,
                    median_strategy=median_with_ci(a.steps, a.reached)[0],
                    median_baseline=median_with_ci(b.steps, b.reached)[0],
                )
            )
    out = pd.DataFrame(rows, columns=COMPARISON_COLUMNS)
    for _, g in out.groupby(["experiment", "threshold"]):
        out.loc[g.index, "p_holm"] = holm(g.p_value)
    return out


def survival_figure(
    times: pd.DataFrame, cfg: dict | Study, exp: str, pdf: str, png: str, threshold=0.95
) -> None:
    """Fraction of runs at >= ``threshold`` held-out accuracy against steps (1 - Kaplan-Meier), one line
    per strategy, one panel per student width; a line that stays below 1 at the end had censored runs."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    from .figures import save_figure

    sns.set_theme(style="whitegrid", context="paper")
    t = times[(times.experiment == exp) & np.isclose(times.threshold, threshold)]
    widths = sorted(t.width.unique())
    fig, axes = plt.subplots(1, max(1, len(widths)), figsize=(6 * max(1, len(widths)), 4.5), squeeze=False)
    model = as_study(cfg).experiment(exp)
    low_tau = {st.name for st in model.strategies if st.temperature < 1}  # drawn dashed
    names = [st.name for st in model.strategies if st.name in set(t.strategy)]
    colors = dict(
        zip(names, sns.color_palette("tab20" if len(names) > 10 else "tab10", len(names)), strict=True)
    )
    for ax, width in zip(axes[0], widths, strict=False):
        g = t[t.width == width]
        budget = int(g.budget.max())
        for name in names:
            r = g[g.strategy == name]
            if r.empty:
                continue
            if r.reached.any():
                steps, s, _, _ = kaplan_meier(r.steps, r.reached)
                x, y = np.r_[0, steps, budget], np.r_[0, 1 - s, 1 - s[-1]]
            else:
                x, y = np.array([0, budget]), np.zeros(2)
            ls = "--" if name in low_tau else "-"
            ax.step(
                x,
                y,
                where="post",
                color=colors[name],
                linestyle=ls,
                label=f"{name} ({int(r.reached.sum())}/{len(r)})",
            )
        ax.set_xlim(0, budget)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("student training steps")
        ax.set_ylabel(f"fraction of runs at >= {threshold:.0%}")
        ax.set_title(f"{exp}, student width {width}")
        import matplotlib.ticker

        ax.xaxis.set_major_formatter(matplotlib.ticker.EngFormatter(sep=""))
    axes[0][-1].legend(
        fontsize="x-small", loc="center left", bbox_to_anchor=(1.0, 0.5), title="strategy (runs reached)"
    )
    fig.suptitle(
        f"survival_{exp}: Kaplan-Meier fraction of runs at {threshold:.0%} held-out accuracy "
        "(best LR per strategy; censored at the budget, diverged runs never reach)",
        fontsize="small",
        y=1.0,
    )
    fig.tight_layout()
    save_figure(fig, pdf, png)


def write_survival(curves_path: str, cfg: dict | Study, survival_out: str, comparisons_out: str) -> None:
    """results/survival.parquet and results/comparisons.parquet from the aggregated curves."""
    from . import jobtime
    from .io import write_parquet

    jobtime.mark("read")
    curves = pd.read_parquet(curves_path)
    jobtime.mark("work")
    times = run_times(curves)
    surv = survival_table(times)
    comp = comparisons(times, cfg)
    jobtime.mark("write")
    write_parquet(surv, survival_out)
    write_parquet(comp, comparisons_out)
    for r in comp[np.isclose(comp.threshold, 0.95)].itertuples():
        log.info(
            "%s w%d 95%%: %s vs %s (%s): log-rank p = %.3g (Holm %.3g)",
            r.experiment,
            r.width,
            r.strategy,
            r.baseline,
            r.claim,
            r.p_value,
            r.p_holm,
        )


def write_survival_figure(curves_path: str, cfg: dict | Study, exp: str, pdf: str, png: str) -> None:
    times = run_times(pd.read_parquet(curves_path))
    survival_figure(times, cfg, exp, pdf, png)
