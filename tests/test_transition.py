"""The automatic checkpoint selection on synthetic curves with known answers."""

import numpy as np
import pandas as pd
import pytest
from progdistill import config as C
from progdistill.transition import detect_window, resolve, select_checkpoints

# The selection's settings as a validated configuration carries them (the schema's defaults).
PARAMS = {
    k: C.schema_default("experiment", "selection", k)
    for k in ("start", "middle", "end", "flat_z", "stage_share", "stage_gain")
}
STEPS = np.arange(0, 300_001, 5000)
CKPTS = list(range(0, 300_001, 10_000))


def logistic(mid, width, lo=0.5, hi=1.0):
    return lo + (hi - lo) / (1 + np.exp(-(STEPS - mid) / width))


def noisy(acc, seed=0, sd=0.01):
    return np.clip(acc + np.random.default_rng(seed).normal(0, sd, len(acc)), 0, 1)


def flat_probe(ckpts=CKPTS, in_corr=0.01, off_corr=0.01, spike=None, off=None, stderr=None):
    """Degree-1 probe rows: 5 in-support and 20 off-support monomials per checkpoint; ``spike`` / ``off``
    / ``stderr`` map checkpoints to the in-support |corr|, off-support |corr| and standard error there
    (default 0.003, the size of a 32k-sample probe's)."""
    rows = []
    for c in ckpts:
        for j in range(25):
            ins = j < 5
            val = (spike or {}).get(c, in_corr) if ins else (off or {}).get(c, off_corr)
            rows.append(
                dict(
                    checkpoint=c,
                    output="p1",
                    degree=1,
                    monomial=str(j),
                    in_support=ins,
                    node=0 if ins else -1,
                    level=0,
                    correlation=val,
                    stderr=(stderr or {}).get(c, 0.003),
                )
            )
    return pd.DataFrame(rows)


def test_sharp_transition():
    acc = noisy(logistic(150_000, 3000))
    w = detect_window(STEPS, acc, 0.5, PARAMS)
    assert w["learned"]
    assert 135_000 <= w["start"] <= 150_000 <= w["middle"] <= 155_000 <= w["end"] <= 165_000
    assert len(w["stages"]) == 1
    assert w["steepest"][0] <= 150_000 <= w["steepest"][1]


def test_gradual_transition_is_wide_and_single_stage():
    acc = noisy(logistic(150_000, 30_000), sd=0.005)
    w = detect_window(STEPS, acc, 0.5, PARAMS)
    # Logistic: 10% at mid - 2.2 width, 90% at mid + 2.2 width.
    assert 70_000 <= w["start"] <= 100_000
    assert 200_000 <= w["end"] <= 230_000
    assert abs(w["middle"] - 150_000) <= 15_000
    assert len(w["stages"]) == 1


def test_two_stage_curve_has_two_stages():
    # chance 1/4: 0.25 -> 0.625 around 60k, -> 1.0 around 200k (a hierarchical-like curve).
    acc = (
        0.25
        + 0.375 / (1 + np.exp(-(STEPS - 60_000) / 2000))
        + 0.375 / (1 + np.exp(-(STEPS - 200_000) / 2000))
    )
    w = detect_window(STEPS, noisy(acc, sd=0.005), 0.25, PARAMS)
    assert len(w["stages"]) == 2
    (a, b) = w["stages"]
    assert a["start"] <= 60_000 <= a["end"] < b["start"] <= 200_000 <= b["end"]
    assert 0.4 < a["gain"] < 0.6 and 0.4 < b["gain"] < 0.6
    assert w["start"] <= 60_000 and w["end"] >= 200_000  # the window spans both stages


def test_never_learns():
    acc = noisy(np.full(len(STEPS), 0.5), sd=0.02)
    acc[10] = 0.9  # a transient spike must not count as learning
    w = detect_window(STEPS, acc, 0.5, PARAMS)
    assert not w["learned"] and w["start"] is None and w["end"] is None
    sel = select_checkpoints(pd.DataFrame(dict(step=STEPS, accuracy=acc)), flat_probe(), CKPTS, 0.5, PARAMS)
    assert sel["checkpoints"] == {}
    assert "no transition" in sel["reasons"]["transition"]
    with pytest.raises(ValueError, match="'transition'.*no transition"):
        resolve(["transition"], sel, "strategy '2shot_auto'")


def test_transient_spike_before_the_transition_is_ignored():
    acc = logistic(150_000, 3000)
    acc[STEPS == 40_000] = 0.97
    w = detect_window(STEPS, acc, 0.5, PARAMS)
    assert w["start"] >= 135_000


def test_transition_from_probe_peak_inside_the_window():
    curve = pd.DataFrame(dict(step=STEPS, accuracy=noisy(logistic(150_000, 5000))))
    # A larger early spike (batch-1 noise at 20k) must lose to the in-window peak at 140k.
    probe = flat_probe(spike={20_000: 0.08, 130_000: 0.02, 140_000: 0.04, 150_000: 0.03})
    sel = select_checkpoints(curve, probe, CKPTS, 0.5, PARAMS)
    assert sel["checkpoints"]["transition"] == 140_000
    assert sel["reasons"]["transition"].startswith("probe")
    w = sel["window"]
    assert sel["checkpoints"]["before"] < w["start"] and sel["checkpoints"]["after"] > w["end"]


