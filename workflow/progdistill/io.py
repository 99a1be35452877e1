"""Atomic writers: an output is never observable half-written (temporary name in the same directory,
then rename), so a crash leaves either the old file or the new one."""

from __future__ import annotations

import contextlib
import glob
import json
import os
from contextlib import contextmanager


@contextmanager
def atomic_path(path: str | os.PathLike):
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    root, ext = os.path.splitext(path)
    _remove_stale(root, ext)
    tmp = f"{root}.tmp-{os.getpid()}{ext}"  # keep the extension: writers (matplotlib) infer the format
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_parquet(df, path) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def write_json(obj, path) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, default=float)
        fh.write("\n")


def _remove_stale(root: str, ext: str) -> None:
    """Delete temporaries left by a writer that was killed (SIGKILL cannot be cleaned up after)."""
    for tmp in glob.glob(f"{glob.escape(root)}.tmp-*{glob.escape(ext)}"):
        pid = tmp[len(root) + 5 : len(tmp) - len(ext)]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                os.remove(tmp)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
