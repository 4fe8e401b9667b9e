"""optlab: gradient-based optimizers written once, checked against torch.optim.

    import numpy as np, optlab
    opt = optlab.Adam(lr=0.1)
    state = opt.init(x)
    x, state = opt.step(x, grad, state)   # pure: x and state are new objects
    opt.step_(x, grad, state)             # in place: the same numbers, no copies

The torch path, ``optlab.torch_optimizer(opt, model.parameters())``, imports torch on first use,
as do batched training (``optlab.train_batched``, ``optlab.grid``; see optlab.train) and its data
sets and models (``optlab.datasets``, ``optlab.models``).
"""

from .adagrad import Adagrad, adagrad_update
from .adam import (AMSGrad, Adam, Adamax, AdamW, NAdam, RAdam, adam_update, adamax_update,
                   nadam_update, radam_update)
from .base import Optimizer
from .cautious import Cautious, CautiousOptimizer, cautious_update
from .fadam import FAdam, fadam_update
from .bounded import AdaBound, AdaMod, AMSBound, adabound_update, adamod_update
from .rmsprop import RMSprop, rmsprop_update
from . import schedules
from .sgd import GD, SGD, SGDW, Momentum, Nesterov, sgd_update

__all__ = [
    "Optimizer", "SGD", "GD", "Momentum", "Nesterov", "SGDW", "Adagrad", "RMSprop", "Adam",
    "AdamW", "AMSGrad", "Adamax", "NAdam", "RAdam", "sgd_update", "adagrad_update",
    "rmsprop_update", "adam_update", "adamax_update", "nadam_update", "radam_update",
    "torch_optimizer",
    "FAdam", "fadam_update", "Cautious", "CautiousOptimizer", "cautious_update",
    "AdaBound", "AMSBound", "AdaMod", "adabound_update", "adamod_update",
]
__version__ = "0.1.0"


def torch_optimizer(opt, params, *, check_finite: bool = True, impl: str | None = None):
    """A ``torch.optim.Optimizer`` that runs `opt`'s rule in place (see optlab.torch_adapter);
    ``impl`` is "single", "foreach", "fused" or None (torch.optim's default)."""
    from .torch_adapter import torch_optimizer as make

    return make(opt, params, check_finite=check_finite, impl=impl)


_LAZY = {"train_batched": "train", "grid": "train"}  # names whose modules import torch


def __getattr__(name):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'optlab' has no attribute {name!r}")
