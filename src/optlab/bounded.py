r"""Bounded Adam step sizes: AdaBound, AMSBound (Luo et al. 2019) and AdaMod (Ding et al. 2019).

Both keep Adam's two moments (the same ``_ops`` lines as ``adam.py``) and bound the per-coordinate
step size η = γ·√(1−β₂ᵗ)/((1−β₁ᵗ)(√v + ε)) before it multiplies m: AdaBound clips it between a
lower and an upper bound that both converge to a final SGD rate, AdaMod caps it by its own
exponential moving average. The update order is that of the authors' packages on PyPI,
``adabound`` 0.0.5 (github.com/Luolc/AdaBound) and ``adamod`` 0.0.3 (github.com/karrynest/AdaMod),
with their argument names and defaults, so a checkpoint of either loads into the torch path.
Where the papers' algorithm boxes differ from the packages, the docstrings say so.
"""

from __future__ import annotations

from . import _validate
from ._ops import (add_, apply_weight_decay, clamp_, ema_, ema_square_, maximum_, minimum_, power,
                   sqrt, zeros_like)
from .base import Optimizer


def adabound_update(param, grad, state, *, lr, betas, final_lr, gamma, eps, weight_decay, amsbound,
                    base_lr):
    r"""One AdaBound / AMSBound step, in place on ``param`` and ``state``.

    .. math::
       \begin{aligned}
       &\textbf{input}: \gamma \text{ (lr)},\ \gamma_0\ (\mathrm{base\_lr}\text{, the lr at
            construction}),\ \beta_1, \beta_2,\ \alpha^*\ (\mathrm{final\_lr}),
            \ \kappa\ (\mathrm{gamma}),\ \epsilon,\ \lambda \text{ (weight decay)},
            \ \textit{amsbound}; \quad m_0, v_0, v^{\max}_0 \leftarrow 0 \\
       &g_t \leftarrow g_t + \lambda\theta_{t-1} \\
       &m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t \\
       &v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
       &\tilde v_t \leftarrow v_t \quad \text{or, if amsbound: }
            v^{\max}_t \leftarrow \max(v^{\max}_{t-1}, v_t),\ \tilde v_t \leftarrow v^{\max}_t \\
       &\eta_t \leftarrow \frac{\gamma\sqrt{1-\beta_2^t}}{1-\beta_1^t}\,
            \frac{1}{\sqrt{\tilde v_t} + \epsilon} \\
       &\alpha_t \leftarrow \alpha^* \gamma / \gamma_0, \qquad
        \eta_l(t) \leftarrow \alpha_t\Bigl(1 - \frac{1}{\kappa t + 1}\Bigr), \qquad
        \eta_u(t) \leftarrow \alpha_t\Bigl(1 + \frac{1}{\kappa t}\Bigr) \\
       &\theta_t \leftarrow \theta_{t-1}
            - \operatorname{clip}\bigl(\eta_t, \eta_l(t), \eta_u(t)\bigr) \odot m_t
       \end{aligned}

    This is the authors' package (``adabound`` 0.0.5) operation for operation, except that the
    moments are Adam's ``_ops`` lines (on torch ``lerp_``, where the package writes ``mul_`` then
    ``add_``: the same numbers up to rounding). Luo, Xiong, Liu and Sun's (2019) Algorithm 2
    differs from the package in five places:

    - The paper clips α/√V_t, with no bias correction and no ε; the package clips the
      bias-corrected rate above, ε added to √v before the correction (Kingma and Ba's
      "ε̂" form, not torch.optim.Adam's ε after it), and 1/(1−β₁ᵗ) inside the clipped quantity:
      the bounds act on the rate that multiplies the raw m_t.
    - The paper then divides the clipped rate by √t (η_t = η̂_t/√t, which its regret bound
      needs) and projects onto the feasible set; the package does neither.
    - The paper's bound functions are η_l(t) = 0.1 − 0.1/((1−β₂)t + 1) and
      η_u(t) = 0.1 + 0.1/((1−β₂)t): the final rate 0.1 and the speed 1 − β₂ are fixed. The
      package makes them arguments, ``final_lr`` (default 0.1) and ``gamma`` (default 1e-3,
      which is 1 − β₂ at the default β₂ = 0.999).
    - The paper's theory takes a decaying β₁ₜ (e.g. β₁λᵗ⁻¹); the package, like its experiments,
      a constant β₁.
    - The package adds L2 weight decay to the gradient (the paper has none) and scales the final
      rate by γ/γ₀: a schedule on the lr moves both bounds with it (the paper's bounds are fixed).

    γ₀ is ``base_lr``. The package records each group's lr when the optimizer is made
    (``self.base_lrs``); optlab keeps it as a hyperparameter that defaults to ``lr``. A schedule
    changes lr alone (``opt.replace(lr=...)`` in ``optlab.run.trajectory``, the per-step lr in
    ``optlab.train``, a torch scheduler on the torch path), so base_lr stays and the bounds move
    as the package's do; ``replace(lr=..., base_lr=None)`` makes an AdaBound with a new lr. On
    the torch path base_lr lives in each param group (and so in the checkpoint, unlike the
    package's ``base_lrs``); a group given its own lr should be given its own ``base_lr`` too,
    or it inherits the optimizer's. (The
    package zips its groups with ``base_lrs``, so a group added later by ``add_param_group`` is
    never stepped there; here it is.) ``lr = 0`` and ``gamma = 0`` pass the package's checks and
    then divide by zero in its first step; optlab refuses both when the optimizer is made.
    AMSBound takes the running maximum of the raw v (as torch.optim.Adam's amsgrad does), so it
    keeps the bias correction that Reddi et al.'s maximum has not.
    """
    beta1, beta2 = betas
    state["step"] = t = state["step"] + 1
    g = apply_weight_decay(param, grad, lr, weight_decay, decoupled=False)
    m = ema_(state["exp_avg"], g, beta1)
    v = ema_square_(state["exp_avg_sq"], g, beta2)
    if amsbound:
        v = maximum_(state["max_exp_avg_sq"], v)
    denom = sqrt(v)
    denom += eps
    bias_correction1 = 1 - power(beta1, t)
    bias_correction2 = 1 - power(beta2, t)
    step_size = lr * power(bias_correction2, 0.5) / bias_correction1
    final = final_lr * lr / base_lr  # the package's workaround: a schedule on lr moves the bounds
    lower_bound = final * (1 - 1 / (gamma * t + 1))
    upper_bound = final * (1 + 1 / (gamma * t))
    eta = _rate(step_size, denom)
    clamp_(eta, lower_bound, upper_bound)
    eta *= m
    add_(param, eta, -1.0)


