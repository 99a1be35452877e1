"""Where a workflow job's time goes, written to its log when it ends (standard library only).

``logs.setup`` (the first thing a rule's script does) calls ``start()``; the job functions then name their
phases with ``mark("read")``, ``mark("work")``, ``mark("write")``: the time from one mark to the next counts
towards the earlier one, the time from ``start()`` to the first mark towards ``setup`` (device, backend).
Imports after ``start()`` (a job's lazy imports: torch, sksurv, ...) count towards ``imports`` whichever
phase they happen in (import statements are timed; the outermost one of a nest counts). Every phase is
timed twice: wall time, and this process's CPU time (``cpu``; ``startup_cpu`` before ``start()``).
``startup`` is the process's age at ``start()``: interpreter, Snakemake's script preamble and the script's
imports.
At exit the job logs one readable line and one ``job-time {json}`` line with the same numbers and the epoch
times of ``start()`` and of the exit, from which ``make bench`` splits a job's wall time (as Snakemake
records it) into fixed cost and work (progdistill.jobbench).
"""

from __future__ import annotations

import atexit
import builtins
import json
import logging
import os
import time

log = logging.getLogger(__name__)

_state: dict = {}


def process_age() -> float | None:
    """Seconds since this process started (Linux: /proc, 10 ms resolution); None where unknown."""
    try:
        with open("/proc/self/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        with open("/proc/uptime") as fh:
            uptime = float(fh.read().split()[0])
        return max(0.0, uptime - int(fields[19]) / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


def _now() -> tuple[float, float]:
    """(wall, CPU) clocks: on a shared machine the CPU seconds of a phase vary far less than its wall time."""
    return time.perf_counter(), time.process_time()


def start() -> None:
    """Begin timing this job (once per process; logs.setup calls it)."""
    if _state:
        return
    now = _now()
    # CPU time so far: the interpreter, the preamble and the script's imports (this process's own).
    _state.update(t_start=time.time(), startup=process_age(), startup_cpu=now[1])
    _state.update(phases={}, cpu={}, current="setup", since=now, depth=0)
    _state.update(imports=[0.0, 0.0], imports_since=(0.0, 0.0))
    builtins.__import__ = _timed(builtins.__import__)
    atexit.register(report)


def _timed(original):
    def timed_import(*args, **kwargs):
        if _state["depth"]:
            return original(*args, **kwargs)
        _state["depth"] += 1
        t0 = _now()
        try:
            return original(*args, **kwargs)
        finally:
            _state["depth"] -= 1
            t1 = _now()
            _state["imports"][0] += t1[0] - t0[0]
            _state["imports"][1] += t1[1] - t0[1]

    return timed_import


def mark(phase: str) -> None:
    """From now on the job's time counts towards ``phase``."""
    if not _state:
        return
    now, cur = _now(), _state["current"]
    for i, table in enumerate((_state["phases"], _state["cpu"])):
        imported = _state["imports"][i] - _state["imports_since"][i]
        table[cur] = table.get(cur, 0.0) + now[i] - _state["since"][i] - imported
        if imported:
            table["imports"] = table.get("imports", 0.0) + imported
    _state.update(current=phase, since=now, imports_since=tuple(_state["imports"]))


def summary() -> dict:
    """The numbers so far: epoch time of start(), startup (wall and CPU), seconds per phase (wall; and CPU
    under "cpu"), epoch time now."""
    mark(_state["current"])
    return {
        "t_start": _state["t_start"],
        "t_end": time.time(),
        "startup": _state["startup"],
        "startup_cpu": round(_state["startup_cpu"], 4),
        "phases": {k: round(v, 4) for k, v in _state["phases"].items()},
        "cpu": {k: round(v, 4) for k, v in _state["cpu"].items()},
    }


def report() -> None:
    if not _state:
        return
    rec = summary()
    parts = [f"{k} {v:.2f} s" for k, v in rec["phases"].items()]
    if rec["startup"] is not None:
        parts.insert(0, f"startup {rec['startup']:.2f} s (interpreter, preamble, the script's imports)")
    log.info("job time: %s", ", ".join(parts))
    log.info("job-time %s", json.dumps(rec, sort_keys=True))
