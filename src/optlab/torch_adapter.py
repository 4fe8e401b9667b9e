"""optlab's rules as a ``torch.optim.Optimizer``, for ordinary PyTorch training loops.

The same rule functions that the NumPy path calls run here in place on each parameter's tensor,
on the CPU or on CUDA. Hyperparameters live in ``param_groups`` under torch's names, so torch's
learning-rate schedulers drive them, and ``state_dict`` / ``load_state_dict`` come from
``torch.optim.Optimizer`` unchanged. This module imports torch; nothing else in optlab does.
"""

from __future__ import annotations

import torch

from .base import Optimizer as _OptlabOptimizer


class OptlabTorchOptimizer(torch.optim.Optimizer):
    """A torch optimizer whose step is an optlab rule. Make one with :func:`torch_optimizer`."""

    def __init__(self, opt: _OptlabOptimizer, params, *, check_finite: bool = True):
        if not isinstance(opt, _OptlabOptimizer):
            raise TypeError(f"opt must be an optlab optimizer such as optlab.Adam(), got {opt!r}")
        self.optlab = opt
        self.check_finite = check_finite
        defaults = {}
        for name, value in opt.hyperparameters.items():
            if any(not isinstance(v, (bool, float)) for v in (value if isinstance(value, tuple) else (value,))):
                raise TypeError(
                    f"the torch path takes float hyperparameters; {name} is an array (array "
                    "sweeps run on the NumPy path)"
                )
            defaults[name] = value
        super().__init__(params, defaults)

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        # per-group overrides are validated by the same checks as the optimizer's own arguments
        self.optlab.replace(**self._public(self.param_groups[-1]))

    def _public(self, group):
        return {name: group[name] for name in self.optlab._public_hyperparameters()}

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
        rule = type(self.optlab).rule
        work = []
        for group in self.param_groups:
            hyperparameters = self._hyperparameters(group)
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError("optlab's torch path does not take sparse gradients")
                work.append((p, group, hyperparameters))
        if self.check_finite:
            self._check_gradients_finite([p for p, _, _ in work])
        for p, group, hyperparameters in work:
            state = self.state[p]
            if not state:
                # a group may override options that shape the state (amsgrad, centered, ...)
                state.update(self.optlab.replace(**self._public(group)).init_leaf(p.detach()))
            rule(p, p.grad, state, **hyperparameters)
        return loss

    def _check_gradients_finite(self, params):
        """Raise before anything moves if a gradient holds NaN or inf.

        A sum is NaN or infinite whenever one of its terms is, and costs one read of each
        gradient with no temporary the size of the parameter; stacking the sums per device makes
        a CUDA run synchronise once per step. Only a suspicious sum (which can also be a finite
        overflow) triggers the exact, element-wise search for the culprit.
        """
        sums = {}
        for p in params:
            sums.setdefault(p.grad.device, []).append(p.grad.sum().to(torch.float64))
        if all(bool(torch.isfinite(torch.stack(s)).all()) for s in sums.values()):
            return
        for p in params:
            if not bool(torch.isfinite(p.grad).all()):
                index = next(i for i, q in enumerate(self._all_params()) if q is p)
                raise FloatingPointError(
                    f"the gradient of parameter {index} (shape {tuple(p.shape)}) has NaN or "
                    "infinite entries; parameters and state are left as they were"
                )

    def _all_params(self):
        return [p for group in self.param_groups for p in group["params"]]


def torch_optimizer(opt: _OptlabOptimizer, params, *, check_finite: bool = True):
    """``torch.optim.Optimizer`` running `opt`'s rule on `params` (tensors or param-group dicts).

    With ``check_finite`` (the default) a NaN or infinite gradient raises FloatingPointError
    before any parameter moves; pass False to skip that check (it costs one pass over each
    gradient and, on CUDA, one synchronisation per parameter).
    """
    return OptlabTorchOptimizer(opt, params, check_finite=check_finite)