def _adabound_check(h):
    lr = _validate.lr(h["lr"])
    return dict(
        lr=lr,
        betas=_validate.betas(h["betas"]),
        final_lr=_validate.check_range(h["final_lr"], "final_lr", "Invalid final learning rate",
                                       0.0),
        gamma=_validate.check_range(h["gamma"], "gamma", "Invalid gamma parameter", 0.0, 1.0,
                                    low_inclusive=False,
                                    why="the upper bound divides by gamma · t"),
        eps=_validate.eps(h["eps"]),
        weight_decay=_validate.weight_decay(h["weight_decay"]),
        amsbound=_validate.flag(h["amsbound"], "amsbound"),
        base_lr=_validate.positive(lr if h["base_lr"] is None else h["base_lr"], "base_lr",
                                   "Invalid base learning rate",
                                   why="the bounds scale by lr / base_lr; base_lr defaults to lr"),
    )


class AdaBound(Optimizer):
    """AdaBound (Luo et al. 2019), as the authors' ``adabound.AdaBound``; AMSBound with
    ``amsbound=True``. ``base_lr`` (default: ``lr``) is the lr that ``final_lr`` refers to; see
    :func:`adabound_update`."""

    rule = staticmethod(adabound_update)
    defaults = dict(lr=1e-3, betas=(0.9, 0.999), final_lr=0.1, gamma=1e-3, eps=1e-8,
                    weight_decay=0.0, amsbound=False, base_lr=None)
    _check = staticmethod(_adabound_check)

    def init_leaf(self, param):
        state = {"step": 0, "exp_avg": zeros_like(param), "exp_avg_sq": zeros_like(param)}
        if self.hyperparameters["amsbound"]:
            state["max_exp_avg_sq"] = zeros_like(param)
        return state


def AMSBound(lr=1e-3, betas=(0.9, 0.999), final_lr=0.1, gamma=1e-3, eps=1e-8, weight_decay=0.0,
             *, base_lr=None) -> AdaBound:
    """AMSBound (Luo et al. 2019): AdaBound with ``amsbound=True``, as the authors' package."""
    return AdaBound(lr=lr, betas=betas, final_lr=final_lr, gamma=gamma, eps=eps,
                    weight_decay=weight_decay, amsbound=True, base_lr=base_lr)