def test_transition_weighs_the_probe_by_its_standard_error():
    """A large in/off ratio made of noise loses to a smaller one measured precisely: at 140k in 0.008 vs
    off 0.002 (ratio 4) with standard error 0.005 is within noise (z = 2.4); at 150k in 0.03 vs off 0.01
    (ratio 3) with standard error 0.001 is 40 standard errors. The reason says so."""
    curve = pd.DataFrame(dict(step=STEPS, accuracy=noisy(logistic(150_000, 5000))))
    probe = flat_probe(
        spike={140_000: 0.008, 150_000: 0.03},
        off={140_000: 0.002, 150_000: 0.01},
        stderr={140_000: 0.005, 150_000: 0.001},
    )
    sel = select_checkpoints(curve, probe, CKPTS, 0.5, PARAMS)
    assert sel["checkpoints"]["transition"] == 150_000
    assert "z-score" in sel["reasons"]["transition"] and "standard errors" in sel["reasons"]["transition"]
    # Only noise in the window (z < flat_z everywhere): the steepest-rise fallback, with the reason.
    noise = flat_probe(spike={140_000: 0.008}, off={140_000: 0.002}, stderr={140_000: 0.005})
    sel = select_checkpoints(curve, noise, CKPTS, 0.5, PARAMS)
    assert sel["reasons"]["transition"].startswith("probe flat") and "z-score" in sel["reasons"]["transition"]


def test_transition_falls_back_to_the_steepest_rise_when_the_probe_is_flat():
    curve = pd.DataFrame(dict(step=STEPS, accuracy=logistic(152_500, 2000)))
    sel = select_checkpoints(curve, flat_probe(), CKPTS, 0.5, PARAMS)
    assert sel["reasons"]["transition"].startswith("probe flat")
    assert sel["checkpoints"]["transition"] == 150_000  # nearest checkpoint to the 150k-155k rise


def test_hierarchical_levels_emerge_in_order():
    rows = []
    for c in CKPTS:
        for node, level, onset in [(0, 0, 40_000), (1, 1, 100_000), (2, 1, 100_000)]:
            val = 0.2 / (1 + np.exp(-(c - onset) / 5000))
            for out in ("p0", "p1"):
                rows.append(
                    dict(
                        checkpoint=c,
                        output=out,
                        degree=2,
                        in_support=True,
                        node=node,
                        level=level,
                        correlation=val,
                    )
                )
                rows.append(
                    dict(
                        checkpoint=c,
                        output=out,
                        degree=1,
                        in_support=True,
                        node=node,
                        level=level,
                        correlation=0.0,
                    )
                )
        rows.append(
            dict(checkpoint=c, output="p0", degree=1, in_support=False, node=-1, level=-1, correlation=0.01)
        )
    probe = pd.DataFrame(rows)
    curve = pd.DataFrame(dict(step=STEPS, accuracy=logistic(100_000, 5000, lo=0.25)))
    sel = select_checkpoints(curve, probe, CKPTS, 0.25, PARAMS, depth=2)
    assert sel["checkpoints"]["level0"] == 40_000
    assert sel["checkpoints"]["level1"] == 100_000


def _exp(**strategy):
    study = C.load_study(
        {
            "experiments": {
                "e": {
                    "task": {"kind": "sparse_parity", "n": 10, "d": 3},
                    "teacher": {"width": 8, "steps": 1000, "lrs": [0.1], "checkpoint_every": 100},
                    "students": {"widths": [4], "steps": 1000, "lrs": [0.1], "seeds": [0]},
                    "strategies": [{"name": "s", **strategy}],
                }
            }
        }
    )
    return study.experiment("e")


def test_schedule_resolves_named_checkpoints():
    exp = _exp(kind="pshot", checkpoints=["before", "transition"], steps=100)
    st = exp.strategy("s")
    assert st.uses_selection
    sel = {"checkpoints": {"before": 200, "transition": 500}}
    assert st.schedule(exp, sel) == ((0, 200), (100, 500), (200, 1000))
    with pytest.raises(ValueError, match="names the checkpoint 'before'.*no selection file"):
        st.schedule(exp)
    partial = {"window": {"learned": True}, "checkpoints": {"before": 200}, "reasons": {}}
    with pytest.raises(ValueError, match="'transition'.*never emerged"):
        st.schedule(exp, partial)
    one = _exp(kind="oneshot", checkpoint="after")
    assert one.strategy("s").schedule(one, {"checkpoints": {"after": 900}}) == ((0, 900),)


@pytest.mark.parametrize(
    "strategy, message",
    [
        ({"kind": "pshot", "checkpoints": ["level0"], "steps": 10}, "only hierarchical tasks"),
        ({"kind": "pshot", "checkpoints": ["middle"], "steps": 10}, "checkpoints"),
        ({"kind": "oneshot", "checkpoint": "during"}, "checkpoint"),
    ],
)
def test_bad_named_checkpoints_are_rejected(strategy, message):
    with pytest.raises(C.ConfigError, match=message):
        _exp(**strategy)
