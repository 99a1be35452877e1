"""How steps grow with n (progdistill/nscaling.py): the censored-data slope fits against from-scratch scipy
maximum-likelihood references, their intervals' coverage on simulated data with a known exponent, the tests
of slope differences and curvature, the run-time rules on synthetic curves, and what the figure draws."""

import copy
import warnings

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT
from progdistill import config as C
from progdistill import layout as L
from progdistill import nscaling as NS
from progdistill import nscaling_grid as G
from progdistill.metrics import best_lr, censored_steps
from scipy import optimize, stats

SMOKE = yaml.safe_load((ROOT / "workflow/configs/smoke.yaml").read_text())
NS_GRID = [16, 23, 32, 45, 64, 90]


def test_lifelines_installs_and_fits_an_aft_model():
    """lifelines is pinned outside requirements.txt (envs/requirements-nodeps.txt, installed --no-deps because
    it declares pandas<3): a broken install must fail here, loudly, not skip."""
    import lifelines
    from lifelines import LogNormalAFTFitter, WeibullAFTFitter

    assert lifelines.__version__ == "0.30.3"
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    df = pd.DataFrame({"t": np.exp(1 + 0.5 * x + 0.2 * rng.normal(size=200)), "e": True, "x": x})
    for fitter in (LogNormalAFTFitter(), WeibullAFTFitter()):
        fitter.fit(df, "t", "e")
        assert abs(fitter.params_[(fitter._primary_parameter_name, "x")] - 0.5) < 0.1
        assert "coef lower 95%" in fitter.summary.columns


# ------------------------------------------------------------------------------- simulated run times


def simulate(
    slope, rng, sigma=0.3, family="lognormal", ns=NS_GRID, seeds=10, budget=(2.0, 1.5), a=1.0, curve=0.0
):
    """Run times T = exp(a + slope log(n/32) + curve log(n/32)^2 + sigma eps) (eps normal, or a Gumbel-min
    variable for the Weibull family), censored at a budget c0 exp(a) (n/32)^c1 (so the largest n are censored
    most when slope > c1)."""
    rows = []
    for n in ns:
        x = np.log(n / 32)
        eps = rng.normal(size=seeds) if family == "lognormal" else np.log(rng.exponential(size=seeds))
        t = np.exp(a + slope * x + curve * x**2 + sigma * eps) * 1000
        cap = budget[0] * np.exp(a) * 1000 * (n / 32) ** budget[1]
        rows += [dict(n=n, steps=float(min(ti, cap)), reached=bool(ti < cap)) for ti in t]
    return pd.DataFrame(rows)


def _lognormal_nll(theta, logt, x, e):
    a, b, log_s = theta
    s = np.exp(log_s)
    z = (logt - a - b * x) / s
    return -np.sum(np.where(e, stats.norm.logpdf(z) - log_s - logt, stats.norm.logsf(z)))


def _weibull_nll(theta, logt, x, e):
    # S(t) = exp(-(t / lambda)^rho), log lambda = a + b x: lifelines' WeibullAFTFitter parametrisation.
    a, b, log_rho = theta
    rho = np.exp(log_rho)
    u = rho * (logt - a - b * x)
    return -np.sum(np.where(e, log_rho - logt + u, 0.0) - np.exp(u))


def reference_fit(df, family):
    """A from-scratch censored maximum-likelihood fit (scipy): slope, its standard error from the inverse
    numerical Hessian, and the log-likelihood."""
    t = df.steps.to_numpy(float) / 1000
    x = np.log(df.n.to_numpy(float)) - np.mean(np.log(np.unique(df.n.to_numpy(float))))
    e = df.reached.to_numpy(bool)
    nll = _lognormal_nll if family == "lognormal" else _weibull_nll
    res = optimize.minimize(
        nll, [np.mean(np.log(t)), 1.0, 0.0], args=(np.log(t), x, e), method="BFGS", options={"gtol": 1e-9}
    )
    h, k = 1e-4, len(res.x)
    hess = np.zeros((k, k))
    for i in range(k):
        for j in range(k):

            def f(di, dj, i=i, j=j):
                th = res.x.copy()
                th[i] += di
                th[j] += dj
                return nll(th, np.log(t), x, e)

            hess[i, j] = (f(h, h) - f(h, -h) - f(-h, h) + f(-h, -h)) / (4 * h * h)
    se = np.sqrt(np.diag(np.linalg.inv(hess)))
    # The likelihood of the times in steps (not thousands): the same up to the Jacobian of each event.
    return res.x[1], se[1], -res.fun - np.sum(e) * np.log(1000)


