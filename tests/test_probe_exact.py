"""The probe against exact Fourier coefficients, computed here by enumerating all 2^n inputs (n <= 14).

The reference shares no code with progdistill.probe: it lists the cube with itertools, runs the network
with its own NumPy forward pass and averages f(x) chi_T(x) over every input. Checked on a hand-built
network whose margin has known coefficients, and on a teacher trained by the package's driver; in exact
mode (2^n <= samples) the probe must reproduce the coefficients with standard error 0, and in sampling
mode its estimate must be unbiased with a standard error that matches the spread over probe seeds.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from progdistill.engine import TorchBackend
from progdistill.probe import monomial_set, probe_checkpoint
from progdistill.streams import sample_inputs
from progdistill.tasks import SparseParity
from progdistill.training import HeldOut, RunSpec, train


def cube(n: int) -> np.ndarray:
    return np.array(list(itertools.product([1, -1], repeat=n)), dtype=np.float64)


def ref_outputs(arrays: dict, x: np.ndarray) -> dict[str, np.ndarray]:
    h = np.maximum(x @ arrays["W1"].astype(np.float64).T + arrays["b1"], 0.0)
    z = h @ arrays["W2"].astype(np.float64).T + arrays["b2"]
    p1 = 1.0 / (1.0 + np.exp(-(z[:, 1] - z[:, 0])))  # two-class softmax
    return {"p1": p1, "margin": z[:, 1] - z[:, 0]}


def exact_coefficients(arrays: dict, n: int, monomials) -> dict[tuple[str, str], float]:
    x = cube(n)
    out = {}
    for name, f in ref_outputs(arrays, x).items():
        for m in monomials:
            chi = np.prod(x[:, list(m.coords)], axis=1)
            out[(name, m.name)] = float(np.mean(f * chi))
    return out


def hand_built(n: int) -> dict:
    """Hidden units relu(x0), relu(-x0), relu(x0 + x1 - 1); class-1 logit h0 - h1 + 4 h2, class 0 zero.
    The margin is x0 + 4 [x0 = x1 = 1] = 1 + 2 x0 + x1 + x0 x1: coefficients 2, 1, 1 on {0}, {1}, {0,1}."""
    W1 = np.zeros((3, n), dtype=np.float32)
    W1[0, 0], W1[1, 0], W1[2, 0], W1[2, 1] = 1, -1, 1, 1
    b1 = np.array([0, 0, -1], dtype=np.float32)
    W2 = np.array([[0, 0, 0], [1, -1, 4]], dtype=np.float32)
    return {"W1": W1, "b1": b1, "W2": W2, "b2": np.zeros(2, dtype=np.float32)}


def trained(task, width=32, steps=4000):
    res = train(
        task,
        width,
        [RunSpec(0.05, 3, 4)],
        steps,
        HeldOut.from_task(task, 9, 128),
        steps,
        TorchBackend(),
        torch.device("cpu"),
    )
    W1t, b1, W2, b2 = (t[0].numpy() for t in res.params.tensors())
    return {"W1": W1t.T.copy(), "b1": b1, "W2": W2, "b2": b2}


def _by_key(rows):
    return {(r["output"], r["monomial"]): r for r in rows}


def test_hand_built_network_has_its_known_coefficients_exactly():
    n = 10
    task = SparseParity(n=n, support=(0, 1, 2))
    monos = monomial_set(task, [1, 2, 3], 10, seed=0)
    arrays = hand_built(n)
    acc, rows = probe_checkpoint(arrays, task, monos, stream_seed=1, samples=2**n)
    got = _by_key(rows)
    known = {"0": 2.0, "1": 1.0, "0_1": 1.0}
    for m in monos:
        assert got[("margin", m.name)]["correlation"] == pytest.approx(known.get(m.name, 0.0), abs=1e-6)
    ref = exact_coefficients(arrays, n, monos)
    for key, r in got.items():
        assert r["correlation"] == pytest.approx(ref[key], abs=1e-6), key
        assert r["stderr"] == 0.0  # every input enumerated: no sampling error
    # Accuracy over the whole cube: the margin's sign against the parity of x0 x1 x2.
    x = cube(n)
    pred = ref_outputs(arrays, x)["margin"] > 0
    assert acc == pytest.approx(np.mean(pred == (np.prod(x[:, :3], axis=1) < 0)))


def test_trained_teacher_matches_enumeration():
    n = 12
    task = SparseParity(n=n, support=(2, 5, 7))
    arrays = trained(task)
    monos = monomial_set(task, [1, 2, 3], 20, seed=3)
    _, rows = probe_checkpoint(arrays, task, monos, stream_seed=1, samples=2**n + 5)
    ref = exact_coefficients(arrays, n, monos)
    got = _by_key(rows)
    assert max(abs(ref[k]) for k in ref) > 0.05  # a trained network, not a flat one
    for key, r in got.items():
        tol = 1e-6 if key[0] == "p1" else 1e-5 * max(1.0, abs(ref[key]))
        assert r["correlation"] == pytest.approx(ref[key], abs=tol), key
        assert r["stderr"] == 0.0


@pytest.mark.parametrize("network", ["hand_built", "trained"])
def test_sampled_probe_is_unbiased_and_its_stderr_is_honest(network):
    """Sampling mode (2^14 inputs, 1024 samples): over 60 probe seeds the estimates centre on the exact
    coefficients, their spread matches the reported standard error, and the centred estimator is less
    noisy than the plain mean of f chi_T for p1 (whose mean is far from 0)."""
    n, samples, reps = 14, 1024, 60
    task = SparseParity(n=n, support=(0, 1, 2))
    arrays = hand_built(n) if network == "hand_built" else trained(task, steps=3000)
    monos = monomial_set(task, [1, 2], 12, seed=0)
    ref = exact_coefficients(arrays, n, monos)
    est = {k: [] for k in ref}
    ses = {k: [] for k in ref}
    for seed in range(reps):
        _, rows = probe_checkpoint(arrays, task, monos, stream_seed=1000 + seed, samples=samples)
        for key, r in _by_key(rows).items():
            est[key].append(r["correlation"])
            ses[key].append(r["stderr"])
    spread, reported = [], []
    for key in ref:
        e, s = np.array(est[key]), np.array(ses[key])
        assert np.all(s > 0)  # sampled, so every standard error is positive; its size is the spread test's
        # The mean of 60 estimates is within 4.5 of its standard errors of the exact value.
        assert abs(e.mean() - ref[key]) <= 4.5 * np.sqrt(np.mean(s**2) / reps), key
        spread.append(e.std(ddof=1))
        reported.append(np.sqrt(np.mean(s**2)))
    ratio = np.sum(spread) / np.sum(reported)
    assert 0.85 <= ratio <= 1.15, f"empirical spread / reported stderr = {ratio:.3f}"

    # Variance reduction: the plain mean of p1 * chi_T on the same samples spreads more.
    plain = []
    for seed in range(reps):
        x = sample_inputs(1000 + seed, 0, samples, n).astype(np.float64)
        plain.append(np.mean(ref_outputs(arrays, x)["p1"] * np.prod(x[:, [0, 1]], axis=1)))
    assert np.std(est[("p1", "0_1")], ddof=1) < 0.8 * np.std(plain, ddof=1)
