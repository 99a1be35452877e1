"""Appendix B's numerics (the reading of its formulas is in the package docstring, progdistill.theory):
Fourier coefficients of majority, the two-layer ReLU model with symmetric initialisation, the hinge loss,
Algorithm 1's two stages and the correlation probes. numpy only."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from ..streams import sample_inputs

log = logging.getLogger("progdistill.theory")
__all__ = [
    "majority_coefficient",
    "first_stage_batch",
    "off_support_ratio",
    "bias_grid",
    "population_neuron_correlation",
    "Net",
    "symmetric_init",
    "parity",
    "hinge_loss_and_grads",
    "first_stage",
    "population_first_stage",
    "EvalSet",
    "make_eval_set",
    "second_stage",
    "neuron_correlations",
    "predicted_signs",
    "first_stage_metrics",
    "degree1_profile",
]


# ------------------------------------------------------------------------------------------- Fourier


def majority_coefficient(n: int, k: int) -> float:
    """xi_k = E[sgn(sum_j x_j) x_1 .. x_k] over x uniform on {-1,1}^n (sgn(0) = 0), exactly."""
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    total = 0
    for neg_in in range(k + 1):  # how many of x_1..x_k are -1
        for neg_out in range(n - k + 1):
            s = (k - 2 * neg_in) + (n - k - 2 * neg_out)
            if s:
                ways = math.comb(k, neg_in) * math.comb(n - k, neg_out)
                total += (-1) ** neg_in * (1 if s > 0 else -1) * ways
    return float(Fraction(total, 2**n))


def first_stage_batch(n: int, d: int, kappa: float) -> int:
    """B_1 = ceil(kappa d^2 ln(dn) / xi_{d-1}^2) (lemma B.6 with constant kappa)."""
    return math.ceil(kappa * d * d * math.log(d * n) / majority_coefficient(n, d - 1) ** 2)


def off_support_ratio(n: int, d: int) -> float:
    """|xi_{d+1} / xi_{d-1}|: population off-support weight over the in-support 1/(2d) (claim 2)."""
    return abs(majority_coefficient(n, d + 1) / majority_coefficient(n, d - 1)) if d + 1 <= n else 0.0


def bias_grid(d: int) -> np.ndarray:
    return -1.0 + np.arange(1, 2 * d) / d


def _relu(z):
    return np.maximum(z, 0.0)


def population_neuron_correlation(n: int, d: int, in_support: bool) -> tuple[float, float]:
    """Exact E over x and over the bias grid of one neuron's correlation E[ReLU(<w,x> + b) x_u] (mean and
    root mean square over biases), with the population stage-1 weights of claims 1-2 and the neuron's sign
    pattern absorbed into x (so the value is positive): u in S (in_support) or not."""
    w_in = 1.0 / (2 * d)
    r = w_in * off_support_ratio(n, d)
    own, k_in, k_out = (w_in, d - 1, n - d) if in_support else (r, d, n - d - 1)
    # <w, x> without coordinate u: w_in * (sum of k_in signs) + r * (sum of k_out signs), exact binomials.
    s_in = np.arange(k_in, -k_in - 1, -2)
    p_in = np.array([math.comb(k_in, j) for j in range(k_in + 1)], float) / 2.0**k_in
    s_out = np.arange(k_out, -k_out - 1, -2)
    p_out = np.array([math.comb(k_out, j) for j in range(k_out + 1)], float) / 2.0**k_out
    z = (w_in * s_in[:, None] + r * s_out[None, :]).ravel()
    p = (p_in[:, None] * p_out[None, :]).ravel()
    rho = np.array([0.5 * np.sum(p * (_relu(z + own + b) - _relu(z - own + b))) for b in bias_grid(d)])
    return float(rho.mean()), float(np.sqrt(np.mean(rho**2)))


# ------------------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class Net:
    """f(x) = sum_i a_i ReLU(<w_i, x> + b_i); w (m, n), b (m,), a (m,), float64."""

    w: np.ndarray
    b: np.ndarray
    a: np.ndarray

    @property
    def width(self) -> int:
        return self.w.shape[0]

    def features(self, x: np.ndarray) -> np.ndarray:
        return _relu(x @ self.w.T + self.b)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.features(x) @ self.a

    def twins_share_first_layer(self) -> bool:
        """Neurons i and i + m/2 still have the same (w, b): true from the symmetric initialisation until
        the first layer is trained."""
        h = self.width // 2
        return (
            self.width % 2 == 0
            and np.array_equal(self.w[:h], self.w[h:])
            and np.array_equal(self.b[:h], self.b[h:])
        )


def symmetric_init(m: int, n: int, d: int, seed: int) -> Net:
    """Barak et al.'s symmetric initialisation (module docstring): f = 0 identically."""
    if m % 2:
        raise ValueError(f"the symmetric initialisation needs an even width, got {m}")
    rng = np.random.default_rng(seed)
    h = m // 2
    w = rng.choice([-1.0, 1.0], size=(h, n))
    b = bias_grid(d)[rng.integers(0, 2 * d - 1, size=h)]
    a = rng.choice([-1.0, 1.0], size=h) / m
    return Net(np.concatenate([w, w]), np.concatenate([b, b]), np.concatenate([a, -a]))


