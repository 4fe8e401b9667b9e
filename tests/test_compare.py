"""optlab.compare: steps to target, best trials, Dolan-Moré ratios and profiles, AlgoPerf's score.

Every expected value below is worked out by hand in the comments, not by calling the code again.
"""

import math

import numpy as np
import pytest

from optlab.compare import (benchmark_score, best_trial, held_level, per_seed_best,
                            performance_profile, performance_ratios, plot_profiles, running_median,
                            steps_to_target, target_from_runs)

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


def test_target_hit_at_step_zero_gives_time_zero_which_ratios_reject():
    # the curve starts at the target: time 0, and a ratio to a fastest time of 0 is undefined
    t = steps_to_target([[0.5, 0.4], [2.0, 0.4]], 0.5)
    assert t.tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="times must be > 0"):
        performance_ratios(t[None, :])


# -- running_median: reached and held ------------------------------------------------------------
def test_running_median_by_hand():
    curve = [5.0, 1.0, 4.0, 0.0, 3.0, 0.5, 0.2]
    # window 3: entries 0 and 1 have no full window (inf); then the medians of
    # (5, 1, 4) = 4, (1, 4, 0) = 1, (4, 0, 3) = 3, (0, 3, 0.5) = 0.5, (3, 0.5, 0.2) = 0.5
    assert running_median(curve, 3).tolist() == [inf, inf, 4.0, 1.0, 3.0, 0.5, 0.5]
    # window 2 (even): the mean of the two values; inf in a window makes the mean inf
    assert running_median([1.0, 3.0, inf, 2.0], 2).tolist() == [inf, 2.0, inf, inf]
    assert running_median(curve, 1).tolist() == curve


def test_a_dip_is_not_reached_with_a_window():
    # a noisy run dips to 0.1 once (index 2) but lives at 2; another settles below 1 from index 3
    dip = [5.0, 2.0, 0.1, 2.0, 2.0, 2.0, 2.0]
    settle = [5.0, 3.0, 2.0, 0.9, 0.8, 1.5, 0.7]
    assert steps_to_target([dip, settle], 1.0).tolist() == [2.0, 3.0]             # first crossing
    # window 3: dip's medians (5,2,0.1)=2, (2,0.1,2)=2, ... never <= 1
    # settle's medians (5,3,2)=3, (3,2,0.9)=2, (2,0.9,0.8)=0.9 at index 4
    assert steps_to_target([dip, settle], 1.0, window=3).tolist() == [inf, 4.0]


def test_hold_needs_the_tail_median_at_or_below_the_target():
    # an orbit: down to 0.2 (indices 2-4), back up to 3, down again at the very end
    orbit = [5.0, 1.0, 0.2, 0.2, 0.2, 3.0, 3.0, 3.0, 0.5]
    # reached (window 3): medians inf, inf, median(5, 1, 0.2) = 1 at index 2 -> time 2, no hold
    assert steps_to_target([orbit], 1.0, window=3).tolist() == [2.0]
    # hold 0.25 of T = 9 evaluations: the last ceil(2.25) = 3 are (3, 3, 0.5), median 3 > 1: never
    assert steps_to_target([orbit], 1.0, window=3, hold=0.25).tolist() == [inf]
    # held_level: max(lowest running median 0.2, tail median 3) = 3; a target of 3 is held
    assert held_level(orbit, window=3, hold=0.25).tolist() == 3.0
    assert steps_to_target([orbit], 3.0, window=3, hold=0.25).tolist() == [2.0]
    # hold 0.1: the last ceil(0.9) = 1 evaluation, 0.5 <= 1: held, time 2 again
    assert steps_to_target([orbit], 1.0, window=3, hold=0.1).tolist() == [2.0]


