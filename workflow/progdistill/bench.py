"""`make bench`: the autograd reference and every engine backend side by side, in one process; then whole
workflow jobs of the default's shapes, as Snakemake runs them (progdistill.jobbench: results/bench/jobs.json).

Writes results/bench/engine.json (a list of records: impl, width, runs, threads, model_steps_per_s,
speedup_vs_reference) and prints it as a table. ``compiled-portable`` is the kernel built for
``kernel_target: portable``, timed beside the native build. A model-step is one SGD step of one run, so
R runs for K steps are R*K model-steps. Speed-ups are relative to the reference measured in the same
process at the same width and thread count: ratios, not absolute timings, are what this noisy machine can
support.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch

from .engine import available_backends, get_backend
from .io import atomic_path
from .model import init_params
from .reference import mlp_from_params, train_reference
from .streams import sample_inputs
from .tasks import SparseParity
from .training import teacher_logits

DEVICE = torch.device("cpu")  # --device; CUDA work is asynchronous, so timings synchronise on it


def _sync() -> None:
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


def _best_of(fn, repeats: int) -> float:
    """Shortest of several timings: the least disturbed by other load on a shared machine."""
    best = float("inf")
    for _ in range(repeats):
        _sync()
        t0 = time.perf_counter()
        fn()
        _sync()
        best = min(best, time.perf_counter() - t0)
    return best


def bench_reference(n: int, width: int, steps: int, repeats: int) -> float:
    task = SparseParity(n=n, support=tuple(range(5)))
    x = sample_inputs(1, 0, steps, n)
    xs, ys = torch.from_numpy(x).float().to(DEVICE), torch.from_numpy(task.labels(x)).to(DEVICE)
    params = init_params(n, width, 2, [0], device=DEVICE)

    def run():
        train_reference(mlp_from_params(params, 0), xs, ys, lr=0.01)

    return steps / _best_of(run, repeats)


def bench_backend(name: str, n: int, width: int, runs: int, steps: int, repeats: int) -> float:
    task = SparseParity(n=n, support=tuple(range(5)))
    x = sample_inputs(1, 0, steps, n)
    X = torch.from_numpy(x)[None].expand(runs, -1, -1).contiguous()
    Q = torch.nn.functional.one_hot(torch.from_numpy(task.labels(x)), 2).float()[None]
    Q = Q.expand(runs, -1, -1).contiguous()
    lr = torch.full((runs,), 0.01)
    if name == "compiled-portable":  # the kernel_target: portable build, side by side with native
        backend = get_backend("compiled", DEVICE, kernel_target="portable")
    else:
        backend = get_backend(name, DEVICE, kernel_target="native" if name == "compiled" else None)
    params = init_params(n, width, 2, list(range(runs)), device=DEVICE)
    X, Q = X.to(DEVICE), Q.to(DEVICE)  # on the device already, as the training driver's chunks would be
    backend.run_steps(params, X[:, :10].contiguous(), Q[:, :10].contiguous(), lr)  # warm-up (build, caches)
    return runs * steps / _best_of(lambda: backend.run_steps(params, X, Q, lr), repeats)


def bench_teacher_targets(n: int, width: int, samples: int, repeats: int) -> tuple[float, float]:
    """Samples/s of teacher logits: one sample at a time vs blocked batched forward."""
    x = sample_inputs(2, 0, samples, n)
    teacher = init_params(n, width, 2, [0], device=DEVICE)
    model = mlp_from_params(teacher, 0)
    xf = torch.from_numpy(x).float().to(DEVICE)

    def one_at_a_time():
        with torch.no_grad():
            for i in range(min(samples, 2000)):
                model(xf[i : i + 1])

    single = min(samples, 2000) / _best_of(one_at_a_time, repeats)
    blocked = samples / _best_of(lambda: teacher_logits(teacher, x), repeats)
    return single, blocked


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="results/bench/engine.json")
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--widths", type=int, nargs="+", default=[100, 1000, 50000])
    ap.add_argument("--runs", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="fewer steps (for tests)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]: every backend available there")
    ap.add_argument("--no-jobs", action="store_true", help="skip the job section (progdistill.jobbench)")
    ap.add_argument("--jobs-only", action="store_true", help="only the job section")
    ap.add_argument("--jobs-out", default="results/bench/jobs.json")
    ap.add_argument(
        "--e2e",
        action="store_true",
        help="also time the default configuration end to end (snakemake --cores 2, minutes)",
    )
    args = ap.parse_args(argv)
    if not args.jobs_only:
        engine_section(args)
    if not args.no_jobs and torch.device(args.device).type == "cpu":
        from . import jobbench

        t0 = time.perf_counter()
        print("\nWhole jobs of the default's shapes (snakemake, one job at a time):\n", flush=True)
        jobbench.main(["--out", args.jobs_out, *(["--quick"] if args.quick else [])])
        print(f"job section: {time.perf_counter() - t0:.0f} s")


def engine_section(args) -> None:
    scale = 0.1 if args.quick else 1.0
    global DEVICE
    DEVICE = torch.device(args.device)
    backends = available_backends(DEVICE, "native")
    if "compiled" in backends and available_backends(DEVICE, "portable")[0] == "compiled":
        backends.insert(1, "compiled-portable")
    records = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        for width in args.widths:
            ref_steps = max(20, int(scale * 2e5 / max(width, 100)) if width > 1000 else int(scale * 800))
            ref = bench_reference(args.n, width, ref_steps, args.repeats)
            records.append(
                dict(
                    impl="reference",
                    width=width,
                    runs=1,
                    threads=threads,
                    model_steps_per_s=ref,
                    speedup_vs_reference=1.0,
                )
            )
            for name in backends:
                for runs in args.runs:
                    budget = (
                        4e6 if name.startswith("compiled") else 4e5
                    )  # model-steps per timing: ~0.2-2 s each
                    steps = max(10, int(scale * budget / (runs * max(width, 100) / 100)))
                    rate = bench_backend(name, args.n, width, runs, steps, args.repeats)
                    records.append(
                        dict(
                            impl=name,
                            width=width,
                            runs=runs,
                            threads=threads,
                            model_steps_per_s=rate,
                            speedup_vs_reference=rate / ref,
                        )
                    )
        single, blocked = bench_teacher_targets(args.n, 2000, int(scale * 50000) or 1000, args.repeats)
        records.append(
            dict(
                impl="teacher_targets_one_at_a_time",
                width=2000,
                runs=1,
                threads=threads,
                model_steps_per_s=single,
                speedup_vs_reference=1.0,
            )
        )
        records.append(
            dict(
                impl="teacher_targets_blocked",
                width=2000,
                runs=1,
                threads=threads,
                model_steps_per_s=blocked,
                speedup_vs_reference=blocked / single,
            )
        )
    if args.e2e:
        records.append(
            dict(
                impl="end_to_end_default_config",
                width=0,
                runs=0,
                threads=1,
                model_steps_per_s=float("nan"),
                speedup_vs_reference=float("nan"),
                seconds=time_default_config(),
            )
        )
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with atomic_path(args.out) as tmp, open(tmp, "w") as fh:
        json.dump(records, fh, indent=1)
    print(format_table(records))
    print(f"\nwritten to {args.out}")


def time_default_config() -> float:
    """Wall time of the whole default workflow in a fresh directory (kernel already built)."""
    import subprocess
    import sys
    import tempfile

    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    snakemake = os.path.join(os.path.dirname(sys.executable), "snakemake")
    with tempfile.TemporaryDirectory() as wd:
        t0 = time.perf_counter()
        subprocess.run(
            [
                snakemake,
                "-s",
                os.path.join(root, "Snakefile"),
                "-d",
                wd,
                "--configfile",
                os.path.join(root, "config.yaml"),
                "--cores",
                "2",
                "-q",
            ],
            check=True,
        )
        return time.perf_counter() - t0


def format_table(records) -> str:
    lines = [
        "| impl | width | runs | threads | model-steps/s | speed-up vs reference |",
        "|---|---|---|---|---|---|",
    ]
    for r in records:
        if "seconds" in r:
            lines.append(f"| {r['impl']} | | | | {r['seconds']:.0f} s | |")
            continue
        lines.append(
            f"| {r['impl']} | {r['width']} | {r['runs']} | {r['threads']} | "
            f"{r['model_steps_per_s']:,.0f} | {r['speedup_vs_reference']:.1f}x |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