def parity(x: np.ndarray, d: int) -> np.ndarray:
    return np.prod(x[:, :d], axis=1, dtype=np.float64)


def hinge_loss_and_grads(net: Net, x: np.ndarray, t: np.ndarray):
    """Mean hinge loss max(0, 1 - t f(x)) over the batch and its gradients w.r.t. w, b and a (ReLU'(0) = 0,
    as autograd)."""
    pre = x @ net.w.T + net.b
    phi = _relu(pre)
    f = phi @ net.a
    margin = t * f
    active = (margin < 1.0).astype(np.float64)
    loss = float(np.mean(np.maximum(0.0, 1.0 - margin)))
    coef = -(t * active) / len(x)  # d loss / d f per sample
    mask = (pre > 0).astype(np.float64)
    ga = phi.T @ coef
    gpre = (mask * coef[:, None]) * net.a[None, :]  # (B, m)
    gw = gpre.T @ x
    gb = gpre.sum(axis=0)
    return loss, gw, gb, ga


# ------------------------------------------------------------------------------------------- stage 1


def _stage1_gradient(net: Net, target, batch: int, stream_seed: int, chunk: int) -> np.ndarray:
    """Batch gradient of the mean hinge loss w.r.t. the first-layer weights, from ``batch`` fresh samples
    streamed in chunks. Twins with the same (w, b) share the masks, so only one of each pair is computed
    (the gradient of i + m/2 is then the same up to a_i's sign): half the work at initialisation."""
    n = net.w.shape[1]
    shared = net.twins_share_first_layer()
    rows = net.width // 2 if shared else net.width
    w32 = net.w[:rows].astype(np.float32)
    b32 = net.b[:rows].astype(np.float32)
    acc = np.zeros((rows, n))
    done = 0
    while done < batch:
        c = min(chunk, batch - done)
        x8 = sample_inputs(stream_seed, done, c, n)
        x = x8.astype(np.float32)
        t = target(x8.astype(np.float64))
        f = net(x.astype(np.float64)) if not _is_zero(net) else np.zeros(c)
        coef = (t * (t * f < 1.0)).astype(np.float32)  # samples inside the hinge
        mask = (x @ w32.T + b32) > 0
        acc += ((mask * coef[:, None]).T @ x).astype(np.float64)
        done += c
    acc = -acc / batch  # d loss / d w_i, without the a_i factor
    if shared:
        acc = np.concatenate([acc, acc])
    return net.a[:, None] * acc


def _is_zero(net: Net) -> bool:
    """f is identically 0 when every twin pair cancels (the symmetric initialisation)."""
    h = net.width // 2
    return net.twins_share_first_layer() and np.array_equal(net.a[:h], -net.a[h:])


def first_stage(
    net: Net,
    target,
    batch: int,
    lr: float | None,
    stream_seed: int,
    decay: float = 1.0,
    d: int | None = None,
    chunk: int = 1 << 15,
) -> Net:
    """Algorithm 1, stage 1 (T_1 = 1): w <- (1 - decay) w - lr * g_hat on a batch of fresh samples.

    ``lr=None`` is the student's "appropriate" rate: chosen so that, over neurons, the mean of each
    neuron's ``d`` largest |w_ij| after the step is 1/(2d) (needs decay = 1)."""
    g = _stage1_gradient(net, target, batch, stream_seed, chunk)
    if lr is None:
        if d is None or decay != 1.0:
            raise ValueError("the automatic stage-1 rate needs d and decay = 1")
        top = np.sort(np.abs(g), axis=1)[:, -d:].mean()
        lr = 1.0 / (2 * d * top) if top > 0 else 0.0
    return replace(net, w=(1.0 - decay) * net.w - lr * g)


