"""Teacher checkpoints and resume states on disk.

Checkpoints are safetensors files in nn.Linear layout (W1 (m, n), b1, W2 (C, m), b2) with string
metadata: safe to load (no pickle) and readable without torch, so the many small probe jobs stay cheap
(importing torch costs seconds per job). Torch is imported lazily for the same reason. Every write is
atomic (temporary name in the same directory, then rename).
"""

from __future__ import annotations

import json
import os

from .io import atomic_path

_KEYS = ("W1", "b1", "W2", "b2")


def save_checkpoint(path: str | os.PathLike, params, run: int, meta: dict) -> None:
    """Store run ``run`` of ``params`` in nn.Linear layout with its metadata; atomic (tmp + rename)."""
    from safetensors.torch import save_file

    tensors = {
        "W1": params.W1t[run].t().contiguous().cpu(),
        "b1": params.b1[run].contiguous().cpu(),
        "W2": params.W2[run].contiguous().cpu(),
        "b2": params.b2[run].contiguous().cpu(),
    }
    meta = dict(meta, n=params.n, width=params.width, num_classes=params.num_classes)
    with atomic_path(path) as tmp:
        # One key holding sorted JSON: safetensors writes a multi-key metadata map in hash order, which
        # would make identical checkpoints differ byte-wise between processes.
        save_file(tensors, tmp, metadata={"progdistill": json.dumps(meta, sort_keys=True)})


def atomic_torch_save(obj, path: str | os.PathLike) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


class CheckpointError(RuntimeError):
    pass


def read_checkpoint_arrays(
    path: str | os.PathLike, n: int | None = None, width: int | None = None, framework: str = "numpy"
) -> tuple[dict, dict]:
    """The four arrays (nn.Linear layout) and the metadata of a checkpoint, checked against n and width."""
    from safetensors import safe_open

    try:
        with safe_open(os.fspath(path), framework=framework) as fh:
            arrays = {k: fh.get_tensor(k) for k in _KEYS}
            meta = json.loads((fh.metadata() or {}).get("progdistill", "{}"))
    except Exception as exc:  # noqa: BLE001 - any read/parse failure means the same thing to the user
        raise CheckpointError(
            f"checkpoint {path} is unreadable or corrupt ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
            "delete it and rerun the rule that produced it (snakemake --forcerun teacher)"
        ) from exc
    m, n_in = arrays["W1"].shape
    if n is not None and n_in != n:
        raise CheckpointError(f"checkpoint {path} has n={n_in} but the configuration says n={n}")
    if width is not None and m != width:
        raise CheckpointError(f"checkpoint {path} has width={m} but the configuration says width={width}")
    return arrays, meta


def load_checkpoint(path: str | os.PathLike, n: int | None = None, width: int | None = None, device="cpu"):
    """Load a checkpoint as a single-run MLPParams; refuse one whose shapes do not match the config."""
    from .model import MLPParams

    a, meta = read_checkpoint_arrays(path, n, width, framework="pt")
    params = MLPParams(a["W1"].t()[None].contiguous(), a["b1"][None], a["W2"][None], a["b2"][None])
    return params.to(device), meta
