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


def write_rows(rows: list[dict], path, **constants) -> None:
    """A table of ``rows`` (dicts with the same keys) and ``constants`` (a value for every row) as parquet,
    without pandas, whose import costs a training or probe job a third of a second (pyarrow imports it as
    soon as it converts Python or numpy values, so the columns are built from raw buffers). Each column's
    type is what pandas gives the same values (bool, int64, float64 when any value is a float, with NaN
    stored as null as pandas stores it, string), so ``pd.read_parquet`` returns the frame
    ``pd.DataFrame(rows).assign(**constants)`` would be."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = list(rows[0]) if rows else []
    columns = {k: [r[k] for r in rows] for k in names}
    columns.update({k: [v] * len(rows) for k, v in constants.items()})
    table = pa.Table.from_arrays([_arrow_column(k, v) for k, v in columns.items()], names=list(columns))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def _arrow_column(name: str, values: list):
    import numpy as np
    import pyarrow as pa

    kinds = set()
    for v in values:
        if isinstance(v, (bool, np.bool_)):
            kinds.add("bool")
        elif isinstance(v, (int, np.integer)):
            kinds.add("int")
        elif isinstance(v, (float, np.floating)):
            kinds.add("float")
        elif isinstance(v, str):
            kinds.add("str")
        else:
            raise TypeError(f"column {name}: a value of type {type(v).__name__}")
    n = len(values)

    def bits(mask):
        return pa.py_buffer(np.packbits(mask, bitorder="little"))

    if kinds <= {"bool"}:
        return pa.Array.from_buffers(pa.bool_(), n, [None, bits(np.asarray(values, dtype=bool))])
    if kinds <= {"int"}:
        return pa.Array.from_buffers(pa.int64(), n, [None, pa.py_buffer(np.asarray(values, dtype=np.int64))])
    if kinds <= {"int", "float"}:
        data = np.asarray(values, dtype=np.float64)
        nan = np.isnan(data)
        valid = bits(~nan) if nan.any() else None
        return pa.Array.from_buffers(pa.float64(), n, [valid, pa.py_buffer(data)], null_count=int(nan.sum()))
    if kinds == {"str"}:
        encoded = [v.encode() for v in values]
        offsets = np.zeros(n + 1, dtype=np.int32)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        data = pa.py_buffer(b"".join(encoded))
        return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), data])
    raise TypeError(f"column {name}: values of mixed types {sorted(kinds)}")


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
