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

    tree_depth = None  # no tree: no level0 .. checkpoints to name

    @classmethod
    def from_config(cls, cfg: dict) -> SparseParity:
        support = cfg.get("support")
        if support is None:
            support = choose_support(cfg["n"], cfg["d"], cfg["seed"])
        return cls(n=cfg["n"], support=tuple(int(i) for i in support))

    @staticmethod
    def config_problems(k: str, task: dict) -> list[str]:
        out = []
        n = task["n"]
        if "support" in task:
            sup = task["support"]
            bad = [i for i in sup if not 0 <= i < n]
            if bad:
                out.append(f"{k}.support = {sup}: indices {bad} are out of range; valid: 0 .. {n - 1}")
            if len(set(sup)) != len(sup):
                out.append(f"{k}.support = {sup} repeats a coordinate")
            if "d" in task and task["d"] != len(sup):
                out.append(f"{k}.d = {task['d']} does not match len(support) = {len(sup)}")
        elif "d" not in task:
            out.append(f"{k}: sparse_parity needs 'd' (support size) or an explicit 'support'")
        if "d" in task and task["d"] > n:
            out.append(f"{k}.d = {task['d']} exceeds n = {n}; valid: 1 .. n")
        return out

    def probe_problems(self, k: str, degrees: list[int]) -> list[str]:
        """Monomial degrees beyond the support cannot be probed."""
        bad = [g for g in degrees if g > self.d]
        if not bad:
            return []
        return [f"{k} = {degrees}: degrees {bad} exceed the support size d = {self.d}; valid: 1 .. {self.d}"]


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

    @property
    def tree_depth(self) -> int:
        """Tree levels whose features the selection can name (level0 .. level{depth-1})."""
        return self.depth

    @classmethod
    def from_config(cls, cfg: dict) -> HierarchicalParity:
        blocks = cfg.get("blocks")
        if blocks is None:
            random = cfg["layout"] == "random"
            blocks = choose_blocks(cfg["n"], cfg["depth"], cfg["k"], cfg["seed"] if random else None)
        return cls(n=cfg["n"], depth=cfg["depth"], blocks=tuple(tuple(int(i) for i in b) for b in blocks))

    @staticmethod
    def config_problems(k: str, task: dict) -> list[str]:
        out = []
        n = task["n"]
        for key in ("depth", "k"):
            if key not in task and "blocks" not in task:
                out.append(f"{k}: hierarchical needs '{key}'")
        if "depth" in task and "k" in task and (2 ** task["depth"] - 1) * task["k"] > n:
            need = (2 ** task["depth"] - 1) * task["k"]
            out.append(
                f"{k}: {2 ** task['depth'] - 1} blocks of k = {task['k']} coordinates need n >= {need}, "
                f"but n = {n}"
            )
        if "blocks" in task:
            flat = [i for b in task["blocks"] for i in b]
            if any(not 0 <= i < n for i in flat) or len(set(flat)) != len(flat):
                out.append(f"{k}.blocks = {task['blocks']}: blocks must be disjoint indices in 0 .. {n - 1}")
            if "depth" in task and len(task["blocks"]) != 2 ** task["depth"] - 1:
                out.append(
                    f"{k}.blocks: depth {task['depth']} needs {2 ** task['depth'] - 1} blocks, "
                    f"got {len(task['blocks'])}"
                )
        if "blocks" in task and "depth" not in task:
            out.append(f"{k}: hierarchical with 'blocks' needs 'depth' too (2^depth - 1 blocks)")
        return out

    def probe_problems(self, k: str, degrees: list[int]) -> list[str]:
        return []

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


TASKS: dict[str, type] = {"sparse_parity": SparseParity, "hierarchical": HierarchicalParity}


def make_task(cfg: dict):
    """Build a task from an experiment's validated ``task`` config block."""
    cls = TASKS.get(cfg["kind"])
    if cls is None:
        raise ValueError(f"task.kind: unknown kind {cfg['kind']!r}; valid kinds are {sorted(TASKS)}")
    return cls.from_config(cfg)


def config_problems(key: str, cfg: dict) -> list[str]:
    """What the schema cannot state about a ``task`` block (indices in range, blocks that fit, ...); the
    task must be buildable when this returns nothing."""
    return TASKS[cfg["kind"]].config_problems(key, cfg)
