"""The table of optimizers and options that the shared tests run, in the spirit of torch's
OptimizerInfo: each row names an optlab constructor, the keyword arguments it takes and, where
one exists, the torch-style reference it must match (``TORCH``: torch.optim's class, or the
authors' package for AdaBound and AdaMod). The contract and sweep tests run every row
(``CASES``); the tests against the reference run the rows that have one (``TORCH_CASES``)."""

import adabound
import adamod
import numpy as np
import pytest
import torch

import optlab

TORCH = {
    "SGD": torch.optim.SGD, "Adagrad": torch.optim.Adagrad, "RMSprop": torch.optim.RMSprop,
    "Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW, "Adamax": torch.optim.Adamax,
    "NAdam": torch.optim.NAdam, "RAdam": torch.optim.RAdam,
    # the authors' packages (adabound 0.0.5, adamod 0.0.3): torch.optim-like, without foreach
    "AdaBound": lambda params, foreach=None, **kw: adabound.AdaBound(params, **kw),
    "AdaMod": lambda params, foreach=None, **kw: adamod.AdaMod(params, **kw),
}

# references that step only real tensors: the packages raise "minimum/clamp not implemented for
# complex tensors". torch.optim steps a complex parameter as its torch.view_as_real pairs, so
# these are compared on those pairs (see test_torch_edges).
REAL_ONLY = {"AdaBound", "AdaMod"}

# the packages call torch's deprecated add_(Number, Tensor) overloads: a module that steps them
# sets ``pytestmark = PACKAGE_WARNINGS``
PACKAGE_WARNINGS = pytest.mark.filterwarnings("ignore:This overload of:UserWarning")

# optimizers that are not an attribute of optlab: the classes optlab.Cautious makes
CONSTRUCTORS = {
    "CautiousAdamW": type(optlab.Cautious(optlab.AdamW())),
    "CautiousSGD": type(optlab.Cautious(optlab.SGD(lr=0.1))),
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
    "AdaBound": [
        dict(), dict(lr=0.01, amsbound=True), dict(weight_decay=0.1),
        dict(gamma=0.1, final_lr=0.01), dict(lr=0.1, amsbound=True, weight_decay=0.05),
    ],
    "AdaMod": [dict(), dict(weight_decay=0.1), dict(beta3=0.9), dict(lr=0.01, betas=(0.5, 0.9))],
    "FAdam": [
        dict(), dict(lr=0.01, clip=0.5), dict(weight_decay=0.0), dict(p=0.25, eps=1e-3),
        dict(maximize=True),
    ],
    "CautiousAdamW": [dict(), dict(rescale="mean"), dict(lr=0.01, weight_decay=0.1, amsgrad=True)],
    "CautiousSGD": [
        dict(lr=0.05, momentum=0.9), dict(lr=0.05, momentum=0.9, nesterov=True, rescale="none"),
        dict(lr=0.05, weight_decay=0.1, maximize=True),
    ],
}

CASES = [(name, kwargs) for name, rows in OPTIONS.items() for kwargs in rows]
TORCH_CASES = [(name, kwargs) for name, kwargs in CASES if name in TORCH]


def case_id(case):
    name, kwargs = case
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items())


def make(name, **kwargs):
    constructor = CONSTRUCTORS.get(name) or getattr(optlab, name)
    return constructor(**kwargs)


@pytest.fixture
def float64_torch():
    """torch's default dtype float64 for the test, the previous one restored after (torch keeps
    some scalars, NAdam's μ product among them, in the default dtype)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def assert_sweep_rows_equal_single_runs(sweep, singles, x0, grad, steps):
    """`sweep`, an optimizer with array hyperparameters (one row per setting), run on a batch of
    copies of `x0`, equals the optimizers `singles` (one per row) each run alone on `x0`, bit for
    bit after `steps` steps of the gradient function `grad`."""
    x = np.tile(x0, (len(singles), 1))
    state = sweep.init(x)
    for _ in range(steps):
        x, state = sweep.step(x, grad(x), state)
    for row, single in enumerate(singles):
        y = x0.copy()
        single_state = single.init(y)
        for _ in range(steps):
            y, single_state = single.step(y, grad(y), single_state)
        np.testing.assert_array_equal(x[row], y, err_msg=f"row {row}: {single!r}")
