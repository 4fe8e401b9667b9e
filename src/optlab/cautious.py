r"""Cautious optimizers (Liang, Chen, Liu and Liu 2024): any optlab rule, masked by sign agreement.

Liang, K., Chen, L., Liu, B. and Liu, Q. (2024). Cautious Optimizers: Improving Training with One
Line of Code. arXiv:2411.16085. The authors' code is github.com/kyleliang919/C-Optim (C-AdamW in
``c_adamw.py``); ``pytorch-optimizer`` carries the same mask as a ``cautious`` option of several
of its optimizers (``BaseOptimizer.apply_cautious``).

``Cautious(opt)`` composes instead of copying: it runs `opt`'s own rule, reads the update the
rule made, and keeps it only where it points downhill::

    opt = optlab.Cautious(optlab.AdamW(lr=1e-3, weight_decay=0.1))     # C-AdamW
    opt.step(params, grads, state)              # the NumPy path, sweeps included
    optlab.torch_optimizer(opt, model.parameters())                   # the torch path

The result is an optlab optimizer of its own class (``CautiousAdamW`` here) with the wrapped
optimizer's hyperparameters, its state and its checks, plus ``rescale`` (how the kept
coordinates are scaled up; see :func:`cautious_update`).
"""

from __future__ import annotations

import numpy as np

from ._ops import (_is_symbolic, _is_tensor, _sympy, at_least, clone, is_active, run_axes, run_size,
                   run_sum, scale_)
from .base import Optimizer

RESCALES = ("count", "mean", "none")


def cautious_update(param, grad, state, *, base_rule, weight_decay_in_gradient, rescale,
                    **hyperparameters):
    r"""One cautious step of `base_rule`, in place on ``param`` and ``state``.

    .. math::
       \begin{aligned}
       &\textbf{input}: \text{a rule } \theta \mapsto \theta - \gamma u_t \text{ with its
            hyperparameters};\ \textit{rescale} \\
       &g_t \leftarrow -g_t \text{ if maximize}; \quad g_t \leftarrow g_t + \lambda\theta_{t-1}
            \text{ if the rule's decay } \lambda \text{ is L2} \\
       &\theta' \leftarrow \text{the rule's step from } \theta_{t-1}
            \text{ (its state updated as usual), without decoupled decay} \\
       &\Delta_t \leftarrow \theta' - \theta_{t-1} \quad (= -\gamma u_t) \\
       &\phi_t \leftarrow \mathbb{1}[u_t \odot g_t > 0] = \mathbb{1}[\Delta_t \odot g_t < 0] \\
       &s_t \leftarrow \frac{d}{\lVert\phi_t\rVert_0 + 1} \text{ (count)},\quad
            \frac{1}{\max(\lVert\phi_t\rVert_0 / d,\ 10^{-3})} \text{ (mean)},\quad
            1 \text{ (none)} \\
       &\theta_{t-1} \leftarrow \theta_{t-1}(1 - \gamma\lambda) \quad
            \text{if the rule's decay is decoupled} \\
       &\theta_t \leftarrow \theta_{t-1} + s_t\, \phi_t \odot \Delta_t
       \end{aligned}

    d is the number of elements of the parameter array (of one run, in a sweep) and
    ‖φ‖₀ the number it keeps. "count" is the authors' first C-AdamW (2024-11-12), as
    ``pytorch-optimizer`` keeps it; the paper's one-line listing (arXiv v4, §1) divides by
    mean(φ) + ε, which is "count" with ε = 1/d. "mean" is the authors' code since 2025-01-14
    (``mask.div_(mask.mean().clamp_(min=1e-3))``, taken from timm), which leaves a step whose
    signs all agree as the rule made it; "count" shrinks that step by d/(d + 1). Decoupled
    decay (``decoupled_weight_decay``) is applied to every coordinate, outside the mask, before
    the masked step, as in the authors' C-AdamW since 2024-11-29 (their first version decayed
    after the step). An L2 decay is part of the rule's gradient, so the mask compares the update
    with g + λθ, as ``pytorch-optimizer`` does (it adds λθ to the gradient in place before its
    mask). A rule whose decay is neither (FAdam's, inside its update) says so with the class
    attribute ``weight_decay_in_gradient = False``: the mask then compares with g alone.
    """
    maximize = hyperparameters.get("maximize", False)
    weight_decay = hyperparameters.get("weight_decay", 0.0)
    decoupled = (bool(hyperparameters.get("decoupled_weight_decay", False))
                 and is_active(weight_decay))
    g = -grad if maximize else grad
    if weight_decay_in_gradient and not decoupled and is_active(weight_decay):
        g = g + weight_decay * param  # θ_{t-1}: read before the rule moves param

    before = clone(param)
    inner = {**hyperparameters, "weight_decay": 0.0} if decoupled else hyperparameters
    base_rule(param, grad, state, **inner)
    delta = param - before

    keep = _is_negative(delta * g)
    axes = run_axes(param.ndim, tuple(hyperparameters.values()))
    if rescale == "count":
        factor = keep * (run_size(param, axes) / (run_sum(keep, axes) + 1))
    elif rescale == "mean":
        factor = keep / at_least(run_sum(keep, axes) / run_size(param, axes), 1e-3)
    else:
        factor = keep

    if decoupled:
        scale_(before, 1 - hyperparameters["lr"] * weight_decay)
    _assign(param, before + delta * factor)


