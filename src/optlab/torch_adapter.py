"""optlab's rules as a ``torch.optim.Optimizer``, for ordinary PyTorch training loops.

The same rule functions that the NumPy path calls run here in place on each parameter's tensor,
on the CPU or on CUDA. Hyperparameters live in ``param_groups`` under torch's names, so torch's
learning-rate schedulers drive them, and ``state_dict`` / ``load_state_dict`` come from
``torch.optim.Optimizer``. Checkpoints travel both ways: a torch.optim checkpoint of the same
algorithm loads here and continues as torch.optim would, and this optimizer's checkpoint loads
into torch.optim. This module imports torch, as do optlab.train, .models and .datasets;
`import optlab` does not.

The bookkeeping that keeps the rules the same arithmetic on both paths lives here:

- Step counts are Python ints and NAdam's μ product a Python float. torch.optim keeps them in
  0-d tensors of its default dtype (float32 unless changed) and reads them back as Python
  numbers, so the bias corrections are float64 on both sides; a torch checkpoint's tensors become
  numbers when it loads, and torch.optim turns ours back into tensors when it loads ours.
- torch.optim.SGD keeps no step count: SGD state loaded from it counts its steps from the load.
- A complex parameter is stepped as the real pairs ``torch.view_as_real`` gives, with its state
  kept complex, as torch.optim does (so Adam's second moment is |g|² per real part, not g²).
"""

from __future__ import annotations

import math
from collections import defaultdict

import torch

from . import _validate
from .base import Optimizer as _OptlabOptimizer
from .sgd import sgd_update

# state entries that optlab's rule keeps and torch.optim does not; started afresh on loading
_NOT_IN_TORCH_CHECKPOINTS = {sgd_update: ("step",)}


class OptlabTorchOptimizer(torch.optim.Optimizer):
    """A torch optimizer whose step is an optlab rule. Make one with :func:`torch_optimizer`."""

    def __init__(self, opt: _OptlabOptimizer, params, *, check_finite: bool = True):
        if not isinstance(opt, _OptlabOptimizer):
            raise TypeError(f"opt must be an optlab optimizer such as optlab.Adam(), got {opt!r}")
        _validate.floats_only(opt.hyperparameters)
        self.optlab = opt
        self.check_finite = check_finite
        super().__init__(params, dict(opt.hyperparameters))

    # -- groups and checkpoints: checked before they are taken ---------------------------------
    def add_param_group(self, param_group):
        """torch.optim's, once the group's options pass the checks the optimizer's own arguments
        pass: a group with a bad option raises and is not added."""
        if isinstance(param_group, dict):  # anything else: torch's own TypeError
            _group_optimizer(self.optlab, {**self.defaults, **param_group})
        super().add_param_group(param_group)

    def __getstate__(self):
        # torch.optim.Optimizer keeps only defaults, state and groups: copies need the rule too
        return {**super().__getstate__(), "optlab": self.optlab, "check_finite": self.check_finite}

    def __setstate__(self, state):
        """torch.optim's (``load_state_dict`` and unpickling end here), once every group's
        options and every parameter's state fit optlab's rule: a checkpoint that does not fit
        raises and changes nothing. torch's 0-d step and μ-product tensors become numbers."""
        opt = state.get("optlab") or self.optlab
        loaded, converted, index = state["state"], defaultdict(dict), 0
        for group in state["param_groups"]:
            for name, value in opt.hyperparameters.items():
                group.setdefault(name, value)  # as torch.optim's __setstate__ fills in defaults
            group_opt = _group_optimizer(opt, group)
            for p in group["params"]:
                if loaded.get(p):
                    converted[p] = _from_checkpoint(loaded[p], group_opt, p, index)
                index += 1
        for key, value in loaded.items():  # entries for no parameter: kept, as torch keeps them
            if key not in converted:
                converted[key] = value
        super().__setstate__({**state, "state": converted})

    # -- the step --------------------------------------------------------------------------------
    def _hyperparameters(self, group):
        values = {name: group[name] for name in self.optlab.hyperparameters}
        values["lr"] = float(values["lr"])  # a scheduler may store a tensor or numpy float
        return values

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        work = self._work()
        if not self.check_finite:
            for p, group, hyperparameters in work:
                self._update(p, group, hyperparameters)
            return loss
        saved = [(p, p.detach().clone(), _copy(self.state.get(p))) for p, _, _ in work]
        try:
            for p, group, hyperparameters in work:
                self._update(p, group, hyperparameters)
            error = self._non_finite([p for p, _, _ in work])
        except BaseException:
            self._restore(saved)
            raise
        if error is not None:
            self._restore(saved)
            raise error
        return loss

    def _work(self):
        """(parameter, group, hyperparameters) for each parameter that has a gradient."""
        work = []
        for group in self.param_groups:
            hyperparameters = self._hyperparameters(group)
            for p in group["params"]:
                if p.grad is not None:
                    if p.grad.is_sparse:
                        raise RuntimeError("optlab's torch path does not take sparse gradients")
                    work.append((p, group, hyperparameters))
        return work

    def _update(self, p, group, hyperparameters):
        state, rule = self.state[p], type(self.optlab).rule
        if not state:
            # a group may override options that shape the state (amsgrad, centered, ...)
            fresh = _group_optimizer(self.optlab, group).init_leaf(_real(p.detach()))
            state.update(_like(p, fresh))
        if p.is_complex():
            leaf = {key: _real(value) for key, value in state.items()}
            rule(torch.view_as_real(p), torch.view_as_real(p.grad), leaf, **hyperparameters)
            state.update(_like(p, leaf))
        else:
            rule(p, p.grad, state, **hyperparameters)

    def _non_finite(self, params):
        """The error for the first gradient, or else the first new parameter or state, that holds
        NaN or inf; None when all are finite.

        A tensor's minimum or maximum is NaN or inf exactly when one of its entries is; neither
        can overflow (a sum can) or needs a wider dtype (float64 is absent on MPS). They are
        stacked per device, so a step reads one boolean back per device.
        """
        checks = [(True, p, _extremes(p.grad)) for p in params]  # (is the gradient, p, extremes)
        for p in params:
            state = self.state[p].values()
            checks += [(False, p, _extremes(t)) for t in (p, *state) if torch.is_tensor(t)]
            checks += [(False, p, p.new_full((2,), math.nan)) for v in state
                       if isinstance(v, float) and not math.isfinite(v)]  # NAdam's μ product
        finite = _all_finite([extremes for _, _, extremes in checks])
        if finite is None:
            return None
        gradient, p, _ = next(check for check, ok in zip(checks, finite) if not ok)
        index = next(i for i, q in enumerate(q for g in self.param_groups for q in g["params"])
                     if q is p)
        where = f"parameter {index} (shape {tuple(p.shape)})"
        if gradient:
            return _validate.non_finite_gradient(where, int((~torch.isfinite(p.grad)).sum()))
        return _validate.non_finite_step(type(self.optlab).__name__, where)

    def _restore(self, saved):
        for p, value, state in saved:
            p.copy_(value)
            if state is None:
                self.state.pop(p, None)
            else:
                self.state[p].clear()
                self.state[p].update(state)


