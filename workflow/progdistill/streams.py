"""Deterministic, counter-based sample streams.

Sample ``t`` of a stream is a pure function of ``(stream_seed, t)``: it does not depend on the chunk
size, on how many runs share the stream, or on the device. Bits come from a splitmix64 hash of a
counter, so any window ``[start, start + count)`` can be produced without generating the prefix, and
a 20M-step stream is never held in memory. Samples are kept compact as int8 in {-1, +1}.
"""

from __future__ import annotations

import hashlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from any printable parts (Python's hash() is salted per process)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def _splitmix64(z: np.ndarray) -> np.ndarray:
    z = z.copy()
    z ^= z >> np.uint64(30)
    z *= _M1
    z ^= z >> np.uint64(27)
    z *= _M2
    z ^= z >> np.uint64(31)
    return z


def sample_words(stream_seed: int, start: int, count: int, n: int) -> np.ndarray:
    """Random 64-bit words, shape (count, ceil(n / 64)), for samples start .. start+count-1."""
    if start < 0 or count < 0:
        raise ValueError(f"stream window must be non-negative, got start={start} count={count}")
    words = (n + 63) // 64
    key = _splitmix64(np.array([stream_seed], dtype=np.uint64))[0]
    counter = np.arange(start * words, (start + count) * words, dtype=np.uint64) + np.uint64(1)
    with np.errstate(over="ignore"):
        return _splitmix64(key ^ (counter * _GOLDEN)).reshape(count, words)


def sample_inputs(stream_seed: int, start: int, count: int, n: int) -> np.ndarray:
    """Inputs x in {-1, +1}^n as int8, shape (count, n): bit j of the sample's words maps to x_j."""
    w = sample_words(stream_seed, start, count, n)
    bits = np.unpackbits(w.view(np.uint8).reshape(count, -1), axis=1, bitorder="little")[:, :n]
    return (1 - 2 * bits.astype(np.int8)).astype(np.int8)


def sample_inputs_at(stream_seed: int, index: np.ndarray, n: int) -> np.ndarray:
    """Samples ``index`` (any integer array) of a stream: row i is sample_inputs(stream_seed, index[i], 1, n)
    (the same counter hash, so any index set is produced without the others)."""
    index = np.asarray(index, dtype=np.int64)
    if index.size and index.min() < 0:
        raise ValueError(f"sample indices must be non-negative, got {index.min()}")
    words = (n + 63) // 64
    key = _splitmix64(np.array([stream_seed], dtype=np.uint64))[0]
    counter = (
        index.astype(np.uint64)[:, None] * np.uint64(words) + np.arange(words, dtype=np.uint64)
    ).ravel()
    with np.errstate(over="ignore"):
        w = _splitmix64(key ^ ((counter + np.uint64(1)) * _GOLDEN)).reshape(len(index), words)
    bits = np.unpackbits(w.view(np.uint8).reshape(len(index), -1), axis=1, bitorder="little")[:, :n]
    return (1 - 2 * bits.astype(np.int8)).astype(np.int8)


def epoch_permutation(stream_seed: int, epoch: int, size: int) -> np.ndarray:
    """The order of a ``size``-example training set in ``epoch``: a permutation of 0 .. size-1 (int32), a pure
    function of (stream seed, epoch): the argsort of splitmix64 keys (stable sort, no library RNG, so numpy
    versions cannot change it)."""
    if size < 1 or size >= 2**31:
        raise ValueError(f"train_set_size must be in 1 .. 2^31-1, got {size}")
    seed = np.uint64(derive_seed(stream_seed, "epoch", int(epoch)))
    with np.errstate(over="ignore"):
        keys = _splitmix64(seed ^ ((np.arange(size, dtype=np.uint64) + np.uint64(1)) * _GOLDEN))
    return np.argsort(keys, kind="stable").astype(np.int32)


class StreamSampler:
    """The inputs a training stream shows at positions (steps) start .. start+count-1.

    ``train_set_size`` None: sample t is a fresh draw (sample_inputs). N: a finite training set, the first N
    samples of the stream, visited in a fresh permutation each epoch: position t shows example
    perm_{t // N}[t % N] (epoch_permutation). Examples are generated on demand from their index, so the set is
    never held; the current epoch's permutation is cached (4 bytes an example)."""

    def __init__(self, stream_seed: int, n: int, train_set_size: int | None = None):
        self.stream_seed, self.n, self.size = int(stream_seed), int(n), train_set_size
        self._epoch, self._perm = -1, None

    def permutation(self, epoch: int) -> np.ndarray:
        if epoch != self._epoch:
            self._epoch, self._perm = epoch, epoch_permutation(self.stream_seed, epoch, self.size)
        return self._perm

    def indices(self, start: int, count: int) -> np.ndarray:
        """Example indices of positions start .. start+count-1 (int64)."""
        if start < 0 or count < 0:
            raise ValueError(f"stream window must be non-negative, got start={start} count={count}")
        if self.size is None:
            return np.arange(start, start + count, dtype=np.int64)
        N, out, t = self.size, [], start
        while t < start + count:
            epoch, off = divmod(t, N)
            take = min(N - off, start + count - t)
            out.append(self.permutation(epoch)[off : off + take].astype(np.int64))
            t += take
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def inputs(self, start: int, count: int) -> np.ndarray:
        if self.size is None:
            return sample_inputs(self.stream_seed, start, count, self.n)
        return sample_inputs_at(self.stream_seed, self.indices(start, count), self.n)
