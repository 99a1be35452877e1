"""Shared test helpers: run the engine and the autograd reference on the same samples."""

import numpy as np
import torch
from progdistill import reference
from progdistill.model import init_params
from progdistill.streams import sample_inputs
from progdistill.tasks import SparseParity


def same_samples(n=20, d=3, steps=1000, seed=7, num_classes=2):
    task = SparseParity(n=n, support=tuple(range(d)))
    x = sample_inputs(seed, 0, steps, n)
    y = task.labels(x) if num_classes == 2 else np.random.default_rng(seed).integers(0, num_classes, steps)
    return task, x, y


def reference_params(params, run, x, y, lr, alpha, teacher_logits, temperature):
    model = reference.mlp_from_params(params, run)
    reference.train_reference(
        model, torch.from_numpy(x).float(), torch.from_numpy(y), lr, alpha, teacher_logits, temperature
    )
    return (
        model.fc1.weight.detach().t(),
        model.fc1.bias.detach(),
        model.fc2.weight.detach(),
        model.fc2.bias.detach(),
    )


def engine_targets(y, teacher_logits, alpha, temperature, num_classes):
    onehot = torch.nn.functional.one_hot(torch.from_numpy(y), num_classes).float()
    if teacher_logits is None:
        return onehot
    soft = torch.softmax(teacher_logits.double() / temperature, -1).float()
    return alpha * onehot + (1 - alpha) * soft


def fresh(n, m, C, runs):
    return init_params(n, m, C, list(range(runs)))
