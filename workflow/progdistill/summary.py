"""The table a reader of the paper wants and the paper does not give: for each experiment x width x
strategy at its best LR, the median steps to reach 90 / 95 / 99% held-out accuracy with a 95% interval
(Kaplan-Meier: runs that never got there are censored, not dropped; survival.py), how many runs got there,
a log-rank p-value against CE, the final accuracy, diverged runs, and the speed-up over CE."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import jobtime
from .config import Study, as_study
from .io import atomic_path, write_parquet
from .metrics import best_lr  # the same LR choice as the figures and statistics
from .survival import THRESHOLDS, holm, logrank, run_times, survival_table


def summarize(curves: pd.DataFrame, cfg: dict | Study) -> pd.DataFrame:
    """One row per experiment x width x strategy. The p-values and speed-ups are against each experiment's
    baseline strategy (Experiment.baseline: its CE strategy, whatever its name); NaN without one."""
    study = as_study(cfg)
    baseline = {
        name: exp.baseline.name for name, exp in study.experiments.items() if exp.baseline is not None
    }
    df = best_lr(curves[curves.role == "student"])
    times = run_times(curves)
    surv = survival_table(times).set_index(["experiment", "width", "strategy", "threshold"])
    keys = ["experiment", "width", "strategy"]
    searched = {k: sorted(g.lr.unique()) for k, g in curves[curves.role == "student"].groupby(keys)}
    rows = []
    for (exp, width, strategy), g in df.groupby(keys, sort=True):
        per_seed = g.sort_values("step").groupby("seed")
        row = dict(
            experiment=exp,
            width=int(width),
            strategy=strategy,
            lr=float(g.lr.iloc[0]),
            lrs_searched=", ".join(f"{v:g}" for v in searched.get((exp, width, strategy), [])),
            temperature=float(g.temperature.iloc[0]),
            seeds=int(per_seed.ngroups),
            diverged=int(per_seed.diverged.any().sum()),
        )
        # The last evaluation of each seed as it is: NaN for a diverged seed (pandas' last() would skip
        # the NaNs and report its accuracy before it diverged).
        final = per_seed.accuracy.apply(lambda a: a.iloc[-1]).dropna()
        row["final_accuracy"] = float(final.mean()) if len(final) else np.nan
        row["final_accuracy_se"] = float(final.std(ddof=1) / np.sqrt(len(final))) if len(final) > 1 else 0.0
        for thr in THRESHOLDS:
            tag = f"{round(thr * 100)}"
            sv = surv.loc[(exp, width, strategy, float(thr))]
            row[f"median_steps_to_{tag}"] = float(sv.median_steps)
            row[f"median_steps_to_{tag}_ci_low"] = float(sv.ci_low)
            row[f"median_steps_to_{tag}_ci_high"] = float(sv.ci_high)
            row[f"reached_{tag}"] = int(sv.reached)
        t95 = times[(times.experiment == exp) & (times.width == width) & np.isclose(times.threshold, 0.95)]
        base = baseline.get(exp)
        a, ce = t95[t95.strategy == strategy], t95[t95.strategy == base]
        row["p_vs_ce_95"] = logrank(a, ce)[1] if len(ce) and strategy != base else np.nan
        row["p_vs_ce_95_holm"] = np.nan  # below, over the experiment's family
        row["teacher_checkpoints"], row["teacher_mb"] = _teacher_data(study, exp, strategy)
        row["budget"] = int(a.budget.max())
        rows.append(row)
    out = pd.DataFrame(rows)
    for _, g in out.groupby("experiment"):  # Holm over every strategy x width of one experiment vs CE
        out.loc[g.index, "p_vs_ce_95_holm"] = holm(g.p_vs_ce_95)
    # Speed-up over CE at 95%: CE's median steps over the strategy's. When CE's median is beyond the budget
    # (fewer than half its runs got there) the budget stands in for it and the ratio is a lower bound (">x").
    is_base = out.strategy == out.experiment.map(baseline)
    ce = out[is_base].set_index(["experiment", "width"]).median_steps_to_95.rename("ce_median")
    out = out.join(ce, on=["experiment", "width"])
    out["speedup_vs_ce_95_lower_bound"] = out.median_steps_to_95.notna() & out.ce_median.isna()
    ce_steps = out.ce_median.fillna(out.budget)
    out["speedup_vs_ce_95"] = ce_steps / out.median_steps_to_95
    # Without a baseline strategy there is nothing to be faster than.
    no_base = ~out.experiment.isin(list(baseline))
    out.loc[no_base, "speedup_vs_ce_95"] = np.nan
    out.loc[no_base, "speedup_vs_ce_95_lower_bound"] = False
    return out.drop(columns=["ce_median", "budget"])


def _teacher_data(study: Study, exp_name: str, strategy: str) -> tuple[int, float]:
    """How many teacher checkpoints a strategy needs stored, and their size in MB (float32 parameters)."""
    exp = study.experiments.get(exp_name)
    if exp is None or strategy not in {st.name for st in exp.strategies}:
        return -1, np.nan  # a table without its configuration
    cks = exp.strategy(strategy).teacher_checkpoints(exp)
    n, width, classes = exp.task.n, exp.teacher.width, exp.task.num_classes
    return len(cks), len(cks) * ((n + 1 + classes) * width + classes) * 4 / 1e6


def _fmt_teacher(checkpoints: int, mb: float) -> str:
    if checkpoints < 0:
        return ""
    return "none" if checkpoints == 0 else f"{checkpoints} ckpt ({mb:.2g} MB)"


def _k(v: float) -> str:
    return f"{v / 1000:.0f}k" if v >= 1000 else f"{v:.0f}"


def _fmt_steps(median, lo, hi, n, seeds):
    """Median [95% interval] (runs reached / runs); '–' for a median beyond the budget, '>' an open end."""
    if not np.isfinite(median):
        return f"– ({n}/{seeds})"
    hi_txt = _k(hi) if np.isfinite(hi) else "open"
    return f"{_k(median)} [{_k(lo)}, {hi_txt}] ({n}/{seeds})"


TITLE = "Steps to held-out accuracy (best LR per strategy)"
NOTE = (
    "Median steps to the threshold [95% interval] (Kaplan-Meier over the seeds: runs that never reached it "
    "are censored at the budget, diverged runs never reach it; 'open': no upper end within the budget; "
    "'–': fewer than half the runs got there) and (runs that reached it / runs). p vs CE: two-sided "
    "log-rank test at 95%, [Holm-adjusted over every strategy and width of the experiment against CE]; "
    "with few seeds no p-value can be small (3 runs against 3: never below 0.022; 10 against 10: 3e-6). "
    "Speed-up: CE's median steps to 95% over the strategy's; '>' when CE's median is beyond the budget. "
    "Teacher data: the teacher checkpoints the strategy needs stored (a checkpoint the automatic selection "
    "names counts once). "
    "Best LR: of the LRs searched, the one whose seeds reach 95% in the fewest steps on average (a run that "
    "never does counted at the budget; ties: the higher mean accuracy over the curve; an LR with a diverged "
    "seed only when every LR has one); the p-values do not correct for that choice."
)
HEADER = [
    "strategy",
    "τ",
    "LR",
    "steps to 90%",
    "steps to 95%",
    "steps to 99%",
    "p vs CE (95%) [Holm]",
    "final accuracy",
    "diverged",
    "speed-up vs CE",
    "teacher data",
]


def _tables(summary: pd.DataFrame):
    """(experiment, width, LRs searched, rows of formatted cells), one table per experiment x width."""
    for (exp, width), g in summary.groupby(["experiment", "width"], sort=True):
        rows = []
        for r in g.itertuples():
            cells = [
                _fmt_steps(
                    getattr(r, f"median_steps_to_{t}"),
                    getattr(r, f"median_steps_to_{t}_ci_low"),
                    getattr(r, f"median_steps_to_{t}_ci_high"),
                    getattr(r, f"reached_{t}"),
                    r.seeds,
                )
                for t in ("90", "95", "99")
            ]
            sp = (
                ""
                if not np.isfinite(r.speedup_vs_ce_95)
                else ((">" if r.speedup_vs_ce_95_lower_bound else "") + f"{r.speedup_vs_ce_95:.1f}x")
            )
            p = "" if not np.isfinite(r.p_vs_ce_95) else f"{r.p_vs_ce_95:.2g} [{r.p_vs_ce_95_holm:.2g}]"
            final = (
                "–"
                if not np.isfinite(r.final_accuracy)
                else f"{r.final_accuracy:.3f} ± {r.final_accuracy_se:.3f}"
            )
            rows.append(
                [
                    r.strategy,
                    f"{r.temperature:g}",
                    f"{r.lr:g}",
                    *cells,
                    p,
                    final,
                    f"{r.diverged}/{r.seeds}",
                    sp,
                    _fmt_teacher(r.teacher_checkpoints, r.teacher_mb),
                ]
            )
        lrs = ", ".join(sorted({lr for cell in g.lrs_searched for lr in cell.split(", ")}, key=float))
        yield exp, width, lrs, rows


def to_markdown(summary: pd.DataFrame) -> str:
    lines = [f"# {TITLE}", "", NOTE, ""]
    for exp, width, lrs, rows in _tables(summary):
        lines += [f"## {exp}, student width {width}", "", f"LRs searched: {lrs}", ""]
        lines.append("| " + " | ".join(HEADER) + " |")
        lines.append("|" + "---|" * len(HEADER))
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        lines.append("")
    return "\n".join(lines)


def to_html(summary: pd.DataFrame) -> str:
    """The same tables as one self-contained HTML page (for the Snakemake report)."""
    from html import escape

    style = (
        "body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child{text-align:left}"
    )
    out = [f"<!doctype html><html><head><meta charset='utf-8'><style>{style}</style></head><body>"]
    out += [f"<h1>{escape(TITLE)}</h1>", f"<p>{escape(NOTE)}</p>"]
    for exp, width, lrs, rows in _tables(summary):
        out.append(f"<h2>{escape(str(exp))}, student width {width}</h2>")
        out.append(f"<p>LRs searched: {escape(lrs)}</p><table>")
        out.append("<tr>" + "".join(f"<th>{escape(h)}</th>" for h in HEADER) + "</tr>")
        out += ["<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows]
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)


def write_summary(
    curves_path: str, cfg: dict | Study, parquet_out: str, md_out: str, html_out: str | None = None
) -> pd.DataFrame:
    jobtime.mark("read")
    curves = pd.read_parquet(curves_path)
    jobtime.mark("work")
    summary = summarize(curves, cfg)
    jobtime.mark("write")
    write_parquet(summary, parquet_out)
    with atomic_path(md_out) as tmp, open(tmp, "w") as fh:
        fh.write(to_markdown(summary))
    if html_out:
        with atomic_path(html_out) as tmp, open(tmp, "w") as fh:
            fh.write(to_html(summary))
    return summary
