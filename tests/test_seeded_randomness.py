"""Every random draw in tests/ comes from a seeded generator, so a test passes or fails the same way on
every run (issue #13: an unseeded torch.randn made a kernel test fail now and then)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent

# torch functions and in-place tensor methods that draw from the global generator unless given one.
TORCH_DRAWS = {
    "rand",
    "randn",
    "randint",
    "randperm",
    "rand_like",
    "randn_like",
    "randint_like",
    "normal",
    "bernoulli",
    "multinomial",
    "poisson",
}
TENSOR_DRAWS = {"normal_", "uniform_", "random_", "bernoulli_", "exponential_", "geometric_", "cauchy_"}
TENSOR_DRAWS |= {"log_normal_"}
# numpy.random names that build a generator from an explicit seed (default_rng needs its argument).
NUMPY_SEEDED = {"default_rng", "Generator", "SeedSequence", "PCG64", "PCG64DXSM", "Philox", "MT19937"}
NUMPY_SEEDED |= {"SFC64"}


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def unseeded_draws(source: str, filename: str = "<string>") -> list[str]:
    """``file:line: call`` for each random draw that does not come from a seeded generator."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        kwargs = {k.arg for k in node.keywords}
        parts = name.split(".")
        bad = False
        if parts[0] == "torch" and len(parts) == 2 and parts[1] in TORCH_DRAWS:
            bad = "generator" not in kwargs
        elif isinstance(node.func, ast.Attribute) and parts[-1] in TENSOR_DRAWS:
            bad = "generator" not in kwargs
        elif parts[:2] in (["np", "random"], ["numpy", "random"]) and len(parts) == 3:
            bad = parts[2] not in NUMPY_SEEDED or (parts[2] == "default_rng" and not (node.args or kwargs))
        elif parts[0] == "random" and len(parts) == 2:
            bad = parts[1] != "Random" or not node.args  # random.Random(seed) only
        if bad:
            found.append((node.lineno, f"{filename}:{node.lineno}: {name}(...)"))
    return [text for _, text in sorted(found)]


def test_no_test_draws_unseeded_random_numbers():
    found = []
    for path in sorted(TESTS.rglob("*.py")):
        found += unseeded_draws(path.read_text(), str(path.relative_to(TESTS)))
    assert not found, "unseeded random draws (pass generator=/a seeded Generator):\n" + "\n".join(found)


def test_the_check_finds_unseeded_draws():
    bad = """
import random
import numpy as np
import torch
a = torch.randn(2, 3)
b = np.random.rand(3)
c = np.random.default_rng()
d = random.random()
e = torch.empty(3).uniform_()
f = torch.randint(0, 2, (3,))
"""
    good = """
import random
import numpy as np
import torch
g = torch.Generator().manual_seed(0)
a = torch.randn(2, 3, generator=g)
b = np.random.default_rng(0).normal(size=3)
c = random.Random(1).random()
e = torch.empty(3).uniform_(generator=g)
"""
    assert [s.split(": ")[1] for s in unseeded_draws(bad)] == [
        "torch.randn(...)",
        "np.random.rand(...)",
        "np.random.default_rng(...)",
        "random.random(...)",
        "uniform_(...)",
        "torch.randint(...)",
    ]
    assert unseeded_draws(good) == []
