"""Learning-rate schedules: ``torch.optim.lr_scheduler``'s, as pure functions of the step.

    from optlab import schedules
    s = schedules.CosineAnnealingLR(T_max=110, eta_min=0.0)
    s(base_lr, t)             # the lr after t scheduler steps (t = 0, 1, 2, ...)
    s.lrs(base_lr, steps)     # NumPy array [s(base_lr, 0), ..., s(base_lr, steps - 1)]

``s(base_lr, t)`` is what ``optimizer.param_groups[i]["lr"]`` holds after ``t`` calls of the torch
scheduler's ``step()`` when the group's lr was ``base_lr`` (the tests check every class against
torch in float64 to 1e-12, relative). A schedule holds only its validated arguments (read-only)
and has no state: there is no ``step()`` to forget, no order of calls to get wrong, and
``s(base_lr, t)`` can be asked for any ``t`` in any order. The classes take torch's names and
arguments without the optimizer. ``base_lr`` enters only through arithmetic, so it may be a
float, a NumPy array or a torch tensor (one lr per configuration of a sweep): the result is the
float result elementwise, of the same kind (bit for bit with NumPy and CPU tensors, tested; on
CUDA torch divides a tensor by a number through the reciprocal, which may move the last bit).

The runners take a schedule: ``optlab.run.trajectory(..., lr_schedule=s)`` (step t, 1-based, uses
``s(lr, t - 1)`` with the optimizer's own lr) and ``optlab.train.train_batched(..., schedule=s)``
(row i's base lr is its own lr), as torch's scheduler stepped once per optimizer step does. On the
torch path (``optlab.torch_optimizer``) torch's own schedulers work unchanged.

Closed forms. torch updates some schedules recursively from the group's current lr
(``CosineAnnealingLR``, ``LinearLR``, ``ExponentialLR``, ``StepLR``, ``MultiStepLR``: each
``step()`` multiplies the lr by a ratio) and keeps a closed form, ``_get_closed_form_lr``, for
``step(epoch)`` and ``SequentialLR``'s milestones. In exact arithmetic the two agree; here every
class uses torch's closed form, the same expression in the same order (the same bits, tested),
and the recursion's rounding makes torch's ``step()`` values drift from it. Measured against
torch 2.13 over the tests' runs (up to 1200 steps, two groups): at most 5.7e-14 relative for
``CosineAnnealingLR`` (T_max=1000, eta_min=1e-4), 3.0e-15 for ``ExponentialLR`` (1200 steps),
1.4e-15 for ``LinearLR``, 2.1e-15 for ``SequentialLR`` (warmup then cosine), below 5e-16 for the
rest. The cosine drift grows with the passes through eta_min, i.e. only when a run goes far
past T_max: over 10,000 steps it reaches 1.0e-13 for T_max=5000 (one pass), 2.3e-12 for
T_max=97 (52 passes), 3.0e-12 for T_max=10 (500 passes), beyond the tests' 1e-12.
``CosineAnnealingWarmRestarts`` and ``OneCycleLR`` are not recursive in torch: the same
expressions in the same order, the same bits.
"""

from __future__ import annotations

import math
import numbers
from bisect import bisect_right

import numpy as np

__all__ = [
    "Schedule", "StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR",
    "CosineAnnealingWarmRestarts", "SequentialLR", "OneCycleLR", "InverseSqrtLR",
    "InverseTimeLR",
]


# -- argument checks ---------------------------------------------------------------------------
def _integer(owner, name, value, low):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{owner}: {name} must be an integer >= {low}, got {value!r}")
    return int(value)


def _real(owner, name, value, low=None, high=None, low_open=False, high_open=False):
    """A finite float in the interval given by low/high (open or closed at each end)."""
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    lo = "-inf" if low is None else f"{low:g}"
    hi = "inf" if high is None else f"{high:g}"
    allowed = f"{left}{lo}, {hi}{right}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{owner}: {name} must be a real number in {allowed}, got {value!r}")
    value = float(value)
    ok = math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        raise ValueError(f"{owner}: {name} must be a finite number in {allowed}, got {value!r}")
    return value


def _step(t):
    if isinstance(t, bool) or not isinstance(t, numbers.Integral) or t < 0:
        raise ValueError(f"t (the number of scheduler steps taken) must be an integer >= 0, "
                         f"got {t!r}")
    return int(t)


