"""Teacher logits as a workflow stage: the blocks each student stream needs, computed once per
(experiment, seed) by the ``teacher_logits`` rule and read by every students job of the experiment.

A file holds, for one sample stream (the student seed's), every (checkpoint, block) pair any strategy of
the experiment uses: block b of a stream is samples b*block .. (b+1)*block - 1, and its logits are one
forward pass of the teacher over exactly those rows (``training.TeacherBank.compute``), so a stored block
has the bits a students job would compute itself (a GEMM's rounding can depend on its row count; an
aligned block always has the same rows).

Format (little-endian): ``MAGIC``, an 8-byte header length, a JSON header (stream, block, n, classes,
the SHA-256 of every checkpoint file used, per checkpoint its sorted block list, and train_set_size when the
students train on a finite set: block b then holds the examples that positions b*block .. show), the float32
logits of every block in header order (checkpoints ascending, blocks ascending), then the SHA-256 of
everything before it. Written atomically; a reader checks the digest (truncated or corrupt: an error naming
the file) and the checkpoints' hashes (a retrained teacher: an error naming the stale file), before training
starts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import struct
import sys
from collections.abc import Callable, Iterable

import numpy as np

log = logging.getLogger(__name__)

MAGIC = b"PDLOGITS1\n"
BLOCK = 1024  # samples per aligned block: the stage's files and training.TeacherBank
TEACHER_CACHE = 4  # teacher checkpoints a TeacherBank keeps loaded (resources counts their memory)
_DIGEST = 32


class LogitFileError(RuntimeError):
    """A teacher-logit file that cannot be used; the message names it and says what to do."""


def needed_blocks(
    schedules: Iterable[tuple[tuple[int, int], ...]], steps: int, block: int = BLOCK
) -> dict[int, list[int]]:
    """Checkpoint -> sorted blocks of one stream that the given schedules ((start_step, checkpoint), ...)
    use over ``steps`` student steps: the deduplicated union, the unit of the teacher_logits stage."""
    need: dict[int, set[int]] = {}
    for sched in schedules:
        ends = [s for s, _ in sched[1:]] + [steps]
        for (s, ck), e in zip(sched, ends, strict=True):
            s, e = max(s, 0), min(e, steps)
            if e > s:
                need.setdefault(int(ck), set()).update(range(s // block, (e - 1) // block + 1))
    return {ck: sorted(b) for ck, b in sorted(need.items())}


def file_sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _runs_of(sorted_blocks: list[int]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive integers as half-open (start, end) pairs."""
    out: list[tuple[int, int]] = []
    for b in sorted_blocks:
        if out and out[-1][1] == b:
            out[-1] = (out[-1][0], b + 1)
        else:
            out.append((b, b + 1))
    return out


def write_logits(
    path: str,
    stream: int,
    n: int,
    classes: int,
    need: dict[int, list[int]],
    checkpoint_path: Callable[[int], str],
    compute: Callable[[int, int, int], np.ndarray],
    block: int = BLOCK,
    batch: int = 64,
    progress: Callable[[int, int], None] | None = None,
    train_set_size: int | None = None,
) -> None:
    """Compute every needed block with ``compute(checkpoint, b0, b1)`` -> float32 (b1-b0, block, classes)
    (at most ``batch`` blocks a call) and write them atomically to ``path``. ``train_set_size`` (the
    students' finite training set, if any) goes in the header: a file for another setting is refused."""
    from .io import atomic_path

    header = {
        "stream": int(stream),
        "block": int(block),
        "n": int(n),
        "classes": int(classes),
        "checkpoints": {str(ck): file_sha256(checkpoint_path(ck)) for ck in need},
        "blocks": {str(ck): list(map(int, bs)) for ck, bs in need.items()},
        "computed_with": [sys.byteorder, _torch_env()],
    }
    if train_set_size is not None:  # which example each stream position shows (streams.StreamSampler)
        header["train_set_size"] = int(train_set_size)
    head = json.dumps(header, sort_keys=True).encode()
    total, done = sum(len(b) for b in need.values()), 0
    h = hashlib.sha256()
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        for part in (MAGIC, struct.pack("<Q", len(head)), head):
            fh.write(part)
            h.update(part)
        for ck, bs in need.items():
            for a, b in _runs_of(bs):
                for b0 in range(a, b, batch):
                    b1 = min(b, b0 + batch)
                    out = np.ascontiguousarray(compute(ck, b0, b1), dtype="<f4")
                    if out.shape != (b1 - b0, block, classes):
                        raise ValueError(f"logits of blocks {b0}..{b1} have shape {out.shape}")
                    data = out.tobytes()
                    fh.write(data)
                    h.update(data)
                    done += b1 - b0
                    if progress:
                        progress(done, total)
        fh.write(h.digest())


