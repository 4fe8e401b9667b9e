"""optlab.online: Reddi et al.'s online problems, regret, projected runs and the paper's Adam."""

from __future__ import annotations

import math

import numpy as np
import pytest

import optlab
from optlab.online import LinearOnline, OnlineRun, paper_adam, run_online


def test_theorem1_sequence_is_C_then_two_minus_ones():
    c = LinearOnline.reddi_theorem1(C=3.0).coefficients(7)
    np.testing.assert_array_equal(c, [3, -1, -1, 3, -1, -1, 3])
    with pytest.raises(ValueError, match="C > 2"):
        LinearOnline.reddi_theorem1(C=2.0)


def test_synthetic_sequence_has_one_large_gradient_every_101_rounds():
    c = LinearOnline.reddi_synthetic().coefficients(303)
    assert c[0] == c[101] == c[202] == 1010.0
    assert (np.delete(c, [0, 101, 202]) == -10.0).all()
    # over a period the losses sum to +10x, so x = -1 is the best fixed point
    assert c[:101].sum() == 10.0
    assert LinearOnline.reddi_synthetic().best_point(101) == -1.0


def test_stochastic_sequence_is_fixed_by_its_seed_and_extends_consistently():
    problem = LinearOnline.reddi_stochastic(seed=3)
    long = problem.coefficients(20_000)
    np.testing.assert_array_equal(problem.coefficients(50), long[:50])
    assert set(np.unique(long)) == {-10.0, 1010.0}
    assert abs((long > 0).mean() - 0.01) < 0.003
    assert not np.array_equal(LinearOnline.reddi_stochastic(seed=4).coefficients(20_000), long)
    with pytest.raises(ValueError, match="probability"):
        LinearOnline.reddi_stochastic(probability=1.5)


def test_projection_clips_arrays_in_place_and_floats():
    problem = LinearOnline.reddi_theorem1()
    x = np.array([2.5])
    assert problem.project(x) is x and x[0] == 1.0
    assert problem.project(-7.0) == -1.0 and problem.project(0.25) == 0.25
    with pytest.raises(ValueError, match="interval"):
        LinearOnline(lambda t: t, lower=1.0, upper=-1.0)