@pytest.mark.parametrize("family", ["lognormal", "weibull"])
def test_fit_matches_a_from_scratch_censored_likelihood(family):
    df = simulate(2.0, np.random.default_rng(1), family=family)
    assert 0 < (~df.reached).sum() < len(df) // 2  # censored runs present
    got = NS.fit_slope(df, family)
    slope, se, ll = reference_fit(df, family)
    assert got["slope"] == pytest.approx(slope, abs=2e-3)
    assert got["se"] == pytest.approx(se, rel=0.02)
    assert got["ci_low"] == pytest.approx(got["slope"] - 1.96 * got["se"], abs=1e-3)
    assert got["ci_high"] == pytest.approx(got["slope"] + 1.96 * got["se"], abs=1e-3)
    assert got["log_likelihood"] == pytest.approx(ll, abs=0.05)
    assert got["runs"] == len(df) and got["censored"] == int((~df.reached).sum())
    assert (got["n_min"], got["n_max"], got["n_values"]) == (16, 90, 6)


def test_censored_runs_are_used_not_dropped():
    """With the slowest runs censored at the largest n, dropping them flattens the slope; the censored fit
    recovers the true exponent (and a fit that ignored the event column would be far off)."""
    rng = np.random.default_rng(2)
    df = simulate(3.0, rng, sigma=0.4, budget=(2.0, 2.0), seeds=40)
    assert (~df[df.n == 90].reached).mean() > 0.3
    fit = NS.fit_slope(df, "lognormal")
    assert fit["ci_low"] < 3.0 < fit["ci_high"]
    dropped = NS.fit_slope(df[df.reached], "lognormal")
    assert dropped["slope"] < fit["slope"] - 0.2
    as_events = NS.fit_slope(df.assign(reached=True), "lognormal")
    assert as_events["slope"] < fit["slope"] - 0.15


@pytest.mark.parametrize("family", ["lognormal", "weibull"])
def test_interval_covers_the_true_exponent_at_its_nominal_rate(family):
    """60 simulated studies (6 n x 10 seeds, censoring at the largest n): the 95% interval covers the true
    slope in at least 52 of them (binomial sd 1.7 studies; an interval half as wide would cover ~41), and
    the estimate is unbiased to within 0.05."""
    rng = np.random.default_rng(3)
    fits = [NS.fit_slope(simulate(2.0, rng, family=family), family) for _ in range(60)]
    cover = sum(f["ci_low"] <= 2.0 <= f["ci_high"] for f in fits)
    assert cover >= 52, cover
    assert abs(np.mean([f["slope"] for f in fits]) - 2.0) < 0.05


def test_fitted_median_line_is_the_true_median():
    """The line drawn is each family's median: exp(mu) for the log-normal, exp(mu) (ln 2)^(1/rho) for the
    Weibull (a Gumbel-min log time: the factor is (ln 2)^sigma = 0.80 at sigma = 0.6, so dropping it
    shows)."""
    for family in ("lognormal", "weibull"):
        df = simulate(2.0, np.random.default_rng(4), sigma=0.6, budget=(1e6, 3.0), seeds=200, family=family)
        f = NS.fit_slope(df, family)
        for n in (16, 90):
            line = np.exp(f["log_median_at_center"] + f["slope"] * (np.log(n) - f["center_log_n"]))
            factor = 1.0 if family == "lognormal" else np.log(2.0) ** 0.6
            true = 1000 * np.exp(1.0 + 2.0 * np.log(n / 32)) * factor
            assert line == pytest.approx(true, rel=0.1), (family, n)  # 2 s.e.; a missing factor: 25%


