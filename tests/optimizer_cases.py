"""The table of optimizers and options that the conformance tests run, in the spirit of
torch's OptimizerInfo: each row names an optlab constructor, the torch.optim class it must match,
and the keyword arguments both take."""

import torch

import optlab

TORCH = {
    "SGD": torch.optim.SGD, "Adagrad": torch.optim.Adagrad, "RMSprop": torch.optim.RMSprop,
    "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW, "Adamax": torch.optim.Adamax,
    "NAdam": torch.optim.NAdam, "RAdam": torch.optim.RAdam,
}

OPTIONS = {
    "SGD": [
        dict(lr=0.05), dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, dampening=0.5),
        dict(lr=0.05, momentum=0.9, nesterov=True), dict(lr=0.05, weight_decay=0.1),
        dict(lr=0.05, maximize=True),
        dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.05, maximize=True),
    ],
    "Adagrad": [
        dict(), dict(lr=0.1, lr_decay=0.01), dict(weight_decay=0.1),
        dict(initial_accumulator_value=0.5), dict(maximize=True), dict(eps=1e-3),
    ],
    "RMSprop": [
        dict(), dict(centered=True), dict(momentum=0.9), dict(centered=True, momentum=0.5),
        dict(weight_decay=0.1), dict(maximize=True), dict(alpha=0.9, eps=1e-4),
    ],
    "Adam": [
        dict(), dict(lr=0.01, amsgrad=True), dict(weight_decay=0.1),
        dict(weight_decay=0.1, decoupled_weight_decay=True), dict(maximize=True),
        dict(lr=0.01, amsgrad=True, weight_decay=0.05, maximize=True), dict(betas=(0.5, 0.9)),
    ],
    "AdamW": [dict(), dict(amsgrad=True), dict(lr=0.01, weight_decay=0.1), dict(maximize=True)],
    "Adamax": [dict(), dict(weight_decay=0.1), dict(maximize=True), dict(betas=(0.5, 0.8))],
    "NAdam": [
        dict(), dict(weight_decay=0.1), dict(weight_decay=0.1, decoupled_weight_decay=True),
        dict(maximize=True), dict(momentum_decay=0.01),
    ],
    "RAdam": [
        dict(), dict(weight_decay=0.1), dict(weight_decay=0.1, decoupled_weight_decay=True),
        dict(maximize=True), dict(betas=(0.8, 0.99)),
    ],
}

CASES = [(name, kwargs) for name, rows in OPTIONS.items() for kwargs in rows]


def case_id(case):
    name, kwargs = case
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items())


def make(name, **kwargs):
    return getattr(optlab, name)(**kwargs)
