"""Automatic checkpoint selection: where the teacher's phase transition is, from its accuracy curve and
the probe, and which checkpoints a p-shot strategy should use (``before``, ``transition``, ``after`` and,
for hierarchical data, ``level0`` .. ``level{D-1}``: when each tree level's features emerge).

The paper picks its 2-shot checkpoint by eye ("during the phase transition"); this module makes the same
choice reproducibly so a user who changes n, d or a width needs no round trip. numpy/pandas only.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

from .metrics import first_step_at

SYMBOLIC = re.compile(r"^(before|transition|after|level[0-9]+)$")


def is_symbolic(ck) -> bool:
    return isinstance(ck, str) and bool(SYMBOLIC.match(ck))


def progress(acc, chance: float) -> np.ndarray:
    """Accuracy rescaled so chance is 0 and perfect is 1."""
    return (np.asarray(acc, dtype=np.float64) - chance) / (1.0 - chance)


def sustained(values) -> np.ndarray:
    """The level a curve never drops below again: min over later points (a suffix minimum).

    Online SGD curves are noisy; a transient spike above a threshold must not count as crossing it, and
    a crossing that holds for the rest of training is the one a reader would point at."""
    v = np.asarray(values, dtype=np.float64)
    return np.minimum.accumulate(v[::-1])[::-1]


def detect_window(steps, acc, chance: float, params: dict) -> dict:
    """The phase transition of an accuracy curve.

    ``start``/``middle``/``end``: the first evaluation from which the sustained progress stays at or
    above ``start``/``middle``/``end`` (shares of the way from chance to 1; ``params``: an experiment's
    ``selection`` settings, whose defaults the schema states).
    ``learned`` is False when the sustained final progress is below ``middle`` (no transition).
    ``steepest``: (a, b), the evaluation interval with the largest sustained rise.
    ``stages``: maximal runs of intervals whose rise, smoothed over ~5% of the curve, is at least
    ``stage_share`` of the steepest one and which gain at least ``stage_gain``, each with its start,
    end and gain (a two-stage curve has two; evaluation noise alone makes none)."""
    p = params
    steps = np.asarray(steps, dtype=np.int64)
    order = np.argsort(steps)
    steps = steps[order]
    g = sustained(progress(np.asarray(acc)[order], chance))
    out = {
        "learned": bool(len(g) and g[-1] >= p["middle"]),
        "final_progress": float(g[-1]) if len(g) else float("nan"),
        "start": None,
        "middle": None,
        "end": None,
        "steepest": None,
        "stages": [],
    }
    if not out["learned"] or len(g) < 2:
        return out
    out["start"] = first_step_at(steps, g, p["start"])
    out["middle"] = first_step_at(steps, g, p["middle"])
    out["end"] = first_step_at(steps, g, p["end"]) or int(steps[-1])
    rise = np.diff(g)
    k = int(np.argmax(rise))
    out["steepest"] = (int(steps[k]), int(steps[k + 1]))
    span = max(3, len(rise) // 20) | 1
    smooth = np.convolve(rise, np.ones(span) / span, mode="same")
    strong = smooth >= p["stage_share"] * smooth.max()
    i = 0
    while i < len(rise):
        if not strong[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(rise) and strong[j + 1]:
            j += 1
        # Trim the smoothing's spill-over: the stage runs from its first to its last actual rise.
        moved = np.flatnonzero(rise[i : j + 1] > 0)
        if len(moved) and g[j + 1] - g[i] >= p["stage_gain"]:
            a, b = i + moved[0], i + moved[-1] + 1
            out["stages"].append({"start": int(steps[a]), "end": int(steps[b]), "gain": float(g[b] - g[a])})
        i = j + 1
    return out


def _nearest(ckpts: list[int], step: float) -> int:
    return min(ckpts, key=lambda c: (abs(c - step), c))


def probe_signal(probe: pd.DataFrame) -> pd.DataFrame:
    """Per checkpoint: mean |corr| of the lowest probed degree's in- and off-support monomials (the
    paper's degree-1 probe; averaged over outputs when there are several), their ratio, and ``z``: how
    many standard errors the in-support mean stands above the off-support one.

    Without a support signal the in-support monomials look like off-support ones, so the null spread of
    one |corr| is the off-support monomials' standard deviation (sampling noise plus the network's
    genuine background), floored by the probe's sampling standard error (column ``stderr``; 0 when the
    probe enumerated every input): z = (in - off) / (spread * sqrt(1/k_in + 1/k_off))."""
    p = probe[probe.degree == probe.degree.min()].assign(abs_corr=lambda d: d.correlation.abs())
    if "p1" in set(p.output) and "margin" in set(p.output):
        p = p[p.output == "p1"]  # binary task: the paper's probe is on the class-1 probability
    if "stderr" not in p.columns:  # a table from before the probe reported standard errors
        p = p.assign(stderr=0.0)
    if "monomial" not in p.columns:
        p = p.assign(monomial=p.index.astype(str))
    # One value per monomial (mean over outputs), so k counts monomials, not monomial x output rows.
    per = p.groupby(["checkpoint", "in_support", "monomial"]).agg(
        abs_corr=("abs_corr", "mean"), se=("stderr", "mean")
    )
    g = per.groupby(["checkpoint", "in_support"])
    t = g.abs_corr.agg(["mean", "std", "count"]).join(g.se.agg(lambda v: float(np.sqrt(np.mean(v**2)))))
    t = t.unstack("in_support")
    ins, off = t.xs(True, axis=1, level=1), t.xs(False, axis=1, level=1)
    spread = np.maximum(off["std"].fillna(0.0), off["se"])
    scale = spread * np.sqrt(1 / ins["count"] + 1 / off["count"])
    diff = ins["mean"] - off["mean"]
    z = np.where(scale > 0, diff / scale.where(scale > 0, 1.0), np.sign(diff) * np.inf)
    import pandas as pd  # here: config imports this module for is_symbolic / resolve

    out = pd.DataFrame(
        {"in_support": ins["mean"], "off_support": off["mean"], "noise": spread, "z": z}, index=t.index
    )
    out["ratio"] = out.in_support / out.off_support
    return out.reset_index().sort_values("checkpoint", ignore_index=True)


def level_emergence(probe: pd.DataFrame) -> dict[int, dict]:
    """Hierarchical data: per tree level, the first checkpoint from which that level's parity features
    (each node's full-block monomial, max |corr| over outputs, averaged over the level's nodes) stay at
    or above half their largest value."""
    feats = feature_curves(probe)
    out = {}
    for level, f in feats.groupby("level"):
        curve = f.groupby("checkpoint").abs_corr.mean().sort_index()
        peak = float(curve.max())
        step = first_step_at(curve.index.to_numpy(), sustained(curve.to_numpy()), peak / 2)
        out[int(level)] = {"step": step, "peak": peak, "peak_at": int(curve.idxmax())}
    return out


def feature_curves(probe: pd.DataFrame) -> pd.DataFrame:
    """Per checkpoint and internal node: the largest |correlation| over the teacher's outputs with the
    node's full-block monomial (its parity feature), and the node's tree level."""
    p = probe[probe.in_support]
    full = p[p.degree == p.groupby("node").degree.transform("max")]
    return (
        full.assign(abs_corr=full.correlation.abs())
        .groupby(["checkpoint", "node", "level"])
        .abs_corr.max()
        .reset_index()
    )


def select_checkpoints(
    curve: pd.DataFrame,
    probe: pd.DataFrame,
    checkpoints: list[int],
    chance: float,
    params: dict,
    depth: int | None = None,
) -> dict:
    """The transition window of the teacher's held-out accuracy ``curve`` (columns step, accuracy) and
    the checkpoints p-shot strategies may name, each with the reason it was chosen.

    - ``transition``: the checkpoint inside the window (from the last checkpoint at or before ``start``
      to ``end``) where the probe's in- vs off-support z-score (probe_signal: the lowest degree's mean
      |corr| difference in standard errors) peaks; when it never reaches ``flat_z`` there, the checkpoint
      nearest the middle of the steepest accuracy rise. (Restricting the peak search to the window
      matters: early in training batch-1 SGD leaves large correlations on every coordinate, which can
      exceed the real spike.)
    - ``before`` / ``after``: the last checkpoint at or before ``start - margin`` and the first at or
      after ``end + margin``, margin = half the window (at least one checkpoint interval): clearly
      outside the transition rather than on its edges.
    - ``level{i}`` (hierarchical, ``depth`` given): when level i's features emerge (level_emergence)."""
    p = params
    ckpts = sorted(int(c) for c in checkpoints)
    win = detect_window(curve.step.to_numpy(), curve.accuracy.to_numpy(), chance, p)
    out = {"window": win, "checkpoints": {}, "reasons": {}, "params": p}
    if depth:
        for level, e in level_emergence(probe).items():
            if e["step"] is None or level >= depth:
                continue
            name = f"level{level}"
            out["checkpoints"][name] = _nearest(ckpts, e["step"])
            out["reasons"][name] = (
                f"level {level} features (full-block monomials) first stay >= half their peak "
                f"|corr| {e['peak']:.3f} (at {e['peak_at']}) from step {e['step']}"
            )
    if not win["learned"]:
        out["reasons"]["transition"] = (
            f"no transition: the teacher's sustained progress ends at {win['final_progress']:.2f} "
            f"(< {p['middle']} of the way from chance {chance:.3f} to 1)"
        )
        return out
    start, end = win["start"], win["end"]
    lo = max([c for c in ckpts if c <= start], default=ckpts[0])
    inside = [c for c in ckpts if lo <= c <= end]
    sig = probe_signal(probe)
    sig = sig[sig.checkpoint.isin(inside)]
    a, b = win["steepest"]
    if len(sig) and sig.z.max() >= p["flat_z"]:
        best = sig.loc[sig.z.idxmax()]
        out["checkpoints"]["transition"] = int(best.checkpoint)
        out["reasons"]["transition"] = (
            f"probe: in- vs off-support z-score (lowest degree) peaks at {best.z:.1f} standard errors "
            f"(mean |corr| in {best.in_support:.4f}, off {best.off_support:.4f}, noise {best.noise:.4f}; "
            f"ratio {best.ratio:.2f}) at step {int(best.checkpoint)}, inside the accuracy window {lo}..{end}"
        )
    else:
        peak = float(sig.z.max()) if len(sig) else float("nan")
        out["checkpoints"]["transition"] = _nearest(inside or ckpts, (a + b) / 2)
        out["reasons"]["transition"] = (
            f"probe flat in the window (largest in- vs off-support z-score {peak:.1f} < {p['flat_z']}): "
            f"checkpoint nearest the middle of the steepest accuracy rise {a}..{b}"
        )
    every = ckpts[1] - ckpts[0] if len(ckpts) > 1 else 1
    margin = max(every, (end - start) / 2)
    before = [c for c in ckpts if c <= start - margin]
    after = [c for c in ckpts if c >= end + margin]
    out["checkpoints"]["before"] = before[-1] if before else ckpts[0]
    out["reasons"]["before"] = f"last checkpoint at or before window start {start} - margin {margin:g}"
    out["checkpoints"]["after"] = after[0] if after else ckpts[-1]
    out["reasons"]["after"] = f"first checkpoint at or after window end {end} + margin {margin:g}"
    return out


def resolve(checkpoints: list, selection: dict | None, where: str) -> list[int]:
    """Replace symbolic checkpoint names by the steps the selection chose; a clear error otherwise."""
    out = []
    for ck in checkpoints:
        if not is_symbolic(ck):
            out.append(int(ck))
            continue
        chosen = (selection or {}).get("checkpoints", {})
        if ck not in chosen:
            reasons = (selection or {}).get("reasons", {})
            if selection is None:
                why = "no selection file was given"
            elif not selection.get("window", {}).get("learned", True):
                why = reasons.get("transition", "the teacher never learned")
            else:
                why = reasons.get(ck, "its signal never emerged in the probe")
            raise ValueError(
                f"{where} names the checkpoint {ck!r}, but the automatic selection chose none ({why}); "
                f"chosen: {chosen or 'nothing'}. Use fixed steps for this teacher."
            )
        out.append(int(chosen[ck]))
    return out
