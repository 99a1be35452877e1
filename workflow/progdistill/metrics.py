"""The study's shared rules, each implemented once and used by figures, summary, selection and statistics:
the first step at which a curve reaches a threshold, and the best candidate (learning rate, or teacher run)
by mean held-out accuracy over training. numpy/pandas only."""

from __future__ import annotations

import numpy as np
import pandas as pd


def first_step_at(steps, values, level: float) -> int | None:
    """The first (smallest) step whose value is at or above ``level``; None when none is. NaN values
    (a diverged run) never count."""
    steps = np.asarray(steps)
    hit = steps[np.asarray(values, dtype=np.float64) >= level]
    return int(hit.min()) if len(hit) else None


def steps_to_accuracy(curves: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per (strategy, width, seed): the first evaluated step at or above ``target`` (NaN: never) and the
    run's budget (its last step)."""
    rows = []
    for (strategy, width, seed), g in curves.groupby(["strategy", "width", "seed"]):
        hit = first_step_at(g.step, g.accuracy, target)
        rows.append(
            dict(
                strategy=strategy,
                width=int(width),
                seed=int(seed),
                steps=float(hit) if hit is not None else np.nan,
                budget=int(g.step.max()),
            )
        )
    return pd.DataFrame(rows, columns=["strategy", "width", "seed", "steps", "budget"])


def rank_candidates(curves: pd.DataFrame, keys: list[str], candidate: list[str]) -> pd.DataFrame:
    """Score every ``candidate`` (e.g. ["lr"], or ["lr", "seed"] for a teacher run) within each ``keys``
    group, best first: runs that never diverged before those with a diverged seed, then the highest mean
    held-out accuracy over the curve (``auc``: over steps and seeds, which rewards learning both early and
    fully), then the highest ``final`` accuracy (mean over seeds of each seed's last evaluation). Ties
    keep the candidates' sorted order (stable sort)."""
    by = [*keys, *candidate]
    g = curves.groupby(by)
    score = g.accuracy.mean().rename("auc").to_frame()
    last = curves.sort_values("step", kind="stable").groupby([*by, "seed"] if "seed" not in by else by)
    final = last.accuracy.last().groupby(by).mean().rename("final")
    score = score.join(final).join(g.diverged.any().rename("diverged")).reset_index()
    return score.sort_values(
        [*keys, "diverged", "auc", "final"],
        ascending=[True] * len(keys) + [True, False, False],
        kind="stable",
    ).reset_index(drop=True)


BEST_LR_KEYS = ["experiment", "role", "strategy", "width"]


def best_lr(curves: pd.DataFrame) -> pd.DataFrame:
    """Keep, for each (experiment, role, strategy, width), the LR ranked first by rank_candidates (the
    highest mean accuracy over the curve, averaged over seeds; LRs with a diverged seed are skipped when
    any LR is clean)."""
    best = rank_candidates(curves, BEST_LR_KEYS, ["lr"]).drop_duplicates(BEST_LR_KEYS)
    return curves.merge(best[[*BEST_LR_KEYS, "lr"]], on=[*BEST_LR_KEYS, "lr"])
