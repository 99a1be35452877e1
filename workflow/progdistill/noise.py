"""What a figure needs to show where signal stands above noise and where a curve starts: the probe's
noise floor and the task's chance level (1 / classes), drawn the same way in every figure that uses them."""

from __future__ import annotations

import numpy as np
import pandas as pd

FLOOR_SE = 2.0  # the floor is this many standard errors: a zero-correlation monomial stays below ~95%


def noise_floor(probe: pd.DataFrame) -> pd.Series:
    """Per checkpoint: FLOOR_SE x the root-mean-square standard error of the given probe rows (the |corr|
    a monomial with no true correlation exceeds about 5% of the time); 0 where the probe enumerated every
    input (exact coefficients, no sampling noise) or for a table without a ``stderr`` column."""
    if "stderr" not in probe.columns or probe.empty:
        return pd.Series(0.0, index=sorted(probe.checkpoint.unique()) if len(probe) else [], name="floor")
    rms = probe.groupby("checkpoint").stderr.apply(lambda s: float(np.sqrt(np.mean(np.square(s)))))
    return (FLOOR_SE * rms).rename("floor")


def draw_noise_floor(ax, floor: pd.Series) -> None:
    """A grey band from 0 to the floor, or a note that the probe is exact."""
    if len(floor) and float(floor.max()) > 0:
        ax.fill_between(floor.index, 0, floor.values, color="grey", alpha=0.25, linewidth=0, zorder=0)
        ax.plot(
            floor.index, floor.values, color="grey", linewidth=0.8, label=f"noise floor ({FLOOR_SE:g} SE)"
        )
    else:
        ax.annotate(
            "exact coefficients (all 2^n inputs): no sampling noise",
            (0.01, 0.01),
            xycoords="axes fraction",
            fontsize="x-small",
            color="grey",
        )


def mark_chance(ax, chance: float) -> None:
    """Accuracy axis from just below chance to 1, with chance as a thin line."""
    ax.set_ylim(chance - 0.03, 1.02)
    ax.axhline(chance, color="black", linewidth=0.6, linestyle=(0, (4, 3)), alpha=0.6, zorder=0)
