"""The compiled CPU kernel (csrc/sgd.c) against the torch backend and the autograd reference."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from progdistill import engine, kernel, model, reference

needs_kernel = pytest.mark.skipif(not kernel.available(), reason="compiled kernel does not build here")

LR = 0.005


@pytest.fixture
def threads():
    """Lets a test change torch's thread count (which the kernel follows) and restores it."""
    before = torch.get_num_threads()
    yield torch.set_num_threads
    torch.set_num_threads(before)


def make_data(R, K, n, C, target, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X = (torch.randint(0, 2, (R, K, n), generator=gen) * 2 - 1).to(torch.int8)
    logits = 2 * torch.randn(R, K, C, generator=gen)
    if target == "soft":
        Q = torch.softmax(logits, dim=-1)
    else:
        Q = torch.nn.functional.one_hot(logits.argmax(-1), C).float()
    return X, Q


def run(backend, params, X, Q, lr=LR):
    params = params.clone()
    backend.run_steps(params, X, Q, torch.full((params.runs,), lr))
    return params


def assert_params_equal(a, b):
    for x, y in zip(a.tensors(), b.tensors(), strict=True):
        assert torch.equal(x, y)


@needs_kernel
@pytest.mark.parametrize("target", ["soft", "onehot"])
@pytest.mark.parametrize("C", [2, 8])
@pytest.mark.parametrize("m", [100, 1000])
def test_matches_torch_and_reference(m, C, target):
    n, K = 20, 1000
    params = model.init_params(n, m, C, seeds=[0, 1, 2])
    X, Q = make_data(3, K, n, C, target, seed=m + C)
    ref_model = reference.mlp_from_params(params, 0)

    fast = run(kernel.CompiledBackend(), params, X, Q)
    slow = run(engine.TorchBackend(), params, X, Q)
    for a, b in zip(fast.tensors(), slow.tensors(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)

    xs, ys = X[0].float(), Q[0].argmax(-1)
    if target == "soft":  # softmax(log Q / 1) = Q: pure distillation (the labels are unused)
        reference.train_reference(ref_model, xs, ys, LR, alpha=0.0, teacher_logits=Q[0].log(), temperature=1)
    else:  # plain cross-entropy on the labels
        reference.train_reference(ref_model, xs, ys, LR, alpha=1.0)
    got = reference.mlp_from_params(fast, 0)
    for name, p in ref_model.state_dict().items():
        torch.testing.assert_close(got.state_dict()[name], p, atol=1e-5, rtol=0, msg=name)


@needs_kernel
@pytest.mark.parametrize("chunks", [[100] * 10, [1, 2, 497, 0, 500]])
def test_chunking_is_bit_exact(chunks):
    n, m, C, K = 20, 700, 3, sum(chunks)
    params = model.init_params(n, m, C, seeds=[0, 1, 2])
    X, Q = make_data(3, K, n, C, "soft")
    lr = torch.tensor([0.005, 0.01, 0.02])
    be = kernel.CompiledBackend()
    whole = params.clone()
    be.run_steps(whole, X, Q, lr)
    parts, t = params.clone(), 0
    for k in chunks:
        be.run_steps(parts, X[:, t : t + k], Q[:, t : t + k], lr)
        t += k
    assert_params_equal(whole, parts)


@needs_kernel
def test_runs_are_independent_and_thread_count_does_not_matter(threads):
    n, m, C, K = 20, 700, 2, 300
    params = model.init_params(n, m, C, seeds=[0, 1, 2])
    X, Q = make_data(3, K, n, C, "soft")
    lr = torch.tensor([0.005, 0.01, 0.02])
    be = kernel.CompiledBackend()
    threads(2)
    together = params.clone()
    be.run_steps(together, X, Q, lr)
    threads(1)
    for r in range(3):
        alone = params.select([r])
        be.run_steps(alone, X[r : r + 1].clone(), Q[r : r + 1].clone(), lr[r : r + 1].clone())
        assert_params_equal(alone, together.select([r]))


@needs_kernel
def test_hard_targets_stay_finite():
    n, m, C, K = 20, 200, 4, 2000
    params = model.init_params(n, m, C, seeds=[0, 1])
    X, _ = make_data(2, K, n, C, "soft")
    Q = model.soft_targets(torch.randn(2, K, C), temperature=1e-4)  # tau = 1e-4: one-hot in practice
    assert torch.isfinite(Q).all()
    out = run(kernel.CompiledBackend(), params, X, Q, lr=0.05)
    assert out.finite().all()
    slow = run(engine.TorchBackend(), params, X, Q, lr=0.05)
    for a, b in zip(out.tensors(), slow.tensors(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@needs_kernel
def test_non_contiguous_params_are_updated_in_place():
    n, m, C, K = 10, 50, 2, 50
    params = model.init_params(n, m, C, seeds=[0, 1])
    X, Q = make_data(2, K, n, C, "soft")
    expected = run(kernel.CompiledBackend(), params, X, Q)
    W1 = params.W1t.transpose(1, 2).contiguous()  # (R, m, n) storage, so W1t below is a strided view
    strided = model.MLPParams(W1.transpose(1, 2), params.b1.clone(), params.W2.clone(), params.b2.clone())
    assert not strided.W1t.is_contiguous()
    kernel.CompiledBackend().run_steps(strided, X, Q, torch.full((2,), LR))
    assert_params_equal(strided, expected)
    assert torch.equal(W1.transpose(1, 2), expected.W1t)


@needs_kernel
def test_rejects_bad_inputs():
    n, m, C, K = 10, 50, 2, 5
    params = model.init_params(n, m, C, seeds=[0, 1])
    X, Q = make_data(2, K, n, C, "soft")
    lr = torch.full((2,), LR)
    be = kernel.CompiledBackend()
    with pytest.raises(TypeError, match="X must be torch.int8"):
        be.run_steps(params, X.float(), Q, lr)
    with pytest.raises(ValueError, match="Q must have shape"):
        be.run_steps(params, X, Q[:, :, :1], lr)
    with pytest.raises(ValueError, match="lr must have shape"):
        be.run_steps(params, X, Q, lr[:1])
    with pytest.raises(TypeError, match="W1t must be torch.float32"):
        be.run_steps(model.MLPParams(params.W1t.double(), *params.tensors()[1:]), X, Q, lr)


@needs_kernel
def test_engine_picks_compiled_on_cpu():
    cpu = torch.device("cpu")
    assert engine.available_backends(cpu)[0] == "compiled"
    assert engine.get_backend("auto", cpu).name == "compiled"


@needs_kernel
def test_concurrent_builds_share_one_library(tmp_path):
    with ThreadPoolExecutor(2) as pool:
        paths = list(pool.map(lambda _: kernel.build(directory=tmp_path), range(2)))
    assert paths[0] == paths[1]
    assert [p.name for p in tmp_path.iterdir()] == [paths[0].name]  # no temporary files left behind
    kernel.load(paths[0])


def test_missing_compiler_fails_gracefully(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("PROGDISTILL_CACHE", str(tmp_path))
    monkeypatch.setattr(kernel, "find_compiler", lambda: None)
    monkeypatch.setattr(kernel, "_lib", None)
    monkeypatch.setattr(kernel, "_error", None)
    with caplog.at_level(logging.WARNING, logger="progdistill.kernel"):
        assert kernel.available() is False
        assert kernel.available() is False  # cached, warned once
    assert sum("unavailable" in r.getMessage() for r in caplog.records) == 1
    with pytest.raises(kernel.KernelUnavailable, match="no C compiler"):
        kernel.CompiledBackend()
    assert engine.available_backends(torch.device("cpu")) == ["torch"]
    with pytest.raises(kernel.KernelUnavailable, match="no C compiler"):
        kernel.build(compiler="/nonexistent/cc")