def _group_optimizer(opt: _OptlabOptimizer, group: dict) -> _OptlabOptimizer:
    """`opt` with `group`'s options, checked as the constructor checks them (bad ones raise)."""
    group_opt = opt.replace(**{name: group[name] for name in opt._public_hyperparameters()})
    _validate.floats_only(group_opt.hyperparameters)
    return group_opt


def _from_checkpoint(saved: dict, opt: _OptlabOptimizer, p, index: int) -> dict:
    """A parameter's loaded state in the form `opt`'s rule takes, or ValueError if it lacks an
    entry the rule needs or holds one of another shape."""
    fresh = opt.init_leaf(torch.zeros(()))  # the entries and their kinds, not their values
    state = dict(saved)
    for key in _NOT_IN_TORCH_CHECKPOINTS.get(type(opt).rule, ()):
        state.setdefault(key, fresh[key])
    missing = sorted(set(fresh) - set(state))
    if missing:
        raise ValueError(
            f"the checkpoint's state for parameter {index} lacks {missing}, which {opt!r} needs "
            "(was it saved by another algorithm, or with other options?)"
        )
    for key, kind in fresh.items():
        value = state[key]
        if isinstance(kind, (int, float)):  # a 0-d tensor, or a number of another type
            state[key] = type(kind)(value.item() if torch.is_tensor(value) else value)
        elif torch.is_tensor(kind) and torch.is_tensor(value) and value.shape != p.shape:
            raise ValueError(
                f"the checkpoint's {key} for parameter {index} has shape {tuple(value.shape)} but "
                f"the parameter has shape {tuple(p.shape)}"
            )
    return state


def _real(x):
    """A complex tensor as its real pairs (a view, shape (..., 2)); anything else as it is."""
    return torch.view_as_real(x) if torch.is_tensor(x) and x.is_complex() else x


def _like(p, state: dict) -> dict:
    """`state` (computed on real pairs) with its tensors viewed as complex where `p` is."""
    if not p.is_complex():
        return state
    return {k: torch.view_as_complex(v) if torch.is_tensor(v) else v for k, v in state.items()}


def _copy(state):
    return None if state is None else {k: v.clone() if torch.is_tensor(v) else v
                                       for k, v in state.items()}


def _extremes(x):
    """(min x, max x) as a 2-vector: NaN or inf exactly when an entry of x is (0 for an empty x).
    Unlike a sum it cannot overflow, and unlike max |x| it needs no temporary |x|."""
    x = _real(x)
    return torch.stack(torch.aminmax(x)) if x.numel() else x.new_zeros(2)


def _all_finite(values):
    """None when every tensor in `values` is finite (one host read per device), else a list of
    bools, one per tensor."""
    by_device = defaultdict(list)
    for value in values:
        by_device[value.device].append(value)
    if all(bool(torch.isfinite(torch.stack(group)).all()) for group in by_device.values()):
        return None
    return [bool(torch.isfinite(value).all()) for value in values]


def torch_optimizer(opt: _OptlabOptimizer, params, *, check_finite: bool = True):
    """``torch.optim.Optimizer`` running `opt`'s rule on `params` (tensors or param-group dicts).

    ``check_finite`` (the default) means what it means on the NumPy path: a NaN or infinite
    gradient, or a step that makes a parameter or its state NaN or infinite, raises
    FloatingPointError naming the parameter, and parameters and state are left as they were.
    For that the step keeps a copy of each parameter and its state until the check has passed
    and reads one boolean back per device. Pass False for torch.optim's behaviour and speed
    (no check, no copy).
    """
    return OptlabTorchOptimizer(opt, params, check_finite=check_finite)