def population_first_stage(net: Net, n: int, d: int) -> Net:
    """The infinite-batch limit of stage 1 (claims 1-2), for the same initialisation."""
    w0, a = net.w, net.a
    x_lo, x_hi = majority_coefficient(n, d - 1), majority_coefficient(n, d + 1)
    chi = np.prod(w0[:, :d], axis=1)
    w = np.empty_like(w0)
    # chi_{S minus j}(w0) = chi_S(w0) w0_j and chi_{S plus j}(w0) = chi_S(w0) w0_j for w0_j = +-1.
    w[:, :d] = (np.sign(a) * np.sign(x_lo) * chi)[:, None] * w0[:, :d] / (2 * d)
    w[:, d:] = (np.sign(a) * np.sign(x_hi) * chi)[:, None] * w0[:, d:] * abs(x_hi / x_lo) / (2 * d)
    return replace(net, w=w)


# ------------------------------------------------------------------------------------------- stage 2


@dataclass
class EvalSet:
    x: np.ndarray
    y: np.ndarray
    t: np.ndarray  # the training target on these inputs (y, or the teacher's output)


def make_eval_set(n: int, d: int, samples: int, seed: int, target=None) -> EvalSet:
    x = sample_inputs(seed, 0, samples, n).astype(np.float64)
    y = parity(x, d)
    return EvalSet(x, y, y if target is None else target(x))


def _eval(fe: np.ndarray, ev: EvalSet) -> dict:
    return {
        "loss": float(np.mean(np.maximum(0.0, 1.0 - ev.t * fe))),
        "label_loss": float(np.mean(np.maximum(0.0, 1.0 - ev.y * fe))),
        "error": float(np.mean(np.sign(fe) != ev.y)),
    }


def second_stage(
    net: Net,
    target,
    steps: int,
    lr: float,
    stream_seed: int,
    ev: EvalSet,
    eval_every: int,
    stop_loss: float | None = None,
    patience: int | None = None,
    block: int = 256,
) -> tuple[Net, list[dict]]:
    """Algorithm 1, stage 2: online SGD (one fresh sample per step) on the output layer of the hinge loss
    max(0, 1 - t f(x)), first layer fixed, no decay.

    Returns the iterate with the lowest held-out loss among those evaluated every ``eval_every`` steps
    (t* of corollary B.7) and the evaluation history. With ``stop_loss`` training stops at the first
    evaluation at or below it (the step is the sample count to reach it); it also stops at a held-out loss
    of 0, which no later iterate can improve on, and, with ``patience``, after that many evaluations
    without a new best (a run that has stalled).

    Exactly sequential: a sample with margin >= 1 leaves ``a`` unchanged, so margins are computed for a block
    of samples at once and only recomputed after an update."""
    n = net.w.shape[1]
    a = net.a.copy()
    feats_eval = net.features(ev.x)
    history: list[dict] = []
    best = (math.inf, a.copy())
    since_best = 0
    step = 0
    while True:
        rec = {"step": step, **_eval(feats_eval @ a, ev)}
        history.append(rec)
        since_best += 1
        if rec["loss"] < best[0]:
            best, since_best = (rec["loss"], a.copy()), 0
        if (
            step >= steps
            or rec["loss"] == 0.0
            or (stop_loss is not None and rec["loss"] <= stop_loss)
            or (patience is not None and since_best > patience)
        ):
            break
        count = min(eval_every, steps - step)
        x = sample_inputs(stream_seed, step, count, n).astype(np.float64)
        t = target(x)
        phi = net.features(x)
        i = 0
        while i < count:
            j = min(i + block, count)
            margins = t[i:j] * (phi[i:j] @ a)
            hit = np.flatnonzero(margins < 1.0)
            if not hit.size:
                i = j
                continue
            k = i + int(hit[0])
            a += lr * t[k] * phi[k]
            i = k + 1
        step += count
    return replace(net, a=best[1]), history


# ------------------------------------------------------------------------------------------- probes