# -- the common base ---------------------------------------------------------------------------
class Schedule:
    """Base class: a learning rate as a pure function of the step.

    Subclasses validate their arguments in ``__init__``, store them with ``_set`` (they are
    read-only afterwards and make up the repr and equality) and write ``_lr(base_lr, t)`` for a
    checked ``t``.
    """

    def _set(self, **args):
        object.__setattr__(self, "_args", dict(args))
        for name, value in args.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError(f"{type(self).__name__} is read-only: make a new schedule "
                             f"instead of setting {name}")

    def __call__(self, base_lr, t):
        """The learning rate after `t` scheduler steps (t = 0: before the first one) for a group
        whose lr was `base_lr` (a float, a NumPy array or a torch tensor)."""
        return self._lr(base_lr, _step(t))

    def _lr(self, base_lr, t):
        raise NotImplementedError

    def lrs(self, base_lr, steps) -> np.ndarray:
        """``[s(base_lr, 0), ..., s(base_lr, steps - 1)]`` as a float64 NumPy array, shape
        (steps, *np.shape(base_lr)): the lr each of `steps` optimizer steps uses."""
        steps = _integer(type(self).__name__, "steps", steps, 0)
        shape = np.shape(base_lr)
        out = np.empty((steps, *shape))
        for t in range(steps):
            out[t] = np.asarray(self._lr(base_lr, t), dtype=np.float64)
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + ", ".join(
            f"{k}={list(v) if isinstance(v, tuple) else v!r}" for k, v in self._args.items()) + ")"

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self._args == other._args

    def __hash__(self):
        return hash((type(self).__name__, tuple(self._args.items())))


