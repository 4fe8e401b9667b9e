"""trajectory(): shapes, sweeps equal single runs, divergence is flagged and frozen, noise, schedules."""

import dataclasses

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest

import optlab
from optlab import plot
from optlab.objectives import Beale, Quadratic, Rosenbrock, Saddle, SparseLogistic
from optlab.run import Trajectory, torch_trajectory, trajectory

QUAD = Quadratic.ill_conditioned(10)
X0 = np.array([1.0, 1.0])


def manual(opt, objective, x, steps, schedule=None):
    state = opt.init(x)
    xs = [x]
    for t in range(1, steps + 1):
        step_opt = opt if schedule is None else opt.replace(lr=schedule(t))
        x, state = step_opt.step(x, objective.grad(x), state)
        xs.append(x)
    return np.array(xs)


def test_single_run_shapes_and_first_row():
    traj = trajectory(optlab.Adam(lr=0.1), Rosenbrock(), np.array([-1.0, 1.5]), 25)
    assert isinstance(traj, Trajectory)
    assert traj.xs.shape == (26, 2) and traj.values.shape == (26,)
    np.testing.assert_array_equal(traj.xs[0], [-1.0, 1.5])
    np.testing.assert_array_equal(traj.values, Rosenbrock().value(traj.xs))
    assert traj.diverged is False and traj.diverged_at == -1
    np.testing.assert_array_equal(traj.final, traj.xs[-1])
    assert "25 steps" in repr(traj) and "diverged" not in repr(traj)
    with pytest.raises(dataclasses.FrozenInstanceError):
        traj.xs = None
    with pytest.raises(ValueError):
        traj.xs[0, 0] = 1.0  # read-only too


def test_single_run_matches_manual_loop():
    opt = optlab.Momentum(lr=0.01, momentum=0.9)
    traj = trajectory(opt, Beale(), np.array([1.0, 1.0]), 50)
    np.testing.assert_array_equal(traj.xs, manual(opt, Beale(), np.array([1.0, 1.0]), 50))


def test_lr_sweep_rows_equal_single_runs():
    lrs = np.array([0.01, 0.1, 0.15])
    sweep = trajectory(optlab.GD(lr=lrs[:, None]), QUAD, X0, 100)
    assert sweep.xs.shape == (101, 3, 2) and sweep.values.shape == (101, 3)
    assert sweep.diverged.shape == (3,) and not sweep.diverged.any()
    for i, lr in enumerate(lrs):
        single = trajectory(optlab.GD(lr=lr), QUAD, X0, 100)
        np.testing.assert_array_equal(sweep.xs[:, i], single.xs)
        np.testing.assert_array_equal(sweep.values[:, i], single.values)


def test_two_axis_sweep_with_betas_matches_single_runs():
    lrs = np.array([0.01, 0.1])[:, None, None]
    beta1 = np.array([0.5, 0.9, 0.99])[None, :, None]
    sweep = trajectory(optlab.Adam(lr=lrs, betas=(beta1, 0.999)), Rosenbrock(), X0 * -1, 40)
    assert sweep.xs.shape == (41, 2, 3, 2)
    for i in range(2):
        for j in range(3):
            opt = optlab.Adam(lr=float(lrs[i, 0, 0]), betas=(float(beta1[0, j, 0]), 0.999))
            single = trajectory(opt, Rosenbrock(), -X0, 40)
            np.testing.assert_array_equal(sweep.xs[:, i, j], single.xs)


def test_batch_of_start_points():
    x0 = np.random.default_rng(1).normal(size=(5, 2))
    traj = trajectory(optlab.GD(lr=0.05), QUAD, x0, 10)
    assert traj.xs.shape == (11, 5, 2)
    np.testing.assert_array_equal(traj.xs[0], x0)
    np.testing.assert_array_equal(traj.xs[:, 3], trajectory(optlab.GD(lr=0.05), QUAD, x0[3], 10).xs)


