"""The table a reader of the paper wants and the paper does not give: for each experiment x width x
strategy at its best LR, steps to reach 90 / 95 / 99% held-out accuracy (mean +- standard error over the
seeds that reached it, and how many did), the final accuracy, and the speed-up over CE."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .io import atomic_path, write_parquet
from .metrics import best_lr, first_step_at  # the same LR choice and threshold rule as the figures

THRESHOLDS = (0.90, 0.95, 0.99)


def _first_step(g: pd.DataFrame, thr: float) -> float:
    hit = first_step_at(g.step, g.accuracy, thr)
    return float(hit) if hit is not None else np.nan


def summarize(curves: pd.DataFrame) -> pd.DataFrame:
    df = best_lr(curves[curves.role == "student"])
    keys = ["experiment", "width", "strategy"]
    rows = []
    for (exp, width, strategy), g in df.groupby(keys, sort=True):
        per_seed = g.sort_values("step").groupby("seed")
        row = dict(
            experiment=exp,
            width=int(width),
            strategy=strategy,
            lr=float(g.lr.iloc[0]),
            temperature=float(g.temperature.iloc[0]),
            seeds=int(per_seed.ngroups),
        )
        final = per_seed.accuracy.last()
        row["final_accuracy"] = float(final.mean())
        row["final_accuracy_se"] = float(final.std(ddof=1) / np.sqrt(len(final))) if len(final) > 1 else 0.0
        for thr in THRESHOLDS:
            steps = np.array([_first_step(s, thr) for _, s in per_seed])
            ok = steps[~np.isnan(steps)]
            tag = f"{round(thr * 100)}"
            row[f"steps_to_{tag}"] = float(ok.mean()) if len(ok) else np.nan
            row[f"steps_to_{tag}_se"] = float(ok.std(ddof=1) / np.sqrt(len(ok))) if len(ok) > 1 else np.nan
            row[f"reached_{tag}"] = int(len(ok))
        rows.append(row)
    out = pd.DataFrame(rows)
    # Speed-up over CE at 95%, defined only when every seed of the strategy got there: CE's mean steps over
    # the strategy's when every CE seed got there too; otherwise a lower bound with CE's steps taken as the
    # training budget (CE was censored), reported as ">x".
    budget = df.groupby(["experiment", "width"]).step.max().rename("budget")
    ce = out[out.strategy == "ce"].set_index(["experiment", "width"])
    ce_all = (ce.reached_95 == ce.seeds).rename("ce_all")
    out = out.join(ce.steps_to_95.rename("ce_steps_to_95"), on=["experiment", "width"])
    out = out.join(ce_all, on=["experiment", "width"]).join(budget, on=["experiment", "width"])
    complete = out.reached_95 == out.seeds
    out["speedup_vs_ce_95_lower_bound"] = complete & (out.ce_all == False)  # noqa: E712 - NaN-safe
    ce_steps = np.where(out.ce_all == True, out.ce_steps_to_95, out.budget)  # noqa: E712
    out["speedup_vs_ce_95"] = np.where(complete, ce_steps / out.steps_to_95, np.nan)
    out = out.drop(columns=["ce_all"])
    return out.drop(columns=["ce_steps_to_95", "budget"])


def _fmt_steps(mean, se, n, seeds):
    if not n:
        return f"– (0/{seeds})"
    txt = f"{mean / 1000:.0f}k" if mean >= 1000 else f"{mean:.0f}"
    if n > 1 and np.isfinite(se):
        txt += f" ± {se / 1000:.0f}k" if mean >= 1000 else f" ± {se:.0f}"
    return f"{txt} ({n}/{seeds})"


TITLE = "Steps to held-out accuracy (best LR per strategy)"
NOTE = (
    "Mean ± standard error over the seeds that reached the threshold (how many of all seeds did). "
    "Speed-up: CE's steps to 95% over the strategy's; '>' when CE never reached 95% within the budget."
)
HEADER = [
    "strategy",
    "τ",
    "LR",
    "steps to 90%",
    "steps to 95%",
    "steps to 99%",
    "final accuracy",
    "speed-up vs CE",
]


def _tables(summary: pd.DataFrame):
    """(experiment, width, rows of formatted cells), one table per experiment x width."""
    for (exp, width), g in summary.groupby(["experiment", "width"], sort=True):
        rows = []
        for r in g.itertuples():
            cells = [
                _fmt_steps(
                    getattr(r, f"steps_to_{t}"),
                    getattr(r, f"steps_to_{t}_se"),
                    getattr(r, f"reached_{t}"),
                    r.seeds,
                )
                for t in ("90", "95", "99")
            ]
            sp = (
                ""
                if np.isnan(r.speedup_vs_ce_95)
                else ((">" if r.speedup_vs_ce_95_lower_bound else "") + f"{r.speedup_vs_ce_95:.1f}x")
            )
            rows.append(
                [r.strategy, f"{r.temperature:g}", f"{r.lr:g}", *cells]
                + [f"{r.final_accuracy:.3f} ± {r.final_accuracy_se:.3f}", sp]
            )
        yield exp, width, rows


def to_markdown(summary: pd.DataFrame) -> str:
    lines = [f"# {TITLE}", "", NOTE, ""]
    for exp, width, rows in _tables(summary):
        lines += [f"## {exp}, student width {width}", "", "| " + " | ".join(HEADER) + " |"]
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
    for exp, width, rows in _tables(summary):
        out.append(f"<h2>{escape(str(exp))}, student width {width}</h2><table>")
        out.append("<tr>" + "".join(f"<th>{escape(h)}</th>" for h in HEADER) + "</tr>")
        out += ["<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows]
        out.append("</table>")
    out.append("</body></html>")
    return "\n".join(out)


def write_summary(
    curves_path: str, parquet_out: str, md_out: str, html_out: str | None = None
) -> pd.DataFrame:
    summary = summarize(pd.read_parquet(curves_path))
    write_parquet(summary, parquet_out)
    with atomic_path(md_out) as tmp, open(tmp, "w") as fh:
        fh.write(to_markdown(summary))
    if html_out:
        with atomic_path(html_out) as tmp, open(tmp, "w") as fh:
            fh.write(to_html(summary))
    return summary