def neuron_correlations(net: Net, samples: int, seed: int, chunk: int = 4096) -> np.ndarray:
    """rho_iu = E[ReLU(<w_i, x> + b_i) x_u] for every neuron i and coordinate u, shape (m, n).

    Monte Carlo on antithetic pairs (x, -x) with the exact identity E[g(x) x_u] = E[(g(x^{u+}) -
    g(x^{u-})) / 2] over the other coordinates: its variance scales with w_iu^2, so the small off-support
    correlations are resolved without (dn)^-4 samples."""
    h = net.width // 2
    if net.width % 2 == 0 and np.array_equal(net.w[h:], -net.w[:h]) and np.array_equal(net.b[h:], net.b[:h]):
        # Twins after stage 1 (w -> -w, same b): on a sample set closed under x -> -x, rho flips sign exactly.
        first = replace(net, w=net.w[:h], b=net.b[:h], a=net.a[:h])
        half_rho = neuron_correlations(first, samples, seed, chunk)
        return np.concatenate([half_rho, -half_rho])
    n = net.w.shape[1]
    rho = np.zeros((net.width, n))
    half = max(1, samples // 2)
    done = 0
    while done < half:
        c = min(chunk, half - done)
        x = sample_inputs(seed, done, c, n).astype(np.float64)
        x = np.concatenate([x, -x])
        pre = x @ net.w.T + net.b  # (2c, m)
        for u in range(n):
            base = pre - x[:, u : u + 1] * net.w[:, u]
            rho[:, u] += 0.5 * (_relu(base + net.w[:, u]) - _relu(base - net.w[:, u])).sum(axis=0)
        done += c
    return rho / (2 * half)


def predicted_signs(net0: Net, n: int, d: int) -> np.ndarray:
    """Signs of the stage-1 weights that claims 1-2 predict from the initialisation, shape (m, n)."""
    return np.sign(population_first_stage(net0, n, d).w)


def first_stage_metrics(net0: Net, net1: Net, n: int, d: int, probe_samples: int, probe_seed: int) -> dict:
    """Theorem B.2 and lemma B.5 quantities of a stage-1 network (see module docstring)."""
    s_pred = predicted_signs(net0, n, d)
    w = net1.w
    r = off_support_ratio(n, d) / (2 * d)
    rho = neuron_correlations(net1, probe_samples, probe_seed)
    corr = net1.a @ rho  # E[f(x) x_u], u = 0..n-1
    aligned = (s_pred * rho).mean(axis=0)  # per-neuron correlation, signed as predicted
    ins, out = slice(0, d), slice(d, n)
    return {
        "w_in_sign_agreement": float(np.mean(np.sign(w[:, ins]) == s_pred[:, ins])),
        "w_in_abs_x2d": float(np.mean(np.abs(w[:, ins])) * 2 * d),
        "w_out_aligned_over_pred": float(np.mean(s_pred[:, out] * w[:, out]) / r) if r else math.nan,
        "w_out_abs_over_pred": float(np.mean(np.abs(w[:, out])) / r) if r else math.nan,
        "corr_in_network": float(np.mean(corr[ins])),
        "corr_in_network_abs": float(np.mean(np.abs(corr[ins]))),
        "corr_out_network_abs": float(np.mean(np.abs(corr[out]))),
        "corr_in_aligned": float(np.mean(aligned[ins])),
        "corr_out_aligned": float(np.mean(aligned[out])),
        "corr_in_per_coordinate": corr[ins].tolist(),
    }


def degree1_profile(f, n: int, d: int, samples: int, seed: int) -> dict:
    """E[f(x) x_u] for every u, E[f(x) y] and the RMS of f, by plain Monte Carlo (teachers after stage 2)."""
    x = sample_inputs(seed, 0, samples, n).astype(np.float64)
    fx = f(x)
    corr = fx @ x / samples
    rms = float(np.sqrt(np.mean(fx**2)))
    return {
        "rms": rms,
        "corr_parity": float(np.mean(fx * parity(x, d))),
        "corr_in_abs": float(np.mean(np.abs(corr[:d]))),
        "corr_in_min_abs": float(np.min(np.abs(corr[:d]))),
        "corr_out_abs": float(np.mean(np.abs(corr[d:]))),
        "corr_out_max_abs": float(np.max(np.abs(corr[d:]))),
    }