def _torch_env() -> str:
    try:
        import torch

        return f"torch {torch.__version__} {torch.backends.cpu.get_cpu_capability()}"
    except ImportError:  # pragma: no cover - the stage always has torch
        return "no torch"


class LogitFile:
    """One teacher_logits output, checked (digest, checkpoint hashes) when opened; blocks are read from a
    memory map, so a job holds only the blocks it is using."""

    def __init__(self, path: str, checkpoint_path: Callable[[int], str] | None = None):
        self.path = path
        try:
            size = os.path.getsize(path)
            with open(path, "rb") as fh:
                magic = fh.read(len(MAGIC))
                (hlen,) = struct.unpack("<Q", fh.read(8)) if magic == MAGIC else (0,)
                head = fh.read(hlen)
            if magic != MAGIC or len(head) != hlen:
                raise ValueError("not a teacher-logit file, or truncated in its header")
            self.header = json.loads(head)
            self.block, self.classes = self.header["block"], self.header["classes"]
            self.stream = self.header["stream"]
            self.train_set_size = self.header.get("train_set_size")  # absent: fresh samples
            self._offset = len(MAGIC) + 8 + hlen
            row = self.block * self.classes * 4
            self._index: dict[tuple[int, int], int] = {}
            for ck, bs in sorted(self.header["blocks"].items(), key=lambda kv: int(kv[0])):
                for b in bs:
                    self._index[(int(ck), b)] = self._offset + len(self._index) * row
            if size != self._offset + len(self._index) * row + _DIGEST:
                raise ValueError(f"{size} bytes where the header announces {len(self._index)} blocks")
            if self._digest() != self._stored_digest():
                raise ValueError("its SHA-256 does not match its contents")
        except (OSError, ValueError, KeyError, struct.error) as exc:
            raise LogitFileError(
                f"teacher-logit file {path} is unreadable, truncated or corrupt ({exc}); delete it and "
                "rerun the workflow (the teacher_logits job recomputes it)"
            ) from exc
        self._map = np.memmap(path, dtype=np.uint8, mode="r")
        if checkpoint_path is not None:
            self.check_checkpoints(checkpoint_path)

    def _digest(self) -> bytes:
        h = hashlib.sha256()
        with open(self.path, "rb") as fh:
            left = os.path.getsize(self.path) - _DIGEST
            while left > 0:
                chunk = fh.read(min(left, 1 << 20))
                h.update(chunk)
                left -= len(chunk)
        return h.digest()

    def _stored_digest(self) -> bytes:
        with open(self.path, "rb") as fh:
            fh.seek(-_DIGEST, os.SEEK_END)
            return fh.read()

    def check_checkpoints(
        self,
        checkpoint_path: Callable[[int], str],
        only: Iterable[int] | None = None,
        hashes: dict[str, str] | None = None,
    ):
        """Every checkpoint (or those in ``only``) still has the bytes the logits were computed from.
        ``hashes``: path -> SHA-256 already computed (a job checking several files hashes each once)."""
        wanted = None if only is None else {int(c) for c in only}
        hashes = {} if hashes is None else hashes
        for ck, digest in self.header["checkpoints"].items():
            if wanted is not None and int(ck) not in wanted:
                continue
            ck_path = checkpoint_path(int(ck))
            if os.path.exists(ck_path) and ck_path not in hashes:
                hashes[ck_path] = file_sha256(ck_path)
            if hashes.get(ck_path) != digest:
                raise LogitFileError(
                    f"teacher-logit file {self.path} is stale: it was computed from another {ck_path} "
                    "(a retrained teacher?); delete it and rerun the workflow"
                )

    def checkpoints(self) -> list[int]:
        return sorted(int(c) for c in self.header["checkpoints"])

    def has(self, ck: int, b: int) -> bool:
        return (ck, b) in self._index

    def read(self, ck: int, b: int) -> np.ndarray:
        """Block b's logits from checkpoint ck: float32 (block, classes), a copy."""
        start = self._index[(ck, b)]
        nbytes = self.block * self.classes * 4
        data = np.array(self._map[start : start + nbytes])  # a copy: the header need not align floats
        return data.view("<f4").astype(np.float32, copy=False).reshape(self.block, self.classes)
