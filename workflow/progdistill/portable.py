"""Where the numbers may depend on the CPU, and the settings that make them not (standard library only, so
the workflow can apply them while it builds the DAG, before any job imports torch or numpy).

By default every job uses the fastest code for its CPU: the compiled kernel is built with -march=native and
torch, MKL and OpenBLAS pick their kernels for the CPU they find. Results are then byte-identical on the
same machine (or CPU model), but another CPU may round differently: another vector width, FMA contraction,
another BLAS code path. ``kernel_target: portable`` trades speed for byte-identical results on every CPU of
an architecture: the kernel is built without FMA contraction and with a fixed exp polynomial (for the CPU it
runs on: the instruction set does not change its bits, only its speed), and the libraries run in their
CPU-independent modes (``environment()``).
"""

from __future__ import annotations

import os
import platform

TARGETS = ("native", "portable")  # what a configuration may name (config key kernel_target)
ENV_TARGET = "PROGDISTILL_KERNEL_TARGET"


def _x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64")


# What 'portable' adds to any -march: no fused multiply-add (csrc/sgd.c writes its FMAs out and every build
# has -ffp-contract=off, kernel.FLAGS) and a fixed exp polynomial.
PORTABLE_EXTRA = ("-DPD_NO_FMA", "-DPD_PORTABLE_EXP")


def target_flags(target: str) -> tuple[str, ...]:
    """Compiler flags of a kernel target: 'native', 'portable', or any -march value (e.g. 'x86-64-v3').

    'portable' is built for this CPU too (-march=native: measured 0.93-0.99x the native build's speed, where a
    baseline -march=x86-64-v2 build ran at 0.37-0.51x), but without fused multiply-adds and with a fixed exp
    polynomial. Without -ffast-math the compiler keeps every operation's IEEE rounding and order, so the
    vector width cannot change a bit; tests/test_kernel.py checks that these flags give identical bits
    for the x86-64-v2, v3 and v4 levels and for this CPU."""
    if target == "native":
        return ("-march=native",)  # fused multiply-adds where the CPU has them: the default's numbers
    if target == "portable":
        return ("-march=native", *PORTABLE_EXTRA)
    if not target or target.startswith("-") or any(c.isspace() for c in target):
        raise ValueError(f"kernel target {target!r}: expected 'native', 'portable' or a -march value")
    return (f"-march={target}",)


def environment() -> dict[str, str]:
    """Settings that make the libraries under torch and numpy give the same bits on every CPU of an
    architecture: the kernel target, MKL's conditional numerical reproducibility, ATen's generic
    (unvectorised) kernels, a baseline oneDNN ISA and OpenBLAS core. Libraries read them when they load,
    so they must be in a process's environment before it imports torch or numpy."""
    env = {ENV_TARGET: "portable", "MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "default"}
    if _x86():
        env |= {"ONEDNN_MAX_CPU_ISA": "SSE41", "OPENBLAS_CORETYPE": "Prescott"}
    else:
        env |= {"OPENBLAS_CORETYPE": "ARMV8"}
    return env


def default_target() -> str:
    """$PROGDISTILL_KERNEL_TARGET (the workflow sets it from kernel_target), else 'native'."""
    return os.environ.get(ENV_TARGET) or "native"


def missing_settings(target: str) -> dict[str, str]:
    """For the portable target, the environment settings this process lacks (wanted value per name)."""
    if target != "portable":
        return {}
    return {k: v for k, v in environment().items() if os.environ.get(k) != v}
