"""How steps grow with n (theorem B.8): steps to 95% held-out accuracy of every run of the ``nscaling``
experiments as censored data, and per strategy the exponent b of steps ~ n^b.

- ``run_times``: one row per run: the first evaluated step at or above 95% (an event), or the run's budget
  (censored; a diverged run never reaches it), the rule of metrics.censored_steps. Each strategy at its best
  LR per n (metrics.best_lr, the rule of every other table), and at each LR on its own (the slopes'
  sensitivity to that choice); the teachers (every LR x seed) as their own group.
- ``fit_slope``: an accelerated-failure-time regression of log steps on log n (lifelines, two families:
  Weibull and log-normal), censored runs kept: the slope is b, with its 95% Wald interval. Over every n
  (``fit = "all n"``) and over each pair of adjacent n (``"adjacent"``: the curvature).
- ``tests``: whether two strategies' exponents differ (a likelihood-ratio test of a common slope against
  one per strategy, each strategy keeping its own intercept and scale, with the Wald interval of the
  difference) and whether a strategy's log-log curve bends (a (log n)^2 term, likelihood ratio).
- ``medians``: the Kaplan-Meier median per n with its 95% interval (survival.median_with_ci).

The configuration is read through the study model (progdistill.config.Study: ``study.nscaling``, the
section's cells, and its generated experiments); a strategy's predicted exponent is its class's
(``Strategy.growth_with_n``). numpy / pandas / scipy / lifelines; matplotlib only in the figure."""

from __future__ import annotations

import itertools
import json
import logging
import warnings

import numpy as np
import pandas as pd

from .config import Study, as_study
from .metrics import BEST_LR_TARGET, best_lr, censored_steps
from .nscaling_grid import Cell

log = logging.getLogger(__name__)

THRESHOLD = BEST_LR_TARGET  # steps to 95%: the accuracy every finding compares
MODELS = ("lognormal", "weibull")
BEST = "best"  # the lrs value of the best-LR-per-n rows
TEACHER = "teacher"
MAIN = (BEST, "all")  # the rows the findings quote: best LR per n; teachers: every teacher

TIME_COLUMNS = [
    "d",
    "n",
    "experiment",
    "width",
    "strategy",
    "lrs",
    "lr",
    "seed",
    "steps",
    "reached",
    "budget",
]
SLOPE_COLUMNS = [
    "d",
    "width",
    "strategy",
    "lrs",
    "model",
    "fit",
    "n_min",
    "n_max",
    "n_values",
    "runs",
    "censored",
    "slope",
    "ci_low",
    "ci_high",
    "se",
    "center_log_n",
    "log_median_at_center",
    "log_likelihood",
    "aic",
    "theory",
    "note",
]
MEDIAN_COLUMNS = [
    "d",
    "n",
    "width",
    "strategy",
    "lrs",
    "lr",
    "median_steps",
    "ci_low",
    "ci_high",
    "runs",
    "reached",
    "budget",
    "interval",
    "teacher",
    "transition",
]
TEST_COLUMNS = [
    "d",
    "width",
    "lrs",
    "model",
    "test",
    "strategy",
    "baseline",
    "estimate",
    "ci_low",
    "ci_high",
    "statistic",
    "df",
    "p_value",
    "note",
]


# ------------------------------------------------------------------------------------------- run times


def _cells(study: Study) -> dict[str, Cell]:
    """experiment name -> its cell (d, n, checkpoint interval), for the section's generated experiments."""
    return {c.experiment: c for c in (study.nscaling.cells if study.nscaling else ())}


