r"""The Adam family: Adam, AdamW, AMSGrad, Adamax, NAdam and RAdam.

Adam's rule is written once; AdamW is the same rule with decoupled weight decay and AMSGrad the
same rule with a running maximum. References: Kingma and Ba (2015), Loshchilov and Hutter (2019),
Reddi, Kale and Kumar (2018), Dozat (2016), Liu et al. (2020). The update order is torch.optim's
(PyTorch 2.13, single-tensor path); where the papers differ the docstrings say so.
"""

from __future__ import annotations

from . import _validate
from ._ops import (absolute, add_, add_ratio_, apply_weight_decay, ema_, ema_square_, maximum_,
                   power, scale_, sqrt, where, zeros_like)
from .base import Optimizer


def adam_update(param, grad, state, *, lr, betas, eps, weight_decay, amsgrad, maximize,
                decoupled_weight_decay):
    r"""One Adam / AdamW / AMSGrad step, in place on ``param`` and ``state``.

    .. math::
       \begin{aligned}
       &\textbf{input}: \gamma \text{ (lr)},\ \beta_1, \beta_2,\ \epsilon,
            \ \lambda \text{ (weight decay)},\ \textit{amsgrad},\ \textit{decoupled};
            \quad m_0, v_0, v^{\max}_0 \leftarrow 0 \\
       &g_t \leftarrow -g_t \quad \text{if maximize} \\
       &\text{if decoupled: } \theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda)
            \quad \text{else } g_t \leftarrow g_t + \lambda\theta_{t-1} \\
       &m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t \\
       &v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
       &\tilde v_t \leftarrow v_t \quad \text{or, if amsgrad: }
            v^{\max}_t \leftarrow \max(v^{\max}_{t-1}, v_t),\ \tilde v_t \leftarrow v^{\max}_t \\
       &\theta_t \leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\,
            \frac{m_t}{\sqrt{\tilde v_t}/\sqrt{1-\beta_2^t} + \epsilon}
       \end{aligned}

    ε is added after the bias correction of √v (Kingma and Ba's Algorithm 1 adds it to
    √v̂ as well). The EMA v_t itself stays raw: the running maximum only enters the denominator.
    AMSGrad takes the maximum of the raw v, keeps the bias correction, and so
    differs from Reddi et al.'s Algorithm 2, which has none.
    """
    beta1, beta2 = betas
    state["step"] = t = state["step"] + 1
    g = -grad if maximize else grad
    g = apply_weight_decay(param, g, lr, weight_decay, decoupled_weight_decay)
    m = ema_(state["exp_avg"], g, beta1)
    v = ema_square_(state["exp_avg_sq"], g, beta2)
    if amsgrad:
        v = maximum_(state["max_exp_avg_sq"], v)
    bias_correction1 = 1 - power(beta1, t)
    bias_correction2 = 1 - power(beta2, t)
    denom = sqrt(v) / power(bias_correction2, 0.5)
    denom += eps
    add_ratio_(param, m, denom, -lr / bias_correction1)


def _adam_check(h):
    return dict(
        lr=_validate.lr(h["lr"]),
        betas=_validate.betas(h["betas"]),
        eps=_validate.eps(h["eps"]),
        weight_decay=_validate.weight_decay(h["weight_decay"]),
        amsgrad=_validate.flag(h["amsgrad"], "amsgrad"),
        maximize=_validate.flag(h["maximize"], "maximize"),
        decoupled_weight_decay=_validate.flag(h["decoupled_weight_decay"],
                                              "decoupled_weight_decay"),
    )


class Adam(Optimizer):
    """Adam (Kingma and Ba 2015), as ``torch.optim.Adam``: L2 weight decay unless decoupled."""

    rule = staticmethod(adam_update)
    defaults = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                    maximize=False, decoupled_weight_decay=False)
    _check = staticmethod(_adam_check)

    def init_leaf(self, param):
        state = {"step": 0, "exp_avg": zeros_like(param), "exp_avg_sq": zeros_like(param)}
        if self.hyperparameters["amsgrad"]:
            state["max_exp_avg_sq"] = zeros_like(param)
        return state


class AdamW(Adam):
    """AdamW (Loshchilov and Hutter 2019), as ``torch.optim.AdamW``: θ ← θ(1 − γλ) each step.

    PyTorch multiplies the decay by the learning rate γ; the paper multiplies λ by the schedule
    multiplier η_t only, so the two agree only when γ is folded into λ.
    """

    defaults = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False,
                    maximize=False)

    @staticmethod
    def _check(h):
        return _adam_check({**h, "decoupled_weight_decay": True})


