"""Labels against independent plain implementations; streams are deterministic and chunk-invariant."""

import itertools

import numpy as np
import pytest
from progdistill.probe import monomial_set
from progdistill.streams import derive_seed, sample_inputs
from progdistill.tasks import HierarchicalParity, SparseParity, choose_blocks, choose_support, make_task


def test_sparse_parity_labels_are_the_product_over_the_support():
    task = SparseParity(n=30, support=(2, 5, 11, 29))
    x = sample_inputs(1, 0, 5000, 30)
    for xi, yi in zip(x, task.labels(x), strict=True):
        prod = 1
        for i in task.support:
            prod *= int(xi[i])
        assert yi == (0 if prod == 1 else 1)
    assert 0.45 < task.labels(x).mean() < 0.55


def plain_tree_walk(x_row, depth, blocks):
    node = 0
    for _ in range(depth):
        parity = 1
        for i in blocks[node]:
            parity *= int(x_row[i])
        node = 2 * node + 1 if parity == 1 else 2 * node + 2
    return node - (2**depth - 1)


@pytest.mark.parametrize("depth,k,n,seed", [(3, 5, 100, None), (2, 3, 20, 4), (3, 2, 16, 1)])
def test_hierarchical_labels_match_a_plain_tree_walk(depth, k, n, seed):
    task = HierarchicalParity(n=n, depth=depth, blocks=choose_blocks(n, depth, k, seed))
    x = sample_inputs(3, 0, 4000, n)
    y = task.labels(x)
    assert [plain_tree_walk(r, depth, task.blocks) for r in x] == y.tolist()
    assert set(y.tolist()) == set(range(2**depth)), "every class must be reachable"


def test_paper_blocks_are_consecutive():
    assert choose_blocks(100, 3, 5, None)[:2] == ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9))


def test_streams_are_chunk_invariant_and_seeded():
    whole = sample_inputs(11, 0, 3000, 70)
    parts = np.concatenate([sample_inputs(11, a, b - a, 70) for a, b in [(0, 1), (1, 999), (999, 3000)]])
    assert np.array_equal(whole, parts)
    assert not np.array_equal(whole, sample_inputs(12, 0, 3000, 70))
    assert set(np.unique(whole)) == {-1, 1}
    assert abs(whole.mean()) < 0.01
    # Coordinates look independent: pairwise products average to ~0.
    assert np.abs((whole[:, :, None] * whole[:, None, :]).mean(0) - np.eye(70)).max() < 0.1


def test_derive_seed_is_stable():
    assert derive_seed("parity", "heldout") == derive_seed("parity", "heldout")
    assert derive_seed("parity", 1) != derive_seed("parity", 2)


def test_support_from_seed_and_make_task_errors():
    s = choose_support(50, 5, 0)
    assert len(set(s)) == 5 and all(0 <= i < 50 for i in s)
    assert make_task({"kind": "sparse_parity", "n": 50, "d": 5, "seed": 0}).support == s
    with pytest.raises(ValueError, match="unknown kind"):
        make_task({"kind": "xor", "n": 3})
    with pytest.raises(ValueError, match="do not fit"):
        choose_blocks(10, 3, 2, None)


def test_monomials_have_exact_degree_and_are_disjoint_from_support():
    task = SparseParity(n=40, support=(1, 4, 9, 16, 25))
    monos = monomial_set(task, [1, 2, 3], 100, seed=0)
    ins = [m for m in monos if m.in_support]
    offs = [m for m in monos if not m.in_support]
    assert len(ins) == 5 + 10 + 10
    for deg in (1, 2, 3):
        sub = [m for m in offs if m.degree == deg]
        assert len(sub) == (35 if deg == 1 else 100)
        assert len({m.coords for m in sub}) == len(sub)
        assert all(len(set(m.coords)) == deg and not set(m.coords) & set(task.support) for m in sub)
    assert {m.coords for m in ins if m.degree == 2} == set(itertools.combinations(task.support, 2))
