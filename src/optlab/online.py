r"""Online linear losses on an interval: Reddi, Kale and Kumar's counterexamples to Adam.

In online convex optimisation a learner picks ``x_t`` in a feasible set, then sees the loss
``f_t`` and pays ``f_t(x_t)``; its regret after T rounds is
``R_T = Σ_{t≤T} f_t(x_t) − min_x Σ_{t≤T} f_t(x)``. Reddi et al. (2018) build their examples
from linear losses ``f_t(x) = c_t·x`` on ``[−1, 1]``, where the gradient is the coefficient
``c_t`` whatever ``x`` is, so a whole run is one loop over a known sequence:

    problem = LinearOnline.reddi_theorem1(C=3.0)        # c_t = C if t mod 3 = 1 else −1
    run = run_online(optlab.AMSGrad(betas=(0.0, 0.1), eps=0.0), problem, x0=1.0,
                     steps=10_000, step_size=lambda t: 0.5 / t ** 0.5)
    run.xs[-1], run.average_regret[-1]

``run_online`` applies an optlab rule (PyTorch's form: bias correction, ε after it) and projects
onto the interval after every step. ``paper_adam`` is the form Reddi et al. print: no bias
correction and no ε, with AMSGrad's maximum taken over the raw second moment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["LinearOnline", "OnlineRun", "run_online", "paper_adam"]


@dataclass(frozen=True)
class LinearOnline:
    """The losses ``f_t(x) = c_t·x`` on ``[lower, upper]``, with ``c_t = coefficient(t)``.

    ``coefficient`` maps an integer array of rounds t = 1, 2, ... to the coefficients; it must be
    a function of t alone (a random sequence draws from a fixed seed), so that a longer run
    extends a shorter one.
    """

    coefficient: Callable[[np.ndarray], np.ndarray]
    lower: float = -1.0
    upper: float = 1.0
    name: str = "LinearOnline"

    def __post_init__(self):
        if not (np.isfinite(self.lower) and np.isfinite(self.upper) and self.lower < self.upper):
            raise ValueError(f"the interval [{self.lower}, {self.upper}] must be finite with "
                             "lower < upper")

    # -- the three examples of Reddi, Kale and Kumar (2018) -------------------------------------
    @classmethod
    def reddi_theorem1(cls, C: float = 3.0) -> "LinearOnline":
        """Section 3: ``f_t(x) = C·x`` when t mod 3 = 1, ``−x`` otherwise, C > 2; optimum x = −1."""
        if not C > 2:
            raise ValueError(f"the example needs C > 2 (so that x = -1 is optimal), got {C}")
        C = float(C)
        return cls(lambda t: np.where(np.asarray(t) % 3 == 1, C, -1.0),
                   name=f"Reddi et al. Theorem 1 (C={C:g})")

    @classmethod
    def reddi_synthetic(cls, large: float = 1010.0, small: float = -10.0,
                        period: int = 101) -> "LinearOnline":
        """Section 5 (Figure 1, online): ``1010·x`` when t mod 101 = 1, ``−10·x`` otherwise."""
        large, small, period = float(large), float(small), int(period)
        return cls(lambda t: np.where(np.asarray(t) % period == 1, large, small),
                   name=f"Reddi et al. synthetic ({large:g}x every {period}, {small:g}x otherwise)")

    @classmethod
    def reddi_stochastic(cls, seed: int = 0, probability: float = 0.01, large: float = 1010.0,
                         small: float = -10.0) -> "LinearOnline":
        """Section 5 (Figure 1, stochastic): ``1010·x`` with probability 0.01, else ``−10·x``.

        Round t uses the t-th uniform draw of ``np.random.default_rng(seed)``, so the sequence
        is fixed by the seed and does not depend on how many rounds are asked for.
        """
        if not 0 < probability < 1:
            raise ValueError(f"probability must lie in (0, 1), got {probability}")
        large, small = float(large), float(small)

        def coefficient(t):
            t = np.asarray(t)
            draws = np.random.default_rng(seed).random(int(t.max(initial=0)))
            return np.where(draws[t - 1] < probability, large, small)

        return cls(coefficient, name=f"Reddi et al. stochastic (p={probability:g}, seed={seed})")

    # -- what a run is measured with ------------------------------------------------------------
    def coefficients(self, steps: int) -> np.ndarray:
        """``c_1, ..., c_steps`` as a float array (the gradient at round t is ``c_t``)."""
        steps = _steps(steps)
        return np.asarray(self.coefficient(np.arange(1, steps + 1)), dtype=float)

    def project(self, x):
        """The Euclidean projection onto ``[lower, upper]`` (in place for a float array)."""
        if isinstance(x, np.ndarray):
            return np.clip(x, self.lower, self.upper, out=x)
        return min(self.upper, max(self.lower, x))

    def regret(self, xs) -> np.ndarray:
        """``R_t`` for t = 1..T, where ``xs[t - 1]`` is the point played at round t.

        The best fixed point for the first t rounds is an end of the interval, so
        ``min_x Σ c_s x = min(lower·S_t, upper·S_t)`` with ``S_t = Σ_{s≤t} c_s``.
        """
        xs = np.asarray(xs, dtype=float)
        c = self.coefficients(len(xs))
        played = np.cumsum(c * xs)
        total = np.cumsum(c)
        return played - np.minimum(self.lower * total, self.upper * total)

    def best_point(self, steps: int) -> float:
        """The fixed point with least total loss over the first ``steps`` rounds."""
        total = self.coefficients(steps).sum()
        return self.lower if total > 0 else self.upper


@dataclass(frozen=True)
class OnlineRun:
    """A run: ``xs[t - 1]`` is the point played at round t (``xs[0] = x0``; T + 1 points).

    ``regret[t - 1] = R_t`` and ``average_regret[t - 1] = R_t / t`` for t = 1..T; ``records``
    holds what ``record(t, state)`` returned after each step (None when no record was asked).
    """

    xs: np.ndarray
    regret: np.ndarray
    records: np.ndarray | None = None

    @property
    def average_regret(self) -> np.ndarray:
        return self.regret / np.arange(1, len(self.regret) + 1)


def run_online(opt, problem: LinearOnline, x0: float, steps: int, step_size=None,
               record: Callable | None = None) -> OnlineRun:
    """Play ``steps`` rounds of `problem` with optlab optimizer `opt`, projecting after each step.

    step_size: None (use ``opt``'s lr), a float, or t ↦ α_t (e.g. ``lambda t: α / t ** 0.5``).
    record: optional ``(t, state) ↦ float`` called after step t, e.g. ``lambda t, s:
    s["max_exp_avg_sq"][0]`` for AMSGrad's running maximum.

    Each round does what ``x, state = opt.replace(lr=α_t).step(x, c_t, state)`` followed by
    ``x = problem.project(x)`` does, but calls the optimizer's rule in place on a 1-element
    array: the same arithmetic without the copies and checks of ``step``, so 10⁵ rounds take
    about a second.
    """
    steps = _steps(steps)
    if not np.isfinite(x0):
        raise ValueError(f"x0 must be finite, got {x0}")
    rule = type(opt).rule
    hyperparameters = dict(opt.hyperparameters)
    for name, value in hyperparameters.items():
        if isinstance(value, np.ndarray) or (isinstance(value, tuple) and any(
                isinstance(v, np.ndarray) for v in value)):
            raise TypeError(f"run_online runs one setting at a time; {name} is an array")
    schedule = _schedule(step_size, hyperparameters["lr"])

    x = problem.project(np.array([float(x0)]))
    state = opt.init(x)
    gradients = problem.coefficients(steps)
    xs = np.empty(steps + 1)
    xs[0] = x[0]
    records = None if record is None else np.empty(steps)
    g = np.empty(1)
    for t in range(1, steps + 1):
        hyperparameters["lr"] = schedule(t)
        g[0] = gradients[t - 1]
        rule(x, g, state, **hyperparameters)
        problem.project(x)
        xs[t] = x[0]
        if records is not None:
            records[t - 1] = record(t, state)
    if not np.isfinite(xs).all():
        raise FloatingPointError("the run produced a non-finite iterate (eps = 0 with a zero "
                                 "second moment?)")
    return OnlineRun(xs, problem.regret(xs[:-1]), records)


def paper_adam(problem: LinearOnline, x0: float, steps: int, step_size, betas, *,
               amsgrad: bool = False) -> OnlineRun:
    r"""Adam or AMSGrad exactly as Reddi et al. print them (their Algorithm 2 for AMSGrad).

    .. math::
       m_t = β_1 m_{t-1} + (1-β_1) g_t, \quad v_t = β_2 v_{t-1} + (1-β_2) g_t^2, \quad
       \hat v_t = \max(\hat v_{t-1}, v_t) \text{ (AMSGrad) or } v_t \text{ (Adam)}, \\
       x_{t+1} = Π_{[lower, upper]}\bigl(x_t - α_t m_t / \sqrt{\hat v_t}\bigr)

    No bias correction and no ε. ``records[t - 1]`` is the effective step ``α_t / √v̂_t``.
    Plain Python floats: a million rounds take about a second.
    """
    steps = _steps(steps)
    beta1, beta2 = (float(b) for b in betas)
    for i, b in enumerate((beta1, beta2)):
        if not 0 <= b < 1:
            raise ValueError(f"betas[{i}] must lie in [0, 1), got {b}")
    schedule = _schedule(step_size, None)
    gradients = problem.coefficients(steps).tolist()
    x = problem.project(float(x0))
    m = v = v_hat = 0.0
    xs = [x]
    effective = []
    for t in range(1, steps + 1):
        g = gradients[t - 1]
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        v_hat = max(v_hat, v) if amsgrad else v
        # v̂ = 0 only while every gradient so far was 0, and then m = 0: no step
        rate = schedule(t) / math.sqrt(v_hat) if v_hat > 0 else math.inf
        x = problem.project(x - rate * m) if m != 0 else x
        xs.append(x)
        effective.append(rate)
    xs = np.array(xs)
    return OnlineRun(xs, problem.regret(xs[:-1]), np.array(effective))


def _steps(steps) -> int:
    if isinstance(steps, bool) or int(steps) != steps or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    return int(steps)


def _schedule(step_size, default_lr):
    if step_size is None:
        if default_lr is None:
            raise ValueError("step_size is required")
        step_size = default_lr
    if callable(step_size):
        return lambda t: float(step_size(t))
    value = float(step_size)
    if not (np.isfinite(value) and value >= 0):
        raise ValueError(f"step_size must be a finite non-negative float, got {step_size!r}")
    return lambda t: value