# -- step decays -------------------------------------------------------------------------------
class StepLR(Schedule):
    r"""Multiply the lr by `gamma` every `step_size` steps: :math:`\eta_t = \eta_0\,
    \gamma^{\lfloor t/s \rfloor}` (torch's closed form). The classic "divide by 10 at fixed
    epochs" of image classification (e.g. He et al. 2016).

    step_size: an integer >= 1. gamma: a finite number > 0 (< 1 decays, > 1 grows).
    torch multiplies the current lr by gamma at each multiple of step_size; the power here
    differs from that product by a few units in the last place.
    """

    def __init__(self, step_size, gamma=0.1):
        self._set(step_size=_integer("StepLR", "step_size", step_size, 1),
                  gamma=_real("StepLR", "gamma", gamma, 0.0, low_open=True))

    def _lr(self, base_lr, t):
        return base_lr * self.gamma ** (t // self.step_size)


class MultiStepLR(Schedule):
    r"""Multiply the lr by `gamma` at each milestone: :math:`\eta_t = \eta_0\,\gamma^{n(t)}`,
    n(t) the number of milestones <= t (a milestone listed twice counts twice, as in torch).

    milestones: integers >= 0, in any order (kept sorted). gamma: a finite number > 0.
    """

    def __init__(self, milestones, gamma=0.1):
        try:
            values = list(milestones)
        except TypeError:
            raise ValueError(f"MultiStepLR: milestones must be a list of integers >= 0, got "
                             f"{milestones!r}") from None
        values = sorted(_integer("MultiStepLR", "each milestone", m, 0) for m in values)
        self._set(milestones=tuple(values),
                  gamma=_real("MultiStepLR", "gamma", gamma, 0.0, low_open=True))

    def _lr(self, base_lr, t):
        return base_lr * self.gamma ** bisect_right(self.milestones, t)


class ExponentialLR(Schedule):
    r"""Multiply the lr by `gamma` every step: :math:`\eta_t = \eta_0\,\gamma^t` (torch's closed
    form; torch's ``step()`` multiplies t times, which differs by ~t/2 units in the last place).

    gamma: a finite number > 0.
    """

    def __init__(self, gamma):
        self._set(gamma=_real("ExponentialLR", "gamma", gamma, 0.0, low_open=True))

    def _lr(self, base_lr, t):
        return base_lr * self.gamma ** t


# -- cosine ------------------------------------------------------------------------------------
class CosineAnnealingLR(Schedule):
    r"""Cosine annealing from the base lr to `eta_min` over `T_max` steps (Loshchilov & Hutter
    2017, SGDR, eq. 5, without the restarts):

    .. math:: \eta_t = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})
              \bigl(1 + \cos(\pi t / T_{\max})\bigr).

    Past `T_max` torch does not hold eta_min: the cosine goes on, back up to the base lr at
    2·T_max, and so does this closed form (use ``SequentialLR`` with a constant tail, or
    ``CosineAnnealingWarmRestarts``, for something else).

    torch's ``step()`` is recursive, :math:`\eta_{t} = \eta_{\min} + (\eta_{t-1} - \eta_{\min})
    \frac{1 + \cos(\pi t/T_{\max})}{1 + \cos(\pi (t-1)/T_{\max})}` (with a special case where the
    denominator vanishes, one step past each odd multiple of T_max); its ``_get_closed_form_lr``
    is the formula above, evaluated here in the same order. The two agree in exact arithmetic;
    in float64 the recursion drifts from it, mostly where it passes eta_min (measured: at most
    5.7e-14 relative over 1200 steps of T_max=1000; 3e-12 after 10,000 steps of T_max=10, see
    the module docstring).

    T_max: an integer >= 1. eta_min: a finite number >= 0.
    """

    def __init__(self, T_max, eta_min=0.0):
        self._set(T_max=_integer("CosineAnnealingLR", "T_max", T_max, 1),
                  eta_min=_real("CosineAnnealingLR", "eta_min", eta_min, 0.0))

    def _lr(self, base_lr, t):
        return self.eta_min + (base_lr - self.eta_min) * (
            1 + math.cos(math.pi * t / self.T_max)) / 2


class CosineAnnealingWarmRestarts(Schedule):
    r"""SGDR (Loshchilov & Hutter 2017, eq. 5): cosine annealing that restarts at the base lr.

    .. math:: \eta_t = \eta_{\min} + \tfrac12(\eta_0 - \eta_{\min})
              \bigl(1 + \cos(\pi T_{cur} / T_i)\bigr),

    T_i the length of the current period (T_0, then T_0·T_mult, T_0·T_mult², ...) and T_cur the
    steps since the last restart, counted in integers as torch's ``step()`` counts them (torch's
    ``step(epoch)`` finds the period with a floating-point logarithm instead). Same expressions
    as torch, so the same bits.

    T_0: an integer >= 1. T_mult: an integer >= 1. eta_min: a finite number >= 0.
    """

    def __init__(self, T_0, T_mult=1, eta_min=0.0):
        name = "CosineAnnealingWarmRestarts"
        self._set(T_0=_integer(name, "T_0", T_0, 1), T_mult=_integer(name, "T_mult", T_mult, 1),
                  eta_min=_real(name, "eta_min", eta_min, 0.0))

    def period(self, t):
        """(T_cur, T_i) after `t` steps."""
        t = _step(t)
        if self.T_mult == 1:
            return t % self.T_0, self.T_0
        T_cur, T_i = t, self.T_0
        while T_cur >= T_i:
            T_cur, T_i = T_cur - T_i, T_i * self.T_mult
        return T_cur, T_i

    def _lr(self, base_lr, t):
        T_cur, T_i = self.period(t)
        return self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * T_cur / T_i)) / 2


# -- warmup and chaining -----------------------------------------------------------------------
class LinearLR(Schedule):
    r"""Scale the lr by a factor that moves linearly from `start_factor` to `end_factor` over
    `total_iters` steps, then stays: :math:`\eta_t = \eta_0\bigl(f_s + (f_e - f_s)
    \min(t, n)/n\bigr)`. With the defaults it is the usual linear warmup (Goyal et al. 2017,
    gradual warmup, §2.2), from η₀/3 to η₀ in 5 steps.

    torch's ``step()`` multiplies by the ratio of consecutive factors; this is its closed form.

    start_factor: in (0, 1]. end_factor: in [0, 1]. total_iters: an integer >= 1 (torch
    accepts 0 and then stays at start_factor for ever; its closed form divides by zero).
    """

    def __init__(self, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
        self._set(start_factor=_real("LinearLR", "start_factor", start_factor, 0.0, 1.0,
                                     low_open=True),
                  end_factor=_real("LinearLR", "end_factor", end_factor, 0.0, 1.0),
                  total_iters=_integer("LinearLR", "total_iters", total_iters, 1))

    def _lr(self, base_lr, t):
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor)
                          * min(self.total_iters, t) / self.total_iters)


