r"""Gradient descent, heavy-ball momentum and Nesterov momentum: one rule, three presets.

References: Polyak (1964) for the heavy ball; Nesterov (1983) and Sutskever et al. (2013) for the
look-ahead form; the update order is torch.optim.SGD's (PyTorch 2.13, single-tensor path).
"""

from __future__ import annotations

import numpy as np

from . import _ops, _validate
from ._ops import add_, clone, is_active, scale_, where
from .base import Optimizer


def sgd_update(param, grad, state, *, lr, momentum, dampening, weight_decay, nesterov, maximize):
    r"""One SGD step, in place on ``param`` and ``state``.

    .. math::
       \begin{aligned}
       &\textbf{input}: \gamma \text{ (lr)},\ \mu \text{ (momentum)},\ \tau \text{ (dampening)},
            \ \lambda \text{ (weight decay)},\ \textit{nesterov},\ \textit{maximize} \\
       &g_t \leftarrow -g_t \quad \text{if maximize} \\
       &g_t \leftarrow g_t + \lambda \theta_{t-1} \quad \text{if } \lambda \neq 0 \\
       &\text{if } \mu \neq 0: \\
       &\qquad b_t \leftarrow g_t \text{ if } t = 1 \text{ else } \mu b_{t-1} + (1-\tau) g_t \\
       &\qquad g_t \leftarrow g_t + \mu b_t \text{ if nesterov else } b_t \\
       &\theta_t \leftarrow \theta_{t-1} - \gamma g_t
       \end{aligned}
    """
    g = -grad if maximize else grad
    if is_active(weight_decay):
        g = g + weight_decay * param
    if is_active(momentum):
        b = state["momentum_buffer"]
        if b is None:
            b = state["momentum_buffer"] = clone(g)
        else:
            add_(scale_(b, momentum), g, 1 - dampening)
        g = g + momentum * b if nesterov else where(momentum != 0, b, g)  # per row of a sweep
    add_(param, g, -lr)
    state["step"] += 1


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, as ``torch.optim.SGD``."""

    rule = staticmethod(sgd_update)
    defaults = dict(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                    maximize=False)

    @staticmethod
    def _check(h):
        h = dict(
            lr=_validate.lr(h["lr"]),
            momentum=_validate.momentum(h["momentum"]),
            # torch does not check dampening; outside [0, 1] it amplifies or flips the gradient
            dampening=_validate.check_range(h["dampening"], "dampening", "Invalid dampening value",
                                            0.0, 1.0, high_inclusive=True),
            weight_decay=_validate.weight_decay(h["weight_decay"]),
            nesterov=_validate.flag(h["nesterov"], "nesterov"),
            maximize=_validate.flag(h["maximize"], "maximize"),
        )
        if h["nesterov"] and (not _all_positive(h["momentum"]) or is_active(h["dampening"])):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening "
                             "(momentum > 0 and dampening == 0)")
        return h

    def init_leaf(self, param):
        return {"step": 0, "momentum_buffer": None}


def _all_positive(value) -> bool:
    return bool(np.all(np.asarray(value) > 0))


def GD(lr, *, weight_decay=0.0, maximize=False) -> SGD:
    """Plain gradient descent θ ← θ − γ∇f(θ): SGD with no momentum."""
    return SGD(lr=lr, weight_decay=weight_decay, maximize=maximize)


def Momentum(lr, momentum=0.9, *, dampening=0.0, weight_decay=0.0, maximize=False) -> SGD:
    """Heavy-ball momentum in PyTorch's form b ← μb + g, θ ← θ − γb (Polyak 1964)."""
    return SGD(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
               maximize=maximize)


def Nesterov(lr, momentum=0.9, *, weight_decay=0.0, maximize=False) -> SGD:
    """Nesterov momentum in PyTorch's form (Sutskever et al. 2013, reparametrised)."""
    return SGD(lr=lr, momentum=momentum, nesterov=True, weight_decay=weight_decay,
               maximize=maximize)
