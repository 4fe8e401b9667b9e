r"""SymPy helpers the chapters share: the small pieces of algebra that several proofs reuse.

The chapters check their derivations with SymPy cells that ``assert``. What more than one chapter
needs lives here, once, one helper per idea:

- :func:`iteration_matrix` — the matrix of a linear update ``state ← M · state`` (GD, heavy ball,
  Nesterov on a quadratic, one eigen-direction at a time).
- :func:`schur_conditions` — the Jury (Schur–Cohn) test: when do both roots of a quadratic lie
  strictly inside the unit circle?
- :func:`spectral_radius` — a symbolic matrix turned into a vectorised NumPy function
  ``ρ(params)``, for sweeps over step sizes and momenta.
- :func:`unroll` — apply an update rule a few times to symbols, to compare two forms of a method
  step by step.
- :func:`run_rule` — run an optimizer's own update rule (the code the book runs, not a copy) on
  SymPy symbols, so that an asserting cell compares optlab with a closed form derived by hand.
- :func:`fixed_point` — the steady state of a linear recursion such as ``b ← μb + (1−τ)g``.
- :func:`ema_weights`, :func:`ema`, :func:`ema_weight_sum`, :func:`ema_mean_age` — an exponential
  moving average ``m ← βm + (1−β)x`` unrolled: its weights ``(1−β)β^{t−k}``, their sum ``1 − β^t``
  (the bias Adam corrects) and their mean age ``β/(1−β)`` (the memory of RMSProp's average).

SymPy is imported here only; ``import optlab`` does not import this module.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import sympy as sp

__all__ = ["iteration_matrix", "schur_conditions", "spectral_radius", "unroll", "fixed_point",
           "run_rule"]


def iteration_matrix(new_state: Sequence, state: Sequence) -> sp.Matrix:
    r"""The matrix ``M`` with ``new_state = M · state``, for an update that is linear in the state.

    ``new_state`` holds the expressions of the next state in terms of the symbols ``state``.
    Example, heavy ball on f = ½λx² with state (x_k, x_{k-1}):

    >>> a, b, lam, x, xp = sp.symbols("alpha beta lambda x x_prev")
    >>> iteration_matrix([x - a * lam * x + b * (x - xp), x], [x, xp])
    Matrix([
    [-alpha*lambda + beta + 1, -beta],
    [                       1,     0]])

    Raises ValueError when the update is not linear and homogeneous in ``state`` (a constant
    term or a product of state variables), since then no such matrix exists.
    """
    new, old = sp.Matrix(list(new_state)), sp.Matrix(list(state))
    if new.shape[0] != old.shape[0]:
        raise ValueError(f"new_state has {new.shape[0]} entries but state has {old.shape[0]}")
    M = new.jacobian(old)
    if any(entry.has(*old) for entry in M):
        raise ValueError("the update is not linear in the state (its Jacobian depends on it)")
    if (new - M * old).applyfunc(sp.simplify) != sp.zeros(*new.shape):
        raise ValueError("the update has a term that does not depend on the state (affine, "
                         "not linear): shift the state to the fixed point first")
    return M


def schur_conditions(poly, z) -> tuple:
    r"""Jury's conditions for ``z² + a₁z + a₀``: both roots satisfy |z| < 1 iff all are > 0.

    Returns ``(p(1), p(−1), 1 − a₀, 1 + a₀)`` (the last two say |a₀| < 1). For real
    coefficients these four inequalities are equivalent to a spectral radius below one
    (Jury's stability test for degree two). ``poly`` must be a monic quadratic in ``z``.
    """
    p = sp.Poly(sp.expand(poly), z)
    if p.degree() != 2 or sp.simplify(p.LC() - 1) != 0:
        raise ValueError(f"expected a monic quadratic in {z}, got {p.as_expr()}")
    a0 = p.coeff_monomial(1)
    expr = p.as_expr()
    return (sp.expand(expr.subs(z, 1)), sp.expand(expr.subs(z, -1)),
            sp.expand(1 - a0), sp.expand(1 + a0))


def spectral_radius(M: sp.Matrix, params: Sequence[sp.Symbol]) -> Callable[..., np.ndarray]:
    r"""A NumPy function ``rho(*values)``: the largest |eigenvalue| of ``M`` at those values.

    The values broadcast against each other, so one call evaluates a whole grid, e.g.
    ``rho(alpha[:, None], beta[None, :], lam)``.
    """
    entries = sp.lambdify(list(params), list(M), modules="numpy")
    n = M.shape[0]

    def rho(*values):
        flat = np.broadcast_arrays(*[np.asarray(v, dtype=float) for v in entries(*values)])
        stacked = np.stack(flat, axis=-1).reshape(flat[0].shape + (n, n))
        return np.abs(np.linalg.eigvals(stacked)).max(axis=-1)

    return rho


def unroll(step: Callable, state, steps: int) -> list:
    """``[state, step(state), step(step(state)), ...]``: ``steps + 1`` states in all.

    ``step`` maps a state (any value, typically a tuple of SymPy expressions) to the next one;
    it may take the step number as a second argument ``k`` (1-based) for schedules.
    """
    import inspect

    takes_k = len(inspect.signature(step).parameters) >= 2
    states = [state]
    for k in range(1, steps + 1):
        state = step(state, k) if takes_k else step(state)
        states.append(state)
    return states


def run_rule(opt, grads, param=0, steps: int | None = None, *, state: dict | None = None,
             **symbolic_hyperparameters):
    r"""Run `opt`'s own update rule on SymPy expressions: ``[θ_0, θ_1, ..., θ_T]`` and the state.

    ``opt`` is an optlab optimizer (``optlab.Adam()``, ``optlab.Momentum(lr=0.1)``, ...): it brings
    the rule function (``type(opt).rule``, the very code the NumPy and torch paths run), its options
    and its numeric hyperparameters. Keyword arguments replace hyperparameters by SymPy values, e.g.
    ``run_rule(optlab.Adam(), [g1, g2], lr=gamma, betas=(b1, b2), eps=eps)``.

    ``grads`` is either the gradients ``g_1, ..., g_T`` (then ``T = len(grads)``) or a function
    ``grad(theta, k)`` of the current parameter and the 1-based step number (then give ``steps``),
    e.g. ``lambda theta, k: lam * theta`` for f = λθ²/2. ``param`` is θ_0. ``state`` replaces the
    initial state (by default ``opt``'s own ``init_leaf``, whose zeros stay exact integers).

    Returns ``(thetas, state)``: the T+1 parameters as SymPy expressions (not simplified) and the
    final state with every entry a SymPy expression or number. The rule runs on NumPy arrays of
    dtype object (see ``optlab._ops``); it is the rule, not a re-typed copy of it.

    Exact rationals keep a derivation exact but grow with every step (square roots of rationals
    stay radicals); for a long numeric run pass ``sp.Float(value, 30)`` values instead.
    """
    unknown = set(symbolic_hyperparameters) - set(opt.hyperparameters)
    if unknown:
        raise TypeError(f"{type(opt).__name__} has no hyperparameter(s) {sorted(unknown)}; "
                        f"it has {sorted(opt.hyperparameters)}")
    hyperparameters = {k: _exact(v) for k, v in
                       {**opt.hyperparameters, **symbolic_hyperparameters}.items()}
    if callable(grads):
        if steps is None or steps < 0:
            raise ValueError("with a gradient function, give steps >= 0 (the number of updates)")
        gradient = grads
    else:
        grads = list(grads)
        if steps is not None and steps != len(grads):
            raise ValueError(f"steps={steps} but {len(grads)} gradients were given")
        steps = len(grads)
        gradient = lambda theta, k: grads[k - 1]  # noqa: E731
    theta = np.array(sp.sympify(param), dtype=object)
    if state is None:
        # init_leaf reads only self.hyperparameters: hand it the symbolic ones, so that e.g.
        # Adagrad's accumulator starts at a symbolic initial_accumulator_value
        from types import SimpleNamespace

        leaf = type(opt).init_leaf(SimpleNamespace(hyperparameters=hyperparameters), theta)
    else:
        leaf = dict(state)
    leaf = {k: _as_object_array(v) for k, v in leaf.items()}
    thetas = [theta.item()]
    for k in range(1, steps + 1):
        g = np.array(sp.sympify(gradient(theta.item(), k)), dtype=object)
        type(opt).rule(theta, g, leaf, **hyperparameters)
        thetas.append(theta.item())
    return thetas, {k: (v.item() if isinstance(v, np.ndarray) else v) for k, v in leaf.items()}


def _exact(value):
    """A hyperparameter as SymPy sees it: floats become the decimal typed (0.9 -> 9/10), so the
    expressions stay exact; flags stay Python booleans and options given as strings (Cautious's
    rescale) stay strings, so the rule's branches still run."""
    if isinstance(value, tuple):
        return tuple(_exact(v) for v in value)
    if isinstance(value, (bool, np.bool_, str)) or value is None:
        return value
    if isinstance(value, float):
        return sp.Rational(repr(value))
    if isinstance(value, np.ndarray):
        raise TypeError("run_rule takes scalar hyperparameters (SymPy values or floats), not a sweep")
    return sp.sympify(value)


def _as_object_array(value):
    """State arrays become 0-d object arrays (so the rule updates them in place); the rest stays."""
    if isinstance(value, np.ndarray):
        return np.array(_exact(value.item()), dtype=object)
    if isinstance(value, sp.Basic):  # e.g. state={"exp_avg": m}: a moment given as a symbol
        return np.array(value, dtype=object)
    if isinstance(value, float):
        return _exact(value)
    return value  # the step count (an int) and None (no momentum buffer yet) stay as they are


def fixed_point(update, var: sp.Symbol):
    r"""The steady state of ``var ← update(var)``: the solution of ``var = update``.

    For ``b ← μb + (1−τ)g`` this is ``(1−τ)g/(1−μ)``. The update must be linear in ``var``
    with slope ≠ 1, so that the fixed point is unique.
    """
    update = sp.expand(update)
    slope = sp.diff(update, var)
    if slope.has(var):
        raise ValueError(f"the update is not linear in {var}")
    if sp.simplify(slope - 1) == 0:
        raise ValueError(f"the update has slope 1 in {var}: no unique fixed point")
    return sp.simplify(update.subs(var, 0) / (1 - slope))


# -- where ε goes: the forms of Adam's step in other libraries (chapter 06) ----------------------
# optlab's own Adam is run symbolically with run_rule; adam_step writes the step from given moments
# for the ε placements optlab does not implement (TensorFlow/Keras, MXNet, optax's eps_root).

def adam_step(m, v, c1, c2, lr, eps=0, eps_mode: str = "after_correction"):
    r"""Adam's change ``θ_t − θ_{t−1}`` from its moments ``m_t, v_t`` and corrections ``c₁, c₂``.

    ``c₁ = 1−β₁^t`` and ``c₂ = 1−β₂^t`` (pass 1 for no bias correction). ``eps_mode`` picks
    where ε goes:

    - ``"after_correction"``: ``−α (m/c₁) / (√(v/c₂) + ε)`` — Kingma and Ba's Algorithm 1, and
      PyTorch's ``(γ/c₁) m / (√v/√c₂ + ε)``, which is the same expression rearranged;
    - ``"before_correction"``: ``−α (√c₂/c₁) m / (√v + ε̂)`` — the paper's "more efficient" order
      of computation (ε̂ added to the uncorrected √v), as in TensorFlow/Keras and MXNet;
    - ``"inside_sqrt"``: ``−α (m/c₁) / √(v/c₂ + ε)`` — ε under the root (optax's ``eps_root``
      with ``eps=0``).

    With symbols declared positive (v, c₁, c₂, ε) SymPy can compare the three forms for any t.
    """
    if eps_mode not in ("after_correction", "before_correction", "inside_sqrt"):
        raise ValueError(f"eps_mode must be 'after_correction', 'before_correction' or "
                         f"'inside_sqrt', got {eps_mode!r}")
    m, v, c1, c2, lr, eps = (sp.sympify(a) for a in (m, v, c1, c2, lr, eps))
    if eps_mode == "after_correction":
        return -lr * (m / c1) / (sp.sqrt(v / c2) + eps)
    if eps_mode == "before_correction":
        return -lr * sp.sqrt(c2) / c1 * m / (sp.sqrt(v) + eps)
    return -lr * (m / c1) / sp.sqrt(v / c2 + eps)


__all__ += ["adam_step"]


# -- exponential moving averages (RMSProp, Adam) ------------------------------------------------
# m_t = β m_{t−1} + (1−β) x_t with m_0 = 0 unrolls to m_t = Σ_{k=1}^{t} (1−β) β^{t−k} x_k: one
# weight per past input. Their sum 1 − β^t is the bias Adam corrects; their mean age β/(1−β) is
# the "memory" of the average.

__all__ += ["ema_weight", "ema_weights", "ema", "ema_weight_sum", "ema_mean_age"]


def ema_weight(beta, t, k):
    r"""The weight ``(1−β) β^{t−k}`` that the average after step t puts on the input of step k."""
    return (1 - beta) * beta ** (t - k)


def ema_weights(beta, t: int) -> list:
    """The t weights on x_1, ..., x_t (oldest first) of an EMA started at zero, for an integer t."""
    t = int(t)
    if t < 0:
        raise ValueError(f"t must be >= 0, got {t}")
    return [ema_weight(beta, t, k) for k in range(1, t + 1)]


def ema(beta, xs: Sequence, initial=0):
    r"""The EMA after ``len(xs)`` steps, unrolled: ``β^t m_0 + Σ_k (1−β) β^{t−k} x_k``.

    ``initial`` is m_0 (0 in RMSProp and Adam; optax lets RMSProp start elsewhere).
    """
    t = len(xs)
    return beta ** t * initial + sum(w * x for w, x in zip(ema_weights(beta, t), xs))


def ema_weight_sum(beta, t):
    r"""``Σ_{k=1}^{t} (1−β) β^{t−k}`` summed by SymPy: ``1 − β^t`` (t may be a symbol).

    ``t = sp.oo`` gives the total weight of an infinitely long average, 1 for 0 < β < 1.
    """
    k = sp.Dummy("k", integer=True)
    if t == sp.oo:
        j = sp.Dummy("j", integer=True, nonnegative=True)
        return _sum_to_infinity((1 - beta) * beta ** j, beta, j)
    return sp.simplify(sp.summation(ema_weight(beta, t, k), (k, 1, t)))


def ema_mean_age(beta):
    r"""The mean age of an EMA's weights, ``Σ_{j≥0} j (1−β) β^j``, summed by SymPy: ``β/(1−β)``.

    A weight of age j (the input of j steps ago) is ``(1−β)β^j``; the weights sum to one, so this
    is the average number of steps the EMA looks back: its memory, about 1/(1−β) for β near 1.
    """
    j = sp.Dummy("j", integer=True, nonnegative=True)
    return _sum_to_infinity(j * (1 - beta) * beta ** j, beta, j)


def _sum_to_infinity(term, beta, j):
    """``Σ_{j≥0} term`` for 0 < β < 1. Summed with β = 1/(1+s), s > 0, so that SymPy knows
    |β| < 1 and returns a closed form instead of a Piecewise on the convergence condition."""
    s = sp.Dummy("s", positive=True)
    total = sp.summation(term.subs(beta, 1 / (1 + s)), (j, 0, sp.oo))
    return sp.simplify(total.subs(s, 1 / beta - 1))
