"""The compiled CPU kernel (csrc/sgd.c) against the torch backend and the autograd reference.

Exactness is tested where it is well defined, and on every build target this machine can run:
- the double-precision build of the same source against float64 torch and float64 autograd over thousands
  of steps, to 1e-10 (reordering errors are ~1e-16 per operation there);
- the float32 build one step at a time against float64 autograd from the same float32 state, where every
  difference beyond one step's rounding must sit in a hidden unit whose pre-activation was within rounding
  of zero (its ReLU gate may flip, which changes that unit's incoming weights by a whole update);
- bit-exact properties (chunking, thread count, run grouping) and the portable build's independence of the
  instruction set, with equality.
A float32 comparison over many steps would hold only while no gate flips, which is luck that depends on the
CPU (vector width, FMA contraction): issue #13.
"""

from __future__ import annotations

import logging
import platform
from concurrent.futures import ThreadPoolExecutor
from functools import cache

import pytest
import torch
from progdistill import engine, kernel, model, portable, reference

LR = 0.005
U32 = 2.0**-24  # float32 unit roundoff


# -- build targets ------------------------------------------------------------------------------------------

# What each x86-64 micro-architecture level needs from /proc/cpuinfo (the psABI's levels).
_LEVELS = {
    "x86-64-v2": {"cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"},
    "x86-64-v3": {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "movbe", "xsave"},
    "x86-64-v4": {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"},
}


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


def _missing_features(march: str) -> set[str]:
    """CPU features a -march level needs that this CPU lacks (levels include the ones below them)."""
    names = list(_LEVELS)
    if march not in names:
        return set()
    need = set().union(*(_LEVELS[m] for m in names[: names.index(march) + 1]))
    return need - _cpu_flags() if _cpu_flags() else set()


TARGETS = ["native", "portable", *(["x86-64-v2", "x86-64-v3", "x86-64-v4"] if _x86() else ["armv8-a"])]


@cache
def backend_for(target: str, precision: str = "float32", extra: tuple[str, ...] = ()):
    """The kernel built for ``target``, or a pytest skip/failure that says why it cannot run here.

    Without a C compiler every compiled test skips (saying so). With one, the targets the workflow uses
    ('native', 'portable') must build: a failure fails the test. An explicit -march level skips when this
    CPU lacks its features or this compiler does not know it."""
    if kernel.find_compiler() is None:
        pytest.skip("no C compiler here (tried $CC, cc, gcc): the compiled kernel cannot be built")
    missing = _missing_features(target)
    if missing:
        pytest.skip(f"-march={target} needs CPU features this CPU lacks: {sorted(missing)}")
    try:
        path = kernel.build(target=target, precision=precision, extra_flags=extra)
        lib = kernel.load(path, precision)
    except kernel.KernelUnavailable as exc:
        if target in portable.TARGETS:
            pytest.fail(f"the {target} kernel does not build although a compiler exists: {exc}")
        pytest.skip(f"-march={target} cannot be built here: {str(exc).splitlines()[0]}")
    return kernel.CompiledBackend(target, precision, lib=lib)


def make_data(R, K, n, C, target, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    X = (torch.randint(0, 2, (R, K, n), generator=gen) * 2 - 1).to(torch.int8)
    logits = 2 * torch.randn(R, K, C, generator=gen, dtype=torch.float64)
    if target == "soft":
        Q = torch.softmax(logits, dim=-1)
    else:
        Q = torch.nn.functional.one_hot(logits.argmax(-1), C).double()
    return X, Q.to(dtype)


def as_dtype(params, dtype):
    return model.MLPParams(*(t.to(dtype) for t in params.tensors()))


def run(backend, params, X, Q, lr=LR):
    params = params.clone()
    backend.run_steps(params, X, Q, torch.full((params.runs,), lr, dtype=params.W1t.dtype))
    return params


def reference_step(params, r, x, q, lr, soft):
    """One autograd step (Eq. 1) of run r in float64 from ``params`` on sample x with target q."""
    net = reference.mlp_from_params(as_dtype(params.select([r]), torch.float64), 0)
    xs, ys = x[None].double(), q[None].argmax(-1)
    if soft:  # softmax(log q / 1) = q: pure distillation
        reference.train_reference(net, xs, ys, lr, alpha=0.0, teacher_logits=q[None].double().log())
    else:
        reference.train_reference(net, xs, ys, lr, alpha=1.0)
    return net


def assert_params_equal(a, b):
    for x, y in zip(a.tensors(), b.tensors(), strict=True):
        assert torch.equal(x, y)


@pytest.fixture
def threads():
    """Lets a test change torch's thread count (which the kernel follows) and restores it."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


# -- exactness ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("kind", ["soft", "onehot"])
@pytest.mark.parametrize("C", [2, 8])
@pytest.mark.parametrize("m", [100, 1000])
def test_double_build_matches_float64_torch_and_autograd(target, m, C, kind):
    """In float64 a different float order moves each result by ~1e-16, so after 2000 steps the three
    implementations agree to 1e-10 unless a pre-activation lands within ~1e-13 of zero (odds ~1e-8)."""
    be = backend_for(target, "float64")
    params, X, Q, torch_result, autograd_run0 = double_case(m, C, kind)
    fast = run(be, params, X, Q)
    for a, b in zip(fast.tensors(), torch_result.tensors(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)
    got = reference.mlp_from_params(fast, 0)
    for name, p in autograd_run0.items():
        torch.testing.assert_close(got.state_dict()[name], p, atol=1e-10, rtol=0, msg=name)


@cache
def double_case(m, C, kind):
    """Inputs, the float64 torch backend's result and the float64 autograd reference's (run 0), computed
    once for all targets."""
    n, K = 20, 2000
    params = as_dtype(model.init_params(n, m, C, seeds=[0, 1, 2]), torch.float64)
    X, Q = make_data(3, K, n, C, kind, seed=m + C, dtype=torch.float64)
    slow = run(engine.TorchBackend(), params, X, Q)
    ref = reference.mlp_from_params(params, 0)
    xs, ys = X[0].double(), Q[0].argmax(-1)
    if kind == "soft":
        reference.train_reference(ref, xs, ys, LR, alpha=0.0, teacher_logits=Q[0].log(), temperature=1)
    else:
        reference.train_reference(ref, xs, ys, LR, alpha=1.0)
    return params, X, Q, slow, {k: v.detach().clone() for k, v in ref.state_dict().items()}


# One float32 step is within (terms summed) x 2^-24 of exact, relative to the summed magnitudes; with
# parameters of size <= ~1 and updates of size lr x O(1), 1e-6 is 10-100x that bound (measured max: ~1e-7).
STEP_ATOL = 1e-6


@pytest.mark.parametrize("target", [*TARGETS, "torch"])
@pytest.mark.parametrize("kind", ["soft", "onehot"])
@pytest.mark.parametrize("C", [2, 8])
@pytest.mark.parametrize("m", [100, 1000])
def test_float32_steps_match_autograd_up_to_gate_flips(target, m, C, kind):
    """Each float32 step from the same state as a float64 autograd step: equal to STEP_ATOL, except the
    incoming weights of units whose ReLU gate is ambiguous (|pre-activation| within the float32 error
    bound of its sum), where the gate may go either way. Errors cannot pile up over steps here."""
    be = engine.TorchBackend() if target == "torch" else backend_for(target)
    n, K, R, lr = 20, 150, 2, 0.02
    params = model.init_params(n, m, C, seeds=[3, 4])
    X, Q = make_data(R, K, n, C, kind, seed=10 * m + C)
    flips = 0
    for t in range(K):
        before = params.clone()
        be.run_steps(params, X[:, t : t + 1], Q[:, t : t + 1], torch.full((R,), lr))
        for r in range(R):
            W1t, b1 = before.W1t[r].double(), before.b1[r].double()
            x = X[r, t].double()
            pre = b1 + x @ W1t
            bound = (n + 2) * U32 * (b1.abs() + W1t.abs().sum(0))
            ambiguous = pre.abs() <= bound
            flips += int(ambiguous.sum())
            net = reference_step(before, r, X[r, t], Q[r, t], lr, kind == "soft")
            want = (net.fc1.weight.detach().t(), net.fc1.bias.detach(), net.fc2.weight.detach(), net.fc2.bias)
            got = [p[r].double() for p in params.tensors()]
            for name, g, w in zip(("W1t", "b1", "W2", "b2"), got, want, strict=True):
                bad = (g - w.detach()).abs() > STEP_ATOL
                if name == "W1t":
                    bad &= ~ambiguous[None, :]
                elif name == "b1":
                    bad &= ~ambiguous
                assert not bad.any(), f"step {t} run {r}: {name} differs at {bad.nonzero()[:5].tolist()}"
    assert flips <= K * R * m // 100  # ambiguity is rare; a wrong bound would excuse everything


@pytest.mark.parametrize("precision", ["float32", "float64"])
def test_one_hot_like_targets_stay_finite(precision):
    """tau = 1e-4 soft targets (one-hot in practice) at a large LR: finite, and in float64 exact."""
    dt = kernel.PRECISIONS[precision][0]
    be = backend_for("native", precision)
    n, m, C, K = 20, 200, 4, 2000
    params = as_dtype(model.init_params(n, m, C, seeds=[0, 1]), dt)
    X, _ = make_data(2, K, n, C, "soft")
    logits = torch.randn(2, K, C, generator=torch.Generator().manual_seed(5))
    Q = model.soft_targets(logits, temperature=1e-4).to(dt)
    assert torch.isfinite(Q).all()
    out = run(be, params, X, Q, lr=0.05)
    assert out.finite().all()
    if precision == "float64":
        slow = run(engine.TorchBackend(), params, X, Q, lr=0.05)
        for a, b in zip(out.tensors(), slow.tensors(), strict=True):
            torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


# -- bit-exact properties ----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("chunks", [[100] * 10, [1, 2, 497, 0, 500]])
def test_chunking_is_bit_exact(target, chunks):
    be = backend_for(target)
    n, m, C, K = 20, 700, 3, sum(chunks)
    params = model.init_params(n, m, C, seeds=[0, 1, 2])
    X, Q = make_data(3, K, n, C, "soft")
    lr = torch.tensor([0.005, 0.01, 0.02])
    whole = params.clone()
    be.run_steps(whole, X, Q, lr)
    parts, t = params.clone(), 0
    for k in chunks:
        be.run_steps(parts, X[:, t : t + k], Q[:, t : t + k], lr)
        t += k
    assert_params_equal(whole, parts)


@pytest.mark.parametrize("target", TARGETS)
def test_runs_are_independent_and_thread_count_does_not_matter(target, threads):
    be = backend_for(target)
    n, m, C, K = 20, 700, 2, 300
    params = model.init_params(n, m, C, seeds=[0, 1, 2])
    X, Q = make_data(3, K, n, C, "soft")
    lr = torch.tensor([0.005, 0.01, 0.02])
    threads(2)
    together = params.clone()
    be.run_steps(together, X, Q, lr)
    threads(1)
    for r in range(3):
        alone = params.select([r])
        be.run_steps(alone, X[r : r + 1].clone(), Q[r : r + 1].clone(), lr[r : r + 1].clone())
        assert_params_equal(alone, together.select([r]))


@pytest.mark.skipif(not _x86(), reason="the -march levels compared here are x86-64's")
@pytest.mark.parametrize("m", [100, 1000])
def test_portable_build_gives_the_same_bits_on_every_instruction_set(m):
    """The portable flags (no FMA contraction, fixed exp) give identical bits whether built for this CPU
    (the portable target) or for the baseline, AVX2 or AVX-512 level: vector width and instruction set
    do not enter the float order, so every x86-64 node computes the same numbers. The native build (FMA
    contraction on) may differ; that is what kernel_target: portable is for."""
    n, C, K = 20, 8, 1500
    params = model.init_params(n, m, C, seeds=[0, 1])
    X, Q = make_data(2, K, n, C, "soft", seed=m)
    ours = run(backend_for("portable"), params, X, Q, lr=0.02)
    compared = []
    for march in ("x86-64-v2", "x86-64-v3", "x86-64-v4"):
        if _missing_features(march):
            continue
        same_flags = run(backend_for(march, "float32", portable.PORTABLE_EXTRA), params, X, Q, lr=0.02)
        assert_params_equal(ours, same_flags)
        compared.append(march)
    assert len(compared) >= 1, "no instruction-set level to compare with on this CPU"


def test_portable_exp_is_accurate():
    """The portable build's exp polynomial against float64 exp, through softmax: with W2 = 0 the logits
    are b2 (spread over [-80, 0], 35 decades of probabilities) and one step writes W2 = -lr softmax h^T,
    so each new W2 entry is a softmax value rounded a few times: equal to float32 precision."""
    be32, be64 = backend_for("portable"), backend_for("native", "float64")
    n, m, C = 4, 3, 8
    params = model.init_params(n, m, C, seeds=[0])
    with torch.no_grad():
        params.W2.zero_()
        params.b2.copy_(torch.linspace(-80, 0, C)[None])
        params.b1.fill_(1.0)  # every hidden unit active, so every W2 entry carries a softmax value
    X = torch.ones(1, 1, n, dtype=torch.int8)
    Q = torch.zeros(1, 1, C)
    a = run(be32, params, X, Q, lr=1.0)
    b = run(be64, as_dtype(params, torch.float64), X, Q.double(), lr=1.0)
    assert (a.W2 != 0).all()
    torch.testing.assert_close(a.W2.double(), b.W2, atol=0, rtol=1e-6)


# -- interface ---------------------------------------------------------------------------------------------


def test_non_contiguous_params_are_updated_in_place():
    be = backend_for("native")
    n, m, C, K = 10, 50, 2, 50
    params = model.init_params(n, m, C, seeds=[0, 1])
    X, Q = make_data(2, K, n, C, "soft")
    expected = run(be, params, X, Q)
    W1 = params.W1t.transpose(1, 2).contiguous()  # (R, m, n) storage, so W1t below is a strided view
    strided = model.MLPParams(W1.transpose(1, 2), params.b1.clone(), params.W2.clone(), params.b2.clone())
    assert not strided.W1t.is_contiguous()
    be.run_steps(strided, X, Q, torch.full((2,), LR))
    assert_params_equal(strided, expected)
    assert torch.equal(W1.transpose(1, 2), expected.W1t)


def test_rejects_bad_inputs():
    be = backend_for("native")
    n, m, C, K = 10, 50, 2, 5
    params = model.init_params(n, m, C, seeds=[0, 1])
    X, Q = make_data(2, K, n, C, "soft")
    lr = torch.full((2,), LR)
    with pytest.raises(TypeError, match="X must be torch.int8"):
        be.run_steps(params, X.float(), Q, lr)
    with pytest.raises(ValueError, match="Q must have shape"):
        be.run_steps(params, X, Q[:, :, :1], lr)
    with pytest.raises(ValueError, match="lr must have shape"):
        be.run_steps(params, X, Q, lr[:1])
    with pytest.raises(TypeError, match="W1t must be torch.float32"):
        be.run_steps(model.MLPParams(params.W1t.double(), *params.tensors()[1:]), X, Q, lr)
    with pytest.raises(TypeError, match="W1t must be torch.float64"):
        backend_for("native", "float64").run_steps(params, X, Q, lr)
    with pytest.raises(ValueError, match="kernel target"):
        portable.target_flags("-O0 -march=foo")
    with pytest.raises(ValueError, match="kernel precision"):
        kernel.build(precision="float16")


def test_engine_picks_compiled_on_cpu():
    backend_for("native")  # skips without a compiler
    cpu = torch.device("cpu")
    assert engine.available_backends(cpu)[0] == "compiled"
    assert engine.get_backend("auto", cpu).name == "compiled"
    assert engine.get_backend("auto", cpu, kernel_target="portable").target == "portable"


def test_default_target_follows_the_environment(monkeypatch):
    monkeypatch.delenv("PROGDISTILL_KERNEL_TARGET", raising=False)
    assert kernel.default_target() == "native"
    assert "-march=native" in portable.target_flags("native")
    assert "-DPD_NO_FMA" not in portable.target_flags("native")  # the default's numbers: FMA on
    for name, value in portable.environment().items():
        monkeypatch.setenv(name, value)
    assert kernel.default_target() == "portable"
    assert portable.missing_settings("portable") == {}
    assert "-DPD_NO_FMA" in portable.target_flags("portable")
    monkeypatch.setenv("MKL_CBWR", "AUTO")
    assert portable.missing_settings("portable") == {"MKL_CBWR": "COMPATIBLE"}
    assert portable.missing_settings("native") == {}


def test_concurrent_builds_share_one_library(tmp_path):
    backend_for("native")  # skips without a compiler
    with ThreadPoolExecutor(2) as pool:
        paths = list(pool.map(lambda _: kernel.build(directory=tmp_path), range(2)))
    assert paths[0] == paths[1]
    assert [p.name for p in tmp_path.iterdir()] == [paths[0].name]  # no temporary files left behind
    kernel.load(paths[0])
    with pytest.raises(kernel.KernelUnavailable, match="not a float64 build"):
        kernel.load(paths[0], "float64")


def test_missing_compiler_fails_gracefully(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("PROGDISTILL_CACHE", str(tmp_path))
    monkeypatch.setattr(kernel, "find_compiler", lambda: None)
    monkeypatch.setattr(kernel, "_libs", {})
    monkeypatch.setattr(kernel, "_errors", {})
    with caplog.at_level(logging.WARNING, logger="progdistill.kernel"):
        assert kernel.available() is False
        assert kernel.available() is False  # cached, warned once
    assert sum("unavailable" in r.getMessage() for r in caplog.records) == 1
    assert "no C compiler" in kernel.unavailable_reason()
    with pytest.raises(kernel.KernelUnavailable, match="no C compiler"):
        kernel.CompiledBackend()
    assert engine.available_backends(torch.device("cpu")) == ["torch"]
    with pytest.raises(kernel.KernelUnavailable, match="no C compiler"):
        kernel.build(compiler="/nonexistent/cc")
