"""Probing a teacher checkpoint: correlation of its outputs with low-degree monomials.

For each feature block (the support for sparse parity, each internal node's block for hierarchical
data) every subset T of each configured degree gives an in-support monomial chi_T(x) = prod_{i in T} x_i;
off-support monomials are random subsets of coordinates outside every block, drawn without replacement
(distinct coordinates, distinct subsets), so their degree is exactly the stated one. The correlation is
the Fourier coefficient E_x[f(x) chi_T(x)], for each teacher output f, with its standard error:

- when 2^n inputs are no more than the configured samples, every input is enumerated: the coefficient is
  exact and its standard error 0;
- otherwise it is estimated on a fixed probe sample by the centred estimator
  N/(N-1) * mean_i((f(x_i) - mean f) chi_T(x_i)), which has the same expectation as the plain mean of
  f chi_T (E chi_T = 0 for T non-empty) but far less variance when f has a large mean (p1 ~ 0.5 before
  the teacher learns: the plain mean's noise floor was ~0.5 / sqrt(N)). Its standard error is the sample
  standard deviation of the centred products over sqrt(N); chi_T^2 = 1 makes their sum of squares the
  same for every monomial, so it costs nothing beyond the one matrix product.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from .streams import sample_inputs


@dataclass(frozen=True)
class Monomial:
    coords: tuple[int, ...]
    in_support: bool
    node: int  # feature block index, -1 off-support
    level: int  # tree level of the block (0 for sparse parity), -1 off-support

    @property
    def name(self) -> str:
        return "_".join(str(i) for i in self.coords)

    @property
    def degree(self) -> int:
        return len(self.coords)


def monomial_set(task, degrees: list[int], off_per_degree: int, seed: int) -> list[Monomial]:
    """In-support subsets of every block for each degree, then ``off_per_degree`` random off-support
    subsets per degree (fewer only if the off-support coordinates cannot form that many)."""
    out: list[Monomial] = []
    levels = task.block_levels()
    for node, block in enumerate(task.feature_blocks):
        for deg in degrees:
            if deg <= len(block):
                out += [Monomial(c, True, node, levels[node]) for c in itertools.combinations(block, deg)]
    off = sorted(set(range(task.n)) - set(task.support))
    rng = np.random.default_rng(seed)
    for deg in degrees:
        if deg > len(off):
            continue
        total = math.comb(len(off), deg)
        want = min(off_per_degree, total)
        seen: set[tuple[int, ...]] = set()
        while len(seen) < want:
            seen.add(tuple(sorted(int(i) for i in rng.choice(off, size=deg, replace=False))))
        out += [Monomial(c, False, -1, -1) for c in sorted(seen)]
    return out


def output_functions(logits: np.ndarray) -> dict[str, np.ndarray]:
    """Which teacher outputs are correlated: for 2 classes the softmax probability of class 1 (as the
    paper) and the logit margin f1 - f0; for C > 2 classes each class probability p0 .. p{C-1}."""
    z = logits.astype(np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    probs = z / z.sum(axis=1, keepdims=True)
    if logits.shape[1] == 2:
        return {"p1": probs[:, 1], "margin": (logits[:, 1] - logits[:, 0]).astype(np.float64)}
    return {f"p{c}": probs[:, c] for c in range(logits.shape[1])}


def numpy_forward(arrays: dict, x: np.ndarray) -> np.ndarray:
    """Logits (N, C) of one checkpoint (nn.Linear layout arrays), in blocks of ~16 MB of activations."""
    W1, b1, W2, b2 = (arrays[k] for k in ("W1", "b1", "W2", "b2"))
    block = max(64, (1 << 22) // W1.shape[0])
    out = np.empty((len(x), W2.shape[0]), dtype=np.float32)
    for s in range(0, len(x), block):
        h = np.maximum(x[s : s + block].astype(np.float32) @ W1.T + b1, 0)
        out[s : s + block] = h @ W2.T + b2
    return out


def probe_inputs(task, stream_seed: int, samples: int) -> tuple[np.ndarray, bool]:
    """The probe's inputs and whether they are the whole cube: all 2^n inputs (in binary counting order)
    when that is no more than ``samples``, else ``samples`` draws of the probe stream."""
    n = task.n
    if n < 63 and 2**n <= samples:
        codes = np.arange(2**n, dtype=np.int64)[:, None] >> np.arange(n, dtype=np.int64)[None, :]
        return (1 - 2 * (codes & 1)).astype(np.int8), True
    return sample_inputs(stream_seed, 0, samples, n), False


def probe_checkpoint(
    teacher: dict, task, monomials: list[Monomial], stream_seed: int, samples: int
) -> tuple[float, list[dict]]:
    """Teacher accuracy on the probe inputs and one row per (output, monomial) with the correlation and
    its standard error (module docstring). ``teacher`` holds the checkpoint's arrays
    (checkpoints.read_checkpoint_arrays)."""
    x, exact = probe_inputs(task, stream_seed, samples)
    N = len(x)
    logits = numpy_forward(teacher, x)
    acc = float((logits.argmax(-1) == task.labels(x)).mean())
    # +-1 monomial values are exact in float32; the correlations accumulate in float64. Products are
    # taken over contiguous rows (one per coordinate), then laid out (samples, monomials) as before.
    xt = np.ascontiguousarray(x.T)
    rows = np.empty((len(monomials), N), dtype=np.int8)
    for j, m in enumerate(monomials):
        np.prod(xt[list(m.coords)], axis=0, dtype=np.int8, out=rows[j])
    chi = np.ascontiguousarray(rows.T, dtype=np.float32)
    rows = []
    for out_name, f in output_functions(logits).items():
        fc = f - f.mean()  # over the whole cube, sum chi_T = 0: centring leaves the exact value unchanged
        mean = (fc.astype(np.float32)[None, :] @ chi).astype(np.float64)[0] / N
        if exact:
            corr, stderr = mean, np.zeros_like(mean)
        else:
            corr = mean * N / (N - 1)  # unbiased: E[mean f * mean chi_T] = E[f chi_T] / N
            var = (float(np.dot(fc, fc)) - N * mean**2) / (N - 1)  # of the products (f_i - mean f) chi_T
            stderr = np.sqrt(np.maximum(var, 0.0) / N)
        for m, c, se in zip(monomials, corr, stderr, strict=True):
            rows.append(
                dict(
                    output=out_name,
                    degree=m.degree,
                    monomial=m.name,
                    in_support=m.in_support,
                    node=m.node,
                    level=m.level,
                    correlation=float(c),
                    stderr=float(se),
                )
            )
    return acc, rows
