"""Objectives: gradients and Hessians against torch.autograd of the same value function."""

import numpy as np
import pytest
import torch

from optlab.objectives import Beale, Quadratic, Rosenbrock, Saddle

rng = np.random.default_rng(0)
OBJECTIVES = [
    Quadratic(np.array([[3.0, 1.0], [1.0, 2.0]]), b=[1.0, -2.0], c=0.5),
    Quadratic.ill_conditioned(50, dim=4, angle=0.3),
    Quadratic(np.diag([1.0, -2.0, 0.5])),  # indefinite
    Rosenbrock(),
    Rosenbrock(a=-0.5, b=10.0),
    Beale(),
    Saddle(),
]
ids = [o.name for o in OBJECTIVES]


def autograd(objective, x):
    """Batched gradient and per-point Hessians of objective.value, through torch (float64)."""
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(objective.value(t).sum(), t)
    flat = torch.tensor(x.reshape(-1, x.shape[-1]), dtype=torch.float64)
    h = torch.stack([torch.autograd.functional.hessian(objective.value, p) for p in flat])
    return g.numpy(), h.numpy().reshape(x.shape + x.shape[-1:])


@pytest.mark.parametrize("objective", OBJECTIVES, ids=ids)
def test_grad_and_hessian_match_autograd(objective):
    x = rng.uniform(-2, 2, size=(3, 4, objective.dim))
    g, h = autograd(objective, x)
    assert objective.value(x).shape == (3, 4)
    np.testing.assert_allclose(objective.grad(x), g, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(objective.hessian(x), h, rtol=1e-12, atol=1e-10)
    # torch and NumPy compute the same values
    np.testing.assert_allclose(objective.value(torch.tensor(x)).numpy(), objective.value(x),
                               rtol=1e-14)


@pytest.mark.parametrize("objective", OBJECTIVES, ids=ids)
def test_single_point_and_call(objective):
    x = rng.normal(size=objective.dim)
    assert np.shape(objective(x)) == ()
    assert objective.grad(x).shape == (objective.dim,)
    assert objective.hessian(x).shape == (objective.dim, objective.dim)
    assert objective(x) == objective.value(x[None])[0]


@pytest.mark.parametrize("objective", OBJECTIVES, ids=ids)
def test_minimizers(objective):
    m = objective.minimizers
    assert m.ndim == 2 and m.shape[1] == objective.dim
    if objective.min_value is None:
        assert m.shape[0] == 0
        return
    assert m.shape[0] >= 1
    np.testing.assert_allclose(objective.grad(m), 0.0, atol=1e-12)
    np.testing.assert_allclose(objective.value(m), objective.min_value, atol=1e-12)
    # a minimum, not a saddle: the Hessian there is positive definite
    assert (np.linalg.eigvalsh(objective.hessian(m)) > 0).all()


def test_known_values():
    assert Rosenbrock()(np.array([0.0, 0.0])) == 1.0
    np.testing.assert_array_equal(Rosenbrock(a=2.0).minimizers, [[2.0, 4.0]])
    np.testing.assert_array_equal(Beale().minimizers, [[3.0, 0.5]])
    assert Beale()(np.array([0.0, 0.0])) == 1.5 ** 2 + 2.25 ** 2 + 2.625 ** 2
    assert Saddle().min_value is None and Saddle().minimizers.shape == (0, 2)
    np.testing.assert_array_equal(Saddle().grad(np.zeros(2)), [0.0, 0.0])
    np.testing.assert_array_equal(Saddle().hessian(np.zeros(2)), np.diag([1.0, -1.0]))


def test_quadratic_minimiser_and_spectrum():
    A, b = np.array([[4.0, 1.0], [1.0, 3.0]]), np.array([1.0, 2.0])
    q = Quadratic(A, b, c=1.0)
    np.testing.assert_allclose(q.minimizers[0], np.linalg.solve(A, b))
    np.testing.assert_allclose(q.min_value, 1.0 - 0.5 * b @ np.linalg.solve(A, b))
    np.testing.assert_allclose(q.eigenvalues, np.sort(np.linalg.eigvalsh(A)))
    assert q.eigenvalues[0] <= q.eigenvalues[1]
    np.testing.assert_allclose(q.condition_number, q.eigenvalues[1] / q.eigenvalues[0])
    np.testing.assert_array_equal(q.hessian(np.zeros((5, 2))), np.broadcast_to(A, (5, 2, 2)))
    indefinite = Quadratic(np.diag([1.0, -1.0]))
    assert indefinite.condition_number == np.inf and indefinite.min_value is None
    assert Quadratic(np.diag([1.0, 0.0])).condition_number == np.inf


@pytest.mark.parametrize("kappa, dim, angle", [(10, 2, 0.0), (100, 2, 0.7), (1e4, 5, 0.3)])
def test_ill_conditioned(kappa, dim, angle):
    q = Quadratic.ill_conditioned(kappa, dim=dim, angle=angle)
    assert q.dim == dim
    np.testing.assert_allclose(q.condition_number, kappa, rtol=1e-10)
    np.testing.assert_allclose(q.eigenvalues, np.geomspace(1, kappa, dim), rtol=1e-10)
    np.testing.assert_array_equal(q.minimizers, np.zeros((1, dim)))
    assert q.min_value == 0.0


def test_ill_conditioned_rotation():
    q = Quadratic.ill_conditioned(10, angle=np.pi / 6)
    valley = np.array([np.cos(np.pi / 6), np.sin(np.pi / 6)])  # eigenvector of eigenvalue 1
    np.testing.assert_allclose(q.grad(valley), valley, atol=1e-14)
    np.testing.assert_allclose(Quadratic.ill_conditioned(10).A, np.diag([1.0, 10.0]))


def test_quadratic_validation():
    with pytest.raises(ValueError, match="A must be a square"):
        Quadratic(np.ones((2, 3)))
    with pytest.raises(ValueError, match="A must be a square"):
        Quadratic(np.ones(3))
    with pytest.raises(ValueError, match="A must be symmetric"):
        Quadratic(np.array([[1.0, 2.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"b must have shape \(2,\)"):
        Quadratic(np.eye(2), b=np.ones(3))
    with pytest.raises(ValueError, match="kappa"):
        Quadratic.ill_conditioned(0.5)
    Quadratic(np.array([[1.0, 2.0], [2.0 + 1e-14, 1.0]]))  # round-off is not asymmetry


@pytest.mark.parametrize("objective", OBJECTIVES, ids=ids)
def test_bad_shape_names_x_and_both_shapes(objective):
    bad = np.zeros((4, objective.dim + 1))
    message = rf"x has shape \(4, {objective.dim + 1}\).*\(\.\.\., {objective.dim}\)"
    for method in (objective.value, objective.grad, objective.hessian):
        with pytest.raises(ValueError, match=message):
            method(bad)
    with pytest.raises(ValueError, match="x has shape"):
        objective.value(torch.zeros(objective.dim + 1))
