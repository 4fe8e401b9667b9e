"""optlab.compare: steps to target, best trials, Dolan-Moré ratios and profiles, AlgoPerf's score.

Every expected value below is worked out by hand in the comments, not by calling the code again.
"""

import math

import numpy as np
import pytest

from optlab.compare import (benchmark_score, best_trial, per_seed_best, performance_profile,
                            performance_ratios, plot_profiles, steps_to_target)

inf = math.inf


# -- steps_to_target ---------------------------------------------------------------------------
def test_first_crossing_counts_and_equality_reaches():
    curves = [[5.0, 3.0, 1.0, 0.5, 2.0],    # 1.0 <= 1.0 at index 2
              [5.0, 0.9, 4.0, 4.0, 4.0],    # reaches at index 1, then rises: keeps index 1
              [5.0, 4.0, 3.0, 2.0, 1.5]]    # never
    assert steps_to_target(curves, 1.0).tolist() == [2.0, 1.0, inf]


def test_steps_map_evaluations_to_step_counts():
    # evaluations after 0, 11, 22, 33 steps (one per epoch of 11 minibatches)
    out = steps_to_target([[2.3, 0.5, 0.1, 0.05]], 0.2, steps=[0, 11, 22, 33])
    assert out.tolist() == [22.0]


def test_one_target_per_curve_broadcasts():
    curves = np.array([[[3.0, 2.0, 1.0]], [[3.0, 2.0, 1.0]]])     # two workloads, one curve each
    out = steps_to_target(curves, np.array([[2.5], [0.5]]))
    assert out.tolist() == [[1.0], [inf]]


def test_inf_curve_never_reaches():
    assert steps_to_target([inf, inf], 1e300).tolist() == inf


@pytest.mark.parametrize("curves, target, steps, message", [
    ([[1.0, np.nan]], 0.5, None, "curves contains NaN"),
    ([[1.0, 0.5]], np.nan, None, "target contains NaN"),
    ([[1.0, 0.5]], inf, None, "target must be finite"),
    (np.zeros((2, 0)), 0.5, None, "T >= 1"),
    ([[1.0, 0.5]], [0.1, 0.2, 0.3], None, "does not broadcast"),
    ([[1.0, 0.5]], 0.5, [0, 1, 2], r"steps must have shape \(2,\)"),
    ([[1.0, 0.5]], 0.5, [3, 1], "non-decreasing"),
    ([[1.0, 0.5]], 0.5, [-1, 1], ">= 0"),
    ([["a", "b"]], 0.5, None, "curves must be an array of numbers"),
])
def test_steps_to_target_bad_input(curves, target, steps, message):
    with pytest.raises(ValueError, match=message):
        steps_to_target(curves, target, steps=steps)


# -- best_trial / per_seed_best ------------------------------------------------------------------
def test_best_trial_by_median_with_spread():
    times = [[3.0, 5.0, inf],     # median 5
             [2.0, 9.0, 9.0],     # median 9
             [3.0, 4.0, 6.0]]     # median 4: best
    time, trial, seeds = best_trial(times)
    assert (float(time), int(trial), seeds.tolist()) == (4.0, 2, [3.0, 4.0, 6.0])
    # AlgoPerf's order: per seed the fastest trial (2, 4, 6), then the median: 4
    assert float(per_seed_best(times)) == 4.0


def test_per_seed_best_can_be_faster_than_best_trial():
    times = [[1.0, 10.0, 10.0],   # median 10
             [10.0, 1.0, 10.0],   # median 10
             [10.0, 10.0, 1.0]]   # median 10: every trial is lucky in one seed
    assert float(best_trial(times)[0]) == 10.0
    assert float(per_seed_best(times)) == 1.0       # per-seed minima 1, 1, 1


def test_best_trial_ties_break_on_mean_then_index():
    times = [[4.0, 4.0, 9.0],     # median 4, mean 17/3
             [1.0, 4.0, 5.0],     # median 4, mean 10/3: wins the tie
             [0.0, 4.0, 6.0]]     # median 4, mean 10/3: the same; the lower index (1) wins
    assert int(best_trial(times)[1]) == 1


def test_best_trial_never_and_half():
    # median of (5, inf, inf) is inf; of (5, 7, inf) is 7: reached in 2 of 3 seeds counts
    assert float(best_trial([[5.0, inf, inf]])[0]) == inf
    assert float(best_trial([[5.0, 7.0, inf]])[0]) == 7.0
    # two seeds: the median is the mean of both, inf if either is
    assert float(best_trial([[4.0, 6.0], [3.0, inf]])[0]) == 5.0


def test_best_trial_leading_axes():
    times = np.array([[[1.0, 2.0, 3.0], [0.5, 0.5, 9.0]],      # optimizer 0: medians 2, 0.5
                      [[inf, inf, inf], [8.0, 8.0, 8.0]]])     # optimizer 1: medians inf, 8
    time, trial, seeds = best_trial(times)
    assert time.tolist() == [0.5, 8.0] and trial.tolist() == [1, 1]
    assert seeds.tolist() == [[0.5, 0.5, 9.0], [8.0, 8.0, 8.0]]