def test_held_level_defaults_to_the_minimum():
    curves = [[4.0, 1.0, 3.0], [2.0, 2.0, 0.5]]
    assert held_level(curves).tolist() == [1.0, 0.5]
    # window 2: running medians (inf, 2.5, 2), (inf, 2, 1.25); hold 0.5: last ceil(1.5) = 2
    # evaluations, medians (1 + 3)/2 = 2 and (2 + 0.5)/2 = 1.25 -> max(2, 2), max(1.25, 1.25)
    assert held_level(curves, window=2, hold=0.5).tolist() == [2.0, 1.25]


def test_running_median_keeps_leading_axes():
    curves = np.arange(24.0).reshape(2, 3, 4)       # increasing: median of 3 = the middle value
    held = running_median(curves, 3)
    assert held.shape == (2, 3, 4)
    assert held[1, 2].tolist() == [inf, inf, 21.0, 22.0]      # row 20, 21, 22, 23


@pytest.mark.parametrize("window, message", [(0, "window must be an integer from 1 to T = 3"),
                                             (4, "from 1 to T = 3"), (1.5, "integer"),
                                             (True, "integer")])
def test_running_median_bad_window(window, message):
    with pytest.raises(ValueError, match=message):
        running_median([[1.0, 2.0, 3.0]], window)
    with pytest.raises(ValueError, match=message):
        steps_to_target([[1.0, 2.0, 3.0]], 1.0, window=window)


@pytest.mark.parametrize("hold", [-0.1, 1.0, np.nan, True, "0.25"])
def test_bad_hold(hold):
    with pytest.raises(ValueError, match=r"hold must be a number in \[0, 1\)"):
        held_level([[1.0, 2.0, 3.0]], hold=hold)
    with pytest.raises(ValueError, match="hold must be"):
        target_from_runs([[1.0, 2.0, 3.0]], hold=hold)


def test_running_median_bad_curves():
    with pytest.raises(ValueError, match="curves contains NaN"):
        running_median([1.0, np.nan], 1)


# -- target_from_runs: AlgoPerf's target ----------------------------------------------------------
def test_target_from_runs_by_hand():
    curves = [[3.0, 1.0, 2.0],      # seed 0: best 1
              [0.5, 4.0, 4.0],      # seed 1: best 0.5
              [2.0, 2.0, 2.0]]      # seed 2: best 2      -> the median of (1, 0.5, 2) = 1
    assert float(target_from_runs(curves)) == 1.0
    # the other order (the median curve (2, 2, 2), then its minimum) gives 2: never lower
    assert float(np.median(curves, axis=0).min()) == 2.0
    # leading axes: one target per setting; an even number of seeds: the mean of the middle two
    two = np.array([[[1.0, 0.0], [3.0, 5.0]], [[inf, inf], [2.0, 9.0]]])   # (settings, seeds, T)
    assert target_from_runs(two).tolist() == [1.5, inf]       # (0 + 3)/2; (inf + 2)/2
    # held: each seed's level is max(lowest running median, median of its last ceil(hold T));
    # window 1, hold 0.5 of T = 3: the last 2. Seed 0: max(1, median(1, 2) = 1.5) = 1.5;
    # seed 1: max(0.5, 4) = 4; seed 2: max(2, 2) = 2 -> the median of (1.5, 4, 2) = 2
    assert float(target_from_runs(curves, hold=0.5)) == 2.0


def test_target_from_runs_bad_input():
    with pytest.raises(ValueError, match=r"shape \(\.\.\., seeds, T\)"):
        target_from_runs([1.0, 2.0])
    with pytest.raises(ValueError, match="curves contains NaN"):
        target_from_runs([[1.0, np.nan]])


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


def test_per_seed_best_leading_axes_and_even_seeds():
    times = np.array([[[4.0, 9.0], [6.0, 1.0]],         # optimizer 0: per-seed minima (4, 1)
                      [[inf, 3.0], [inf, 8.0]]])        # optimizer 1: per-seed minima (inf, 3)
    # two seeds: the median is the mean of the two, (4 + 1)/2 = 2.5, and inf if either is inf
    assert per_seed_best(times).tolist() == [2.5, inf]


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
