"""Run an optimizer on an objective: one trajectory, or a whole sweep in one call.

    traj = trajectory(optlab.GD(lr=0.1), Rosenbrock(), np.array([-1.0, 1.0]), 500)
    sweep = trajectory(optlab.GD(lr=np.geomspace(1e-3, 1, 50)[:, None]), f, x0, 100)

Hyperparameters that are arrays broadcast against the start point, so the second call runs fifty
learning rates at once and ``sweep.xs[:, i]`` is exactly the run with ``lr[i]``. A row that
diverges (a non-finite gradient or iterate, or a value beyond the blow-up threshold) is flagged
in ``diverged``/``diverged_at`` and frozen at its last good point; ``summary()`` and the repr say
how many rows diverged, so a sweep never hides a blow-up behind NaNs. A row can also fail without
blowing up (bounded gradients, a run that bounces around): ``failed()`` flags the rows that
diverged or ended no lower than they started (or above a given target).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .schedules import Schedule


@dataclass(frozen=True, eq=False, repr=False)
class Trajectory:
    """The iterates of a run. ``xs[t]`` is the point after t steps, ``values[t] = f(xs[t])``.

    xs: (steps + 1, *batch, d).  values: (steps + 1, *batch).
    diverged: bool per row (a plain bool for a single run).
    diverged_at: the step whose gradient or result was bad, −1 where none was (an int for a
    single run). A row that diverged at step t keeps ``xs[t:] == xs[t - 1]``.
    """

    xs: np.ndarray
    values: np.ndarray
    diverged: np.ndarray | bool
    diverged_at: np.ndarray | int

    @property
    def final(self) -> np.ndarray:
        """The last point of each row (for a diverged row, its last good point)."""
        return self.xs[-1]

    @property
    def final_value(self) -> np.ndarray:
        return self.values[-1]

    @property
    def steps(self) -> int:
        return self.xs.shape[0] - 1

    def failed(self, target=None) -> np.ndarray | bool:
        """Per row: did the run fail to converge? ``diverged`` only catches a blow-up; this
        also catches a row that stays finite but gets nowhere.

        Without `target`, a row failed when it diverged or ended no lower than it started,
        f(x_T) ≥ f(x₀). With `target` (a finite number, or an array that broadcasts against the
        batch, e.g. f* + a tolerance), a row failed when it diverged or ended above it,
        f(x_T) > target. A loss with bounded gradients (logistic regression) never blows up, so a
        far too large learning rate leaves ``diverged`` False while the run bounces around at a
        loss above its start: ``failed()`` flags it. A bool for a single run.
        """
        batch = self.values.shape[1:]
        if target is None:
            bad = self.values[-1] >= self.values[0]
        else:
            try:
                limit = np.asarray(target, dtype=float)
            except (TypeError, ValueError):
                raise ValueError(f"target must be finite, got {target!r}") from None
            if not np.isfinite(limit).all():
                raise ValueError(f"target must be finite, got {target!r}")
            try:
                shape = np.broadcast_shapes(limit.shape, batch)
            except ValueError:
                shape = None
            if shape != batch:
                raise ValueError(f"target of shape {limit.shape} does not broadcast against the "
                                 f"batch shape {batch} of this trajectory")
            bad = self.values[-1] > limit
        bad = np.asarray(self.diverged) | bad
        return bool(bad) if not batch else bad

    def summary(self) -> str:
        batch = self.xs.shape[1:-1]
        diverged = np.asarray(self.diverged)
        if not batch:
            status = (f"diverged at step {self.diverged_at}" if self.diverged
                      else f"final value {float(self.values[-1]):.6g}")
            return f"Trajectory: {self.steps} steps in {self.xs.shape[-1]}-D, {status}"
        return (f"Trajectory: {self.steps} steps in {self.xs.shape[-1]}-D, batch {batch}: "
                f"{int(diverged.sum())} of {diverged.size} rows diverged")

    __repr__ = summary


def _hyperparameter_shapes(opt):
    for value in opt.hyperparameters.values():
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, np.ndarray):
                yield v.shape


def trajectory(opt, objective, x0, steps, *, grad_noise=None, seed=None, lr_schedule=None,
               blowup=1e12) -> Trajectory:
    """Take `steps` steps of `opt` on `objective` from `x0`.

    x0: (d,) or (*batch, d). It is broadcast against every array hyperparameter of `opt` (the
    two entries of ``betas`` included), so lr of shape (N, 1) with x0 of shape (d,) is a batch of
    N runs.
    grad_noise: standard deviation of Gaussian noise added to every gradient (a stand-in for
    minibatch noise), drawn from ``np.random.default_rng(seed)``: every row gets its own noise,
    so a noisy sweep row is not the single noisy run with the same seed.
    lr_schedule: an ``optlab.schedules`` schedule, or a callable t ↦ learning rate. With a
    schedule ``s``, step t (1-based) uses the lr ``s(lr, t - 1)``, ``lr`` the optimizer's own
    (a float or an array of a sweep: each row gets its own base lr), which is the run torch's
    scheduler stepped once per optimizer step makes. With a callable, step t uses
    ``lr_schedule(t)``. Either way the step is ``opt.replace(lr=...)`` and the optimizer state
    carries over.
    blowup: a row diverges when |f(x_t)| > blowup · (1 + |f(x₀)|), or on any non-finite gradient,
    iterate or value. ``None`` keeps only the non-finite test.
    """
    x0 = np.asarray(x0, dtype=float)
    steps = int(steps)
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    shapes = [x0.shape, *_hyperparameter_shapes(opt)]
    if isinstance(lr_schedule, Schedule):
        schedule, base_lr = lr_schedule, opt.hyperparameters["lr"]
        lr_schedule = lambda t: schedule(base_lr, t - 1)  # noqa: E731
        if steps:
            lr_schedule(steps)  # a schedule with an end (OneCycleLR) fails now, not mid-run
    if lr_schedule is not None:
        shapes.append(np.shape(lr_schedule(1)))
    try:
        shape = np.broadcast_shapes(*shapes)
    except ValueError:
        raise ValueError(
            f"x0 of shape {x0.shape} and the array hyperparameters of {opt!r} (shapes "
            f"{shapes[1:]}) do not broadcast: give each sweep axis its own trailing 1 for d"
        ) from None
    if shape[-1:] != x0.shape[-1:]:
        raise ValueError(f"the hyperparameters of {opt!r} change the last axis of x0 "
                         f"{x0.shape} to {shape[-1]}: give them a trailing axis of length 1")
    x = np.broadcast_to(x0, shape).copy()
    rng = np.random.default_rng(seed) if grad_noise is not None else None
    _settle_allocator(x.nbytes)

    xs = np.empty((steps + 1, *shape))
    values = np.empty((steps + 1, *shape[:-1]))
    diverged_at = np.full(shape[:-1], -1)
    # overflow is expected in a sweep that crosses the stability edge; it is reported per row
    with np.errstate(all="ignore"):
        f = np.asarray(objective.value(x))
        limit = np.inf if blowup is None else blowup * (1 + np.abs(f))
        bad = ~_ok(x, f, limit)
        diverged_at[bad] = 0
        frozen = bad
        any_frozen = bool(frozen.any())
        xs[0], values[0] = x, f
        state = opt.init(x)
        # The step runs in place on x (opt.step_, no copies). A frozen row is stepped with a zero
        # gradient like any other and then put back to its last good point, xs[t - 1]. The
        # per-row tests run only when a whole-array test fails: a sum is finite exactly when
        # every entry is (a sum that overflows only sends us to the per-row test), and against
        # a finite limit |f| <= limit already says f is finite.
        finite_limit = bool(np.isfinite(limit).all())
        for t in range(1, steps + 1):
            g = objective.grad(x)
            if rng is not None:
                g = g + grad_noise * rng.standard_normal(g.shape)
            if not np.isfinite(np.add.reduce(g, axis=None)):
                bad = ~frozen & ~np.isfinite(g).all(-1)
                diverged_at[bad] = t
                frozen = frozen | bad
                any_frozen = bool(frozen.any())
            if any_frozen:
                g = np.where(frozen[..., None], 0.0, g)
            step_opt = opt if lr_schedule is None else opt.replace(lr=lr_schedule(t))
            step_opt.step_(x, g, state, check_finite=False)
            if any_frozen:
                np.copyto(x, xs[t - 1], where=frozen[..., None])
            f = np.asarray(objective.value(x))
            if finite_limit:
                ok = np.abs(f) <= limit
            else:
                ok = np.isfinite(f) & (np.abs(f) <= limit)
            if not np.isfinite(np.add.reduce(x, axis=None)):
                ok = ok & np.isfinite(x).all(-1)
            if any_frozen:
                ok = ok | frozen
            if not ok.all():
                bad = ~ok  # the rows not frozen before whose new point is bad
                diverged_at[bad] = t
                frozen = frozen | bad
                any_frozen = True
                np.copyto(x, xs[t - 1], where=frozen[..., None])
            if any_frozen:
                f = np.where(frozen, values[t - 1], f)
            xs[t], values[t] = x, f

    diverged = diverged_at >= 0
    if not shape[:-1]:
        diverged, diverged_at = bool(diverged), int(diverged_at)
    for array in (xs, values, diverged, diverged_at):
        if isinstance(array, np.ndarray):
            array.flags.writeable = False
    return Trajectory(xs, values, diverged, diverged_at)


def _settle_allocator(nbytes: int) -> None:
    """Let the C allocator keep a sweep's temporaries (`nbytes` each) on its heap.

    glibc's malloc serves a block above its mmap threshold (128 KiB at start) from a fresh
    mmap, and returns heap memory to the system when more than twice that threshold is free at
    the heap's top. A sweep's step makes a few temporaries of x's size and frees them, so at
    10,000 rows × 2 coordinates (160 KiB each) every step paid ~40-80 page faults and the rule
    ran twice as slow as the same arithmetic written inline. glibc raises both thresholds by
    itself when a program frees a mapped block of up to 32 MiB (its "dynamic mmap threshold");
    freeing one block of 64 temporaries' size here makes that happen now instead of by chance
    (8 were not enough: the heap's top still went back and forth). One untouched allocation;
    other allocators just free it.
    """
    if nbytes >= 1 << 16:
        block = np.empty(min(64 * nbytes, 32 << 20) // 8)
        del block


def _ok(x, f, limit):
    return np.isfinite(x).all(-1) & np.isfinite(f) & (np.abs(f) <= limit)


def torch_trajectory(optimizer, objective, x0, steps, **hyperparameters) -> np.ndarray:
    """The same run driven by a torch optimizer: the reference the chapters compare against.

    ``optimizer`` is a ``torch.optim`` class (called with ``hyperparameters``) or any callable
    taking a parameter list, e.g. ``lambda ps: torch.optim.SGD(ps, lr=0.1)``. Gradients are the
    objective's exact ones, in float64, so a difference from optlab's ``trajectory`` can only come
    from the update rule. Returns the iterates, shape (steps + 1, d). Imports torch.
    """
    import torch

    x = torch.tensor(np.asarray(x0, dtype=np.float64), requires_grad=True)
    opt = optimizer([x], **hyperparameters)
    xs = [x.detach().numpy().copy()]
    for _ in range(steps):
        x.grad = torch.from_numpy(np.asarray(objective.grad(x.detach().numpy()), dtype=np.float64))
        opt.step()
        xs.append(x.detach().numpy().copy())
    return np.array(xs)