def AMSGrad(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, *, maximize=False) -> Adam:
    """AMSGrad (Reddi et al. 2018) in PyTorch's form: Adam with ``amsgrad=True``."""
    return Adam(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=True,
                maximize=maximize)


def adamax_update(param, grad, state, *, lr, betas, eps, weight_decay, maximize):
    r"""One Adamax step (Kingma and Ba 2015, Algorithm 2), in place.

    .. math::
       \begin{aligned}
       &m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
        u_t \leftarrow \max(\beta_2 u_{t-1}, |g_t| + \epsilon) \\
       &\theta_t \leftarrow \theta_{t-1} - \frac{\gamma}{1-\beta_1^t}\, \frac{m_t}{u_t}
       \end{aligned}

    The ε inside the max is PyTorch's guard against u = 0; the paper has none.
    """
    beta1, beta2 = betas
    state["step"] = t = state["step"] + 1
    g = -grad if maximize else grad
    g = apply_weight_decay(param, g, lr, weight_decay, decoupled=False)
    m = ema_(state["exp_avg"], g, beta1)
    u = maximum_(scale_(state["exp_inf"], beta2), absolute(g) + eps)
    add_ratio_(param, m, u, -lr / (1 - power(beta1, t)))


class Adamax(Optimizer):
    """Adamax, Adam with the infinity norm, as ``torch.optim.Adamax``."""

    rule = staticmethod(adamax_update)
    defaults = dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, maximize=False)

    @staticmethod
    def _check(h):
        return dict(lr=_validate.lr(h["lr"]), betas=_validate.betas(h["betas"]),
                    eps=_validate.eps(h["eps"]), weight_decay=_validate.weight_decay(h["weight_decay"]),
                    maximize=_validate.flag(h["maximize"], "maximize"))

    def init_leaf(self, param):
        return {"step": 0, "exp_avg": zeros_like(param), "exp_inf": zeros_like(param)}


def nadam_update(param, grad, state, *, lr, betas, eps, weight_decay, momentum_decay,
                 decoupled_weight_decay, maximize):
    r"""One NAdam step (Dozat 2016, with PyTorch's momentum schedule), in place.

    .. math::
       \begin{aligned}
       &\mu_t \leftarrow \beta_1\bigl(1 - \tfrac12 0.96^{t\psi}\bigr), \quad
        \mu_{t+1} \leftarrow \beta_1\bigl(1 - \tfrac12 0.96^{(t+1)\psi}\bigr), \quad
        \Pi_t \leftarrow \Pi_{t-1}\mu_t \\
       &m_t, v_t \text{ as in Adam}, \qquad d_t \leftarrow \sqrt{v_t / (1-\beta_2^t)} + \epsilon \\
       &\theta_t \leftarrow \theta_{t-1} - \gamma\frac{1-\mu_t}{1-\Pi_t}\frac{g_t}{d_t}
            - \gamma\frac{\mu_{t+1}}{1-\Pi_t\mu_{t+1}}\frac{m_t}{d_t}
       \end{aligned}

    PyTorch keeps Π in a float32 tensor unless the default dtype is float64; optlab keeps it in
    float64, which is what torch computes under ``torch.set_default_dtype(torch.float64)``.
    """
    beta1, beta2 = betas
    state["step"] = t = state["step"] + 1
    g = -grad if maximize else grad
    g = apply_weight_decay(param, g, lr, weight_decay, decoupled_weight_decay)
    mu = beta1 * (1 - 0.5 * power(0.96, t * momentum_decay))
    mu_next = beta1 * (1 - 0.5 * power(0.96, (t + 1) * momentum_decay))
    state["mu_product"] = mu_product = state["mu_product"] * mu
    m = ema_(state["exp_avg"], g, beta1)
    v = ema_square_(state["exp_avg_sq"], g, beta2)
    denom = sqrt(v / (1 - power(beta2, t)))
    denom += eps
    add_ratio_(param, g, denom, -lr * (1 - mu) / (1 - mu_product))
    add_ratio_(param, m, denom, -lr * mu_next / (1 - mu_product * mu_next))


