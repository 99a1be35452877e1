"""One GPU per running job on a machine with several.

Snakemake counts the ``gpu`` resource but assigns no device ids: with ``--resources gpu=4`` on a 4-GPU
machine, four concurrent GPU jobs would all use device 0. So a GPU job takes a slot when it starts: an
exclusive lock (flock) on one file per visible device, held until the process ends (the kernel releases
it on any exit, a kill included). The devices are those ``CUDA_VISIBLE_DEVICES`` names when the user or the
scheduler set it, else all of them. A job that sees a single device (a SLURM job given one GPU, or a user's
``CUDA_VISIBLE_DEVICES=3``) uses it without a lock: the scheduler already made it its own.

Standard library only (torch passes the device count in), so the tests fake any number of devices.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time

try:
    import fcntl
except ImportError:  # not POSIX: no slots; every job uses the first device
    fcntl = None

log = logging.getLogger(__name__)

_held: dict[int, int] = {}  # device index -> open lock file descriptor (kept open: the lock lives with it)


def lock_dir() -> str:
    """$PROGDISTILL_GPU_LOCKS, else a per-user folder in the machine's temporary directory (locks are about
    this machine's devices, so they must not live on a shared filesystem)."""
    default = os.path.join(tempfile.gettempdir(), f"progdistill-gpus-{os.getuid()}")
    return os.environ.get("PROGDISTILL_GPU_LOCKS") or default


def visible_ids(count: int) -> list[str]:
    """Names of the ``count`` devices this process sees, as the machine numbers them (for the lock files)."""
    env = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    return env[:count] if len(env) >= count else [str(i) for i in range(count)]


def acquire(
    count: int, directory: str | None = None, timeout_s: float | None = None, poll_s: float = 1.0
) -> int:
    """Index (as torch numbers the visible devices) of a device no other job of this machine holds; waits
    while all are held (more GPU jobs than devices), up to ``timeout_s`` (None: for ever)."""
    if count < 1:
        raise RuntimeError("no CUDA device is visible to this job")
    if count == 1 or fcntl is None:
        return 0
    directory = directory or lock_dir()
    os.makedirs(directory, exist_ok=True)
    ids = visible_ids(count)
    start = last_log = time.monotonic()
    while True:
        for index, dev in enumerate(ids):
            if index in _held:
                continue
            fd = os.open(os.path.join(directory, f"gpu-{dev}.lock"), os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            _held[index] = fd
            log.info("GPU slot: device %d (physical %s) of %d, lock %s", index, dev, count, directory)
            return index
        now = time.monotonic()
        if timeout_s is not None and now - start >= timeout_s:
            raise TimeoutError(f"all {count} GPUs are held by other jobs (locks in {directory})")
        if now - last_log >= 60:
            log.warning("all %d GPUs are held by other jobs; waiting (locks in %s)", count, directory)
            last_log = now
        time.sleep(poll_s)


def release(index: int) -> None:
    """Give a slot back before the process ends (the tests; a job keeps its slot until it exits)."""
    fd = _held.pop(index, None)
    if fd is not None:
        os.close(fd)
