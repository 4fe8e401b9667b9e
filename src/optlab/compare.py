r"""Scoring a comparison of optimizers the way the AlgoPerf benchmark scores training algorithms.

    target = target_from_runs(setter_curves, window=w, hold=0.25)  # AlgoPerf's: median of bests
    steps = steps_to_target(curves, target, steps=evaluated_at, window=w, hold=0.25)  # inf: never
    best = best_trial(steps)                  # per optimizer: its best trial, median over seeds
    ratios = performance_ratios(times)        # (workloads, optimizers): t / the workload's fastest
    rho = performance_profile(ratios, taus)   # fraction of workloads within a factor tau
    score = benchmark_score(ratios, r_max=4)  # the area under the profile, in [0, 1]

The AlgoPerf benchmark (Dahl et al. 2023, "Benchmarking Neural Network Training Algorithms",
arXiv:2306.07179) times how long a training algorithm takes to reach a fixed validation target on
each of several workloads, and aggregates the times with Dolan and Moré's performance profiles
(Dolan, E. D. and Moré, J. J. (2002), "Benchmarking optimization software with performance
profiles", Math. Program. 91:201-213, doi:10.1007/s101070100263). Its rules changed between
versions; the ones cited here are those of github.com/mlcommons/algorithmic-efficiency,
docs/DOCUMENTATION.md, version 0.6.0 at commit 2c90454fc05d5bdf3598b0c7651e611f132a7060
(2025-09-05), sections "External Tuning Ruleset", "Defining Target Performance and
`max_runtime`" and "AlgoPerf Benchmark Score via Integrated Performance Profiles". What this
module does, and where it differs:

- Time is counted in optimizer steps (the evaluation at which a curve first reaches the target),
  not in seconds on fixed hardware; evaluations are as frequent as the caller records them.
- External tuning, v0.6.0: 3 independent *studies* of 5 *trials* (hyperparameter settings) each;
  in each study the fastest trial counts, and the workload's time is the median over the 3
  studies (:func:`per_seed_best`). Earlier versions differ: v0.5.0 (tag v0.5.0, commit 5b4914f)
  had 5 studies of 5 trials and held-out workload variants; the rules of the paper's time
  (RULES.md, 2023) had 5 studies of 20 trials, cut to 5 trials in commit 38cfe24 (2023-11-16).
  v0.6.0 changed to 3 studies in commit 23004a2 and removed the held-out workloads in commit
  bdfd9d8 (both 2025-06-25). :func:`best_trial` instead runs every trial with several seeds,
  takes each trial's median over its seeds and scores the best trial: the hyperparameters are
  chosen on the median, not study by study.
- Targets, v0.6.0: four target-setting algorithms (AdamW, NAdamW, Nesterov momentum, heavy-ball
  momentum) are tuned with 200 trials; the best setting is re-run with 20 seeds, and the target
  is the median over those seeds of each seed's best validation result
  (:func:`target_from_runs`). Submissions got 4/3 of the target-setters' runtime in v0.5; v0.6
  adapted the budgets per workload after the first competition. The caller of this module
  chooses the setters, the budgets and the seeds, and states them.
- AlgoPerf counts the first evaluation of its validation metric at or below the target and has
  no rule for holding it. A loss evaluated at every step under gradient noise can cross a target
  in a dip that the run does not hold. Two options, departures from AlgoPerf, turn "reached"
  into "reached and held" (:func:`held_level`, used by :func:`steps_to_target` and
  :func:`target_from_runs` alike): ``window`` judges each evaluation on the running median of
  the last ``window`` ones, and ``hold`` counts a run only if the median of the last fraction
  ``hold`` of its evaluations is at or below the target too.
- The benchmark score integrates the profile up to r_max = 4 and normalises by r_max − 1, as
  AlgoPerf does; ratios above r_max earn nothing, like a failure.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["running_median", "held_level", "target_from_runs", "steps_to_target", "best_trial",
           "per_seed_best", "performance_ratios", "performance_profile", "benchmark_score",
           "plot_profiles"]


def _float_array(values, name):
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an array of numbers, got {values!r}") from None
    if np.isnan(array).any():
        raise ValueError(f"{name} contains NaN; give a diverged run +inf (or its last finite "
                         f"value), not NaN")
    return array


def _curves(curves):
    curves = _float_array(curves, "curves")
    if curves.ndim < 1 or curves.shape[-1] == 0:
        raise ValueError(f"curves must have shape (..., T) with T >= 1 evaluations, got shape "
                         f"{curves.shape}")
    return curves


def running_median(curves, window):
    """The trailing running median of each curve over ``window`` evaluations.

    curves: (..., T), losses (NaN not allowed; +inf for a diverged run). window: an integer
    1 <= window <= T. Returns (..., T): entry k is the median of ``curves[..., k - window + 1 :
    k + 1]``, and +inf for k < window − 1 (a curve cannot have held a level for ``window``
    evaluations before it has made them). A median over an even window is the mean of the two
    middle values. ``window=1`` returns the curves unchanged.

    With an odd window w, ``running_median(curves, w)[..., k] <= target`` exactly when at least
    (w + 1)/2 of the last w evaluations are at or below the target, so
    ``steps_to_target(curves, target, window=w)`` is the first step at which a curve has been at
    or below the target in most of its last w evaluations: a run that dips through the target
    for fewer than (w + 1)/2 evaluations does not count.
    """
    curves = _curves(curves)
    window, _ = _window_hold(window, 0.0, curves.shape[-1])
    if window == 1:
        return curves.copy()
    views = np.lib.stride_tricks.sliding_window_view(curves, window, axis=-1)   # (..., T-w+1, w)
    out = np.full(curves.shape, np.inf)
    out[..., window - 1:] = np.median(views, axis=-1)
    return out


def _window_hold(window, hold, T):
    if isinstance(window, bool) or not isinstance(window, numbers.Integral) or not 1 <= window <= T:
        raise ValueError(f"window must be an integer from 1 to T = {T} (the number of "
                         f"evaluations), got {window!r}")
    if isinstance(hold, bool) or not isinstance(hold, numbers.Real) or not 0 <= hold < 1:
        raise ValueError(f"hold must be a number in [0, 1), the fraction of the run at its end "
                         f"whose median must be at or below the target, got {hold!r}")
    return int(window), float(hold)


def held_level(curves, *, window=1, hold=0.0):
    """The lowest target each curve reaches and holds: what "reached" means in this module.

    curves: (..., T), losses at T evaluations (NaN not allowed; +inf for a diverged run).
    window: the crossing is judged on :func:`running_median` over ``window`` evaluations (1: on
        the curve itself).
    hold: a fraction in [0, 1). If > 0, the run must also *hold* the target: the median of its
        last ``ceil(hold * T)`` evaluations must be at or below it.

    A curve reaches and holds a target L exactly when L >= ``held_level(curve)``, which is the
    lowest value of the running median, or the median of the last ``ceil(hold * T)``
    evaluations if that is higher. With window=1 and hold=0 it is the curve's minimum: AlgoPerf's
    "best achieved" value. :func:`steps_to_target` and :func:`target_from_runs` use this one
    definition, so a target set from some runs means the same thing for every run timed on it.
    """
    curves = _curves(curves)
    T = curves.shape[-1]
    window, hold = _window_hold(window, hold, T)
    level = running_median(curves, window).min(axis=-1)
    if hold > 0:
        tail = np.median(curves[..., T - math.ceil(hold * T):], axis=-1)
        level = np.maximum(level, tail)
    return level


def target_from_runs(curves, *, window=1, hold=0.0):
    """AlgoPerf's target from the runs of one setting: each seed's best value, then the median.

    curves: (..., seeds, T), the loss (lower is better) of one hyperparameter setting run with
    several seeds, restricted by the caller to the evaluations within the target-setters'
    budget. Returns (...): the median over the seeds of each seed's :func:`held_level` (with
    window=1 and hold=0: its minimum over its evaluations). AlgoPerf v0.6.0 re-runs the
    target-setters' best setting with 20 seeds and takes "the median of the best achieved
    validation errors across seeds", which "prevents our procedure from selecting a lucky
    outlier"; re-running on fresh seeds is the caller's part. With ``window`` and ``hold`` each
    seed's "best achieved" value is the lowest level it reaches and holds within its budget.
    """
    curves = _curves(curves)
    if curves.ndim < 2 or curves.shape[-2] == 0:
        raise ValueError(f"curves must have shape (..., seeds, T) with at least one seed, got "
                         f"shape {curves.shape}")
    return np.median(held_level(curves, window=window, hold=hold), axis=-1)


def steps_to_target(curves, target, *, steps=None, window=1, hold=0.0):
    """The step at which each curve first reaches the target: ``curve <= target``.

    curves: (..., T), the loss (lower is better) at T evaluations, NaN not allowed (a diverged
        run's losses are +inf from its divergence on; +inf never reaches a finite target).
    target: a finite number, or an array that broadcasts against ``curves.shape[:-1]`` (one
        target per curve, e.g. one per workload).
    steps: (T,), the non-decreasing step count of each evaluation (default 0, 1, ..., T − 1: one
        evaluation a step, column 0 before the first step).
    window, hold: "reached and held" for noisy curves (see :func:`held_level`): the time is the
        first evaluation at which the running median over ``window`` evaluations is at or below
        the target, and it counts only if the median of the last ``ceil(hold * T)`` evaluations
        is too. The defaults (1, 0) give the plain first crossing.

    Returns a float array of shape ``curves.shape[:-1]``: ``steps[k]`` for the first such k,
    ``inf`` where there is none (or where the run does not hold the target). As in AlgoPerf,
    only the first crossing counts: a run that reaches the target, rises and comes back keeps its
    first time. A target reached at an evaluation with step count 0 gives time 0, which
    :func:`performance_ratios` rejects: evaluate after the first step.
    """
    curves = _curves(curves)
    window, hold = _window_hold(window, hold, curves.shape[-1])
    target = _float_array(target, "target")
    if not np.isfinite(target).all():
        raise ValueError(f"target must be finite, got {target!r}")
    try:
        target = np.broadcast_to(target, curves.shape[:-1])
    except ValueError:
        raise ValueError(f"target of shape {target.shape} does not broadcast against the "
                         f"curves' leading shape {curves.shape[:-1]}") from None
    if steps is None:
        steps = np.arange(curves.shape[-1], dtype=float)
    else:
        steps = _float_array(steps, "steps")
        if steps.shape != curves.shape[-1:]:
            raise ValueError(f"steps must have shape ({curves.shape[-1]},), one step count per "
                             f"evaluation, got shape {steps.shape}")
        if not np.isfinite(steps).all() or (steps < 0).any() or (np.diff(steps) < 0).any():
            raise ValueError(f"steps must be finite, >= 0 and non-decreasing, got {steps!r}")
    reached = running_median(curves, window) <= target[..., None]
    first = reached.argmax(-1)                       # the first True (0 where there is none)
    ok = held_level(curves, window=window, hold=hold) <= target     # reached (and held)
    return np.where(ok, steps[first], np.inf)


def _times(times, name, ndim):
    times = _float_array(times, name)
    if times.ndim < ndim or 0 in times.shape:
        raise ValueError(f"{name} must have at least {ndim} non-empty axes, got shape "
                         f"{times.shape}")
    if (times < 0).any():
        raise ValueError(f"{name} must be >= 0 (steps to a target; inf for never), got a "
                         f"minimum of {times.min()!r}")
    return times


def best_trial(times):
    """Each optimizer's best trial: the lowest median over seeds.

    times: (..., trials, seeds), steps to target (inf: never), e.g. a grid of hyperparameters
        flattened to one trial axis, each trial run with every seed.

    Returns ``(time, trial, seeds)``: ``time`` (...) the best trial's median over its seeds (inf
    when no trial reaches the target in at least half its seeds), ``trial`` (...) its index
    (ties: the lower mean over the seeds, inf counted as inf, then the lower index), and
    ``seeds`` (..., seeds) its seeds' own times, the spread to report with it. A median over an
    even number of seeds is the mean of the two middle values (inf if either is inf).
    """
    times = _times(times, "times", 2)
    median = np.median(times, axis=-1)
    with np.errstate(invalid="ignore"):
        mean = times.mean(-1)
    mean = np.where(np.isnan(mean), np.inf, mean)
    # lexicographic: the median first, then the mean, then the trial index (lexsort is stable)
    flat_m, flat_a = median.reshape(-1, median.shape[-1]), mean.reshape(-1, mean.shape[-1])
    trial = np.array([np.lexsort((a, m))[0] for m, a in zip(flat_m, flat_a)])
    trial = trial.reshape(median.shape[:-1])
    time = np.take_along_axis(median, trial[..., None], -1)[..., 0]
    seeds = np.take_along_axis(times, trial[..., None, None], -2)[..., 0, :]
    return time, trial, seeds


def per_seed_best(times):
    """AlgoPerf's order: the fastest trial within each seed (a "study"), then the median.

    times: (..., trials, seeds). Returns (...): the median over the seeds of the minimum over
    the trials, AlgoPerf v0.6.0's t = median over its 3 studies of the fastest of each study's 5
    trials, with seed k of every trial playing study k. Unlike :func:`best_trial`, each seed may
    pick a different trial, so this is never slower than the best trial's median (min of medians
    >= median of mins). A median over an even number of seeds is the mean of the two middle
    values (inf if either is inf).
    """
    times = _times(times, "times", 2)
    return np.median(times.min(axis=-2), axis=-1)


def performance_ratios(times):
    r"""Dolan and Moré's performance ratios r_{w,s} = t_{w,s} / min_s t_{w,s}.

    times: (workloads, optimizers), positive steps to target, inf for never. A workload that no
    optimizer solves gives every optimizer the ratio inf (Dolan and Moré's r_M: counted as a
    failure for all); an optimizer that never reaches the target gets inf. Ratios are >= 1.
    """
    times = _times(times, "times", 2)
    if times.ndim != 2:
        raise ValueError(f"times must have shape (workloads, optimizers), got shape {times.shape}")
    if (times <= 0).any():
        raise ValueError("times must be > 0: a ratio to the fastest needs a positive fastest "
                         "time (count steps from 1, or evaluate after the first step)")
    best = times.min(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        ratios = times / best
    return np.where(np.isfinite(best), ratios, np.inf)   # inf / inf: nobody solved it


def _ratios(ratios):
    ratios = _float_array(ratios, "ratios")
    if ratios.ndim != 2 or 0 in ratios.shape:
        raise ValueError(f"ratios must have shape (workloads, optimizers), got shape "
                         f"{ratios.shape}")
    if (ratios < 1).any():
        raise ValueError(f"ratios must be >= 1 (a time over the fastest time), got a minimum of "
                         f"{ratios.min()!r}")
    return ratios


def performance_profile(ratios, taus):
    r"""rho_s(tau) = (1/n) #{workloads w : r_{w,s} <= tau}, Dolan and Moré's (2002) profile.

    ratios: (workloads, optimizers) from :func:`performance_ratios`. taus: the points (any
    shape) at which to evaluate it. Returns (optimizers, *taus.shape), each value a fraction of
    the n workloads, non-decreasing in tau; rho_s(1) is the share of workloads where s is (one
    of) the fastest, and rho_s(tau) as tau → inf the share it solves at all.
    """
    ratios = _ratios(ratios)
    taus = _float_array(taus, "taus")
    r = ratios.T[(...,) + (None,) * taus.ndim]                 # (optimizers, workloads, 1...)
    within = np.isfinite(r) & (r <= taus)         # a failure (inf) is within no tau, not even inf
    return within.mean(axis=1)


def benchmark_score(ratios, *, r_max=4.0):
    r"""AlgoPerf's benchmark score: B_s = 1/(r_max − 1) ∫_1^{r_max} rho_s(tau) dtau, in [0, 1].

    rho_s is a step function, so the integral is exact: a workload with ratio r <= r_max adds
    (r_max − r)/(r_max − 1)/n, one with r > r_max (or inf) adds nothing. 1 means the fastest on
    every workload. AlgoPerf takes r_max = 4. Returns (optimizers,).
    """
    ratios = _ratios(ratios)
    if isinstance(r_max, bool) or not isinstance(r_max, numbers.Real) or not 1 < r_max < np.inf:
        raise ValueError(f"r_max must be a finite number > 1, got {r_max!r}")
    credit = np.clip(r_max - ratios, 0.0, None) / (r_max - 1)
    return credit.mean(axis=0)


def plot_profiles(ratios, names, *, r_max=4.0, ax=None, title=None):
    """Draw each optimizer's profile rho_s(tau) for tau in [1, r_max] as a step function.

    ratios: (workloads, optimizers); names: one label per optimizer (the legend gives each its
    benchmark score). Colours from optlab.plot; after eight, lines turn dashed. Returns the Axes.
    """
    from . import plot

    ratios = _ratios(ratios)
    if len(names) != ratios.shape[1]:
        raise ValueError(f"names must have one label per optimizer ({ratios.shape[1]}), got "
                         f"{len(names)}")
    ax = plot.figure()[1] if ax is None else ax
    scores = benchmark_score(ratios, r_max=r_max)
    n = ratios.shape[0]
    for s, name in enumerate(names):
        r = np.sort(ratios[:, s][ratios[:, s] <= r_max])
        x = np.concatenate([[1.0], r, [r_max]])
        y = np.concatenate([[0.0], np.arange(1, len(r) + 1) / n, [len(r) / n]])
        ax.step(x, y, where="post", color=plot.COLORS[s % len(plot.COLORS)],
                linestyle=("-", "--", ":")[(s // len(plot.COLORS)) % 3], linewidth=1.4,
                label=f"{name} ({scores[s]:.2f})")
    ax.set(xlim=(1, r_max), ylim=(-0.02, 1.02), xlabel=r"$\tau$ (steps / fastest steps)",
           ylabel=r"$\rho_s(\tau)$", title=title)
    return ax