def test_no_slope_without_events_at_two_n():
    df = simulate(2.0, np.random.default_rng(5))
    df.loc[df.n != 16, "reached"] = False
    f = NS.fit_slope(df, "lognormal")
    assert np.isnan(f["slope"]) and "at 1 of 6 n" in f["note"]
    df = simulate(2.0, np.random.default_rng(5))
    df.loc[df.n == 90, "reached"] = False
    f = NS.fit_slope(df, "lognormal")
    assert np.isfinite(f["slope"]) and "no run reached 95% at n = [90]" in f["note"]


def test_comparing_two_exponents_against_a_reference_likelihood_ratio():
    rng = np.random.default_rng(6)
    a, b = simulate(2.0, rng), simulate(3.0, rng)
    r = NS.compare_slopes(a, b, "lognormal")
    assert r["estimate"] == pytest.approx(
        NS.fit_slope(a, "lognormal")["slope"] - NS.fit_slope(b, "lognormal")["slope"], abs=2e-3
    )
    assert r["ci_low"] < -1.0 < r["ci_high"] and r["p_value"] < 1e-6
    # Reference: separate slopes (each strategy its own intercept and scale) = the two separate fits; the
    # common slope is a scipy fit with one b, two intercepts and two scales.
    both = pd.concat([a.assign(g=1), b.assign(g=0)], ignore_index=True)
    t = np.log(both.steps.to_numpy(float))
    x = np.log(both.n.to_numpy(float)) - np.mean(np.log(NS_GRID))
    e, g = both.reached.to_numpy(bool), both.g.to_numpy(int)

    def nll(th):
        a0, a1, bb, s0, s1 = th
        log_s = np.where(g, s1, s0)
        z = (t - np.where(g, a1, a0) - bb * x) / np.exp(log_s)
        return -np.sum(np.where(e, stats.norm.logpdf(z) - log_s - t, stats.norm.logsf(z)))

    common = optimize.minimize(nll, [t.mean(), t.mean(), 2.5, -1.0, -1.0], method="BFGS").fun
    sep = -(reference_fit(a, "lognormal")[2] + reference_fit(b, "lognormal")[2])
    assert r["statistic"] == pytest.approx(2 * (common - sep), rel=1e-3)
    # Equal exponents: the test rejects at 5% about 5% of the time (at most 2 of 12 pairs: P = 0.98).
    same = [NS.compare_slopes(simulate(2.0, rng), simulate(2.0, rng), "lognormal") for _ in range(12)]
    assert sum(r["p_value"] < 0.05 for r in same) <= 2
    assert sum(r["ci_low"] < 0 < r["ci_high"] for r in same) >= 10


def test_curvature_is_detected_when_present_only():
    rng = np.random.default_rng(7)
    bent = NS.curvature(simulate(2.0, rng, curve=1.0, budget=(1e6, 4.0), seeds=20), "lognormal")
    assert bent["p_value"] < 1e-4 and bent["ci_low"] < 1.0 < bent["ci_high"]
    straight = NS.curvature(simulate(2.0, rng, budget=(1e6, 4.0), seeds=20), "lognormal")
    assert straight["p_value"] > 0.01


# ------------------------------------------------------------------------------- rules on synthetic curves


def _nscaling_cfg(ns=(16, 32, 64), lrs=(0.01, 0.02), seeds=(0, 1, 2)):
    cfg = copy.deepcopy(SMOKE)
    sec = cfg["nscaling"]
    sec["grid"] = [{"d": 4, "n": list(ns), "interval": {"reference_n": 16, "steps": 100, "exponent": 2.0}}]
    sec["students"].update(lrs=list(lrs), seeds=list(seeds))
    sec["probe"]["degrees"] = [1, 2]
    return C.validate_config(cfg)


