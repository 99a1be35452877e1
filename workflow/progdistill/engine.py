"""Online-SGD inner loops: K batch-size-1 steps for R stacked runs.

Every backend implements ``run_steps(params, X, Q, lr)`` and updates ``params`` in place:
  X  (R, K, n) int8 in {-1, +1}   the sample each run sees at each step
  Q  (R, K, C) float32            target distribution: alpha * onehot(y) + (1 - alpha) * softmax(f_T / tau)
  lr (R,) or (R, K) float32       per-run learning rate, or per run and step (an LR schedule)
The loss of Eq. (1), alpha * CE(s, y) + (1 - alpha) * CE(softmax(s), softmax(f_T / tau)), has gradient
softmax(s) - Q with respect to the student logits s, so one soft target covers CE, distillation and mixes.
Callers never see which backend runs; a compiled kernel replaces the torch loop without touching them.

``run_hidden_steps(params, X, Z, lr, scale)`` is the first phase of curriculum extraction: K steps of the
squared loss scale / 2 * ||relu(W1 x + b1) - Z[t]||^2 between the hidden layer and a target Z (R, K, m)
float32; only W1 and b1 learn, d = scale * (relu(pre) - Z[t]) * (pre > 0), W1 -= lr d x^T, b1 -= lr d.
"""

from __future__ import annotations

import logging
import os
import platform

import torch

from .model import MLPParams

log = logging.getLogger(__name__)


class TorchBackend:
    """Batched torch loop: one step of all R runs per iteration. Runs on CPU and CUDA alike."""

    name = "torch"

    def run_steps(self, params: MLPParams, X: torch.Tensor, Q: torch.Tensor, lr: torch.Tensor) -> None:
        W1t, b1, W2, b2 = params.tensors()
        dev = W1t.device
        Xf = X.to(device=dev, dtype=W1t.dtype)
        Q = Q.to(dev)
        neg_lr = -lr.to(device=dev, dtype=W1t.dtype)
        per_step = neg_lr.dim() == 2
        if per_step and tuple(neg_lr.shape) != (X.shape[0], X.shape[1]):
            raise ValueError(f"torch backend: lr must have shape (R,) or (R, K), got {tuple(lr.shape)}")
        neg_lr_col = neg_lr[:, None]
        neg_lr_3 = neg_lr[:, None, None]
        with torch.no_grad():
            for t in range(Xf.shape[1]):
                if per_step:
                    neg_lr_col = neg_lr[:, t, None]
                    neg_lr_3 = neg_lr[:, t, None, None]
                x = Xf[:, t]  # (R, n)
                pre = torch.baddbmm(b1[:, None, :], x[:, None, :], W1t)[:, 0]  # (R, m)
                h = torch.relu(pre)
                logits = torch.baddbmm(b2[:, :, None], W2, h[:, :, None])[:, :, 0]  # (R, C)
                g = torch.softmax(logits, dim=1) - Q[:, t]  # dL/dlogits
                # Backprop through W2 before W2 is updated (the reference computes all grads first).
                dh = torch.bmm(g[:, None, :], W2)[:, 0] * (pre > 0)  # (R, m)
                W2.baddbmm_(g[:, :, None] * neg_lr_3, h[:, None, :])
                b2.add_(g * neg_lr_col)
                W1t.baddbmm_((x * neg_lr_col)[:, :, None], dh[:, None, :])
                b1.add_(dh * neg_lr_col)

    def run_hidden_steps(
        self, params: MLPParams, X: torch.Tensor, Z: torch.Tensor, lr: torch.Tensor, scale: float
    ) -> None:
        W1t, b1 = params.W1t, params.b1
        dev = W1t.device
        Xf = X.to(device=dev, dtype=W1t.dtype)
        Z = Z.to(device=dev, dtype=W1t.dtype)
        neg_lr = -lr.to(device=dev, dtype=W1t.dtype)
        per_step = neg_lr.dim() == 2
        if per_step and tuple(neg_lr.shape) != (X.shape[0], X.shape[1]):
            raise ValueError(f"torch backend: lr must have shape (R,) or (R, K), got {tuple(lr.shape)}")
        neg_lr_col = neg_lr[:, None]
        with torch.no_grad():
            for t in range(Xf.shape[1]):
                if per_step:
                    neg_lr_col = neg_lr[:, t, None]
                x = Xf[:, t]
                pre = torch.baddbmm(b1[:, None, :], x[:, None, :], W1t)[:, 0]  # (R, m)
                d = (scale * (torch.relu(pre) - Z[:, t])) * (pre > 0)
                b1.add_(d * neg_lr_col)
                W1t.baddbmm_((x * neg_lr_col)[:, :, None], d[:, None, :])


_BACKENDS: dict[str, type] = {"torch": TorchBackend}


def available_backends(device: torch.device, kernel_target: str | None = None) -> list[str]:
    names = ["torch"]
    if device.type == "cpu":
        from . import kernel  # local import: building is lazy and may fail without a compiler

        if kernel.available(kernel_target):
            names.insert(0, "compiled")
    return names


def get_backend(name: str, device: torch.device, kernel_target: str | None = None):
    """'auto' picks the compiled CPU kernel when it builds, else the batched torch loop (and on CUDA).
    ``kernel_target``: the compiled kernel's build target ('native' or 'portable'; None: the default)."""
    if name == "auto":
        name = available_backends(device, kernel_target)[0]
    if name == "compiled":
        if device.type != "cpu":
            raise ValueError(f"engine.backend: 'compiled' runs on CPU only, but device is {device}")
        from . import kernel

        return kernel.CompiledBackend(kernel_target)
    if name not in _BACKENDS:
        raise ValueError(f"engine.backend: unknown backend {name!r}; valid: 'auto', 'torch', 'compiled'")
    return _BACKENDS[name]()


def resolve_device(name: str) -> torch.device:
    """'auto' -> a CUDA device when a GPU really works, else the CPU. 'cuda' without a working GPU is an
    error, raised here, in the job, so a DAG built on a GPU-less node can still send jobs to GPU nodes.
    'auto' and 'cuda' take a free device of the machine (progdistill.gpus); 'cuda:N' uses device N."""
    if name == "auto":
        if torch.cuda.is_available():
            try:
                torch.zeros(1, device="cuda")
                return _gpu_slot()
            except RuntimeError as exc:  # e.g. a scheduler's fake GPU: CUDA_VISIBLE_DEVICES but no driver
                log.warning("CUDA reported available but unusable (%s); falling back to CPU", exc)
        log.info("device auto: no usable CUDA device, running on CPU")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        raise RuntimeError(
            f"device: {name!r} was requested but this node ({platform.node()}) has no usable CUDA device "
            f"(CUDA_VISIBLE_DEVICES={visible!r}, torch {torch.__version__}, CUDA build: "
            f"{torch.version.cuda or 'none'}); run this job on a GPU node, or use device 'auto' or 'cpu'"
        )
    if name == "cuda":
        return _gpu_slot()
    if name != "cpu" and not name.startswith("cuda:"):
        raise ValueError(f"device: unknown device {name!r}; valid: 'auto', 'cpu', 'cuda', 'cuda:N'")
    return torch.device(name)


def _gpu_slot() -> torch.device:
    from .gpus import acquire

    return torch.device("cuda", acquire(torch.cuda.device_count()))
