r"""FAdam, Adam read as natural gradient descent with the diagonal empirical Fisher (Hwang 2024).

Hwang, D. (2024). FAdam: Adam is a natural gradient optimizer using diagonal empirical Fisher
information. arXiv:2405.12807. The paper's abstract names its changes to Adam only by kind
(momentum, bias correction, an adaptive epsilon, clipping, a refined weight decay). The box in
:func:`fadam_update` is FAdam as implemented by pytorch-optimizer / FAdam_PyTorch: it follows
``pytorch_optimizer.FAdam`` (4.1.0), whose stated source is Less Wright's ``FAdam_PyTorch``,
with a constant ε. It is not the paper's Algorithm 1, which was not read (no readable copy was
found). Where ``pytorch-optimizer`` departs from the box, the docstring says how, and
tests/test_fadam.py pins each difference.

Unlike optlab's other rules, FAdam is not elementwise: it clips by a root mean square taken over
a whole parameter array. Under a sweep (array hyperparameters broadcasting against a batch of
parameters, one row per setting) each setting is its own run, so the mean is taken per run:
over the axes along which no array hyperparameter varies (``optlab._ops.run_axes``).
"""

from __future__ import annotations

import numpy as np

from . import _validate
from ._ops import (_is_numpy, add_, at_least, ema_, ema_square_, is_active, power, run_axes,
                   run_rms, zeros_like)
from .base import Optimizer


# -- helpers ----------------------------------------------------------------------------------
def _fisher_power(f, p):
    """f^p. NumPy computes ``f ** 0.5`` (a float exponent) with its square-root kernel but an
    array of exponents with ``pow``; where a sweep's p is 0.5 this takes the square root too, so
    that the row equals its single run to the bit."""
    if isinstance(p, np.ndarray) and _is_numpy(f) and p.dtype != object:
        return np.where(p == 0.5, np.sqrt(f), f ** p)
    return f ** p


def _clip_rms(x, clip, axes):
    """x / max(1, RMS(x)/c): x scaled down so that its RMS over the run is at most c."""
    return x / at_least(run_rms(x, axes) / clip, 1.0)


# -- the rule ---------------------------------------------------------------------------------
def fadam_update(param, grad, state, *, lr, betas, eps, clip, p, weight_decay, maximize):
    r"""One FAdam step, as implemented by pytorch-optimizer / FAdam_PyTorch, in place on
    ``param`` and ``state``.

    .. math::
       \begin{aligned}
       &\textbf{input}: \eta \text{ (lr)},\ \beta_1, \beta_2,\ \epsilon,\ c \text{ (clip)},
            \ p,\ \lambda \text{ (weight decay)}; \quad m_0, f_0 \leftarrow 0 \\
       &g_t \leftarrow -g_t \quad \text{if maximize} \\
       &\hat\beta_2 \leftarrow \beta_2\,\frac{1-\beta_2^{t-1}}{1-\beta_2^{t}} \\
       &f_t \leftarrow \hat\beta_2 f_{t-1} + (1-\hat\beta_2)\, g_t^2 \\
       &\bar g_t \leftarrow g_t / (f_t^{\,p} + \epsilon) \\
       &\bar g_t \leftarrow \bar g_t / \max\bigl(1, \mathrm{RMS}(\bar g_t)/c\bigr) \\
       &m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1)\, \bar g_t \\
       &\bar g^{w}_t \leftarrow \theta_{t-1} / (f_t^{\,p} + \epsilon) \\
       &\bar g^{w}_t \leftarrow \bar g^{w}_t / \max\bigl(1, \mathrm{RMS}(\bar g^{w}_t)/c\bigr) \\
       &\theta_t \leftarrow \theta_{t-1} - \eta\,\bigl(m_t + \lambda\, \bar g^{w}_t\bigr)
       \end{aligned}

    RMS(x) is the root mean square over the parameter array (over one run's elements in a sweep).
    What changes from Adam: the decay β̂₂ makes f_t equal Adam's bias-corrected v̂_t (the mean of
    the squared gradients so far, weighted by β₂ᵗ⁻ˢ); the momentum averages the natural gradient
    ḡ_t, already divided by f_t^p, so it needs no bias correction (m_t is not divided by
    1 − β₁ᵗ); both the natural gradient and the weight-decay direction are clipped to RMS c;
    and the decay θ/(f^p + ε) is the natural gradient of the L2 penalty λ‖θ‖²/2.

    ``pytorch_optimizer.FAdam`` (4.1.0) differs in four places. (1) Its stabiliser is
    min(ε, ε₂·RMS(g_t))^{2p} (ε₂ = ``eps_2`` = 0.01; ε^{2p} where RMS(g_t) = 0), here a constant
    ε: at p = 1/2 the two agree once ε₂·RMS(g_t) ≥ ε. (2) Its momentum and Fisher buffers are
    float32 unless ``momentum_dtype``/``fim_dtype`` say otherwise. (3) It counts steps per
    parameter group, optlab per parameter (they differ when a parameter's gradient is None on
    some step). (4) It computes β̂₂ as (β₂ᵗ − β₂)/(β₂ᵗ − 1) and the momentum with ``lerp``: a
    difference in rounding only.
    """
    beta1, beta2 = betas
    state["step"] = t = state["step"] + 1
    g = -grad if maximize else grad
    beta2_hat = beta2 * (1 - power(beta2, t - 1)) / (1 - power(beta2, t))
    f = ema_square_(state["fim"], g, beta2_hat)
    axes = run_axes(param.ndim, (lr, betas, eps, clip, p, weight_decay))
    denom = _fisher_power(f, p) + eps
    m = ema_(state["momentum"], _clip_rms(g / denom, clip, axes), beta1)
    step = m
    if is_active(weight_decay):
        step = m + weight_decay * _clip_rms(param / denom, clip, axes)
    add_(param, step, -lr)


class FAdam(Optimizer):
    """FAdam (Hwang 2024): Adam as natural gradient with the diagonal empirical Fisher.

    The arguments and defaults are those of ``pytorch_optimizer.FAdam`` (lr=1e-3,
    betas=(0.9, 0.999), weight_decay=0.1, clip=1.0, p=0.5, eps=1e-8), without its ``eps_2``
    (see :func:`fadam_update` for the differences). The decay λ = 0.1 acts on the natural
    gradient of the weights, clipped to RMS c, not as AdamW's θ(1 − γλ).
    """

    rule = staticmethod(fadam_update)
    defaults = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, clip=1.0, p=0.5, weight_decay=0.1,
                    maximize=False)
    # the decay is part of the update (a preconditioned term), not an L2 term in the gradient:
    # optlab.Cautious compares its update with the gradient alone
    weight_decay_in_gradient = False

    @staticmethod
    def _check(h):
        return dict(
            lr=_validate.lr(h["lr"]),
            betas=_validate.betas(h["betas"]),
            eps=_validate.eps(h["eps"]),
            clip=_validate.positive(h["clip"], "clip"),
            p=_validate.positive(h["p"], "p"),
            weight_decay=_validate.weight_decay(h["weight_decay"]),
            maximize=_validate.flag(h["maximize"], "maximize"),
        )

    def init_leaf(self, param):
        return {"step": 0, "momentum": zeros_like(param), "fim": zeros_like(param)}