def test_divergence_beyond_two_over_L_is_flagged_at_the_right_step_and_frozen():
    # on the steep eigenvector (eigenvalue L = 10) GD multiplies x₁ by 1 − lr·L = −1.5 per step,
    # so f_t = f₀ · 2.25ᵗ; the row diverges at the first t with f_t > 1e12 (1 + f₀)
    x0 = np.array([0.0, 1.0])
    f0 = QUAD(x0)
    expected = next(t for t in range(1, 100) if f0 * 2.25 ** t > 1e12 * (1 + f0))
    lrs = np.array([0.1, 0.19, 0.25])  # 2/L = 0.2
    sweep = trajectory(optlab.GD(lr=lrs[:, None]), QUAD, x0, 100)
    np.testing.assert_array_equal(sweep.diverged, [False, False, True])
    np.testing.assert_array_equal(sweep.diverged_at, [-1, -1, expected])
    assert np.isfinite(sweep.xs).all() and np.isfinite(sweep.values).all()
    # frozen at the last good point: x_{t-1}, reached by the unaffected single run
    single = trajectory(optlab.GD(lr=0.25), QUAD, x0, expected - 1)
    np.testing.assert_array_equal(sweep.xs[expected - 1:, 2],
                                  np.broadcast_to(single.final, (101 - expected + 1, 2)))
    np.testing.assert_array_equal(sweep.xs[:expected, 2], single.xs)
    # the stable rows never noticed
    np.testing.assert_array_equal(sweep.xs[:, 0], trajectory(optlab.GD(lr=0.1), QUAD, x0, 100).xs)
    assert "1 of 3 rows diverged" in repr(sweep) and sweep.summary() == repr(sweep)


def test_non_finite_divergence_without_blowup_threshold():
    traj = trajectory(optlab.GD(lr=1e200), Saddle(), np.array([1.0, 1.0]), 5, blowup=None)
    # x₁ = (1 − 1e200, 1 + 1e200) is finite but x₁² overflows, so f(x₁) = inf − inf = NaN
    assert traj.diverged is True and traj.diverged_at == 1
    np.testing.assert_array_equal(traj.xs, np.ones((6, 2)))
    assert "diverged at step 1" in repr(traj)


def test_momentum_sweep_divergence_does_not_poison_other_rows():
    lrs = np.array([1e-4, 1e-2, 1.0])[:, None]
    sweep = trajectory(optlab.Momentum(lr=lrs, momentum=0.9), Rosenbrock(), -X0, 200)
    assert sweep.diverged.tolist() == [False, True, True]
    assert np.isfinite(sweep.xs).all()
    np.testing.assert_array_equal(
        sweep.xs[:, 0], trajectory(optlab.Momentum(lr=1e-4, momentum=0.9), Rosenbrock(), -X0, 200).xs)


def test_failed_flags_rows_that_get_nowhere_without_blowing_up():
    # a logistic loss has bounded gradients: far too large a step bounces around, never blows up
    problem = SparseLogistic(n_samples=200, n_features=5, seed=1)
    w0, lrs = np.zeros(5), np.geomspace(0.1, 1000, 9)
    sweep = trajectory(optlab.GD(lr=lrs[:, None]), problem, w0, 50)
    assert not sweep.diverged.any()
    # the start's loss is log 2 (every margin is 0); each row's end from its own single run
    finals = np.array([trajectory(optlab.GD(lr=lr), problem, w0, 50).final_value for lr in lrs])
    expected = finals >= np.log(2)
    assert expected.any() and not expected.all()
    np.testing.assert_array_equal(sweep.failed(), expected)
    # with a target: failed where the row ended above it
    target = problem.min_value + 1e-3
    np.testing.assert_array_equal(sweep.failed(target), finals > target)
    np.testing.assert_array_equal(sweep.failed(np.full(9, target)), finals > target)
    # a single run gives a bool
    single = trajectory(optlab.GD(lr=1000.0), problem, w0, 50)
    assert single.failed() is True and single.diverged is False
    assert trajectory(optlab.GD(lr=1.0), problem, w0, 50).failed() is False
    # a run that starts at the minimum (gradient exactly 0) got nowhere, but it is at the target
    at_min = trajectory(optlab.GD(lr=0.1), QUAD, np.zeros(2), 5)
    assert at_min.failed() is True and at_min.failed(target=0.0) is False


def test_failed_includes_diverged_rows():
    lrs = np.array([0.1, 0.25])  # 2/L = 0.2 on QUAD
    sweep = trajectory(optlab.GD(lr=lrs[:, None]), QUAD, np.array([0.0, 1.0]), 100)
    assert sweep.diverged.tolist() == [False, True]
    assert sweep.failed().tolist() == [False, True]
    assert sweep.failed(target=1e300).tolist() == [False, True]   # a blown-up row never reaches it