@pytest.mark.parametrize("times, message", [
    ([1.0, 2.0], "at least 2 non-empty axes"),
    (np.zeros((0, 3)), "at least 2 non-empty axes"),
    ([[1.0, np.nan]], "times contains NaN"),
    ([[1.0, -2.0]], "times must be >= 0"),
])
def test_best_trial_bad_input(times, message):
    with pytest.raises(ValueError, match=message):
        best_trial(times)


# -- performance ratios, profiles and the score ----------------------------------------------------
# Three workloads (rows), three optimizers (columns):
#   w0: 10, 20, inf   -> fastest 10: ratios 1, 2, inf
#   w1:  5,  5,  50   -> fastest 5 (a tie): ratios 1, 1, 10
#   w2: inf, inf, inf -> nobody: inf for all
TIMES = [[10.0, 20.0, inf], [5.0, 5.0, 50.0], [inf, inf, inf]]


def test_ratios_by_hand():
    assert performance_ratios(TIMES).tolist() == [[1.0, 2.0, inf], [1.0, 1.0, 10.0],
                                                  [inf, inf, inf]]


def test_profile_by_hand():
    rho = performance_profile(performance_ratios(TIMES), [1.0, 1.5, 2.0, 10.0, inf])
    # optimizer 0: ratios (1, 1, inf): 2/3 at every tau >= 1
    # optimizer 1: ratios (2, 1, inf): 1/3 at tau in [1, 2), 2/3 from 2 on
    # optimizer 2: ratios (inf, 10, inf): 0 below 10, 1/3 from 10 on
    expected = [[2 / 3] * 5, [1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3], [0, 0, 0, 1 / 3, 1 / 3]]
    np.testing.assert_allclose(rho, expected, rtol=0, atol=1e-15)


def test_score_by_hand_and_by_quadrature():
    ratios = performance_ratios(TIMES)
    # r_max = 4: optimizer 0 earns (4-1)/3 on w0 and w1: (1 + 1 + 0)/3 = 2/3;
    # optimizer 1: (4-2)/3 = 2/3 on w0 and 1 on w1: (2/3 + 1)/3 = 5/9; optimizer 2: 10 > 4: 0
    np.testing.assert_allclose(benchmark_score(ratios, r_max=4), [2 / 3, 5 / 9, 0.0], atol=1e-15)
    # the same as the integral of the step function, by the midpoint rule on a fine grid
    taus = np.linspace(1, 4, 300_001)
    mid = (taus[1:] + taus[:-1]) / 2
    rho = performance_profile(ratios, mid)
    np.testing.assert_allclose(rho.sum(1) * (taus[1] - taus[0]) / 3, [2 / 3, 5 / 9, 0.0],
                               atol=1e-5)


def test_one_workload():
    ratios = performance_ratios([[30.0, 60.0, 120.0]])
    assert ratios.tolist() == [[1.0, 2.0, 4.0]]
    # r_max = 4: credits 3/3, 2/3, 0/3
    np.testing.assert_allclose(benchmark_score(ratios), [1.0, 2 / 3, 0.0], atol=1e-15)
    assert performance_profile(ratios, 2.0).tolist() == [1.0, 1.0, 0.0]


def test_all_tied_is_all_ones():
    ratios = performance_ratios([[7.0, 7.0], [3.0, 3.0]])
    assert ratios.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    assert benchmark_score(ratios).tolist() == [1.0, 1.0]


@pytest.mark.parametrize("times, message", [
    ([1.0, 2.0], "at least 2 non-empty axes"),
    (np.ones((2, 2, 2)), r"shape \(workloads, optimizers\)"),
    ([[0.0, 2.0]], "times must be > 0"),
    ([[np.nan, 2.0]], "times contains NaN"),
])
def test_ratios_bad_input(times, message):
    with pytest.raises(ValueError, match=message):
        performance_ratios(times)


@pytest.mark.parametrize("r_max", [1.0, 0.5, inf, np.nan, True, "4"])
def test_score_bad_r_max(r_max):
    with pytest.raises(ValueError, match="r_max must be a finite number > 1"):
        benchmark_score([[1.0, 2.0]], r_max=r_max)


def test_profile_and_score_bad_ratios():
    with pytest.raises(ValueError, match="ratios must be >= 1"):
        performance_profile([[0.5, 1.0]], [1.0])
    with pytest.raises(ValueError, match=r"shape \(workloads, optimizers\)"):
        benchmark_score([1.0, 2.0])
    with pytest.raises(ValueError, match="taus contains NaN"):
        performance_profile([[1.0, 2.0]], [np.nan])


def test_plot_profiles_draws_one_line_each():
    import matplotlib

    matplotlib.use("Agg")
    ratios = performance_ratios(TIMES)
    ax = plot_profiles(ratios, ["a", "b", "c"])
    assert [line.get_label() for line in ax.get_lines()] == ["a (0.67)", "b (0.56)", "c (0.00)"]
    # optimizer 1's step function ends at 2/3 (solved w0 at ratio 2 and w1 at ratio 1)
    assert ax.get_lines()[1].get_ydata()[-1] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="one label per optimizer"):
        plot_profiles(ratios, ["a"])