def adamod_update(param, grad, state, *, lr, betas, beta3, eps, weight_decay):
    r"""One AdaMod step, in place on ``param`` and ``state``.

    .. math::
       \begin{aligned}
       &\textbf{input}: \gamma \text{ (lr)},\ \beta_1, \beta_2, \beta_3,\ \epsilon,
            \ \lambda \text{ (weight decay)}; \quad m_0, v_0, s_0 \leftarrow 0 \\
       &m_t \leftarrow \beta_1 m_{t-1} + (1-\beta_1) g_t \\
       &v_t \leftarrow \beta_2 v_{t-1} + (1-\beta_2) g_t^2 \\
       &\eta_t \leftarrow \frac{\gamma\sqrt{1-\beta_2^t}}{1-\beta_1^t}\,
            \frac{1}{\sqrt{v_t} + \epsilon} \\
       &\theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda) \\
       &s_t \leftarrow \beta_3 s_{t-1} + (1-\beta_3)\,\eta_t \\
       &\theta_t \leftarrow \theta_{t-1} - \min(\eta_t, s_t) \odot m_t
       \end{aligned}

    This is the authors' package (``adamod`` 0.0.3) operation for operation, except that the
    decay is written θ(1 − γλ) (``_ops.apply_weight_decay``, as AdamW's) where the package
    writes θ − γλθ, and the EMAs are ``_ops.ema_`` (as in :func:`adabound_update`): the same
    numbers up to rounding, at the same points of the step. Ding, Ren,
    Luo and Sun's (2019) Algorithm 1 differs from the package:

    - The paper averages and caps η_t = α_t/(√v̂_t + ε), ε after the bias correction of v, and
      multiplies the capped rate by m̂_t = m_t/(1−β₁ᵗ). The package puts ε on the raw √v and
      folds 1/(1−β₁ᵗ) into η_t *before* the average s_t and the min. Because 1−β₁ᵏ grows with
      k, the package's s_t = Σ_k (1−β₃)β₃ᵗ⁻ᵏ η'_k/(1−β₁ᵏ) is at least the paper's s_t/(1−β₁ᵗ):
      its cap is looser early on, and the two agree once β₁ᵗ is negligible.
    - The paper has no weight decay. The package decays θ ← θ(1 − γλ), decoupled as in AdamW
      with PyTorch's γλ (its class docstring says so; its argument list says "L2 penalty",
      which is not what it does).
    - The package's argument list gives β₃'s default as 0.9999; its code, and so optlab, uses
      0.999.

    With s_0 = 0 and no bias correction of s, the first step's rate is (1−β₃)η_1, a thousandth
    of Adam's at β₃ = 0.999: the cap doubles as a warmup (paper and package agree on this).
    """
    beta1, beta2 = betas
    state["step"] = t = state["step"] + 1
    m = ema_(state["exp_avg"], grad, beta1)
    v = ema_square_(state["exp_avg_sq"], grad, beta2)
    denom = sqrt(v)
    denom += eps
    bias_correction1 = 1 - power(beta1, t)
    bias_correction2 = 1 - power(beta2, t)
    step_size = lr * power(bias_correction2, 0.5) / bias_correction1
    apply_weight_decay(param, grad, lr, weight_decay, decoupled=True)  # θ only; g is unchanged
    eta = _rate(step_size, denom)
    s = ema_(state["exp_avg_lr"], eta, beta3)
    minimum_(eta, s)
    eta *= m
    add_(param, eta, -1.0)


class AdaMod(Optimizer):
    """AdaMod (Ding et al. 2019), as the authors' ``adamod.AdaMod``: Adam whose per-coordinate
    step size is capped by its exponential moving average (see :func:`adamod_update`)."""

    rule = staticmethod(adamod_update)
    defaults = dict(lr=1e-3, betas=(0.9, 0.999), beta3=0.999, eps=1e-8, weight_decay=0.0)

    @staticmethod
    def _check(h):
        return dict(
            lr=_validate.lr(h["lr"]),
            betas=_validate.betas(h["betas"]),
            beta3=_validate.check_range(h["beta3"], "beta3", "Invalid beta3 parameter", 0.0, 1.0),
            eps=_validate.eps(h["eps"]),
            weight_decay=_validate.weight_decay(h["weight_decay"]),
        )

    def init_leaf(self, param):
        return {"step": 0, "exp_avg": zeros_like(param), "exp_avg_sq": zeros_like(param),
                "exp_avg_lr": zeros_like(param)}


# -- helpers --------------------------------------------------------------------------------------
def _rate(step_size, denom):
    """step_size / denom as a new array, rounded as the packages' ``full_like(denom,
    step_size).div_(denom)`` (torch's ``float / tensor`` multiplies by a reciprocal instead)."""
    eta = zeros_like(denom)
    eta += step_size
    eta /= denom
    return eta
