"""The plain reference: nn.Module + autograd + torch.optim.SGD, one sample per step, one run at a time.

It is deliberately naive (the paper's authors' style); the tests check every fast path against it and
``make bench`` measures speed-ups relative to it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .model import MLPParams


class MLP(nn.Module):
    def __init__(self, n: int, width: int, num_classes: int):
        super().__init__()
        self.fc1 = nn.Linear(n, width)
        self.fc2 = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(torch.relu(self.fc1(x)))


def mlp_from_params(params: MLPParams, run: int) -> MLP:
    model = MLP(params.n, params.width, params.num_classes).to(params.W1t.device, params.W1t.dtype)
    with torch.no_grad():
        model.fc1.weight.copy_(params.W1t[run].t())
        model.fc1.bias.copy_(params.b1[run])
        model.fc2.weight.copy_(params.W2[run])
        model.fc2.bias.copy_(params.b2[run])
    return model


def eq1_loss(logits, y, teacher_logits, alpha: float, temperature: float) -> torch.Tensor:
    """Eq. (1): alpha * CE(softmax(s), y) + (1 - alpha) * CE(softmax(s), softmax(f_T / tau))."""
    loss = torch.zeros((), dtype=logits.dtype, device=logits.device)
    if alpha > 0:
        loss = loss + alpha * F.cross_entropy(logits, y)
    if alpha < 1:
        q = torch.softmax(teacher_logits.double() / temperature, dim=-1).to(logits.dtype)
        loss = loss + (1 - alpha) * -(q * torch.log_softmax(logits, dim=-1)).sum(-1).mean()
    return loss


def train_reference(
    model: MLP,
    xs,
    ys,
    lr: float,
    alpha: float = 1.0,
    teacher_logits=None,
    temperature: float = 1.0,
    lr_lambda=None,
) -> MLP:
    """Online SGD, batch size 1: xs (K, n) float, ys (K,) int64, teacher_logits (K, C) or None.
    ``lr_lambda``: an LR schedule, step t -> multiplier of ``lr`` (torch.optim.lr_scheduler.LambdaLR)."""
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda) if lr_lambda is not None else None
    for t in range(len(xs)):
        opt.zero_grad()
        logits = model(xs[t : t + 1])
        tl = None if teacher_logits is None else teacher_logits[t : t + 1]
        loss = eq1_loss(logits, ys[t : t + 1], tl, alpha, temperature)
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
    return model


def train_hidden_reference(model: MLP, xs, zs, lr: float, scale: float, lr_lambda=None) -> MLP:
    """Curriculum extraction's first phase, online SGD with batch size 1 on the first layer only: the loss
    scale / 2 * ||relu(fc1(x)) - z||^2, xs (K, n) float, zs (K, width)."""
    opt = torch.optim.SGD(model.fc1.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda) if lr_lambda is not None else None
    for t in range(len(xs)):
        opt.zero_grad()
        h = torch.relu(model.fc1(xs[t : t + 1]))
        loss = 0.5 * scale * ((h - zs[t : t + 1]) ** 2).sum()
        loss.backward()
        opt.step()
        if sched is not None:
            sched.step()
    return model
