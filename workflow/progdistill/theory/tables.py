"""Appendix B's jobs and tables: one parquet per cell, all cells in one table with fitted log-log slopes,
and its markdown summary."""

from __future__ import annotations

import math

import numpy as np

from .experiments import _row, correlation_cell, student_cell
from .numerics import first_stage_batch

__all__ = [
    "run_correlation_cell",
    "run_student_cell",
    "ROW_COLUMNS",
    "loglog_slope",
    "fits",
    "aggregate",
    "to_markdown",
    "pd_concat",
]


# ------------------------------------------------------------------------------------------- jobs, tables


def run_correlation_cell(theory_cfg: dict, d: int, n: int, out: str) -> None:
    import pandas as pd

    from ..io import write_parquet

    write_parquet(pd.DataFrame(correlation_cell(theory_cfg, d, n), columns=ROW_COLUMNS), out)


def run_student_cell(theory_cfg: dict, n: int, out: str) -> None:
    import pandas as pd

    from ..io import write_parquet

    write_parquet(pd.DataFrame(student_cell(theory_cfg, n), columns=ROW_COLUMNS), out)


ROW_COLUMNS = list(_row("", 0, 0, 0, "", 0.0))


def loglog_slope(x, y) -> tuple[float, float, int]:
    """Least-squares slope of log y on log x over the finite positive points: (slope, its s.e., points)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    lx, ly = np.log(x[ok]), np.log(y[ok])
    k = len(lx)
    if k < 2 or np.ptp(lx) == 0:
        return math.nan, math.nan, k
    slope, icpt = np.polyfit(lx, ly, 1)
    if k < 3:
        return float(slope), math.nan, k
    resid = ly - (slope * lx + icpt)
    se = math.sqrt(resid @ resid / (k - 2) / np.sum((lx - lx.mean()) ** 2))
    return float(slope), float(se), k


def fits(df):
    """Fitted log-log slopes next to the predicted exponents, as rows of the theory table."""
    rows = []
    corr = df[(df.part == "correlation") & (df.quantity == "corr_out_aligned")]
    for (d, kappa), g in corr.groupby(["d", "batch_factor"]):
        if g.n.nunique() < 2:
            continue
        slope, se, k = loglog_slope(g.n, g.value)
        ex = g.groupby("n").exact.first()
        exact, _, _ = loglog_slope(ex.index, ex.values)
        rows.append(_row("fit", d, -1, -1, "slope_corr_out_aligned_vs_n", slope, -2.0, exact, kappa))
        rows[-1].update(slope_se=se, points=k)
    st = df[df.part == "student"]
    c = df[(df.part == "teacher") & (df.quantity == "c_exponent")].value
    c_med = float(np.median(c)) if len(c) else math.nan
    for (d, strategy), g in st.groupby(["d", "strategy"]):
        ns = np.array(sorted(g.n.unique()))
        if strategy == "progressive":
            # Theorem B.8: B_1 = O(d^2 log(nm)) from the checkpoint's degree-1 signal, then O(2^d n^2 d^4)
            # stage-2 samples (an upper bound: exponent 2). Population: the log factor only.
            paper = {"samples": 2.0, "support_batch": 0.0}
            exact = loglog_slope(ns, np.log(d * ns))[0]
        else:
            # At least n^min(2c, d), c from the final teacher's loss. Claims 1-2 need B_1 ~ d^2 log(dn) /
            # xi_{d-1}^2 ~ n^(d-1) log n (lemma B.6): "exact" is that formula's slope over these n.
            paper = {"samples": min(2 * c_med, d), "support_batch": min(2 * c_med, d)}
            exact = loglog_slope(ns, [first_stage_batch(int(k), d, 1.0) for k in ns])[0]
        for quantity in ("samples", "support_batch"):
            q = g[g.quantity == quantity]
            slope, se, k = loglog_slope(q.n, q.value)
            name = f"slope_{quantity}_vs_n"
            rows.append(_row("fit", d, -1, -1, name, slope, paper[quantity], exact, strategy=strategy))
            rows[-1].update(slope_se=se, points=k)
    return rows


def aggregate(paths: list[str], out_parquet: str, out_md: str) -> None:
    import pandas as pd

    from ..io import atomic_path, write_parquet

    df = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    df["slope_se"], df["points"] = math.nan, -1
    df = pd.concat([df, pd.DataFrame(fits(df))], ignore_index=True)
    df["points"] = df["points"].astype("int64")
    write_parquet(df, out_parquet)
    with atomic_path(out_md) as tmp, open(tmp, "w") as fh:
        fh.write(to_markdown(df))


def _pm(v) -> str:
    v = np.asarray(v, float)
    if len(v) == 0:
        return "-"
    se = v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else math.nan
    return f"{v.mean():.2e} ± {se:.1e}" if abs(v.mean()) < 1e-2 else f"{v.mean():.4f} ± {se:.4f}"


def _gm(v) -> str:
    """Geometric mean of the finite values, with how many of all were finite."""
    v = np.asarray(v, float)
    ok = v[np.isfinite(v)]
    if not len(ok):
        return f"not reached (0/{len(v)})"
    return f"{math.exp(np.log(ok).mean()):.0f} ({len(ok)}/{len(v)})"


def to_markdown(df) -> str:
    out = ["# Theory check (appendix B)\n"]
    corr = df[df.part == "correlation"]
    if len(corr):
        out.append(
            "## Teacher after stage 1: theorem B.2 and lemma B.5\n\n"
            "Mean ± s.e. over seeds (and, for the network's signed correlation, over the d support "
            "coordinates). *aligned*: each neuron's E[ReLU(<w,x>+b) x_u], signed as claims 1-2 predict "
            "(the quantity lemma B.5's proof computes); *network*: E[f(x) x_u] itself. paper: 1/(8d) in, "
            "(dn)^-2 off; exact: the infinite-batch value (aligned) or the first-order prediction "
            "(network, population + batch noise).\n"
        )
        head = (
            "| d | n | κ | B_1 | sign agr. | mean\\|w_in\\|·2d | in: network E[f x_i] | in: network \\|.\\| "
            "(exact) | in: aligned (exact; paper 1/(8d)) | off: aligned (exact; paper (dn)^-2) | "
            "off: network \\|.\\| (exact) |\n|" + "---|" * 11
        )
        out.append(head)
        for (d, n, kappa), g in corr.groupby(["d", "n", "batch_factor"]):
            q = {k: v for k, v in g.groupby("quantity")}
            coords = pd_concat([v for k, v in q.items() if k.startswith("corr_in_network_x")])

            def cell(name, q=q):
                v = q[name]
                return _pm(v.value), v.exact.iloc[0], v.paper.iloc[0]

            in_abs, in_abs_ex, _ = cell("corr_in_network_abs")
            al_in, al_in_ex, al_in_p = cell("corr_in_aligned")
            al_out, al_out_ex, al_out_p = cell("corr_out_aligned")
            out_abs, out_abs_ex, _ = cell("corr_out_network_abs")
            out.append(
                f"| {d} | {n} | {kappa:g} | {int(g.batch.iloc[0])} | {_pm(q['w_in_sign_agreement'].value)} | "
                f"{_pm(q['w_in_abs_x2d'].value)} | {_pm(coords.value)} | {in_abs} ({in_abs_ex:.4f}) | "
                f"{al_in} ({al_in_ex:.4f}; {al_in_p:.4f}) | {al_out} ({al_out_ex:.2e}; {al_out_p:.1e}) | "
                f"{out_abs} ({out_abs_ex:.4f}) |"
            )
        out.append("")
    fit = df[df.part == "fit"]
    teach = df[df.part == "teacher"]
    if len(teach):
        out.append(
            "## Teachers of the student experiment\n\nMedian over seeds. Degree-1 correlations relative to "
            "the RMS of the output: min over the support of |E[f x_i]| and max off it.\n\n"
            "| d | n | m | B_1 | final held-out loss | c (loss = n^-c) | stage 1: min in / max off | "
            "final: min in / max off | final: E[f y] / RMS |\n|" + "---|" * 9
        )
        for (d, n), g in teach.groupby(["d", "n"]):
            q = g.groupby("quantity").value.median()

            def rel(name, q=q):
                return f"{q[name + '_corr_in_min_abs'] / q[name + '_rms']:.3f} / " + (
                    f"{q[name + '_corr_out_max_abs'] / q[name + '_rms']:.3f}"
                )

            out.append(
                f"| {d} | {n} | {int(g.width.iloc[0])} | {int(g.batch.iloc[0])} | {q['final_loss']:.2e} | "
                f"{q['c_exponent']:.2f} | {rel('checkpoint1')} | {rel('final')} | "
                f"{q['final_corr_parity'] / q['final_rms']:.3f} |"
            )
        out.append("")
    st = df[df.part == "student"]
    runs = df[df.part == "student_run"]
    if len(st):
        out.append(
            "## Students (theorem B.8)\n\nSamples to the target loss: min over the stage-1 batch grid of "
            "B_1 + stage-2 steps; geometric mean over the seeds that reached it (reached/seeds). Support "
            "batch: the smallest B_1 whose students have their d largest weights on the support. Loss "
            "floor: median over seeds of the lowest held-out loss of any run; sign patterns: distinct "
            "in-support sign patterns (up to sign) of the stage-1 weights at the largest batch.\n\n"
            "| d | n | strategy | samples to target | support batch | loss floor | sign patterns |\n|"
            + "---|"
            * 7
        )
        for (d, n, strategy), g in st.groupby(["d", "n", "strategy"]):
            r = runs[(runs.d == d) & (runs.n == n) & (runs.strategy == strategy)]
            floor = r[r.quantity == "run_best_loss"].groupby("seed").value.min().median()
            pats = r[r.quantity == "run_sign_patterns"]
            pats = pats[pats.batch == pats.batch.max()].value.median()
            out.append(
                f"| {d} | {n} | {strategy} | {_gm(g[g.quantity == 'samples'].value)} | "
                f"{_gm(g[g.quantity == 'support_batch'].value)} | {floor:.3f} | {pats:g} |"
            )
        out.append("")
    if len(fit):
        out.append(
            "## Fitted log-log slopes\n\n| d | quantity | strategy / κ | fitted slope ± s.e. (points) | "
            "paper | exact / population |\n|" + "---|" * 6
        )
        for _, r in fit.iterrows():
            tag = r.strategy or f"κ={r.batch_factor:g}"
            fitted = f"{r.value:.2f} ± {r.slope_se:.2f}" if np.isfinite(r.value) else "n/a (one n)"
            row = f"| {r.d} | {r.quantity} | {tag} | {fitted} ({r.points}) | {r.paper:.2f} | {r.exact:.2f} |"
            out.append(row)
        out.append("")
    return "\n".join(out) + "\n"


def pd_concat(frames):
    import pandas as pd

    return pd.concat(frames) if frames else pd.DataFrame({"value": []})