class NAdam(Optimizer):
    """NAdam, Adam with Nesterov momentum, as ``torch.optim.NAdam``."""

    rule = staticmethod(nadam_update)
    defaults = dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                    momentum_decay=4e-3, decoupled_weight_decay=False, maximize=False)

    @staticmethod
    def _check(h):
        return dict(
            lr=_validate.lr(h["lr"]), betas=_validate.betas(h["betas"]), eps=_validate.eps(h["eps"]),
            weight_decay=_validate.weight_decay(h["weight_decay"]),
            momentum_decay=_validate.check_range(h["momentum_decay"], "momentum_decay",
                                                 "Invalid momentum_decay value", 0.0),
            decoupled_weight_decay=_validate.flag(h["decoupled_weight_decay"],
                                                  "decoupled_weight_decay"),
            maximize=_validate.flag(h["maximize"], "maximize"),
        )

    def init_leaf(self, param):
        return {"step": 0, "mu_product": 1.0, "exp_avg": zeros_like(param),
                "exp_avg_sq": zeros_like(param)}


def radam_update(param, grad, state, *, lr, betas, eps, weight_decay, decoupled_weight_decay,
                 maximize):
    r"""One RAdam step (Liu et al. 2020), in place.

    .. math::
       \begin{aligned}
       &m_t, v_t \text{ as in Adam}, \quad \hat m_t \leftarrow m_t / (1-\beta_1^t), \quad
        \rho_\infty \leftarrow \tfrac{2}{1-\beta_2} - 1, \quad
        \rho_t \leftarrow \rho_\infty - \tfrac{2t\beta_2^t}{1-\beta_2^t} \\
       &\text{if } \rho_t > 5: \ r_t \leftarrow \sqrt{\tfrac{(\rho_t-4)(\rho_t-2)\rho_\infty}
            {(\rho_\infty-4)(\rho_\infty-2)\rho_t}}, \quad
        \theta_t \leftarrow \theta_{t-1} - \gamma \hat m_t r_t \frac{\sqrt{1-\beta_2^t}}{\sqrt{v_t}+\epsilon} \\
       &\text{else}: \ \theta_t \leftarrow \theta_{t-1} - \gamma \hat m_t
       \end{aligned}

    The paper's threshold is ρ_t > 4; PyTorch's (and so optlab's) is ρ_t > 5.
    """
    beta1, beta2 = betas
    state["step"] = t = state["step"] + 1
    g = -grad if maximize else grad
    g = apply_weight_decay(param, g, lr, weight_decay, decoupled_weight_decay)
    m = ema_(state["exp_avg"], g, beta1)
    v = ema_square_(state["exp_avg_sq"], g, beta2)
    bias_correction1 = 1 - power(beta1, t)
    bias_correction2 = 1 - power(beta2, t)
    m_hat = m / bias_correction1
    rho_inf = 2 / (1 - beta2) - 1
    rho_t = rho_inf - 2 * t * power(beta2, t) / bias_correction2
    rectified = rho_t > 5
    r = _rectification(rho_t, rho_inf, rectified)
    adaptive = power(bias_correction2, 0.5) / (sqrt(v) + eps)
    add_(param, m_hat * lr * where(rectified, adaptive * r, 1.0), -1.0)


def _rectification(rho_t, rho_inf, rectified):
    """r_t where ρ_t > 5, and 0 (unused) elsewhere: torch evaluates r_t only where ρ_t > 5.

    There ρ∞ > ρ_t > 5, so no factor vanishes; elsewhere one may (β₂ = 0.6 gives ρ∞ = 4). So r_t
    is computed from a stand-in ρ = 6 where it is not used; a sweep's rows that use it round as
    their single runs do. Only ``where`` branches, so the SymPy path runs this too.
    """
    rho_t, rho_inf = where(rectified, rho_t, 6), where(rectified, rho_inf, 6)
    return where(rectified, power((rho_t - 4) * (rho_t - 2) * rho_inf
                                  / ((rho_inf - 4) * (rho_inf - 2) * rho_t), 0.5), 0)


class RAdam(Optimizer):
    """RAdam, Adam with a rectified warm-up, as ``torch.optim.RAdam``."""

    rule = staticmethod(radam_update)
    defaults = dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                    decoupled_weight_decay=False, maximize=False)

    @staticmethod
    def _check(h):
        return dict(
            lr=_validate.lr(h["lr"]), betas=_validate.betas(h["betas"]), eps=_validate.eps(h["eps"]),
            weight_decay=_validate.weight_decay(h["weight_decay"]),
            decoupled_weight_decay=_validate.flag(h["decoupled_weight_decay"],
                                                  "decoupled_weight_decay"),
            maximize=_validate.flag(h["maximize"], "maximize"),
        )

    def init_leaf(self, param):
        return {"step": 0, "exp_avg": zeros_like(param), "exp_avg_sq": zeros_like(param)}