def test_failed_rejects_a_bad_target():
    sweep = trajectory(optlab.GD(lr=np.array([0.1, 0.15])[:, None]), QUAD, X0, 5)
    before = sweep.failed(1.0).copy()
    for bad in (np.nan, np.inf, [0.1, np.nan], "low"):
        with pytest.raises(ValueError, match="target must be finite"):
            sweep.failed(bad)
    with pytest.raises(ValueError, match=r"target of shape \(3,\) does not broadcast"):
        sweep.failed(np.ones(3))
    with pytest.raises(ValueError, match=r"target of shape \(2, 1\) does not broadcast"):
        sweep.failed(np.ones((2, 1)))     # would widen the batch to (2, 2)
    np.testing.assert_array_equal(sweep.failed(1.0), before)


def test_grad_noise_is_deterministic_given_seed():
    run = lambda seed: trajectory(optlab.GD(lr=0.1), QUAD, X0, 20, grad_noise=0.5, seed=seed)
    np.testing.assert_array_equal(run(3).xs, run(3).xs)
    assert not np.array_equal(run(3).xs, run(4).xs)
    assert not np.array_equal(run(3).xs, trajectory(optlab.GD(lr=0.1), QUAD, X0, 20).xs)
    # the noise is N(0, σ²) from default_rng(seed), one draw per step
    rng = np.random.default_rng(3)
    x, opt = X0, optlab.GD(lr=0.1)
    state = opt.init(x)
    for _ in range(20):
        x, state = opt.step(x, QUAD.grad(x) + 0.5 * rng.standard_normal(2), state)
    np.testing.assert_array_equal(run(3).final, x)


def test_lr_schedule_matches_manual_loop():
    for opt, lr0 in ((optlab.Momentum(lr=1.0, momentum=0.5), 1e-3), (optlab.Adam(lr=1.0), 0.1)):
        schedule = lambda t: lr0 / np.sqrt(t)  # noqa: E731
        traj = trajectory(opt, Rosenbrock(), -X0, 30, lr_schedule=schedule)
        assert not traj.diverged
        np.testing.assert_array_equal(traj.xs, manual(opt, Rosenbrock(), -X0, 30, schedule))


def test_bad_arguments():
    with pytest.raises(ValueError, match="do not broadcast"):
        trajectory(optlab.GD(lr=np.ones(3)), QUAD, X0, 5)
    with pytest.raises(ValueError, match="x has shape"):
        trajectory(optlab.GD(lr=0.1), QUAD, np.ones(3), 5)


def test_plot_functions_return_axes():
    from matplotlib.axes import Axes
    import matplotlib.pyplot as plt

    fig, ax = plot.figure()
    assert isinstance(ax, Axes)
    f = Rosenbrock()
    assert plot.contour(f, (-2, 2), (-1, 3), ax=ax) is ax
    assert isinstance(plot.contour(Saddle(), (-1, 1), (-1, 1)), Axes)  # linear levels
    sweep = trajectory(optlab.GD(lr=np.array([1e-3, 1e-2])[:, None]), f, -X0, 20)
    single = trajectory(optlab.Adam(lr=0.1), f, -X0, 20)
    assert plot.paths({"GD": sweep, "Adam": single, "raw": single.xs}, f, (-2, 2), (-1, 3),
                      ax=ax) is ax
    assert isinstance(plot.paths({"Adam": single}), Axes)
    fig, axes = plot.figure(ncols=2)
    assert axes.shape == (2,)
    assert plot.curves({"Adam": single.values}, ylabel="loss", ax=axes[0]) is axes[0]
    grid = np.array([[1.0, 2.0, np.nan], [0.5, 3.0, 4.0]])
    assert plot.heatmap(grid, [0.1, 0.2, 0.3], ["a", "b"], xlabel="lr", ylabel="x",
                        ax=axes[1]) is axes[1]
    fig.canvas.draw()
    plt.close("all")


def test_torch_trajectory_is_the_torch_optim_run_of_the_same_problem():
    import torch

    objective = Rosenbrock()
    x0 = np.array([-1.5, 2.0])
    ours = trajectory(optlab.Nesterov(lr=1e-3, momentum=0.9), objective, x0, 100).xs
    theirs = torch_trajectory(torch.optim.SGD, objective, x0, 100, lr=1e-3, momentum=0.9,
                              nesterov=True)
    factory = torch_trajectory(lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9, nesterov=True),
                               objective, x0, 100)
    assert theirs.shape == (101, 2)
    np.testing.assert_array_equal(theirs, factory)
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)
