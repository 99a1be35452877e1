"""Appendix B check (progdistill.theory): the model, Algorithm 1's two stages, the probes, and the config."""

import copy
import itertools
import math

import numpy as np
import pytest
import torch
from progdistill import config as C
from progdistill import theory as T
from progdistill.streams import sample_inputs


def _all_inputs(n):
    return np.array(list(itertools.product([-1.0, 1.0], repeat=n)))


def _brute_majority_coefficient(n, k):
    x = _all_inputs(n)
    return float(np.mean(np.sign(x.sum(1)) * np.prod(x[:, :k], axis=1)))


@pytest.mark.parametrize("n", [5, 6, 9])
def test_majority_coefficients_match_enumeration(n):
    for k in range(n + 1):
        assert T.majority_coefficient(n, k) == pytest.approx(_brute_majority_coefficient(n, k), abs=1e-12)
    assert T.majority_coefficient(3, 1) == 0.5 and T.majority_coefficient(3, 3) == -0.5


def test_symmetric_init_gives_zero_output_exactly():
    net = T.symmetric_init(64, 20, 4, seed=3)
    x = sample_inputs(11, 0, 2000, 20).astype(np.float64)
    out = net(x)
    assert np.all(out == 0.0)
    h = 32
    assert np.array_equal(net.w[:h], net.w[h:]) and np.array_equal(net.a[:h], -net.a[h:])
    assert set(np.unique(net.w)) == {-1.0, 1.0} and set(np.abs(net.a)) == {1 / 64}
    assert set(np.round(net.b, 12)) <= set(np.round(T.bias_grid(4), 12))


