"""The teacher-logit store: teacher logits on disk, shared by every student job of an experiment
(training.TeacherBank's second level), checksummed, locked per file and keyed by checkpoint content."""

from __future__ import annotations

import contextlib
import glob
import hashlib
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass

import torch

try:
    import fcntl
except ImportError:  # not POSIX: the logit store works without locks (duplicated work is harmless)
    fcntl = None

from .io import atomic_path

log = logging.getLogger(__name__)


class LogitStore:
    """Teacher logits on disk, shared by every student job of an experiment (TeacherBank's second level).

    A file holds blocks b0 .. b1-1 of one (checkpoint, stream): the float32 logits exactly as computed,
    then a 16-byte BLAKE2b digest of the file's key and those bytes. The key holds a content hash of the
    checkpoint file (a retrained teacher never reuses stale logits) and the device, torch version and CPU
    capability that computed them (a GEMM's rounding can differ between them). Files are written
    atomically, so jobs that compute the same range at once write identical bytes and the last rename
    wins; a truncated or corrupt file fails its digest and is recomputed. One lock (flock) per file lets
    one job compute it while the others compute other ranges they need; where locking is unsupported,
    jobs may compute a range twice, which is harmless."""

    def __init__(self, directory: str, checkpoint_path: Callable[[int], str], device="cpu", segment=16):
        self.directory = directory
        self.checkpoint_path = checkpoint_path  # teacher step -> checkpoint file
        self.segment = segment  # blocks per file at most
        dev = torch.device(device).type
        self.env = (dev, torch.__version__, torch.backends.cpu.get_cpu_capability(), sys.byteorder)
        self._tags: dict[tuple[int, int, int], str] = {}
        self.corrupt = 0
        self._remove_stale_temporaries()

    def key(self, step: int, stream: int, b0: int, b1: int, block: int, n: int) -> StoreKey:
        if (step, block, n) not in self._tags:
            with open(self.checkpoint_path(step), "rb") as fh:
                content = hashlib.sha256(fh.read()).hexdigest()
            ident = repr((content, block, n, self.env)).encode()
            self._tags[(step, block, n)] = hashlib.sha256(ident).hexdigest()
        tag = self._tags[(step, block, n)]
        path = os.path.join(self.directory, tag[:24], f"{stream}-{b0}-{b1}.bin")
        return StoreKey(path, f"{tag}|{stream}|{b0}|{b1}".encode(), b1 - b0, block)

    def read(self, key: StoreKey) -> torch.Tensor | None:
        """The stored logits (blocks, block, C), or None when absent, truncated or corrupt."""
        try:
            with open(key.path, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return None
        body, tail = data[:-_DIGEST], data[-_DIGEST:]
        row = key.blocks * key.block * 4
        if len(data) <= _DIGEST or len(body) % row or _digest(key, body) != tail:
            self.corrupt += 1
            log.warning("teacher-logit cache file %s is truncated or corrupt; recomputing it", key.path)
            return None
        return torch.frombuffer(bytearray(body), dtype=torch.float32).reshape(key.blocks, key.block, -1)

    def exists(self, key: StoreKey) -> bool:
        return os.path.exists(key.path)

    def write(self, key: StoreKey, logits: torch.Tensor) -> None:
        body = logits.contiguous().numpy().tobytes()
        with atomic_path(key.path) as tmp, open(tmp, "wb") as fh:
            fh.write(body + _digest(key, body))

    @contextlib.contextmanager
    def lock(self, key: StoreKey, wait: bool = False):
        """Yields True when this process holds the file's lock (or locking is unsupported), False when
        another holds it and ``wait`` is off. The lock file goes once the data file is in place."""
        lock_path = key.path + ".lock"
        os.makedirs(os.path.dirname(lock_path), exist_ok=True)
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                if fcntl is not None:
                    fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
                held = True
            except BlockingIOError:
                held = False
            except OSError:  # no flock on this filesystem: no coordination, duplicates are harmless
                held = True
            yield held
            if held and os.path.exists(key.path):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(lock_path)  # waiters on it re-check the data file after they get it
        finally:
            os.close(fd)  # releases the lock

    def _remove_stale_temporaries(self) -> None:
        """Temporaries of killed writers: a writer holds the file's lock while its temporary exists."""
        for tmp in glob.glob(os.path.join(glob.escape(self.directory), "*", "*.tmp-*.bin")):
            path = tmp.rsplit(".tmp-", 1)[0] + ".bin"
            key = StoreKey(path, b"", 0, 0)
            with self.lock(key) as held, contextlib.suppress(FileNotFoundError):
                if held:
                    os.remove(tmp)


@dataclass(frozen=True)
class StoreKey:
    path: str
    ident: bytes  # what the digest covers besides the logits
    blocks: int
    block: int


_DIGEST = 16


def _digest(key: StoreKey, body: bytes) -> bytes:
    return hashlib.blake2b(key.ident + body, digest_size=_DIGEST).digest()