def _is_negative(x):
    """1 where x < 0 and 0 elsewhere, in x's floating dtype (SymPy numbers: exact integers)."""
    if _is_tensor(x):
        return (x < 0).to(x.dtype)
    if _is_symbolic(x):
        sp = _sympy()
        return np.vectorize(lambda v: sp.Integer(1 if bool(v < 0) else 0), otypes=[object])(x)
    return (x < 0).astype(x.dtype)


def _assign(param, value):
    """param ← value, in place."""
    if _is_tensor(param):
        param.copy_(value)
    else:
        param[...] = value


class CautiousOptimizer(Optimizer):
    """The base of the classes :func:`Cautious` makes, one per wrapped optimizer class.

    ``base_class`` is the wrapped class; its ``_check`` validates the shared hyperparameters and
    its ``init_leaf`` makes the state (each made class calls it), so the state is the wrapped
    optimizer's.
    """

    base_class: type = None

    def _check(self, h):
        base = type(self).base_class
        checked = base._check({k: h[k] for k in base.defaults})
        rescale = h["rescale"]
        if not isinstance(rescale, str) or rescale not in RESCALES:
            raise ValueError(f"Invalid rescale value: {rescale!r} (rescale must be one of "
                             f"{', '.join(map(repr, RESCALES))})")
        return {**checked, "rescale": rescale}

    @property
    def base(self) -> Optimizer:
        """The wrapped optimizer, with these hyperparameters."""
        base = type(self).base_class
        public = self._public_hyperparameters()
        return base(**{k: v for k, v in public.items() if k in base.defaults})

    def __repr__(self) -> str:
        return f"Cautious({self.base!r}, rescale={self.hyperparameters['rescale']!r})"

    def __reduce__(self):
        return _rebuild, (type(self).base_class, self._public_hyperparameters())


_CLASSES: dict = {}


def _cautious_class(base_class: type) -> type:
    """The class of Cautious(base_class(...)): made once per wrapped class, so that its rule is
    one function (the torch path and optlab.train key on it) and copies keep their type."""
    cls = _CLASSES.get(base_class)
    if cls is not None:
        return cls
    base_rule = base_class.rule
    in_gradient = bool(getattr(base_class, "weight_decay_in_gradient", True))

    def rule(param, grad, state, **hyperparameters):
        cautious_update(param, grad, state, base_rule=base_rule,
                        weight_decay_in_gradient=in_gradient, **hyperparameters)

    def init_leaf(self, param):  # the wrapped class's (it reads only self.hyperparameters)
        return base_class.init_leaf(self, param)

    name = f"Cautious{base_class.__name__}"
    rule.__name__ = f"cautious_{base_rule.__name__}"
    rule.__qualname__ = f"{name}.rule"
    rule.__doc__ = cautious_update.__doc__
    cls = type(name, (CautiousOptimizer,), {
        "rule": staticmethod(rule),
        "init_leaf": init_leaf,
        "defaults": {**base_class.defaults, "rescale": "count"},
        "base_class": base_class,
        "__module__": __name__,
        "__doc__": f"{base_class.__name__}'s rule under the cautious mask (see optlab.Cautious).",
    })
    _CLASSES[base_class] = cls
    return cls


def _rebuild(base_class, hyperparameters):
    return _cautious_class(base_class)(**hyperparameters)


def Cautious(opt: Optimizer, *, rescale: str = "count") -> Optimizer:
    r"""`opt` made cautious: its update kept only where it agrees in sign with the gradient.

    ``Cautious(optlab.AdamW(lr=1e-3))`` is C-AdamW, ``Cautious(optlab.SGD(lr=0.1, momentum=0.9))``
    cautious heavy ball, and so on for any optlab optimizer. The result has `opt`'s
    hyperparameters (``replace``, sweeps, ``torch_optimizer`` and pickling work as for `opt`) and
    `opt`'s state. ``rescale`` scales the kept coordinates by d/(‖φ‖₀ + 1) ("count": the
    authors' first C-AdamW and ``pytorch-optimizer``), by 1/max(‖φ‖₀/d, 10⁻³) ("mean": the
    authors' current C-AdamW) or not at all ("none"). See :func:`cautious_update` for the
    algorithm box.
    """
    if not isinstance(opt, Optimizer):
        raise TypeError(f"Cautious wraps an optlab optimizer such as optlab.AdamW(), got {opt!r}")
    if isinstance(opt, CautiousOptimizer):
        raise TypeError(f"{opt!r} is cautious already")
    if "rescale" in type(opt).defaults:
        raise TypeError(f"{type(opt).__name__} has a hyperparameter named 'rescale', which "
                        "Cautious would shadow")
    return _cautious_class(type(opt))(**opt._public_hyperparameters(), rescale=rescale)
