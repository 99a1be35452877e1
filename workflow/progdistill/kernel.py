"""The compiled CPU backend: csrc/sgd.c built with the system C compiler at first use, loaded with ctypes.

The shared library is cached under ``$PROGDISTILL_CACHE`` (default ``~/.cache/progdistill``), keyed by a
hash of the source, the flags, the machine, the CPU (``-march=native`` code must not be loaded on an
older CPU sharing the cache) and the compiler version. It is built under a temporary name and renamed
into place, so processes that build at the same time are safe. ``available()`` never raises: without a
compiler (or when the build fails) it logs a warning and returns False, and the engine uses torch.

OpenMP: busy-waiting threads were disastrous here (jobs share few cores), so OMP_WAIT_POLICY=PASSIVE is
set unless the environment already sets it. libgomp reads it once, when it is loaded; torch ships its
own libgomp.so.1, which the dynamic linker reuses for this library, so the setting only takes effect if
it is in the environment before torch is imported.

Targets (progdistill.portable): ``native`` (the default, ``-march=native``: fastest, but another CPU model
may round differently, since the vector width and FMA contraction change the float order) and ``portable``
(a baseline instruction set, no FMA contraction and a fixed exp polynomial, so every CPU of an architecture
gives the same bits). Any other name is passed as ``-march`` (the tests build several). Precision
``float64`` builds the same source with doubles, for exact comparisons in the tests.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import torch

from .model import MLPParams
from .portable import TARGETS, default_target, target_flags  # noqa: F401 - re-exported

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("csrc") / "sgd.c"
# -ffp-contract=off: sgd.c says which multiply-adds are fused (its FMA macro), never the compiler.
FLAGS = ("-O3", "-fPIC", "-shared", "-fopenmp", "-ffp-contract=off")
# precision -> (dtype, ABI version of sgd.c's PD_ABI, flags)
PRECISIONS = {"float32": (torch.float32, 5, ()), "float64": (torch.float64, 6, ("-DPD_DOUBLE",))}

_lock = threading.Lock()
_libs: dict[tuple[str, str], ctypes.CDLL] = {}
_errors: dict[tuple[str, str], str] = {}  # why a build is unavailable, once that is known


class KernelUnavailable(RuntimeError):
    pass


def cache_dir() -> Path:
    return Path(os.environ.get("PROGDISTILL_CACHE") or Path.home() / ".cache" / "progdistill")


def find_compiler() -> str | None:
    """$CC if it names an executable, else ``cc``, else ``gcc``."""
    for cand in (os.environ.get("CC"), "cc", "gcc"):
        if cand:
            path = shutil.which(cand)
            if path:
                return path
    return None


def _cpu_id() -> str:
    """What -march=native depends on: the CPU model and feature flags (Linux), else platform.processor()."""
    try:
        with open("/proc/cpuinfo") as fh:
            lines = [ln for ln in fh if ln.startswith(("model name", "flags", "Features", "CPU part"))]
        return "".join(dict.fromkeys(lines))  # one copy per distinct line (all cores are alike)
    except OSError:
        return platform.processor()


def _compiler_version(cc: str) -> str:
    res = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise KernelUnavailable(f"{cc} --version failed: {res.stderr.strip()}")
    return res.stdout


def build(
    compiler: str | None = None,
    directory: Path | None = None,
    target: str = "native",
    precision: str = "float32",
    extra_flags: tuple[str, ...] = (),
) -> Path:
    """Compile sgd.c for ``target`` and ``precision`` (or reuse the cached build); the library's path.
    ``extra_flags`` go after the target's (the tests build the portable flags for other -march values)."""
    if precision not in PRECISIONS:
        raise ValueError(f"kernel precision {precision!r}: valid are {sorted(PRECISIONS)}")
    flags = (*FLAGS, *target_flags(target), *PRECISIONS[precision][2], *extra_flags)
    cc = compiler or find_compiler()
    if cc is None or shutil.which(cc) is None:
        raise KernelUnavailable(f"no C compiler found (tried $CC, cc, gcc; got {cc!r})")
    src = SOURCE.read_bytes()
    key = hashlib.sha256()
    for part in (
        src,
        " ".join(flags).encode(),
        platform.machine().encode(),
        _cpu_id().encode(),
        _compiler_version(cc).encode(),
    ):
        key.update(part)
        key.update(b"\0")
    directory = Path(directory or cache_dir())
    so = directory / f"sgd-{key.hexdigest()[:16]}.so"
    if so.exists():
        return so
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f"{so.name}.tmp-{os.getpid()}-", dir=directory)
    os.close(fd)
    try:
        cmd = [cc, *flags, "-o", tmp, str(SOURCE), "-lm"]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        if res.returncode != 0:
            raise KernelUnavailable(f"compiling {SOURCE.name} failed ({' '.join(cmd)}):\n{res.stderr}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, so)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    log.info("built compiled SGD kernel %s (%s)", so, " ".join(flags))
    return so


def load(path: Path, precision: str = "float32") -> ctypes.CDLL:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    lib = ctypes.CDLL(str(path))
    if lib.progdistill_sgd_abi() != PRECISIONS[precision][1]:
        raise KernelUnavailable(f"{path} has the wrong ABI version (not a {precision} build)")
    p, i64 = ctypes.c_void_p, ctypes.c_int64
    lib.progdistill_sgd.argtypes = [p, p, p, p, p, p, p, i64, i64, i64, i64, i64, ctypes.c_int]
    lib.progdistill_sgd.restype = ctypes.c_int
    real = ctypes.c_double if precision == "float64" else ctypes.c_float
    lib.progdistill_sgd_hidden.argtypes = [p, p, p, p, p, real, i64, i64, i64, i64, ctypes.c_int]
    lib.progdistill_sgd_hidden.restype = ctypes.c_int
    return lib


def _library(target: str | None = None, precision: str = "float32") -> ctypes.CDLL:
    key = (target or default_target(), precision)
    with _lock:
        if key not in _libs and key not in _errors:
            try:
                _libs[key] = load(build(target=key[0], precision=precision), precision)
            except Exception as exc:  # noqa: BLE001 - any failure means "use the torch backend"
                _errors[key] = f"{type(exc).__name__}: {exc}"
                log.warning(
                    "compiled SGD kernel %s unavailable, falling back to torch (%s)", key, _errors[key]
                )
        if key not in _libs:
            raise KernelUnavailable(f"compiled SGD kernel unavailable: {_errors[key]}")
        return _libs[key]


def available(target: str | None = None, precision: str = "float32") -> bool:
    """Whether the compiled kernel builds and loads here. Cached; never raises."""
    try:
        _library(target, precision)
        return True
    except Exception:  # noqa: BLE001
        return False


def unavailable_reason(target: str | None = None, precision: str = "float32") -> str | None:
    """Why available() is False (None when it is True)."""
    if available(target, precision):
        return None
    return _errors.get((target or default_target(), precision), "unknown")


def _check(t: torch.Tensor, name: str, dtype: torch.dtype, shape: tuple[int, ...]) -> None:
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"compiled backend: {name} must be a torch.Tensor, got {type(t).__name__}")
    if t.device.type != "cpu":
        raise ValueError(f"compiled backend: {name} must be on the CPU, got {t.device}")
    if t.dtype != dtype:
        raise TypeError(f"compiled backend: {name} must be {dtype}, got {t.dtype}")
    if tuple(t.shape) != shape:
        raise ValueError(f"compiled backend: {name} must have shape {shape}, got {tuple(t.shape)}")


