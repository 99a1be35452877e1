"""Appendix B of the paper (after Barak et al. 2022, "Hidden progress", claims 1-2 and theorem 4), checked
numerically: the two-stage teacher of Algorithm 1, its first-stage correlations (lemma B.5) and the student
sample complexities of theorem B.8.

Our reading of the formulas (the paper's extraction is garbled; each is re-derived from Barak et al.):

* Data: x uniform on {-1, +1}^n, y = chi_S(x) = prod_{j in S} x_j with |S| = d; w.l.o.g. S = {0, .., d-1},
  as the paper ("let the target be y = x_1 x_2 ... x_d"). The analysis assumes d even.
* Model: f(x) = sum_{i=1}^m a_i ReLU(<w_i, x> + b_i).
* Symmetric initialisation, for i <= m/2: w_i ~ U({-1, +1}^n), b_i ~ U({-1 + 1/d, -1 + 2/d, .., 1 - 1/d}),
  a_i ~ U({-1/m, +1/m}); then w_{i+m/2} = w_i, b_{i+m/2} = b_i, a_{i+m/2} = -a_i, so f = 0 at
  initialisation exactly. ("[-1,1]^n", "[-1+d^-1, 1-d^-1]^g" and "[-1,1]^{mg}" in the extraction are these
  discrete sets; a_i = +-1/m is what makes the paper's learning rate m / (d |xi_{d-1}|) give |w| = 1/(2d).)
* Loss: hinge, max(0, 1 - f(x) t) with t = y for the teacher and t = f_T(x) (the teacher's output) for a
  distilled student (the paper's L(x; y; f_S; f_T) with the label weight set to 0, as in its experiments).
* xi_k: the degree-k Fourier coefficient of Maj_n, E[sgn(x_1 + .. + x_n) x_1 .. x_k] with sgn(0) = 0. For
  odd k (the only ones used: d -+ 1 with d even) it is exactly the odd part of every threshold
  1{<w, x> + b > 0} with w in {-1, +1}^n and |b| < 1, whatever the parity of n.
* Algorithm 1, stage 1: T_1 = 1 step on the first layer only, batch B_1, learning rate
  eta_1 = m / (d |xi_{d-1}|) and weight decay lambda_1 = 1, decoupled: w <- (1 - lambda_1) w - eta_1 g_hat,
  so that the initial weights are erased and (claims 1-2 of Barak et al. = theorem B.2), in the population
  limit,
    w_ij = sign(a_i) sign(xi_{d-1}) chi_{S minus j}(w_i^(0)) / (2d)                        for j in S,
    w_ij = sign(a_i) sign(xi_{d+1}) chi_{S plus j}(w_i^(0)) |xi_{d+1}| / (2d |xi_{d-1}|)   for j not in S.
  Lemma B.6 sizes the batch as B_1 = Theta(|xi_{d-1}|^-2 d^2 log(dn)); we use B_1 = ceil(kappa d^2 ln(dn) /
  xi_{d-1}^2) with kappa = ``batch_factor`` from the configuration.
* Stage 2: the output layer only (w, b fixed), online SGD (B_2 = 1, a fresh sample per step), constant
  learning rate, lambda_2 = 0. Lemma B.6 bounds min_t E[loss_t]; the "final" teacher is accordingly the
  iterate with the lowest held-out loss (t* of corollary B.7), evaluated every ``eval_every`` steps.
* Lemma B.5 (as printed): after stage 1, E[f(x) x_i] = 1/(8d) + O(.) for i in S and O((dn)^-2) for i not in S.
  We measure it literally (the network's signed correlation) and in the per-neuron form its proof actually
  computes (each neuron's correlation, signed by the sign claims 1-2 predict for it) -- see docs/theory.md.
* Theorem B.8: a student of the same architecture runs the same two stages; "progressive" takes its stage-1
  target from the teacher after stage 1 and its stage-2 target from the final teacher, "one-shot" takes both
  from the final teacher. Its stage-1 learning rate is "appropriate" in the theorem; we set it from the
  batch gradient itself so that the mean of each neuron's d largest |w_ij| is 1/(2d) -- for labels this is
  Barak's eta_1 up to batch noise, and it needs no knowledge of the target's scale.

Everything is numpy; samples come from progdistill.streams, so every number is a pure function of the
configuration.

The subpackage follows those steps: ``numerics`` (Fourier coefficients, the model, the two stages, the
probes), ``experiments`` (the per-cell loops), ``tables`` (the jobs' tables, fits and markdown) and
``figures`` (the two figures; matplotlib, imported only by the figure job). Paths and figure names are in
progdistill.layout.
"""

from .experiments import *  # noqa: F403
from .experiments import __all__ as _experiments_all
from .numerics import *  # noqa: F403
from .numerics import __all__ as _numerics_all
from .numerics import _stage1_gradient  # noqa: F401 - tested directly
from .tables import *  # noqa: F403
from .tables import __all__ as _tables_all

__all__ = [*_numerics_all, *_experiments_all, *_tables_all]