class SequentialLR(Schedule):
    """Run `schedulers` one after another, switching at `milestones` (torch's SequentialLR):
    step t uses ``schedulers[i](base_lr, t - milestones[i - 1])``, i the number of milestones
    <= t (``milestones[-1]`` read as 0). Each piece starts afresh from the base lr at its
    milestone, as torch's does (it calls the piece's closed form at 0).

        warmup_cosine = SequentialLR([LinearLR(0.1, total_iters=10),
                                      CosineAnnealingLR(T_max=90)], milestones=[10])

    schedulers: one or more optlab schedules (a SequentialLR too: torch cannot nest one after
    the first position, this module can). ``OneCycleLR`` is refused: it sets the lr range by
    itself and torch calls it "not chainable" (chained, its result depends on the order the
    schedulers were built in). milestones: len(schedulers) - 1 non-decreasing integers >= 0.
    """

    def __init__(self, schedulers, milestones):
        schedulers, milestones = list(schedulers), list(milestones)
        if not schedulers:
            raise ValueError("SequentialLR: schedulers must hold at least one schedule")
        for i, s in enumerate(schedulers):
            if not isinstance(s, Schedule):
                raise TypeError(f"SequentialLR: schedulers[{i}] must be an optlab schedule such "
                                f"as LinearLR(...), got {s!r}")
            if isinstance(s, OneCycleLR):
                raise TypeError("SequentialLR: OneCycleLR is not chainable (torch's OneCycleLR "
                                "sets the lr range itself and says so too)")
        if len(milestones) != len(schedulers) - 1:
            raise ValueError(f"SequentialLR: milestones must have len(schedulers) - 1 = "
                             f"{len(schedulers) - 1} entries, got {len(milestones)}")
        milestones = [_integer("SequentialLR", "each milestone", m, 0) for m in milestones]
        if any(b < a for a, b in zip(milestones, milestones[1:])):
            raise ValueError(f"SequentialLR: milestones must be non-decreasing, got {milestones}")
        self._set(schedulers=tuple(schedulers), milestones=tuple(milestones))

    def _lr(self, base_lr, t):
        i = bisect_right(self.milestones, t)
        return self.schedulers[i]._lr(base_lr, t - (self.milestones[i - 1] if i else 0))