def run_times(curves: pd.DataFrame, study: Study | dict) -> pd.DataFrame:
    """Steps to 95% of every run of the nscaling experiments (TIME_COLUMNS): students at their best LR per
    (n, strategy, width) (``lrs = "best"``, ``lr`` the LR chosen) and at each LR (``lrs = f"{lr:g}"``);
    teachers as strategy ``teacher`` (``lrs = "all"``: every LR x seed of the grid, ``seed`` numbering
    them), ``width`` the teacher's."""
    where = _cells(as_study(study))
    df = curves[curves.experiment.isin(list(where))]
    rows = []

    def add(g, strategy, width, lrs, lr, seed):
        g = g.sort_values("step")
        steps, reached = censored_steps(g.step, g.accuracy, THRESHOLD, bool(g.diverged.any()))
        c = where[g.experiment.iloc[0]]
        rows.append(
            (
                c.d,
                c.n,
                c.experiment,
                int(width),
                strategy,
                lrs,
                lr,
                int(seed),
                steps,
                reached,
                int(g.step.max()),
            )
        )

    students = df[df.role == "student"]
    for (_, strategy, width, lr, seed), g in students.groupby(
        ["experiment", "strategy", "width", "lr", "seed"]
    ):
        add(g, strategy, width, f"{lr:g}", float(lr), seed)
    if len(students):
        for (_, strategy, width, seed), g in best_lr(students).groupby(
            ["experiment", "strategy", "width", "seed"]
        ):
            add(g, strategy, width, BEST, float(g.lr.iloc[0]), seed)
    teachers = df[df.role == "teacher"]
    for (_, width), t in teachers.groupby(["experiment", "width"]):
        for i, (_, g) in enumerate(t.groupby(["lr", "seed"])):
            add(g, TEACHER, width, "all", float(g.lr.iloc[0]), i)
    out = pd.DataFrame(rows, columns=TIME_COLUMNS)
    return out.sort_values(["d", "strategy", "width", "lrs", "n", "seed"], ignore_index=True)


# ------------------------------------------------------------------------------------------- fits


def _fitter(model: str):
    from lifelines import LogNormalAFTFitter, WeibullAFTFitter

    return {"lognormal": LogNormalAFTFitter, "weibull": WeibullAFTFitter}[model]()