def _curve(exp, role, strategy, width, lr, seed, hit, budget, every):
    """An accuracy curve at 0.5 until step ``hit``, then 1.0 (None: never), evaluated every ``every``."""
    steps = np.arange(0, budget + 1, every)
    acc = np.where(steps >= hit, 1.0, 0.5) if hit is not None else np.full(len(steps), 0.5)
    return pd.DataFrame(
        dict(
            experiment=exp,
            role=role,
            strategy=strategy,
            width=width,
            lr=lr,
            seed=seed,
            step=steps,
            accuracy=acc,
            diverged=False,
            temperature=1.0,
            alpha=1.0,
            loss=0.0,
            teacher_checkpoint=-1,
        )
    )


def _synthetic_curves(cfg, rng):
    frames = []
    for c in G.cells(cfg["nscaling"]):
        exp = cfg["experiments"][c.experiment]
        s, every, budget = exp["students"], exp["eval_every"], exp["students"]["steps"]
        for st in exp["strategies"]:
            k = {"ce": 3.5, "oneshot": 3.0, "progressive": 2.0, "pshot": 1.5}[st["kind"]]
            for lr in s["lrs"]:
                for seed in s["seeds"]:
                    t = 200 * (c.n / 16) ** k * (1.0 if lr == 0.02 else 1.5) * np.exp(0.2 * rng.normal())
                    hit = int(np.ceil(t / every) * every)
                    frames.append(
                        _curve(
                            c.experiment,
                            "student",
                            st["name"],
                            s["widths"][0],
                            lr,
                            seed,
                            hit if hit <= budget else None,
                            budget,
                            every,
                        )
                    )
        t = exp["teacher"]
        for lr in t["lrs"]:
            for seed in t["seeds"]:
                frames.append(
                    _curve(
                        c.experiment,
                        "teacher",
                        "teacher",
                        t["width"],
                        lr,
                        seed,
                        int(100 * (c.n / 16) ** 2 * np.exp(0.1 * rng.normal())),
                        t["steps"],
                        every,
                    )
                )
    return pd.concat(frames, ignore_index=True)


def test_run_times_follow_the_projects_rules():
    cfg = _nscaling_cfg()
    curves = _synthetic_curves(cfg, np.random.default_rng(8))
    times = NS.run_times(curves, cfg)
    # Each LR on its own: censored_steps of each run.
    row = times[(times.lrs == "0.01") & (times.strategy == "ce") & (times.n == 64) & (times.seed == 1)].iloc[
        0
    ]
    g = curves[
        (curves.experiment == "nscale_d4_n64")
        & (curves.strategy == "ce")
        & (curves.lr == 0.01)
        & (curves.seed == 1)
    ]
    assert (row.steps, row.reached) == censored_steps(g.step, g.accuracy, 0.95)
    assert not row.reached and row.steps == row.budget  # CE at n = 64 runs past its budget: censored
    # Best LR: metrics.best_lr's choice, per (n, strategy).
    best = best_lr(curves[curves.role == "student"])
    chosen = best.groupby(["experiment", "strategy"]).lr.first()
    got = times[times.lrs == "best"].groupby(["experiment", "strategy"]).lr.first()
    assert got.to_dict() == chosen.to_dict()
    assert (got.xs("progressive", level="strategy") == 0.02).all()  # 1.5x faster than LR 0.01
    # Teachers: every LR x seed, at the teacher's width.
    t = times[times.strategy == "teacher"]
    assert len(t) == 3 * 2 and (t.width == 64).all() and t.reached.all()  # 1 LR x 2 seeds per n
    assert set(times.lrs) == {"best", "0.01", "0.02", "all"}


@pytest.fixture(scope="module")
def synthetic():
    """The tables of a synthetic five-n study (every fit once, shared by the table and figure tests)."""
    cfg = _nscaling_cfg(ns=(16, 23, 32, 45, 64), lrs=(0.02,))
    times = NS.run_times(_synthetic_curves(cfg, np.random.default_rng(9)), cfg)
    return cfg, times, NS.slopes(times, cfg)