def test_regret_of_the_best_and_the_worst_fixed_point():
    problem = LinearOnline.reddi_theorem1(C=3.0)
    T = 300
    best = problem.regret(np.full(T, -1.0))
    worst = problem.regret(np.full(T, 1.0))
    # playing -1 is optimal at the end of every period of 3 rounds
    assert np.all(best[2::3] == 0.0)
    # playing +1 pays (C - 2) per period and the best point gains (C - 2): 2(C - 2) per period
    np.testing.assert_allclose(worst[2::3], 2.0 * np.arange(1, T // 3 + 1))
    np.testing.assert_allclose(worst[-1] / T, 2 / 3)


def test_run_online_is_projected_step_by_step_with_a_schedule():
    problem = LinearOnline.reddi_theorem1(C=3.0)
    opt = optlab.AMSGrad(betas=(0.0, 0.1), eps=0.0)
    schedule = lambda t: 0.5 / math.sqrt(t)  # noqa: E731
    run = run_online(opt, problem, 1.0, 60, schedule)
    # the same thing through the public, pure API
    x, state = np.array([1.0]), opt.init(np.array([1.0]))
    expected = [1.0]
    for t, c in enumerate(problem.coefficients(60), start=1):
        x, state = opt.replace(lr=schedule(t)).step(x, np.array([c]), state)
        x = np.clip(x, -1.0, 1.0)
        expected.append(x[0])
    np.testing.assert_array_equal(run.xs, expected)
    assert isinstance(run, OnlineRun) and run.regret.shape == (60,) and run.records is None


def test_run_online_with_gradient_descent_is_projected_online_gradient_descent():
    problem = LinearOnline.reddi_synthetic()
    run = run_online(optlab.GD(lr=1.0), problem, 0.0, 250, lambda t: 0.01 / math.sqrt(t))
    x, expected = 0.0, [0.0]
    for t, c in enumerate(problem.coefficients(250), start=1):
        x = min(1.0, max(-1.0, x - 0.01 / math.sqrt(t) * c))
        expected.append(x)
    np.testing.assert_allclose(run.xs, expected, rtol=0, atol=1e-15)


def test_run_online_records_and_rejects_sweeps():
    problem = LinearOnline.reddi_theorem1()
    run = run_online(optlab.AMSGrad(betas=(0.0, 0.1), eps=0.0), problem, 1.0, 30, 0.1,
                     record=lambda t, s: s["max_exp_avg_sq"][0])
    assert run.records.shape == (30,) and np.all(np.diff(run.records) >= 0)
    with pytest.raises(TypeError, match="one setting"):
        run_online(optlab.GD(lr=np.array([0.1, 0.2])), problem, 0.0, 3)
    with pytest.raises(ValueError, match="steps"):
        run_online(optlab.GD(lr=0.1), problem, 0.0, -1)


def test_reddi_theorem1_adam_goes_to_plus_one_and_amsgrad_to_minus_one():
    C = 3.0
    problem = LinearOnline.reddi_theorem1(C)
    betas = (0.0, 1 / (1 + C * C))
    schedule = lambda t: 0.5 / math.sqrt(t)  # noqa: E731
    adam = run_online(optlab.Adam(betas=betas, eps=0.0), problem, 1.0, 3000, schedule)
    ams = run_online(optlab.AMSGrad(betas=betas, eps=0.0), problem, 1.0, 3000, schedule)
    assert adam.xs[-30:].min() > 0.9 and ams.xs[-30:].max() < -0.9
    assert adam.average_regret[-1] > 0.6 and ams.average_regret[-1] < 0.05


def test_paper_adam_without_bias_correction_matches_a_hand_loop():
    problem = LinearOnline.reddi_synthetic()
    run = paper_adam(problem, 0.0, 400, lambda t: 0.5 / math.sqrt(t), (0.9, 0.99), amsgrad=True)
    x, m, v, vmax = 0.0, 0.0, 0.0, 0.0
    for t, g in enumerate(problem.coefficients(400), start=1):
        m = 0.9 * m + 0.1 * g
        v = 0.99 * v + 0.01 * g * g
        vmax = max(vmax, v)
        x = min(1.0, max(-1.0, x - 0.5 / math.sqrt(t) * m / math.sqrt(vmax)))
    assert run.xs[-1] == pytest.approx(x, rel=1e-12)
    # AMSGrad's effective step α_t/√v̂_t never grows
    assert np.all(np.diff(run.records) <= 0)


def test_paper_adam_and_pytorch_form_agree_when_bias_correction_is_one():
    # with beta1 = 0 and beta2 = 0 both corrections are exactly 1 (0**t = 0 for t >= 1)
    problem = LinearOnline.reddi_theorem1()
    schedule = lambda t: 0.3 / math.sqrt(t)  # noqa: E731
    paper = paper_adam(problem, 0.5, 200, schedule, (0.0, 0.0))
    torch_form = run_online(optlab.Adam(betas=(0.0, 0.0), eps=0.0), problem, 0.5, 200, schedule)
    np.testing.assert_allclose(paper.xs, torch_form.xs, rtol=0, atol=1e-15)


def test_paper_adam_takes_no_step_while_gradients_are_zero():
    problem = LinearOnline(lambda t: np.where(np.asarray(t) < 3, 0.0, 1.0))
    run = paper_adam(problem, 0.2, 4, 0.1, (0.9, 0.99))
    assert run.xs[1] == run.xs[2] == 0.2 and run.xs[3] < 0.2
    with pytest.raises(ValueError, match="betas"):
        paper_adam(problem, 0.0, 3, 0.1, (1.0, 0.5))