def _fit(df: pd.DataFrame, model: str, formula: str, ancillary: str | None = None):
    """A lifelines AFT fit of ``steps`` (event ``reached``) on the formula's columns; warnings kept."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = _fitter(model)
        kw = {"ancillary": ancillary} if ancillary else {}
        f.fit(df, duration_col="t", event_col="reached", formula=formula, **kw)
    notes = sorted({type(w.message).__name__ for w in caught if "lifelines" in str(w.category.__module__)})
    return f, notes


def _prepare(times: pd.DataFrame, center: float | None = None) -> tuple[pd.DataFrame, float, float]:
    """Columns t (steps over their geometric mean: the fit's scale, not its slope), x = log n - center."""
    df = times.copy()
    df["reached"] = df.reached.astype(bool)
    scale = float(np.exp(np.mean(np.log(np.maximum(df.steps.to_numpy(dtype=float), 1.0)))))
    df["t"] = np.maximum(df.steps.to_numpy(dtype=float), 1.0) / scale
    logn = np.log(df.n.to_numpy(dtype=float))
    center = float(np.mean(np.unique(logn))) if center is None else center
    df["x"] = logn - center
    return df, center, scale


def log_median(model: str, mu: float, ancillary: float) -> float:
    """log of the model's median time for linear predictor ``mu`` and its ancillary parameter (log-normal:
    log sigma, median exp(mu); Weibull: log rho, median exp(mu) (ln 2)^(1/rho))."""
    if model == "lognormal":
        return mu
    return mu + np.log(np.log(2.0)) / np.exp(ancillary)


def fit_slope(times: pd.DataFrame, model: str) -> dict:
    """The exponent b of steps ~ n^b from one group of runs (columns n, steps, reached): the coefficient
    of log n in an AFT regression, its 95% Wald interval and the fitted median line (log of the median
    steps at n = exp(center_log_n)). NaN with a note when the data cannot determine it: no event, or events
    at fewer than two n (a slope that every censored n could push to infinity)."""
    ns = sorted(times.n.unique())
    out = dict(
        n_min=int(min(ns)),
        n_max=int(max(ns)),
        n_values=len(ns),
        runs=int(len(times)),
        censored=int((~times.reached.astype(bool)).sum()),
        slope=np.nan,
        ci_low=np.nan,
        ci_high=np.nan,
        se=np.nan,
        center_log_n=np.nan,
        log_median_at_center=np.nan,
        log_likelihood=np.nan,
        aic=np.nan,
        note="",
    )
    hit = sorted(times[times.reached.astype(bool)].n.unique())
    if len(times) < 4:  # slope, intercept and scale need more runs than parameters
        out["note"] = f"{len(times)} runs: too few for a slope and a scale"
        return out
    if len(hit) < 2:
        out["note"] = f"runs reached {THRESHOLD:.0%} at {len(hit)} of {len(ns)} n: no slope"
        return out
    missing = [int(n) for n in ns if n not in hit]
    df, center, scale = _prepare(times)
    try:
        f, notes = _fit(df, model, "x")
    except Exception as err:  # lifelines' ConvergenceError and numerical failures: say so, never guess
        out["note"] = f"fit failed: {type(err).__name__}: {str(err).splitlines()[0][:120]}"
        return out
    par = f.params_
    jacobian = float(df.reached.sum()) * np.log(scale)
    main = "mu_" if model == "lognormal" else "lambda_"
    anc = "sigma_" if model == "lognormal" else "rho_"
    ci = f.confidence_intervals_
    b = float(par[(main, "x")])
    out.update(
        slope=b,
        ci_low=float(ci.loc[(main, "x")].iloc[0]),
        ci_high=float(ci.loc[(main, "x")].iloc[1]),
        se=float(f.standard_errors_[(main, "x")]),
        center_log_n=center,
        log_median_at_center=float(log_median(model, par[(main, "Intercept")], par[(anc, "Intercept")]))
        + np.log(scale),
        # Of the times in steps (the fit saw them divided by ``scale``): comparable between the families.
        log_likelihood=float(f.log_likelihood_) - jacobian,
        aic=float(f.AIC_) + 2 * jacobian,
    )
    parts = notes + ([f"no run reached {THRESHOLD:.0%} at n = {missing}"] if missing else [])
    out["note"] = "; ".join(parts)
    return out


def theory(study: Study, strategy: str, d: int) -> str:
    """What theorem B.8 and the labels-only bound predict for a strategy's exponent (the strategy's class
    says, Strategy.growth_with_n); the teachers learn from labels."""
    if strategy == TEACHER:
        return f"teacher: labels only, ~ n^(d-1) = n^{d - 1} expected (Barak et al. 2022), not B.8"
    # Every generated experiment has the section's strategies: the first one's objects say it.
    exp = study.experiment(study.nscaling.cells[0].experiment)
    return exp.strategy(strategy).growth_with_n(d)


def slopes(times: pd.DataFrame, study: Study | dict) -> pd.DataFrame:
    """SLOPE_COLUMNS: per (d, width, strategy, lrs) and model, the fit over every n, and at the best LR per n
    (teachers: every teacher) over each pair of adjacent n too."""
    study = as_study(study)
    rows = []
    for (d, width, strategy, lrs), g in times.groupby(["d", "width", "strategy", "lrs"], sort=True):
        ns = sorted(g.n.unique())
        spans = [("all n", ns)]
        if lrs in MAIN:
            spans += [("adjacent", list(p)) for p in itertools.pairwise(ns)]
        for model in MODELS:
            for fit, span in spans:
                r = fit_slope(g[g.n.isin(span)], model)
                rows.append(
                    dict(
                        d=int(d),
                        width=int(width),
                        strategy=strategy,
                        lrs=lrs,
                        model=model,
                        fit=fit,
                        theory=theory(study, strategy, int(d)),
                        **r,
                    )
                )
    return pd.DataFrame(rows, columns=SLOPE_COLUMNS)


def _lr_test(full, reduced, df: int) -> tuple[float, float]:
    from scipy.stats import chi2

    stat = max(0.0, 2.0 * (full.log_likelihood_ - reduced.log_likelihood_))
    return float(stat), float(chi2.sf(stat, df))


def _no_test(note: str = "") -> dict:
    return dict(
        estimate=np.nan, ci_low=np.nan, ci_high=np.nan, statistic=np.nan, df=1, p_value=np.nan, note=note
    )


def _nested_test(df: pd.DataFrame, model: str, term: str, rest: str, ancillary: str | None = None) -> dict:
    """Likelihood-ratio test (1 d.f.) of the fit with ``term`` against the fit of ``rest`` alone; the
    estimate is ``term``'s coefficient in the full fit with its Wald 95% interval."""
    main = "mu_" if model == "lognormal" else "lambda_"
    try:
        full, n1 = _fit(df, model, f"{rest} + {term}", ancillary=ancillary)
        reduced, n2 = _fit(df, model, rest, ancillary=ancillary)
    except Exception as err:
        return _no_test(f"fit failed: {type(err).__name__}: {str(err).splitlines()[0][:120]}")
    stat, p = _lr_test(full, reduced, 1)
    ci = full.confidence_intervals_.loc[(main, term)]
    out = _no_test("; ".join(sorted(set(n1 + n2))))
    out.update(
        estimate=float(full.params_[(main, term)]),
        ci_low=float(ci.iloc[0]),
        ci_high=float(ci.iloc[1]),
        statistic=stat,
        p_value=p,
    )
    return out


def compare_slopes(a: pd.DataFrame, b: pd.DataFrame, model: str) -> dict:
    """Whether runs ``a`` and ``b`` (two strategies) grow with n at different exponents: log T =
    alpha_s + beta_s log n, each strategy with its own scale, against one common beta (likelihood ratio,
    1 d.f.); ``estimate`` = beta_a - beta_b with its Wald 95% interval."""
    for name, g in (("strategy", a), ("baseline", b)):
        if g[g.reached.astype(bool)].n.nunique() < 2:
            return _no_test(f"the {name} reached {THRESHOLD:.0%} at fewer than two n: no slope to compare")
    both = pd.concat([a.assign(g=1.0), b.assign(g=0.0)], ignore_index=True)
    df, _, _ = _prepare(both)
    df["gx"] = df.g * df.x
    return _nested_test(df, model, "gx", "g + x", ancillary="g")


def curvature(g: pd.DataFrame, model: str) -> dict:
    """Whether log steps bend against log n: a (log n - center)^2 term against the straight line
    (likelihood ratio, 1 d.f.); ``estimate`` its coefficient (> 0: steeper at larger n), Wald 95% interval."""
    if g.n.nunique() < 3 or g[g.reached.astype(bool)].n.nunique() < 3:
        return _no_test(f"runs reached {THRESHOLD:.0%} at fewer than three n: no curvature")
    df, _, _ = _prepare(g)
    df["x2"] = df.x**2
    return _nested_test(df, model, "x2", "x")


def tests(times: pd.DataFrame) -> pd.DataFrame:
    """TEST_COLUMNS: every pair of strategies' exponents compared, and every strategy's curvature (the
    teachers' too), per (d, width) and model, at the best LR per n (the fixed-LR slopes in ``slopes`` show
    how much that choice moves them)."""
    rows = []
    times = times[times.lrs.isin(MAIN)]
    for (d, width, lrs), g in times[times.strategy != TEACHER].groupby(["d", "width", "lrs"], sort=True):
        names = sorted(g.strategy.unique())
        for model in MODELS:
            for a, b in itertools.combinations(names, 2):
                r = compare_slopes(g[g.strategy == a], g[g.strategy == b], model)
                rows.append(
                    dict(
                        d=int(d),
                        width=int(width),
                        lrs=lrs,
                        model=model,
                        test="separate vs common slope",
                        strategy=a,
                        baseline=b,
                        **r,
                    )
                )
    for (d, width, strategy, lrs), g in times.groupby(["d", "width", "strategy", "lrs"], sort=True):
        for model in MODELS:
            r = curvature(g, model)
            rows.append(
                dict(
                    d=int(d),
                    width=int(width),
                    lrs=lrs,
                    model=model,
                    test="curvature (log n)^2",
                    strategy=strategy,
                    baseline="",
                    **r,
                )
            )
    return pd.DataFrame(rows, columns=TEST_COLUMNS)


def medians(
    times: pd.DataFrame, study: Study | dict, selections: dict[str, dict] | None = None
) -> pd.DataFrame:
    """MEDIAN_COLUMNS: the Kaplan-Meier median steps to 95% per (d, n, width, strategy, lrs) with its 95%
    interval (NaN: beyond the budget), and per n the checkpoint interval, the selected teacher and the
    transition checkpoint the selection chose (``selections``: experiment -> transition.json)."""
    from .survival import median_with_ci

    where = _cells(as_study(study))
    rows = []
    for (exp, width, strategy, lrs), g in times.groupby(
        ["experiment", "width", "strategy", "lrs"], sort=True
    ):
        med, lo, hi = median_with_ci(g.steps, g.reached.astype(bool))
        sel = (selections or {}).get(exp, {})
        c = where[exp]
        rows.append(
            dict(
                d=c.d,
                n=c.n,
                width=int(width),
                strategy=strategy,
                lrs=lrs,
                lr=float(g.lr.iloc[0]) if g.lr.nunique() == 1 else np.nan,
                median_steps=med,
                ci_low=lo,
                ci_high=hi,
                runs=int(len(g)),
                reached=int(g.reached.sum()),
                budget=int(g.budget.max()),
                interval=c.interval,
                teacher=sel.get("teacher", ""),
                transition=float(sel.get("checkpoints", {}).get("transition", np.nan)),
            )
        )
    out = pd.DataFrame(rows, columns=MEDIAN_COLUMNS)
    return out.sort_values(["d", "width", "strategy", "lrs", "n"], ignore_index=True)


# ------------------------------------------------------------------------------------------- outputs


def _fmt_steps(v: float) -> str:
    if not np.isfinite(v):
        return "open"
    return f"{v / 1e6:.3g}M" if v >= 1e6 else f"{v / 1e3:.3g}k" if v >= 1e3 else f"{v:.0f}"


def markdown(slope_t: pd.DataFrame, median_t: pd.DataFrame, test_t: pd.DataFrame) -> str:
    """results/nscaling/nscaling.md: the exponents (every LR rule and model), the medians per n, the tests."""
    lines = [
        f"# How steps to {THRESHOLD:.0%} grow with n",
        "",
        "Exponent b of steps ~ n^b (AFT regression on log n, censored runs kept; 95% Wald interval).",
        "",
        "| d | width | strategy | LR | model | b [95% interval] | n | runs (censored) | prediction | note |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in slope_t[slope_t.fit == "all n"].itertuples():
        b = f"{r.slope:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]" if np.isfinite(r.slope) else "–"
        lines.append(
            f"| {r.d} | {r.width} | {r.strategy} | {r.lrs} | {r.model} | {b} | {r.n_min}-{r.n_max} "
            f"({r.n_values}) | {r.runs} ({r.censored}) | {r.theory} | {r.note} |"
        )
    lines += ["", "Slopes between adjacent n (log-normal, best LR; teachers: every teacher):", ""]
    lines += ["| d | width | strategy | n | b [95% interval] | note |", "|---|---|---|---|---|---|"]
    adj = slope_t[(slope_t.fit == "adjacent") & (slope_t.model == "lognormal") & slope_t.lrs.isin(MAIN)]
    for r in adj.itertuples():
        b = f"{r.slope:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]" if np.isfinite(r.slope) else "–"
        lines.append(f"| {r.d} | {r.width} | {r.strategy} | {r.n_min}-{r.n_max} | {b} | {r.note} |")
    lines += ["", "Kaplan-Meier median steps to 95% [95% interval] (reached / runs):", ""]
    lines += ["| d | width | strategy | LR | n | median | reached | budget | transition |"]
    lines += ["|---|---|---|---|---|---|---|---|---|"]
    for r in median_t[median_t.lrs.isin(MAIN)].itertuples():
        lr = f" (LR {r.lr:g})" if np.isfinite(r.lr) else ""
        med = f"{_fmt_steps(r.median_steps)} [{_fmt_steps(r.ci_low)}, {_fmt_steps(r.ci_high)}]"
        if not np.isfinite(r.median_steps):
            med = "–"
        tr = _fmt_steps(r.transition) if np.isfinite(r.transition) else ""
        lines.append(
            f"| {r.d} | {r.width} | {r.strategy} | {r.lrs}{lr} | {r.n} | {med} | {r.reached}/{r.runs} | "
            f"{_fmt_steps(r.budget)} | {tr} |"
        )
    lines += [
        "",
        "Tests at the best LR per n (likelihood ratio, 1 d.f.; estimate with its 95% Wald interval):",
        "",
    ]
    lines += ["| d | width | LR | model | test | strategy | baseline | estimate | p | note |"]
    lines += ["|---|---|---|---|---|---|---|---|---|---|"]
    for r in test_t.itertuples():
        est = f"{r.estimate:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]" if np.isfinite(r.estimate) else "–"
        p = f"{r.p_value:.2g}" if np.isfinite(r.p_value) else "–"
        lines.append(
            f"| {r.d} | {r.width} | {r.lrs} | {r.model} | {r.test} | {r.strategy} | {r.baseline} | {est} | "
            f"{p} | {r.note} |"
        )
    return "\n".join(lines) + "\n"


def write_tables(
    curves_path: str,
    selection_paths: list[str],
    study: Study | dict,
    slopes_out: str,
    medians_out: str,
    tests_out: str,
    md_out: str,
) -> None:
    """results/nscaling/{slopes,medians,tests}.parquet and nscaling.md from the aggregated curves and the
    nscaling experiments' checkpoint selections."""
    from .io import atomic_path, write_parquet

    selections = {}
    for p in selection_paths:
        with open(p) as fh:
            sel = json.load(fh)
        selections[sel["experiment"]] = sel
    study = as_study(study)
    times = run_times(pd.read_parquet(curves_path), study)
    slope_t, median_t, test_t = slopes(times, study), medians(times, study, selections), tests(times)
    write_parquet(slope_t, slopes_out)
    write_parquet(median_t, medians_out)
    write_parquet(test_t, tests_out)
    with atomic_path(md_out) as tmp, open(tmp, "w") as fh:
        fh.write(markdown(slope_t, median_t, test_t))
    for r in slope_t[(slope_t.fit == "all n") & slope_t.lrs.isin(MAIN)].itertuples():
        log.info(
            "d=%d w%d %s (%s): b = %.2f [%.2f, %.2f] over n = %d..%d, %d runs (%d censored) %s",
            r.d,
            r.width,
            r.strategy,
            r.model,
            r.slope,
            r.ci_low,
            r.ci_high,
            r.n_min,
            r.n_max,
            r.runs,
            r.censored,
            r.note,
        )


# ------------------------------------------------------------------------------------------- figure


def _references(d: int) -> list[tuple[float, tuple, str]]:
    """The reference slopes drawn: 2 (theorem B.8's progressive bound) and d-1 (labels only), once when
    they coincide (d = 3)."""
    if d - 1 == 2:
        return [(2, (0, (1, 1)), "B.8 and d-1")]
    return [(2, (0, (1, 1)), "B.8"), (d - 1, (0, (5, 2)), "d-1")]


def figure(slope_t: pd.DataFrame, median_t: pd.DataFrame, study: Study | dict, model: str = "lognormal"):
    """Per (d, student width): left, steps to 95% against n on log-log axes, the Kaplan-Meier median per n
    and strategy (best LR; teachers: every teacher) with its 95% interval (an open marker at the budget:
    fewer than half the runs got there), the fitted AFT median line of ``model`` and the reference slopes 2
    and d-1; right, every fitted exponent with its interval (best LR and each LR, both models)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    order = [*as_study(study).nscaling.strategy_names, TEACHER]
    colors = dict(zip(order, sns.color_palette("tab10", len(order)), strict=True))
    students = median_t[median_t.strategy != TEACHER]
    panels = sorted({(int(d), int(w)) for d, w in zip(students.d, students.width, strict=True)})
    fig, axes = plt.subplots(len(panels), 2, figsize=(12, 4.8 * len(panels)), squeeze=False)
    for (ax, fx), (d, width) in zip(axes, panels, strict=True):
        med = median_t[(median_t.d == d) & ((median_t.width == width) | (median_t.strategy == TEACHER))]
        fits = slope_t[(slope_t.d == d) & ((slope_t.width == width) | (slope_t.strategy == TEACHER))]
        ns = np.array(sorted(med.n.unique()), dtype=float)
        for name in order:
            m = med[(med.strategy == name) & med.lrs.isin(MAIN)].sort_values("n")
            if m.empty:
                continue
            f = fits[(fits.strategy == name) & fits.lrs.isin(MAIN) & (fits.model == model)]
            f = f[f.fit == "all n"]
            label = name
            if len(f) and np.isfinite(f.slope.iloc[0]):
                r = f.iloc[0]
                label = f"{name}: b = {r.slope:.2f} [{r.ci_low:.2f}, {r.ci_high:.2f}]"
                xs = np.geomspace(ns.min(), ns.max(), 50)
                ax.plot(
                    xs,
                    np.exp(r.log_median_at_center + r.slope * (np.log(xs) - r.center_log_n)),
                    color=colors[name],
                    lw=1.2,
                    ls="--" if name == TEACHER else "-",
                )
            ok = m[np.isfinite(m.median_steps)]
            hi = np.where(np.isfinite(ok.ci_high), ok.ci_high, ok.budget)
            ax.errorbar(
                ok.n,
                ok.median_steps,
                yerr=[ok.median_steps - ok.ci_low, hi - ok.median_steps],
                fmt="o",
                color=colors[name],
                ms=5,
                capsize=3,
                label=label,
            )
            cens = m[~np.isfinite(m.median_steps)]
            if len(cens):
                ax.scatter(
                    cens.n,
                    cens.budget,
                    marker="^",
                    facecolors="none",
                    edgecolors=colors[name],
                    s=40,
                    label=f"{name}: median beyond the budget",
                )
        budget = med[med.strategy != TEACHER].groupby("n").budget.max()
        ax.plot(budget.index, budget.to_numpy(), color="black", lw=0.8, alpha=0.5, label="student budget")
        anchor_n = ns.min()
        ce = med[(med.n == anchor_n) & med.lrs.isin(MAIN) & np.isfinite(med.median_steps)]
        y0 = float(np.exp(np.log(ce.median_steps).mean())) if len(ce) else float(budget.min())
        for k, ls, why in _references(d):
            ax.plot(
                ns,
                y0 * (ns / anchor_n) ** k,
                color="grey",
                lw=1,
                ls=ls,
                label=f"reference slope {k:g} ({why})",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(ns, [f"{n:g}" for n in ns])
        ax.minorticks_off()
        ax.set_xlabel("n (input dimension)")
        ax.set_ylabel(f"steps to {THRESHOLD:.0%} held-out accuracy")
        ax.set_title(f"d = {d}, student width {width}: Kaplan-Meier median per n, {model} AFT fit")
        ax.legend(fontsize="x-small", loc="upper left")
        # Right: every exponent, best LR and each LR, both models.
        s = fits[fits.fit == "all n"].copy()
        s["row"] = s.strategy + "  " + np.where(s.lrs == BEST, "best LR", "LR " + s.lrs)
        rows = [
            r
            for name in order
            for r in sorted(set(s.row[s.strategy == name]), key=lambda v: ("best" not in v, v))
        ]
        for j, r in enumerate(rows):
            for k, mdl in enumerate(MODELS):
                q = s[(s.row == r) & (s.model == mdl)]
                if q.empty or not np.isfinite(q.slope.iloc[0]):
                    continue
                q = q.iloc[0]
                fx.errorbar(
                    q.slope,
                    j + (k - 0.5) * 0.3,
                    xerr=[[q.slope - q.ci_low], [q.ci_high - q.slope]],
                    fmt="o" if mdl == "lognormal" else "s",
                    color=colors[q.strategy],
                    ms=4,
                    capsize=2,
                    label=mdl if j == 0 else None,
                    mfc="white" if mdl == "weibull" else None,
                )
        for k, ls, _ in _references(d):
            fx.axvline(k, color="grey", lw=1, ls=ls)
        fx.set_yticks(range(len(rows)), rows)
        fx.invert_yaxis()
        fx.set_xlabel("exponent b (95% interval); circles log-normal, squares Weibull")
        fx.set_title("fitted exponents: best LR per n and each LR on its own")
    fig.suptitle(
        f"nscaling: steps to {THRESHOLD:.0%} against n (censored runs kept; grey: slope 2 of theorem B.8, "
        "slope d-1 of learning from labels)",
        fontsize="small",
    )
    fig.tight_layout()
    return fig


def write_figure(slopes_path: str, medians_path: str, study: Study | dict, pdf: str, png: str) -> None:
    from .figures import save_figure

    save_figure(figure(pd.read_parquet(slopes_path), pd.read_parquet(medians_path), study), pdf, png)