def test_slope_table_and_tests_on_synthetic_curves(synthetic):
    cfg, times, sl = synthetic
    assert list(sl.columns) == NS.SLOPE_COLUMNS
    main = sl[(sl.fit == "all n") & sl.lrs.isin(["best", "all"]) & (sl.model == "lognormal")].set_index(
        "strategy"
    )
    assert main.loc["progressive", "ci_low"] < 2.0 < main.loc["progressive", "ci_high"]
    assert main.loc["2shot_transition", "ci_low"] < 1.5 < main.loc["2shot_transition", "ci_high"]
    assert main.loc["teacher", "slope"] == pytest.approx(2.0, abs=0.15)  # rounded intervals, evaluation grid
    assert "slope 2" in main.loc["progressive", "theory"] and "n^3" in main.loc["ce", "theory"]
    adj = sl[(sl.fit == "adjacent") & (sl.strategy == "progressive") & (sl.lrs == "best")]
    assert len(adj) == 2 * 4 and set(adj.n_values) == {2}
    te = NS.tests(times)
    pair = te[
        (te.test == "separate vs common slope")
        & (te.lrs == "best")
        & (te.model == "lognormal")
        & (te.strategy == "2shot_transition")
        & (te.baseline == "progressive")
    ].iloc[0]
    assert pair.p_value < 0.05 and pair.ci_low < -0.5 < pair.ci_high < 0  # 1.5 against 2, 3 seeds
    med = NS.medians(
        times, cfg, {"nscale_d4_n16": {"teacher": "lr0.05_s0", "checkpoints": {"transition": 300}}}
    )
    r = med[(med.strategy == "progressive") & (med.lrs == "0.02") & (med.n == 32)].iloc[0]
    assert r.runs == 3 and r.reached == 3
    steps = np.sort(times[(times.strategy == "progressive") & (times.lrs == "0.02") & (times.n == 32)].steps)
    assert r.median_steps == steps[(len(steps) - 1) // 2]  # no censoring: the KM median is an order statistic
    assert med[med.n == 16].transition.eq(300).all() and med[med.n == 32].transition.isna().all()
    md = NS.markdown(sl, med, te)
    assert "| 4 | 16 | progressive | best | lognormal |" in md


def test_each_strategy_kind_says_what_the_theory_predicts():
    """The theory column comes from the strategy's class (Strategy.growth_with_n): B.8's upper bound (slope
    2) for progressive and p-shot distillation (B.8's procedure is two-shot), its lower bound for the final
    teacher alone, d-1 for labels; nothing for a one-shot from an earlier checkpoint, which B.8 does not
    cover; the teachers learn from labels."""
    cfg = copy.deepcopy(SMOKE)
    extra = {"name": "oneshot_tr", "kind": "oneshot", "checkpoint": "transition"}
    cfg["nscaling"]["strategies"].append(extra)
    study = C.load_study(cfg)
    got = {name: NS.theory(study, name, 4) for name in (*study.nscaling.strategy_names, "teacher")}
    bound = "progressive: <= 2^d n^2 d^4 samples, slope 2 (B.8, an upper bound)"
    assert got == {
        "ce": "labels only: ~ n^(d-1) = n^3",
        "oneshot_final": "final teacher only: >= n^min(2c, d), n^4 for c >= d/2 (B.8, lower bound)",
        "progressive": bound,
        "2shot_transition": bound,
        "oneshot_tr": "",
        "teacher": "teacher: labels only, ~ n^(d-1) = n^3 expected (Barak et al. 2022), not B.8",
    }


def test_figure_draws_medians_fits_and_reference_slopes(synthetic):
    import matplotlib

    matplotlib.use("Agg")
    cfg, times, sl = synthetic
    med = NS.medians(times, cfg)
    fig = NS.figure(sl, med, cfg)
    ax, fx = fig.axes[0], fig.axes[1]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    prog = sl[
        (sl.strategy == "progressive") & (sl.lrs == "best") & (sl.model == "lognormal") & (sl.fit == "all n")
    ]
    assert f"progressive: b = {prog.slope.iloc[0]:.2f}" in " ".join(labels)
    assert any(lab == "reference slope 2 (B.8)" for lab in labels)
    assert any(lab == "reference slope 3 (d-1)" for lab in labels)
    assert [r[2] for r in NS._references(3)] == ["B.8 and d-1"]  # d = 3: the two coincide, drawn once

    # The drawn lines: reference slopes 2 and 3, and each fitted line with its table slope (log-log).
    def loglog_slope(line):
        x, y = (np.asarray(v, float) for v in line.get_data())
        return (np.log(y[-1]) - np.log(y[0])) / (np.log(x[-1]) - np.log(x[0]))

    slopes_drawn = [loglog_slope(ln) for ln in ax.get_lines() if len(ln.get_xdata()) > 2]
    for want in (2.0, 3.0, prog.slope.iloc[0]):
        assert any(abs(s - want) < 1e-6 for s in slopes_drawn), want
    # Medians with their intervals: one errorbar point per n for progressive.
    conts = [c for c in ax.containers if c.get_label().startswith("progressive")]
    xs = np.asarray(conts[0].lines[0].get_xdata(), float)
    assert list(xs) == [16, 23, 32, 45, 64]
    ys = np.asarray(conts[0].lines[0].get_ydata(), float)
    want = med[(med.strategy == "progressive") & (med.lrs == "best")].sort_values("n").median_steps
    np.testing.assert_allclose(ys, want.to_numpy())
    # Right panel: every strategy x LR rule.
    ticks = [t.get_text() for t in fx.get_yticklabels()]
    assert "progressive  best LR" in ticks and "ce  LR 0.02" in ticks and "teacher  LR all" in ticks
    import matplotlib.pyplot as plt

    plt.close(fig)


# ------------------------------------------------------------------------------- the configuration


def test_the_section_expands_into_ordinary_experiments():
    cfg = C.validate_config(SMOKE)
    study = C.Study.from_config(cfg)
    assert study.nscaling.cells == (
        G.Cell("nscale_d3_n10", 3, 10, 500),
        G.Cell("nscale_d3_n14", 3, 14, 1000),
    )
    assert study.nscaling.strategy_names == ("ce", "oneshot_final", "progressive", "2shot_transition")
    exp = cfg["experiments"]["nscale_d3_n14"]
    assert exp["task"] == {"kind": "sparse_parity", "n": 14, "d": 3, "seed": 0, "layout": "consecutive"}
    assert exp["teacher"]["steps"] == 4 * 1000 and exp["teacher"]["checkpoint_every"] == 1000
    assert exp["students"]["steps"] == 12 * 1000 and exp["eval_every"] == 250
    st = {s["name"]: s for s in exp["strategies"]}
    assert st["progressive"]["interval"] == 1000 and st["2shot_transition"]["steps"] == 1000
    assert exp["probe"]["samples"] == 1024 and exp["selection"]["flat_z"] == 3.0  # the defaults filled in
    # The study model holds them as ordinary experiments: schedules in steps, the selection resolving.
    model = study.experiment("nscale_d3_n14")
    assert model.task.n == 14 and model.task.d == 3 and model.teacher.checkpoint_every == 1000
    assert model.strategy("progressive").schedule(model)[:3] == ((0, 0), (1000, 1000), (2000, 2000))
    two = model.strategy("2shot_transition").schedule(model, {"checkpoints": {"transition": 2000}})
    assert two == ((0, 2000), (1000, 4000))
    # rule all asks for the tables and the figure with a section, not without one.
    targets = L.all_targets(study)
    assert {L.NSCALING_SLOPES, L.NSCALING_MEDIANS, L.NSCALING_TESTS, L.NSCALING_PNG} <= set(targets)
    assert L.CHECKPOINT_SELECTION.format(exp="nscale_d3_n10") in targets
    without = {k: v for k, v in SMOKE.items() if k != "nscaling"}
    bare = C.load_study(without)
    assert bare.nscaling is None and L.NSCALING_SLOPES not in L.all_targets(bare)
    assert not {"nscale_d3_n10", "nscale_d3_n14"} & set(bare.experiments)
    # The preset: >= 5 n spanning >= 4x, >= 10 seeds, the four strategies.
    pre = C.validate_config(yaml.safe_load((ROOT / "workflow/configs/nscaling.yaml").read_text()))
    for c in pre["nscaling"]["grid"]:
        assert len(c["n"]) >= 5 and max(c["n"]) >= 4 * min(c["n"])
    assert len(pre["nscaling"]["students"]["seeds"]) >= 10
    assert {s["kind"] for s in pre["nscaling"]["strategies"]} == {"ce", "oneshot", "progressive", "pshot"}


def test_interval_rule():
    rule = {"reference_n": 32, "steps": 1000, "exponent": 2.5, "multiple": 100}
    assert G.interval(rule, 32) == 1000
    assert G.interval(rule, 64) == 5700  # 1000 * 2^2.5 = 5657
    assert G.interval(rule, 2) == 100  # at least one multiple
    assert G.interval({**rule, "exponent": 0}, 90) == 1000


def _ns(mutate):
    def f(c):
        mutate(c["nscaling"])

    return f


BAD = [
    (
        "n_not_above_d",
        _ns(lambda s: s["grid"][0].update(n=[2, 14])),
        "nscaling.grid[0].n = [2, 14]: [2] are not above d = 3",
    ),
    (
        "n_duplicates",
        _ns(lambda s: s["grid"][0].update(n=[10, 10])),
        "nscaling.grid[0].n = [10, 10] has duplicates",
    ),
    ("one_n", _ns(lambda s: s["grid"][0].update(n=[10])), "nscaling.grid[0].n = [10] is invalid"),
    ("d_repeated", _ns(lambda s: s["grid"].append(copy.deepcopy(s["grid"][0]))), "repeats a support size"),
    (
        "multiple_vs_evals",
        _ns(lambda s: s["grid"][0]["interval"].update(multiple=25)),
        "nscaling.grid[0].interval.multiple = 25 is not a multiple of nscaling.evals_per_interval = 4",
    ),
    (
        "exponent_negative",
        _ns(lambda s: s["grid"][0]["interval"].update(exponent=-1)),
        "exponent = -1 is invalid",
    ),
    ("no_rule", _ns(lambda s: s["grid"][0].pop("interval")), "'interval' is a required property"),
    (
        "rule_typo",
        _ns(lambda s: s["grid"][0]["interval"].update(refrence_n=8)),
        "'refrence_n' was unexpected",
    ),
    (
        "probe_degree",
        _ns(lambda s: s["probe"].update(degrees=[1, 4])),
        "nscaling.probe.degrees = [1, 4]: degrees [4] exceed nscaling.grid[0].d = 3",
    ),
    (
        "probe_default_degree",  # the schema's default degrees [1, 2, 3] against d = 2
        _ns(lambda s: (s["probe"].pop("degrees"), s["grid"][0].update(d=2))),
        "nscaling.probe.degrees = [1, 2, 3]: degrees [3] exceed nscaling.grid[0].d = 2",
    ),
    (
        "probe_bad_key",
        _ns(lambda s: s["probe"].update(sampels=10)),
        "nscaling.probe: Additional properties are not allowed ('sampels' was unexpected) (check the "
        "spelling against the documented keys) (in the generated experiment nscale_d3_n10)",
    ),
    ("probe_bad_value", _ns(lambda s: s["probe"].update(samples=0)), "nscaling.probe.samples = 0 is invalid"),
    (
        "selection_bad",
        _ns(lambda s: s.update(selection={"end": 2.0})),
        "nscaling.selection.end = 2.0 is invalid",
    ),
    (
        "fixed_checkpoint",
        _ns(lambda s: s["strategies"][3].update(checkpoints=[4000])),
        "nscaling.strategies[3].checkpoints[0] = 4000 is invalid",
    ),
    (
        "key_for_other_kind",
        _ns(lambda s: s["strategies"][0].update(interval=1)),
        "nscaling.strategies[0]: key 'interval' does not apply to kind 'ce' (its keys: alpha, kind, name, "
        "temperature) (in the generated experiment nscale_d3_n10)",
    ),
    (
        "kind_not_scaled",
        _ns(lambda s: s["strategies"].append({"name": "paced", "kind": "paced", "interval": 1})),
        "nscaling.strategies[4].kind = 'paced' is invalid",
    ),
    (
        "progressive_no_interval",
        _ns(lambda s: s["strategies"][2].pop("interval")),
        "'interval' is a required property",
    ),
    (
        "pshot_too_long",
        _ns(lambda s: s["strategies"][3].update(steps=12)),
        "nscaling.strategies[3] (2shot_transition).steps = 12: its intermediate checkpoints use 12 "
        "intervals, leaving none of nscaling.students.intervals = 12",
    ),
    (
        "duplicate_strategy",
        _ns(lambda s: s["strategies"][1].update(name="ce")),
        "duplicate strategy names ['ce']",
    ),
    ("unknown_key", _ns(lambda s: s.update(widths=[3])), "nscaling: Additional properties are not allowed"),
    (
        "teacher_no_intervals",
        _ns(lambda s: s["teacher"].pop("intervals")),
        "'intervals' is a required property",
    ),
    ("bad_name", _ns(lambda s: s.update(name="n_1")), "nscaling.name = 'n_1' is invalid"),
    (
        "name_clash",
        lambda c: c["experiments"].update(nscale_d3_n10=copy.deepcopy(c["experiments"]["parity"])),
        "nscaling: generates experiments ['nscale_d3_n10'], which experiments already has",
    ),
]


@pytest.mark.parametrize("name,mutate,message", BAD, ids=[b[0] for b in BAD])
def test_bad_nscaling_keys_are_reported(name, mutate, message):
    cfg = copy.deepcopy(SMOKE)
    mutate(cfg)
    with pytest.raises(C.ConfigError) as err:
        C.validate_config(cfg)
    assert message in str(err.value)


@pytest.mark.parametrize("preset", ["workflow/configs/smoke.yaml", "workflow/configs/nscaling.yaml"])
def test_the_record_reruns_as_the_same_configuration(tmp_path, preset):
    """The record keeps the nscaling section and leaves out its generated experiments (validation
    regenerates them): reusing it with --configfile gives the same configuration."""
    cfg = C.validate_config(yaml.safe_load((ROOT / preset).read_text()))
    C.write_record(cfg, tmp_path / "c.yaml")
    text = yaml.safe_load((tmp_path / "c.yaml").read_text())
    assert G.generated_names(cfg["nscaling"]) and not set(G.generated_names(cfg["nscaling"])) & set(
        text.get("experiments", {})
    )
    again = C.validate_config(text)
    for exp in cfg["experiments"].values():
        exp.pop("pshot_grid", None)
    assert again == cfg


def test_no_warning_leaks_from_the_fits():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        NS.fit_slope(simulate(2.0, np.random.default_rng(11)), "weibull")


def test_the_conda_post_deploy_script_installs_the_makefiles_pins():
    pins = [
        line.strip()
        for line in (ROOT / "envs/requirements-nodeps.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert "lifelines==0.30.3" in pins and all("==" in p for p in pins)
    script = (ROOT / "envs/progdistill.post-deploy.sh").read_text()
    assert "--no-deps" in script
    assert sorted(w for w in script.split() if "==" in w) == sorted(pins)
    assert "envs/requirements-nodeps.txt" in (ROOT / "Makefile").read_text()