def test_hinge_gradients_match_autograd():
    rng = np.random.default_rng(0)
    m, n, batch = 12, 9, 64
    net = T.Net(rng.normal(size=(m, n)) * 0.3, rng.normal(size=m) * 0.3, rng.normal(size=m))
    x = sample_inputs(5, 0, batch, n).astype(np.float64)
    t = rng.normal(size=batch)  # soft targets, as a distilled student's
    loss, gw, gb, ga = T.hinge_loss_and_grads(net, x, t)
    w, b, a = (torch.tensor(v, requires_grad=True) for v in (net.w, net.b, net.a))
    xt, tt = torch.tensor(x), torch.tensor(t)
    f = torch.relu(xt @ w.T + b) @ a
    ref = torch.clamp(1 - tt * f, min=0).mean()
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    assert 0 < np.mean(t * net(x) < 1) < 1  # both sides of the hinge are exercised
    np.testing.assert_allclose(gw, w.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gb, b.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ga, a.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_first_stage_gradient_is_the_batch_hinge_gradient():
    """The streamed, twin-sharing stage-1 gradient equals the plain batch gradient on the same samples."""
    n, d, batch = 10, 2, 700
    net = T.symmetric_init(16, n, d, seed=1)
    x = sample_inputs(42, 0, batch, n).astype(np.float64)
    _, gw, _, _ = T.hinge_loss_and_grads(net, x, T.parity(x, d))
    g = T._stage1_gradient(net, lambda z: T.parity(z, d), batch, 42, chunk=256)
    np.testing.assert_allclose(g, gw, rtol=1e-6, atol=1e-9)
    step = T.first_stage(net, lambda z: T.parity(z, d), batch, 0.5, 42)
    np.testing.assert_allclose(step.w, -0.5 * gw, rtol=1e-6, atol=1e-9)  # decay 1 erases w^(0)


def test_second_stage_equals_plain_per_sample_sgd():
    n, d = 8, 2
    net = T.first_stage(T.symmetric_init(16, n, d, 0), lambda z: T.parity(z, d), 4000, None, 9, d=d)
    ev = T.make_eval_set(n, d, 64, seed=3)
    lr, steps = 0.05, 600
    got, hist = T.second_stage(net, lambda z: T.parity(z, d), steps, lr, 17, ev, steps, block=7)
    assert [h["step"] for h in hist] == [0, steps]
    x = sample_inputs(17, 0, steps, n).astype(np.float64)
    a = net.a.copy()
    for xi in x:
        phi = np.maximum(xi @ net.w.T + net.b, 0)
        t = T.parity(xi[None], d)[0]
        if t * (phi @ a) < 1:
            a += lr * t * phi
    final_loss = np.mean(np.maximum(0, 1 - ev.y * (net.features(ev.x) @ a)))
    assert hist[-1]["loss"] == pytest.approx(final_loss, abs=1e-12)
    if hist[-1]["loss"] < hist[0]["loss"]:
        np.testing.assert_allclose(got.a, a, atol=1e-12)


def test_population_first_stage_follows_claims_one_and_two():
    n, d = 15, 4
    net0 = T.symmetric_init(40, n, d, seed=2)
    w = T.population_first_stage(net0, n, d).w
    np.testing.assert_allclose(np.abs(w[:, :d]), 1 / (2 * d))
    np.testing.assert_allclose(np.abs(w[:, d:]), T.off_support_ratio(n, d) / (2 * d))
    # Twins end up opposite, so f after stage 1 is an odd function of x.
    np.testing.assert_array_equal(w[20:], -w[:20])


def test_aligned_in_support_correlation_is_one_over_4d_exactly():
    """Over the bias grid the per-neuron correlation telescopes to 1/(4d), twice lemma B.5's 1/(8d)."""
    for d, n in [(2, 9), (4, 16), (6, 30)]:
        assert T.population_neuron_correlation(n, d, True)[0] == pytest.approx(1 / (4 * d), abs=1e-12)
        off = T.population_neuron_correlation(n, d, False)[0]
        assert 0 < off < 1 / (4 * d)


def test_neuron_correlation_estimator_against_enumeration():
    n, d = 8, 2
    net1 = T.first_stage(T.symmetric_init(8, n, d, 0), lambda z: T.parity(z, d), 3000, 1.0, 4)
    x = _all_inputs(n)
    exact = (net1.features(x).T @ x) / len(x)
    est = T.neuron_correlations(net1, 1 << 14, seed=8)
    np.testing.assert_allclose(est, exact, atol=0.01)
    np.testing.assert_array_equal(est[4:], -est[:4])  # the twin shortcut


def test_first_stage_correlations_small_cell():
    """At n=16, d=2 the per-neuron correlation matches the exact 1/(4d) (>= the paper's 1/(8d)) and the
    off-support one is far smaller; the network's own correlation is a random-sign O(m^-1/2) quantity."""
    n, d, m = 16, 2, 64
    net0 = T.symmetric_init(m, n, d, seed=5)
    xi = T.majority_coefficient(n, d - 1)
    net1 = T.first_stage(net0, lambda z: T.parity(z, d), T.first_stage_batch(n, d, 16), m / (d * abs(xi)), 6)
    met = T.first_stage_metrics(net0, net1, n, d, 4096, 7)
    assert met["w_in_sign_agreement"] == 1.0
    assert met["w_in_abs_x2d"] == pytest.approx(1.0, rel=0.05)
    assert met["corr_in_aligned"] == pytest.approx(1 / (4 * d), rel=0.1)
    assert met["corr_in_aligned"] > 1 / (8 * d)
    assert abs(met["corr_out_aligned"]) < 0.1 * met["corr_in_aligned"]
    pred = T.network_correlation_scale(n, d, m, T.first_stage_batch(n, d, 16))["corr_in_network_abs"]
    assert pred / 3 < met["corr_in_network_abs"] < min(3 * pred, met["corr_in_aligned"])


def test_network_correlation_sign_is_set_by_the_initialisation():
    """Lemma B.5's w.l.o.g. does not hold for the sum over neurons: flipping one support coordinate of every
    w_i^(0) (a measure-preserving change of the initialisation) flips the sign of E[f x_1] exactly, so its
    mean over initialisations is 0 -- only per-neuron, sign-aligned correlations are 1/(4d)."""
    n, d = 8, 2
    x = _all_inputs(n)
    net0 = T.symmetric_init(32, n, d, seed=4)
    w0 = net0.w.copy()
    w0[:, 0] *= -1
    flipped = T.Net(w0, net0.b, net0.a)
    c = [x[:, 1] @ T.population_first_stage(net, n, d)(x) / len(x) for net in (net0, flipped)]
    assert abs(c[0]) > 1e-3 and c[1] == pytest.approx(-c[0], abs=1e-12)


def test_loglog_slope():
    n = np.array([10, 20, 40, 80, 160])
    slope, se, k = T.loglog_slope(n, 3 * n**2.5)
    assert slope == pytest.approx(2.5) and se == pytest.approx(0, abs=1e-9) and k == 5
    assert math.isnan(T.loglog_slope([10, 20], [np.inf, 1.0])[0])


# ------------------------------------------------------------------------------------------- config

BASE = {"theory": {"students": {"n": [8, 12]}}}


def _with(**changes):
    cfg = copy.deepcopy(BASE)
    for path, value in changes.items():
        node = cfg["theory"]
        *parents, last = path.split("__")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return cfg


def test_theory_only_configuration_gets_defaults():
    cfg = C.validate_config(BASE)
    assert cfg["experiments"] == {}
    assert cfg["theory"]["students"]["batch_grid"] == {"min": 32, "max": 65536, "factor": 2.0}
    assert cfg["theory"]["correlation"]["batch_factors"] == [1.0]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"students__d": 3}, "theory.students.d = 3 is odd"),
        ({"students__n": [3]}, "n = 3 with d = 2; valid: n >= d + 2"),
        ({"correlation__width": 7}, "theory.correlation.width = 7 is odd"),
        ({"correlation__grid": [{"d": 2, "n": [16, 16]}]}, "grid[0].n = [16, 16] has duplicates"),
        ({"correlation__grid": [{"d": 2}]}, "'n' is a required property"),
        ({"students__lr": 0}, "theory.students.lr = 0 is invalid"),
        ({"students__batch_grid": {"min": 64, "max": 32}}, "min = 64 > max = 32"),
        ({"students__batch_grid": {"factor": 1}}, "theory.students.batch_grid.factor = 1 is invalid"),
        ({"students__bogus": 1}, "'bogus' was unexpected"),
        ({"seeds": [1, 1]}, "theory.seeds = [1, 1] has duplicates"),
    ],
)
def test_bad_theory_keys_are_reported(changes, message):
    with pytest.raises(C.ConfigError, match=None) as err:
        C.validate_config(_with(**changes))
    assert message in str(err.value)


def test_a_configuration_must_run_something():
    with pytest.raises(C.ConfigError) as err:
        C.validate_config({})
    assert "no theory or nscaling section" in str(err.value)
