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
