"""The study's shared rules, each implemented once and used by figures, summary, selection and statistics:
the first step at which a curve reaches a threshold, the best teacher run (by mean held-out accuracy over
training) and each strategy's best learning rate (by mean steps to 95%). numpy/pandas only."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

# pandas is imported where a function needs it: config (through transition) imports this module, and
# evaluating the DAG and the training jobs should not pay pandas' import.


def first_step_at(steps, values, level: float) -> int | None:
    """The first (smallest) step whose value is at or above ``level``; None when none is. NaN values
    (a diverged run) never count."""
    steps = np.asarray(steps)
    hit = steps[np.asarray(values, dtype=np.float64) >= level]
    return int(hit.min()) if len(hit) else None


def censored_steps(steps, values, level: float, diverged: bool = False) -> tuple[int, bool]:
    """One run's time to ``level`` as censored data: (first step at or above it, True), or (the run's
    budget, its last step, False) when it never gets there or diverged."""
    hit = None if diverged else first_step_at(steps, values, level)
    return (hit, True) if hit is not None else (int(np.max(steps)), False)


def steps_to_accuracy(curves: pd.DataFrame, target: float) -> pd.DataFrame:
    """Per (strategy, width, seed): the first evaluated step at or above ``target`` (NaN when the run never
    got there or diverged: censored_steps' rule) and the run's budget (its last step)."""
    rows = []
    for (strategy, width, seed), g in curves.groupby(["strategy", "width", "seed"]):
        steps, reached = censored_steps(g.step, g.accuracy, target, bool(g.diverged.any()))
        rows.append(
            dict(
                strategy=strategy,
                width=int(width),
                seed=int(seed),
                steps=float(steps) if reached else np.nan,
                budget=int(g.step.max()),
            )
        )
    import pandas as pd

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
BEST_LR_TARGET = 0.95  # the accuracy whose steps the findings compare


def best_lr(curves: pd.DataFrame, target: float = BEST_LR_TARGET) -> pd.DataFrame:
    """Keep, for each (experiment, role, strategy, width), one learning rate: the LR whose runs reach
    ``target`` held-out accuracy in the fewest steps on average over the seeds, a run that never reaches it
    (or diverged) counted at its budget. LRs with a diverged seed are skipped when any LR is clean; ties (e.g.
    no LR reaches the target) go to the highest mean accuracy over the curve, then the highest final
    accuracy (rank_candidates), then the smaller LR."""
    ranked = rank_candidates(curves, BEST_LR_KEYS, ["lr"])
    runs = []
    for (*key, lr, seed), g in curves.groupby([*BEST_LR_KEYS, "lr", "seed"], sort=True):
        runs.append((*key, lr, seed, censored_steps(g.step, g.accuracy, target, g.diverged.any())[0]))
    import pandas as pd

    steps = pd.DataFrame(runs, columns=[*BEST_LR_KEYS, "lr", "seed", "steps"])
    mean_steps = steps.groupby([*BEST_LR_KEYS, "lr"]).steps.mean().rename("mean_steps").reset_index()
    ranked = ranked.merge(mean_steps, on=[*BEST_LR_KEYS, "lr"]).sort_values(
        [*BEST_LR_KEYS, "diverged", "mean_steps", "auc", "final", "lr"],
        ascending=[True] * len(BEST_LR_KEYS) + [True, True, False, False, True],
        kind="stable",
    )
    best = ranked.drop_duplicates(BEST_LR_KEYS)
    return curves.merge(best[[*BEST_LR_KEYS, "lr"]], on=[*BEST_LR_KEYS, "lr"])
