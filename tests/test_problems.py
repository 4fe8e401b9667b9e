"""Problem generators with data (SparseLogistic): the data, exact derivatives, the minimiser."""

import numpy as np
import pytest
import torch

import optlab
from optlab.objectives import SparseLogistic
from optlab.run import trajectory

SMALL = SparseLogistic(n_samples=300, n_features=12, seed=1)


def test_data_are_seeded_binary_and_zipf_like():
    a, b = SparseLogistic(seed=0), SparseLogistic(seed=0)
    np.testing.assert_array_equal(a.X, b.X)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.X, SparseLogistic(seed=1).X)
    assert a.X.shape == (2000, 50) and set(np.unique(a.X)) == {0.0, 1.0}
    assert set(np.unique(a.y)) == {-1.0, 1.0}
    np.testing.assert_allclose(a.rates, 0.5 / np.arange(1, 51))
    # observed frequencies follow the rates (binomial noise: 4 standard deviations)
    sd = np.sqrt(a.rates * (1 - a.rates) / 2000)
    assert (np.abs(a.frequency - a.rates) < 4 * sd).all()
    assert a.frequency[:5].mean() > 10 * a.frequency[-5:].mean()


def test_grad_and_hessian_match_autograd():
    x = np.random.default_rng(0).normal(size=(3, SMALL.dim))
    t = torch.tensor(x, requires_grad=True)
    (g,) = torch.autograd.grad(SMALL.value(t).sum(), t)
    np.testing.assert_allclose(SMALL.grad(x), g.numpy(), rtol=1e-10, atol=1e-13)
    h = torch.autograd.functional.hessian(SMALL.value, torch.tensor(x[1]))
    np.testing.assert_allclose(SMALL.hessian(x[1]), h.numpy(), rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(SMALL.value(torch.tensor(x)).numpy(), SMALL.value(x), rtol=1e-13)


def test_value_is_the_mean_logistic_loss_and_stable_for_large_weights():
    w = np.linspace(-1, 1, SMALL.dim)
    margins = SMALL.y * (SMALL.X @ w)
    expected = np.mean(np.log1p(np.exp(-margins))) + 0.5 * SMALL.l2 * w @ w
    assert np.isclose(SMALL.value(w), expected, rtol=1e-13)
    huge = 1e4 * np.ones(SMALL.dim)
    assert np.isfinite(SMALL.value(huge)) and np.isfinite(SMALL.grad(huge)).all()


def test_minimiser_is_stationary_and_minimal():
    for problem in (SMALL, SparseLogistic()):
        w = problem.minimizers[0]
        assert np.abs(problem.grad(w)).max() < 1e-12
        assert problem.min_value == problem.value(w)
        other = w + 0.01 * np.random.default_rng(2).normal(size=(20, problem.dim))
        assert (problem.value(other) > problem.min_value).all()
    unregularised = SparseLogistic(n_samples=50, n_features=5, l2=0.0)
    assert unregularised.minimizers.shape == (0, 5) and unregularised.min_value is None


def test_minibatch_gradients_average_to_the_full_gradient():
    w = np.random.default_rng(3).normal(size=SMALL.dim)
    np.testing.assert_allclose(SMALL.sample_grad(w, np.arange(300)), SMALL.grad(w), rtol=1e-12)
    halves = [SMALL.sample_grad(w, rows) for rows in (np.arange(150), np.arange(150, 300))]
    np.testing.assert_allclose(np.mean(halves, axis=0), SMALL.grad(w), rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="empty"):
        SMALL.sample_grad(w, [])


def test_sweep_rows_equal_single_runs():
    lrs = np.array([0.05, 0.5])
    sweep = trajectory(optlab.Adagrad(lr=lrs[:, None]), SMALL, np.zeros(SMALL.dim), 20)
    for i, lr in enumerate(lrs):
        single = trajectory(optlab.Adagrad(lr=lr), SMALL, np.zeros(SMALL.dim), 20)
        np.testing.assert_array_equal(sweep.xs[:, i], single.xs)


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_rate"):
        SparseLogistic(max_rate=1.5)
    with pytest.raises(ValueError, match="l2"):
        SparseLogistic(l2=-1.0)
    with pytest.raises(ValueError, match="n_samples"):
        SparseLogistic(n_samples=0)
    with pytest.raises(ValueError, match="last axis"):
        SMALL.grad(np.zeros(3))
