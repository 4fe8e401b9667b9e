"""Each helper of optlab.symbolic against a case whose answer is known independently."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

from optlab.symbolic import fixed_point, iteration_matrix, schur_conditions, spectral_radius, unroll

alpha, beta, lam, x, xp, z = sp.symbols("alpha beta lambda x x_prev z")


def test_iteration_matrix_of_gradient_descent_is_one_minus_alpha_lambda():
    M = iteration_matrix([x - alpha * lam * x], [x])
    assert M == sp.Matrix([[1 - alpha * lam]])


def test_iteration_matrix_of_heavy_ball_is_the_companion_matrix():
    M = iteration_matrix([x - alpha * lam * x + beta * (x - xp), x], [x, xp])
    assert (M - sp.Matrix([[1 + beta - alpha * lam, -beta], [1, 0]])).applyfunc(sp.expand) \
        == sp.zeros(2, 2)


def test_iteration_matrix_rejects_nonlinear_and_affine_updates():
    with pytest.raises(ValueError, match="not linear"):
        iteration_matrix([x ** 2], [x])
    with pytest.raises(ValueError, match="affine"):
        iteration_matrix([x + 1], [x])
    with pytest.raises(ValueError, match="entries"):
        iteration_matrix([x, x], [x])


def test_schur_conditions_match_numerical_roots():
    a1, a0 = sp.symbols("a1 a0")
    conditions = schur_conditions(z ** 2 + a1 * z + a0, z)
    assert conditions == (1 + a1 + a0, 1 - a1 + a0, 1 - a0, 1 + a0)
    check = sp.lambdify((a1, a0), conditions)
    rng = np.random.default_rng(0)
    for c1, c0 in rng.uniform(-2.5, 2.5, size=(2000, 2)):
        inside = np.abs(np.roots([1.0, c1, c0])).max() < 1
        margins = np.array(check(c1, c0))
        if np.abs(margins).min() > 1e-9:  # skip points on the boundary
            assert inside == bool((margins > 0).all()), (c1, c0)


def test_schur_conditions_need_a_monic_quadratic():
    with pytest.raises(ValueError, match="monic quadratic"):
        schur_conditions(2 * z ** 2 + 1, z)
    with pytest.raises(ValueError, match="monic quadratic"):
        schur_conditions(z ** 3, z)


def test_spectral_radius_of_a_rotation_scaled_by_r_is_r():
    r, t = sp.symbols("r t")
    M = r * sp.Matrix([[sp.cos(t), -sp.sin(t)], [sp.sin(t), sp.cos(t)]])
    rho = spectral_radius(M, [r, t])
    values = rho(np.array([0.5, 0.9, 2.0])[:, None], np.array([0.0, 1.0, 3.0]))
    assert values.shape == (3, 3)
    np.testing.assert_allclose(values, np.broadcast_to([[0.5], [0.9], [2.0]], (3, 3)))


def test_spectral_radius_broadcasts_constant_entries():
    M = sp.Matrix([[1 - alpha * lam, 0], [0, sp.Rational(1, 2)]])
    rho = spectral_radius(M, [alpha, lam])
    np.testing.assert_allclose(rho(np.array([0.1, 1.0, 1.9]), 1.0), [0.9, 0.5, 0.9])


def test_unroll_iterates_and_passes_the_step_number():
    assert unroll(lambda s: 2 * s, 1, 3) == [1, 2, 4, 8]
    assert unroll(lambda s, k: s + k, 0, 4) == [0, 1, 3, 6, 10]
    assert unroll(lambda s: s, x, 0) == [x]


def test_fixed_point_of_an_ema_and_of_a_damped_buffer():
    b, g, mu, tau = sp.symbols("b g mu tau")
    assert sp.simplify(fixed_point(beta * b + (1 - beta) * g, b) - g) == 0
    assert sp.simplify(fixed_point(mu * b + (1 - tau) * g, b) - (1 - tau) * g / (1 - mu)) == 0
    with pytest.raises(ValueError, match="slope 1"):
        fixed_point(b + g, b)
    with pytest.raises(ValueError, match="not linear"):
        fixed_point(b ** 2, b)


# -- adam_step: the ε placements of other libraries (chapter 06) -------------------------------

def test_adam_step_eps_placements_for_any_t():
    from optlab.symbolic import adam_step

    m = sp.Symbol("m", real=True)
    v, c1, c2, a, eps = sp.symbols("v c1 c2 alpha epsilon", positive=True)
    # ε̂ added before the correction is ε = ε̂/√c₂ added after it
    before = adam_step(m, v, c1, c2, a, eps, "before_correction")
    assert sp.simplify(before - adam_step(m, v, c1, c2, a, eps / sp.sqrt(c2))) == 0
    # under the root, ε = 0 gives the plain update back
    inside = adam_step(m, v, c1, c2, a, eps, "inside_sqrt")
    assert sp.simplify(inside.subs(eps, 0) - adam_step(m, v, c1, c2, a)) == 0
    # PyTorch's arrangement (γ/c₁) m / (√v/√c₂ + ε) is the paper's
    assert sp.simplify(adam_step(m, v, c1, c2, a, eps)
                       + (a / c1) * m / (sp.sqrt(v) / sp.sqrt(c2) + eps)) == 0
    with pytest.raises(ValueError, match="eps_mode"):
        adam_step(m, v, c1, c2, a, eps_mode="outside")


# -- run_rule: the optimizers' own rules on SymPy values -----------------------------------------

import sympy as sp  # noqa: E402

import optlab  # noqa: E402
from optlab.display import algorithm_box_latex  # noqa: E402
from optlab.symbolic import run_rule  # noqa: E402

RULE_CASES = [
    optlab.SGD(lr=0.1), optlab.Momentum(lr=0.1, momentum=0.8, dampening=0.3),
    optlab.Nesterov(lr=0.05, weight_decay=0.1), optlab.Adagrad(lr=0.3, lr_decay=0.1,
                                                              initial_accumulator_value=0.2),
    optlab.RMSprop(lr=0.01, centered=True, momentum=0.5), optlab.Adam(lr=0.1, weight_decay=0.01),
    optlab.AdamW(lr=0.1), optlab.AMSGrad(lr=0.1), optlab.Adamax(lr=0.1), optlab.NAdam(lr=0.1),
    optlab.RAdam(lr=0.1), optlab.Adam(lr=0.1, maximize=True),
]


@pytest.mark.parametrize("opt", RULE_CASES, ids=repr)
def test_run_rule_with_numbers_is_the_numpy_path(opt):
    """30-digit arithmetic through the rule lands where float64 NumPy does (to rounding)."""
    grads = [0.3, -1.25, 0.5, 2.0, -0.75, 0.125, 1.5]
    def high_precision(value):  # floats as 30-digit SymPy Floats, so nothing stays a radical
        if isinstance(value, tuple):
            return tuple(high_precision(v) for v in value)
        return sp.Float(repr(value), 30) if isinstance(value, float) else value

    hyperparameters = {k: high_precision(v) for k, v in opt.hyperparameters.items()}
    thetas, _ = run_rule(opt, [sp.Float(g, 30) for g in grads], param=sp.Float(1, 30),
                         **hyperparameters)
    x, state = np.array(1.0), opt.init(np.array(1.0))
    for k, g in enumerate(grads, start=1):
        x, state = opt.step(x, np.array(g), state)
        assert float(thetas[k]) == pytest.approx(float(x), rel=1e-12, abs=1e-14)


def test_run_rule_unrolls_adam_symbolically():
    g1, g2, gamma, b1, b2, eps = sp.symbols("g1 g2 gamma beta1 beta2 epsilon", positive=True)
    thetas, state = run_rule(optlab.Adam(), [g1, g2], lr=gamma, betas=(b1, b2), eps=eps)
    m2 = (1 - b1) * (b1 * g1 + g2)                      # typed from Algorithm 1, by hand
    v2 = (1 - b2) * (b2 * g1 ** 2 + g2 ** 2)
    expected = -gamma * (m2 / (1 - b1 ** 2)) / (sp.sqrt(v2 / (1 - b2 ** 2)) + eps)
    values = {g1: 0.3, g2: -1.1, gamma: 0.01, b1: 0.7, b2: 0.9, eps: 1e-3}
    assert float((thetas[2] - thetas[1] - expected).subs(values)) == pytest.approx(0, abs=1e-15)
    assert sp.expand(state["exp_avg"] - m2) == 0 and state["step"] == 2


def test_run_rule_takes_a_gradient_function_and_rejects_unknown_names():
    lam, alpha, c0 = sp.symbols("lambda alpha c0")
    thetas, _ = run_rule(optlab.GD(lr=0.1), lambda theta, k: lam * theta, param=c0, steps=3,
                         lr=alpha)
    assert sp.expand(thetas[3] - (1 - alpha * lam) ** 3 * c0) == 0
    with pytest.raises(TypeError, match="no hyperparameter"):
        run_rule(optlab.GD(lr=0.1), [1], learning_rate=alpha)
    with pytest.raises(ValueError, match="steps"):
        run_rule(optlab.GD(lr=0.1), lambda theta, k: theta)


@pytest.mark.parametrize("rule", [optlab.sgd_update, optlab.adagrad_update, optlab.rmsprop_update,
                                  optlab.adam_update, optlab.adamax_update, optlab.nadam_update,
                                  optlab.radam_update], ids=lambda r: r.__name__)
def test_every_rule_has_an_algorithm_box(rule):
    latex = algorithm_box_latex(rule)
    assert latex.startswith(r"\begin{aligned}") and latex.endswith(r"\end{aligned}")
    assert latex.count(r"\begin{") == latex.count(r"\end{")


def test_a_rule_without_a_box_is_an_error():
    with pytest.raises(ValueError, match="no '.. math::' block"):
        algorithm_box_latex(lambda: None)


def test_run_rule_starts_the_state_from_symbolic_hyperparameters_or_a_given_state():
    g, gamma, tau = sp.symbols("g gamma tau", positive=True)
    expected = -gamma * g / sp.sqrt(g ** 2 + tau)           # AdaGrad's first step from S_0 = tau
    from_hyperparameter, _ = run_rule(optlab.Adagrad(), [g], lr=gamma, eps=0,
                                      initial_accumulator_value=tau)
    from_state, _ = run_rule(optlab.Adagrad(), [g], lr=gamma, eps=0, state={"step": 0, "sum": tau})
    assert sp.simplify(from_hyperparameter[1] - expected) == 0
    assert sp.simplify(from_state[1] - expected) == 0
