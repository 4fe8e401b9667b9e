r"""Gradient descent, heavy-ball momentum, Nesterov momentum and SGDW: one rule, four presets.

References: Polyak (1964) for the heavy ball; Nesterov (1983) and Sutskever et al. (2013) for the
look-ahead form; Loshchilov and Hutter (2019) for decoupled weight decay (SGDW). The update order
is torch.optim.SGD's (PyTorch 2.13, single-tensor path); torch.optim.SGD has no decoupled decay,
which optlab adds as Adam's ``decoupled_weight_decay`` (the same line of code, in ``_ops``).
"""

from __future__ import annotations

import numpy as np

from . import _ops, _validate
from ._ops import add_, apply_weight_decay, clone, is_active, scale_, where
from .base import Optimizer


def sgd_update(param, grad, state, *, lr, momentum, dampening, weight_decay, nesterov, maximize,
               decoupled_weight_decay):
    r"""One SGD (or SGDW) step, in place on ``param`` and ``state``.

    .. math::
       \begin{aligned}
       &\textbf{input}: \gamma \text{ (lr)},\ \mu \text{ (momentum)},\ \tau \text{ (dampening)},
            \ \lambda \text{ (weight decay)},\ \textit{nesterov},\ \textit{maximize},
            \ \textit{decoupled} \\
       &g_t \leftarrow -g_t \quad \text{if maximize} \\
       &\text{if decoupled: } \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda)
            \quad \text{else } g_t \leftarrow g_t + \lambda\theta_{t-1} \\
       &\text{if } \mu \neq 0: \\
       &\qquad b_t \leftarrow g_t \text{ if } t = 1 \text{ else } \mu b_{t-1} + (1-\tau) g_t \\
       &\qquad g_t \leftarrow g_t + \mu b_t \text{ if nesterov else } b_t \\
       &\theta_t \leftarrow \theta_{t-1} - \gamma g_t
       \end{aligned}

    Without ``decoupled`` this is torch.optim.SGD. With it, it is SGDW, Loshchilov and Hutter's
    (2019) Algorithm 1, in PyTorch's parametrisation. The paper's
    m_t = β m_{t-1} + η_t α g_t,  θ_t = θ_{t-1} − m_t − η_t λ_paper θ_{t-1}
    is this rule with μ = β, τ = 0, no Nesterov, γ_t = η_t α and λ = λ_paper / α (its decay
    η_t λ_paper is γ_t λ). With a constant rate (η_t = 1) the two agree step for step,
    m_t = γ b_t. Under a schedule the decay terms still agree, but the momenta do not: PyTorch's
    buffer b sums raw gradients and the current γ_t multiplies the sum, the paper's m sums
    η_s α g_s.
    """
    g = -grad if maximize else grad
    g = apply_weight_decay(param, g, lr, weight_decay, decoupled_weight_decay)
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
    """Stochastic gradient descent with optional momentum, as ``torch.optim.SGD``; with
    ``decoupled_weight_decay=True`` SGDW (Loshchilov and Hutter 2019), which torch.optim lacks."""

    rule = staticmethod(sgd_update)
    defaults = dict(lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                    maximize=False, decoupled_weight_decay=False)

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
            decoupled_weight_decay=_validate.flag(h["decoupled_weight_decay"],
                                                  "decoupled_weight_decay"),
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


def SGDW(lr, momentum=0.9, *, weight_decay, nesterov=False, dampening=0.0, maximize=False) -> SGD:
    """SGD with decoupled weight decay θ ← θ(1 − γλ) (Loshchilov and Hutter 2019, Algorithm 1).

    PyTorch's convention, as AdamW's: the decay per step is γ_t · weight_decay, γ_t the rate of
    that step (γ_t = η_t α under a schedule: α the base rate, the ``lr`` given here, η_t the
    schedule's multiplier). The paper decays by η_t λ_paper per step, so its λ_paper is
    ``weight_decay = λ_paper / α``, divided by the base rate α, not by the scheduled γ_t, and kept
    fixed while a scheduler changes the rate; then γ_t · weight_decay = η_t λ_paper at every step.

    The momentum is in PyTorch's form, as in the authors' code (Torch's ``optim.sgd``): the buffer
    b_t = μ b_{t-1} + g_t holds gradients only and the step is γ_t b_t. With a constant rate this is
    Algorithm 1 step for step; under a schedule it is not Algorithm 1 as printed, whose buffer
    m_t = β m_{t-1} + η_t α g_t weights each gradient by the rate of its own step.
    """
    return SGD(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
               nesterov=nesterov, maximize=maximize, decoupled_weight_decay=True)