class OneCycleLR(Schedule):
    r"""The 1cycle policy (Smith & Topin 2019; Smith 2018): warm up from max_lr/div_factor to
    max_lr over the first `pct_start` of `total_steps`, then anneal to
    max_lr/(div_factor·final_div_factor) (two phases, as torch and fastai by default; three with
    `three_phase`, the paper's form, which comes back down to the start before annealing).
    Between the phase ends the lr moves along a half cosine (``anneal_strategy="cos"``) or a
    line (``"linear"``). Only the lr: torch also cycles the momentum, which is not modelled here.

    max_lr: a finite number > 0, the peak, as in torch: then the optimizer's own lr is ignored,
    as torch ignores it, and ``s(base_lr, t)`` is a float whatever ``base_lr`` is. Or ``None``:
    the peak is ``base_lr`` itself, so a sweep over the optimizer's lr sweeps the peak (torch's
    ``max_lr=[lr of each group]``).
    total_steps: an integer >= 1, or ``epochs`` and ``steps_per_epoch`` (integers >= 1) whose
    product it is. pct_start: in [0, 1]. div_factor, final_div_factor: finite numbers > 0.

    Valid for t = 0, ..., total_steps (torch raises past that; so does this). Same expressions
    as torch, so the same bits. Where a phase has zero length torch divides by zero; this
    raises a ValueError: at construction when pct_start·total_steps = 1 (the first phase, met
    at t = 0), else at the step that meets it.
    """

    def __init__(self, max_lr=None, total_steps=None, epochs=None, steps_per_epoch=None,
                 pct_start=0.3, anneal_strategy="cos", div_factor=25.0, final_div_factor=1e4,
                 three_phase=False):
        name = "OneCycleLR"
        if max_lr is not None:
            max_lr = _real(name, "max_lr", max_lr, 0.0, low_open=True)
        if total_steps is not None:
            total_steps = _integer(name, "total_steps", total_steps, 1)
        elif epochs is not None and steps_per_epoch is not None:
            total_steps = (_integer(name, "epochs", epochs, 1)
                           * _integer(name, "steps_per_epoch", steps_per_epoch, 1))
        else:
            raise ValueError("OneCycleLR: give total_steps, or both epochs and steps_per_epoch")
        pct_start = _real(name, "pct_start", pct_start, 0.0, 1.0)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got "
                             f"{anneal_strategy!r}")
        if not isinstance(three_phase, bool):
            raise ValueError(f"OneCycleLR: three_phase must be True or False, got "
                             f"{three_phase!r}")
        self._set(max_lr=max_lr, total_steps=total_steps, pct_start=pct_start,
                  anneal_strategy=anneal_strategy,
                  div_factor=_real(name, "div_factor", div_factor, 0.0, low_open=True),
                  final_div_factor=_real(name, "final_div_factor", final_div_factor, 0.0,
                                         low_open=True),
                  three_phase=three_phase)
        if float(pct_start * total_steps) - 1 == 0:
            raise ValueError(f"OneCycleLR: pct_start * total_steps must not be 1 (got "
                             f"{pct_start} * {total_steps}): the warmup phase would have zero "
                             "length (torch divides by zero at the first step)")

    def _phases(self):
        """(end_step, start key, end key) per phase, torch's table."""
        T, p = self.total_steps, self.pct_start
        if self.three_phase:
            return ((float(p * T) - 1, "initial", "max"), (float(2 * p * T) - 2, "max", "initial"),
                    (T - 1, "initial", "min"))
        return ((float(p * T) - 1, "initial", "max"), (T - 1, "max", "min"))

    def _lr(self, base_lr, t):
        if t > self.total_steps:
            raise ValueError(f"OneCycleLR: t = {t} is past total_steps = {self.total_steps} "
                             "(torch raises there too)")
        peak = base_lr if self.max_lr is None else self.max_lr
        initial = peak / self.div_factor
        values = {"initial": initial, "max": peak, "min": initial / self.final_div_factor}
        phases = self._phases()
        start_step = 0.0
        for i, (end_step, start, end) in enumerate(phases):
            if t <= end_step or i == len(phases) - 1:
                if end_step == start_step:
                    raise ValueError(f"OneCycleLR: step {t} falls in a phase of zero length "
                                     f"(pct_start={self.pct_start}, total_steps="
                                     f"{self.total_steps}, three_phase={self.three_phase})")
                pct = (t - start_step) / (end_step - start_step)
                a, b = values[start], values[end]
                if self.anneal_strategy == "cos":
                    return b + (a - b) / 2.0 * (math.cos(math.pi * pct) + 1)
                return (b - a) * pct + a
            start_step = end_step
        raise AssertionError("unreachable")


# -- the theory schedules ----------------------------------------------------------------------
class InverseSqrtLR(Schedule):
    r""":math:`\eta_t = \eta_0/\sqrt{t+1}`: step 1 (t = 0) uses the base lr. The α/√t rate of
    online and stochastic convex optimization (Zinkevich 2003; Nemirovski et al. 2009) and of
    AMSGrad's analysis (Reddi et al. 2018). Σηₜ diverges but so does Σηₜ² = Σ η₀²/(t+1), so
    it misses the Robbins–Monro conditions; its guarantees there are for the average regret or
    the averaged iterate. No torch class:
    ``LambdaLR(opt, lambda t: 1 / math.sqrt(t + 1))`` is the same (to an ulp).
    """

    def __init__(self):
        self._set()

    def _lr(self, base_lr, t):
        return base_lr / math.sqrt(t + 1)


class InverseTimeLR(Schedule):
    r""":math:`\eta_t = \eta_0/(t+1)`: step 1 (t = 0) uses the base lr. The classic stochastic
    approximation step (Robbins & Monro 1951): Σηₜ = ∞ and Σηₜ² < ∞. No torch class:
    ``LambdaLR(opt, lambda t: 1 / (t + 1))`` is the same (to an ulp).
    """

    def __init__(self):
        self._set()

    def _lr(self, base_lr, t):
        return base_lr / (t + 1)
