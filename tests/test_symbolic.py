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


# -- adam_step and adam_update_expr (chapters 06 and 07) -------------------------------------

def _optlab_adam_steps(grads, **hyperparameters):
    import optlab

    opt = optlab.Adam(**hyperparameters)
    theta = np.zeros(1)
    state = opt.init(theta)
    changes = []
    for g in grads:
        new, state = opt.step(theta, np.array([g]), state)
        changes.append(float(new[0] - theta[0]))
        theta = new
    return changes


@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_update_expr_matches_optlab_adam_step_by_step(amsgrad):
    from optlab.symbolic import adam_update_expr

    grads = [0.3, -1.2, 2.5, 0.01, -0.7, 4.0]
    changes = _optlab_adam_steps(grads, lr=0.1, betas=(0.8, 0.95), eps=1e-3, amsgrad=amsgrad)
    for t in range(1, len(grads) + 1):
        expected = float(adam_update_expr(grads[:t], 0.1, 0.8, 0.95, 1e-3, amsgrad=amsgrad))
        assert changes[t - 1] == pytest.approx(expected, rel=1e-12)


def test_adam_update_expr_first_step_with_and_without_bias_correction():
    from optlab.symbolic import adam_update_expr

    a, b1, b2, g = sp.symbols("alpha beta1 beta2 g", positive=True)
    assert sp.simplify(adam_update_expr([g], a, b1, b2) + a) == 0
    assert sp.simplify(adam_update_expr([g], a, b1, b2, bias_correction=False)
                       + a * (1 - b1) / sp.sqrt(1 - b2)) == 0


def test_adam_step_eps_placements_for_any_t():
    from optlab.symbolic import adam_step, adam_update_expr

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
    with pytest.raises(ValueError, match="at least one"):
        adam_update_expr([], a, 0.9, 0.999)
