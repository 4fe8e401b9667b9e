r"""RMSProp (Tieleman and Hinton 2012, lecture 6.5), in torch.optim.RMSprop's form."""

from __future__ import annotations

from . import _validate
from ._ops import add_, add_ratio_, ema_, ema_square_, is_active, scale_, sqrt, zeros_like
from .base import Optimizer


def rmsprop_update(param, grad, state, *, lr, alpha, eps, weight_decay, momentum, centered,
                   maximize):
    r"""One RMSProp step, in place on ``param`` and ``state``.

    .. math::
       \begin{aligned}
       &\textbf{input}: \gamma \text{ (lr)},\ \alpha \text{ (smoothing)},\ \epsilon,
            \ \lambda \text{ (weight decay)},\ \mu \text{ (momentum)},\ \textit{centered};
            \quad v_0, \bar g_0, b_0 \leftarrow 0 \\
       &g_t \leftarrow -g_t \quad \text{if maximize} \\
       &g_t \leftarrow g_t + \lambda \theta_{t-1} \quad \text{if } \lambda \neq 0 \\
       &v_t \leftarrow \alpha v_{t-1} + (1-\alpha) g_t^2 \\
       &\text{if centered: } \bar g_t \leftarrow \alpha \bar g_{t-1} + (1-\alpha) g_t,
            \quad d_t \leftarrow \sqrt{v_t - \bar g_t^2} + \epsilon
        \quad \text{else } d_t \leftarrow \sqrt{v_t} + \epsilon \\
       &\text{if } \mu > 0: b_t \leftarrow \mu b_{t-1} + g_t / d_t,
            \quad \theta_t \leftarrow \theta_{t-1} - \gamma b_t \\
       &\text{else}: \theta_t \leftarrow \theta_{t-1} - \gamma g_t / d_t
       \end{aligned}

    There is no bias correction: v_t underestimates E[g²] by the factor 1 − α^t early on.
    """
    state["step"] += 1
    g = -grad if maximize else grad
    if is_active(weight_decay):
        g = g + weight_decay * param
    v = ema_square_(state["square_avg"], g, alpha)
    if centered:
        g_bar = ema_(state["grad_avg"], g, alpha)
        d = sqrt(v - g_bar * g_bar)
    else:
        d = sqrt(v)
    d += eps
    if is_active(momentum):
        b = add_ratio_(scale_(state["momentum_buffer"], momentum), g, d)
        add_(param, b, -lr)
    else:
        add_ratio_(param, g, d, -lr)


class RMSprop(Optimizer):
    """RMSProp, optionally centered and with momentum, as ``torch.optim.RMSprop``."""

    rule = staticmethod(rmsprop_update)
    defaults = dict(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                    centered=False, maximize=False)

    @staticmethod
    def _check(h):
        return dict(
            lr=_validate.lr(h["lr"]),
            # torch only asks alpha >= 0; above 1 the average is no longer an average
            alpha=_validate.check_range(h["alpha"], "alpha", "Invalid alpha value", 0.0, 1.0,
                                        high_inclusive=True),
            eps=_validate.eps(h["eps"]),
            weight_decay=_validate.weight_decay(h["weight_decay"]),
            momentum=_validate.momentum(h["momentum"]),
            centered=_validate.flag(h["centered"], "centered"),
            maximize=_validate.flag(h["maximize"], "maximize"),
        )

    def init_leaf(self, param):
        h = self.hyperparameters
        state = {"step": 0, "square_avg": zeros_like(param)}
        if is_active(h["momentum"]):
            state["momentum_buffer"] = zeros_like(param)
        if h["centered"]:
            state["grad_avg"] = zeros_like(param)
        return state
