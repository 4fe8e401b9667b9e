r"""AdaGrad (Duchi, Hazan and Singer 2011), in torch.optim.Adagrad's form."""

from __future__ import annotations

from . import _validate
from ._ops import add_ratio_, add_square_, full_like, is_active, sqrt
from .base import Optimizer


def adagrad_update(param, grad, state, *, lr, lr_decay, weight_decay, initial_accumulator_value,
                   eps, maximize):
    r"""One AdaGrad step, in place on ``param`` and ``state``.

    .. math::
       \begin{aligned}
       &\textbf{input}: \gamma \text{ (lr)},\ \eta \text{ (lr\_decay)},\ \lambda \text{ (weight decay)},
            \ \tau \text{ (initial accumulator)},\ \epsilon,\ \textit{maximize};
            \quad S_0 \leftarrow \tau \\
       &g_t \leftarrow -g_t \quad \text{if maximize} \\
       &g_t \leftarrow g_t + \lambda \theta_{t-1} \quad \text{if } \lambda \neq 0 \\
       &\tilde\gamma \leftarrow \gamma / (1 + (t-1)\eta) \\
       &S_t \leftarrow S_{t-1} + g_t^2 \\
       &\theta_t \leftarrow \theta_{t-1} - \tilde\gamma\, g_t / (\sqrt{S_t} + \epsilon)
       \end{aligned}

    ε sits outside the square root, as in PyTorch (optax puts it inside and starts S at 0.1).
    """
    state["step"] = t = state["step"] + 1
    g = -grad if maximize else grad
    if is_active(weight_decay):
        g = g + weight_decay * param
    clr = lr / (1 + (t - 1) * lr_decay)
    S = add_square_(state["sum"], g)
    add_ratio_(param, g, sqrt(S) + eps, -clr)


class Adagrad(Optimizer):
    """AdaGrad with per-coordinate steps γ / √(Σ g²), as ``torch.optim.Adagrad``."""

    rule = staticmethod(adagrad_update)
    defaults = dict(lr=1e-2, lr_decay=0.0, weight_decay=0.0, initial_accumulator_value=0.0,
                    eps=1e-10, maximize=False)

    @staticmethod
    def _check(h):
        return dict(
            lr=_validate.lr(h["lr"]),
            lr_decay=_validate.check_range(h["lr_decay"], "lr_decay", "Invalid lr_decay value", 0.0),
            weight_decay=_validate.weight_decay(h["weight_decay"]),
            initial_accumulator_value=_validate.check_range(
                h["initial_accumulator_value"], "initial_accumulator_value",
                "Invalid initial_accumulator_value value", 0.0),
            eps=_validate.eps(h["eps"]),
            maximize=_validate.flag(h["maximize"], "maximize"),
        )

    def init_leaf(self, param):
        return {"step": 0, "sum": full_like(param, self.hyperparameters["initial_accumulator_value"])}
