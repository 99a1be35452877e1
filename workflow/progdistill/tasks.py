"""The two data distributions: sparse parity and hierarchical (tree-of-parities) classification.

Inputs are int8 arrays in {-1, +1}; labels are int64 class indices.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SparseParity:
    """y = prod_{i in S} x_i. Class 0 when the product is +1 and class 1 when it is -1 (paper code)."""

    n: int
    support: tuple[int, ...]

    num_classes = 2

    def __post_init__(self) -> None:
        if len(set(self.support)) != len(self.support):
            raise ValueError(f"support has repeated coordinates: {self.support}")
        if not all(0 <= i < self.n for i in self.support):
            raise ValueError(f"support {self.support} has coordinates outside [0, {self.n})")

    @property
    def d(self) -> int:
        return len(self.support)

    def labels(self, x: np.ndarray) -> np.ndarray:
        prod = np.prod(x[:, list(self.support)].astype(np.int64), axis=1)
        return (prod < 0).astype(np.int64)

    @property
    def feature_blocks(self) -> list[tuple[int, ...]]:
        return [tuple(self.support)]

    def block_levels(self) -> list[int]:
        return [0]


@dataclass(frozen=True)
class HierarchicalParity:
    """Depth-D binary tree of parities on disjoint blocks (appendix C).

    Internal nodes are numbered in heap order (root 0, children of j are 2j+1 and 2j+2); node j owns
    ``blocks[j]``. From the root, go left when the node's parity is +1 and right when it is -1; the class
    is the index of the leaf reached (0 .. 2^D - 1, left to right).
    """

    n: int
    depth: int
    blocks: tuple[tuple[int, ...], ...]

    def __post_init__(self) -> None:
        if len(self.blocks) != 2**self.depth - 1:
            raise ValueError(f"depth {self.depth} needs {2**self.depth - 1} blocks, got {len(self.blocks)}")
        flat = [i for b in self.blocks for i in b]
        if len(set(flat)) != len(flat):
            raise ValueError("hierarchical blocks must be disjoint")
        if not all(0 <= i < self.n for i in flat):
            raise ValueError(f"hierarchical blocks use coordinates outside [0, {self.n})")

    @property
    def num_classes(self) -> int:
        return 2**self.depth

    @property
    def feature_blocks(self) -> list[tuple[int, ...]]:
        return list(self.blocks)

    def block_levels(self) -> list[int]:
        """Tree level (root = 0) of each internal node, in heap order."""
        return [int(np.floor(np.log2(j + 1))) for j in range(len(self.blocks))]

    @property
    def support(self) -> tuple[int, ...]:
        return tuple(sorted(i for b in self.blocks for i in b))

    def labels(self, x: np.ndarray) -> np.ndarray:
        node = np.zeros(len(x), dtype=np.int64)
        parities = np.stack(
            [np.prod(x[:, list(b)].astype(np.int64), axis=1) for b in self.blocks], axis=1
        )  # (N, nodes)
        rows = np.arange(len(x))
        for _ in range(self.depth):
            go_right = parities[rows, node] < 0
            node = 2 * node + 1 + go_right
        return node - (2**self.depth - 1)


def choose_support(n: int, d: int, seed: int) -> tuple[int, ...]:
    """A support of size d drawn without replacement from [0, n) by a task seed."""
    rng = np.random.default_rng(seed)
    return tuple(sorted(int(i) for i in rng.choice(n, size=d, replace=False)))


def choose_blocks(n: int, depth: int, k: int, seed: int | None) -> tuple[tuple[int, ...], ...]:
    """Disjoint blocks of k coordinates: consecutive (x1..xk, x(k+1)..x(2k), ... as in the paper) when
    seed is None, else a random disjoint assignment drawn from the seed."""
    nodes = 2**depth - 1
    if nodes * k > n:
        raise ValueError(f"{nodes} blocks of {k} coordinates do not fit in n={n}")
    coords = np.arange(n) if seed is None else np.random.default_rng(seed).permutation(n)
    return tuple(tuple(sorted(int(i) for i in coords[j * k : (j + 1) * k])) for j in range(nodes))


def make_task(cfg: dict):
    """Build a task from an experiment's ``task`` config block."""
    kind = cfg["kind"]
    if kind == "sparse_parity":
        support = cfg.get("support")
        if support is None:
            support = choose_support(cfg["n"], cfg["d"], cfg.get("seed", 0))
        return SparseParity(n=cfg["n"], support=tuple(int(i) for i in support))
    if kind == "hierarchical":
        blocks = cfg.get("blocks")
        if blocks is None:
            random = cfg.get("layout", "consecutive") == "random"
            blocks = choose_blocks(cfg["n"], cfg["depth"], cfg["k"], cfg.get("seed", 0) if random else None)
        return HierarchicalParity(
            n=cfg["n"], depth=cfg["depth"], blocks=tuple(tuple(int(i) for i in b) for b in blocks)
        )
    raise ValueError(f"task.kind: unknown kind {kind!r}; valid kinds are 'sparse_parity', 'hierarchical'")