def _per_step_lr(lr, R: int, K: int) -> torch.Tensor:
    """The (R, K) learning rates of a chunk, one per run and step; an (R,) tensor is one LR per run, the
    same for every step."""
    lr = torch.as_tensor(lr)
    if not lr.is_floating_point():
        raise TypeError(f"compiled backend: lr must be floating point, got {lr.dtype}")
    if lr.dim() == 1:
        _check(lr, "lr", lr.dtype, (R,))
        lr = lr[:, None].expand(R, K)
    _check(lr, "lr", lr.dtype, (R, K))
    return lr


def _copy_back(err: int, orig, work) -> None:
    """After a C call on contiguous copies: fail on its allocation error, else write back the copies of
    the caller's tensors that were not contiguous (the others were updated in place)."""
    if err:
        raise MemoryError("compiled backend: could not allocate scratch memory")
    with torch.no_grad():
        for t, w in zip(orig, work, strict=True):
            if w.data_ptr() != t.data_ptr():
                t.copy_(w)


class CompiledBackend:
    """The C loop of csrc/sgd.c: same contract and results (to float rounding) as engine.TorchBackend.
    ``target``: see the module docstring (None: default_target()); ``precision`` float64 is for tests."""

    name = "compiled"

    def __init__(self, target: str | None = None, precision: str = "float32", lib: ctypes.CDLL | None = None):
        self.target = target or default_target()
        self.precision = precision
        self._lib = lib or _library(self.target, precision)  # lib: a load()ed build of other flags (tests)
        self._dtype = PRECISIONS[precision][0]

    def run_steps(self, params: MLPParams, X: torch.Tensor, Q: torch.Tensor, lr: torch.Tensor) -> None:
        W1t, b1, W2, b2 = params.tensors()
        if W1t.dim() != 3 or W2.dim() != 3:
            raise ValueError(f"compiled backend: W1t and W2 must be 3-d, got {W1t.dim()}-d and {W2.dim()}-d")
        R, n, m = W1t.shape
        C = W2.shape[1]
        if not isinstance(X, torch.Tensor) or X.dim() != 3:
            raise ValueError(f"compiled backend: X must be an (R, K, n) int8 tensor, got {X!r:.80}")
        K = X.shape[1]
        dt = self._dtype  # float32, or float64 for the double build
        for t, name, shape in (
            (W1t, "W1t", (R, n, m)),
            (b1, "b1", (R, m)),
            (W2, "W2", (R, C, m)),
            (b2, "b2", (R, C)),
        ):
            _check(t, f"params.{name}", dt, shape)
        _check(X, "X", torch.int8, (R, K, n))
        if not isinstance(Q, torch.Tensor) or not Q.is_floating_point():
            raise TypeError("compiled backend: Q must be a floating-point tensor")
        _check(Q, "Q", Q.dtype, (R, K, C))
        lr = _per_step_lr(lr, R, K)
        if R == 0 or K == 0:
            return

        orig = (W1t, b1, W2, b2)
        work = [t.detach().contiguous() for t in orig]
        Xc = X.contiguous()
        Qc = Q.detach().to(dt).contiguous()
        lrc = lr.detach().to(dt).contiguous()
        err = self._lib.progdistill_sgd(
            *(t.data_ptr() for t in work),
            Xc.data_ptr(),
            Qc.data_ptr(),
            lrc.data_ptr(),
            R,
            K,
            n,
            m,
            C,
            max(1, torch.get_num_threads()),
        )
        _copy_back(err, orig, work)

    def run_hidden_steps(
        self, params: MLPParams, X: torch.Tensor, Z: torch.Tensor, lr: torch.Tensor, scale: float
    ) -> None:
        """Curriculum extraction's first phase (engine.TorchBackend.run_hidden_steps), csrc's
        progdistill_sgd_hidden: W1t and b1 learn, W2 and b2 are not touched."""
        W1t, b1 = params.W1t, params.b1
        if W1t.dim() != 3:
            raise ValueError(f"compiled backend: W1t must be 3-d, got {W1t.dim()}-d")
        R, n, m = W1t.shape
        if not isinstance(X, torch.Tensor) or X.dim() != 3:
            raise ValueError(f"compiled backend: X must be an (R, K, n) int8 tensor, got {X!r:.80}")
        K = X.shape[1]
        dt = self._dtype
        _check(W1t, "params.W1t", dt, (R, n, m))
        _check(b1, "params.b1", dt, (R, m))
        _check(X, "X", torch.int8, (R, K, n))
        if not isinstance(Z, torch.Tensor) or not Z.is_floating_point():
            raise TypeError("compiled backend: Z must be a floating-point tensor")
        _check(Z, "Z", Z.dtype, (R, K, m))
        lr = _per_step_lr(lr, R, K)
        if R == 0 or K == 0:
            return
        orig = (W1t, b1)
        work = [t.detach().contiguous() for t in orig]
        Xc, Zc = X.contiguous(), Z.detach().to(dt).contiguous()
        lrc = lr.detach().to(dt).contiguous()
        err = self._lib.progdistill_sgd_hidden(
            work[0].data_ptr(),
            work[1].data_ptr(),
            Xc.data_ptr(),
            Zc.data_ptr(),
            lrc.data_ptr(),
            float(scale),
            R,
            K,
            n,
            m,
            max(1, torch.get_num_threads()),
        )
        _copy_back(err, orig, work)
