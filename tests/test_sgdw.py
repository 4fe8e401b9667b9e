"""SGD with decoupled weight decay (SGDW): optlab.SGD(decoupled_weight_decay=True) and optlab.SGDW.

Loshchilov and Hutter (2019), Algorithm 1, is typed here literally in NumPy (their notation):

    g_t = ∇f_t(θ_{t-1})            (SGD with L2 would add λθ_{t-1} here; SGDW does not)
    m_t = β m_{t-1} + η_t α g_t
    θ_t = θ_{t-1} − m_t − η_t λ θ_{t-1}

optlab, like PyTorch, keeps the learning rate out of the buffer (b_t = μ b_{t-1} + g_t,
θ_t = θ_{t-1}(1 − γλ) − γ b_t) and multiplies the decay by the learning rate γ. With a constant
rate the two are one algorithm under the mapping

    α = lr,  β = momentum,  λ_paper = α · λ_torch   (so weight_decay = λ_paper / α),

and m_t = γ b_t. With a schedule they are not: the decay terms agree (γ_t λ_torch = η_t λ_paper),
the momenta do not. The tests below pin both statements, on the NumPy path, the torch path and
the batched training path, and that decoupled_weight_decay=False changes nothing.
"""

import math
import re

import numpy as np
import pytest
import sympy as sp
import torch

import optlab
from optimizer_cases import OPTIONS
from optlab._ops import add_, clone, is_active, scale_, where
from optlab.symbolic import run_rule

STEPS = 50


@pytest.fixture(autouse=True)
def float64_torch():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def quadratic(seed, n=6):
    """f(θ) = ½ θᵀAθ − bᵀθ with A symmetric positive definite: grad = Aθ − b."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, n))
    a = q @ q.T / n + 0.1 * np.eye(n)
    b = rng.normal(size=n)
    return (lambda theta: a @ theta - b), rng.normal(size=n)


def paper_sgdw(grad, theta0, alpha, beta, lam_paper, etas):
    """Loshchilov and Hutter's Algorithm 1 (SGDW), line by line; etas: η_1, ..., η_T."""
    theta, m, out = theta0.copy(), np.zeros_like(theta0), []
    for eta in etas:
        g = grad(theta)
        m = beta * m + eta * alpha * g
        theta = theta - m - eta * lam_paper * theta
        out.append(theta)
    return out


def torch_form_sgdw(grad, theta0, alpha, beta, lam_paper, etas):
    """The same algorithm in PyTorch's momentum form (b_t = β b_{t-1} + g_t, step γ_t b_t with
    γ_t = η_t α), its decay η_t λ_paper, as the paper's: what optlab runs under a schedule."""
    theta, b, out = theta0.copy(), np.zeros_like(theta0), []
    for eta in etas:
        g = grad(theta)
        b = beta * b + g
        theta = theta - eta * alpha * b - eta * lam_paper * theta
        out.append(theta)
    return out


def optlab_numpy(grad, theta0, opt, etas):
    """optlab's NumPy path, the learning rate set to η_t · lr before each step (a scheduler)."""
    base, theta, state, out = opt.hyperparameters["lr"], theta0.copy(), opt.init(theta0), []
    for eta in etas:
        theta, state = opt.replace(lr=eta * base).step(theta, grad(theta), state)
        out.append(theta)
    return out


def optlab_torch(grad, theta0, opt, etas):
    """optlab's torch path, driven by torch's own LambdaLR with η as its factor."""
    p = torch.nn.Parameter(torch.tensor(theta0))
    torch_opt = optlab.torch_optimizer(opt, [p])
    schedule = torch.optim.lr_scheduler.LambdaLR(  # the factor after the last step is unused
        torch_opt, lambda s: etas[s] if s < len(etas) else 0.0)
    out = []
    for _ in etas:
        p.grad = torch.from_numpy(grad(p.detach().numpy().copy()))
        torch_opt.step()
        schedule.step()
        out.append(p.detach().numpy().copy())
    return out


def max_difference(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


# -- (a) the paper's Algorithm 1, constant schedule -------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("beta", [0.0, 0.9])
@pytest.mark.parametrize("path", [optlab_numpy, optlab_torch], ids=["numpy", "torch"])
def test_sgdw_is_loshchilov_hutter_algorithm_1(seed, beta, path):
    grad, theta0 = quadratic(seed)
    alpha, lam_paper = 0.3, 0.02
    etas = [1.0] * STEPS                              # η_t = 1: a constant learning rate
    expected = paper_sgdw(grad, theta0, alpha, beta, lam_paper, etas)
    # the mapping: λ_paper = α · λ_torch, i.e. weight_decay = λ_paper / α
    opt = optlab.SGD(lr=alpha, momentum=beta, weight_decay=lam_paper / alpha,
                     decoupled_weight_decay=True)
    ours = path(grad, theta0, opt, etas)
    for t, (a, b) in enumerate(zip(ours, expected), start=1):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12, err_msg=f"step {t}")
    # L2 with λ' = λ_paper / α: without momentum the same iterates (L&H's Proposition 1: for
    # plain SGD decoupled decay is L2 rescaled); with momentum the decay passes through the
    # buffer and the iterates part
    l2 = path(grad, theta0, opt.replace(decoupled_weight_decay=False), etas)
    if beta == 0:
        assert max_difference(l2, expected) < 1e-12
    else:
        assert max_difference(l2, expected) > 1e-3
    # and the preset is the same optimizer
    preset = optlab.SGDW(alpha, beta, weight_decay=lam_paper / alpha)
    assert preset.hyperparameters == opt.hyperparameters


def test_sgdw_is_algorithm_1_symbolically():
    """optlab's own rule on SymPy symbols, three steps, equals Algorithm 1 exactly."""
    alpha, beta, lam, theta0 = sp.symbols("alpha beta lambda theta0", positive=True)
    gs = sp.symbols("g1:4")
    thetas, state = run_rule(optlab.SGDW(0.1, 0.9, weight_decay=0.5), list(gs), param=theta0,
                             lr=alpha, momentum=beta, weight_decay=lam / alpha)
    theta, m = theta0, 0
    for t, g in enumerate(gs, start=1):           # the paper's lines, with η_t = 1
        m = beta * m + alpha * g
        theta = theta - m - lam * theta
        assert sp.simplify(thetas[t] - theta) == 0
    assert sp.simplify(alpha * state["momentum_buffer"] - m) == 0   # m_t = γ b_t


def test_sgdw_nesterov_and_maximize_are_the_same_decay():
    """Decoupled decay is one line before the momentum: with Nesterov, or maximizing −f, the
    step is the L2-free step from θ(1 − γλ)."""
    grad, theta0 = quadratic(3)
    lr, wd = 0.1, 0.05
    for kwargs in (dict(momentum=0.9, nesterov=True), dict(momentum=0.5, maximize=True)):
        opt = optlab.SGD(lr=lr, weight_decay=wd, decoupled_weight_decay=True, **kwargs)
        plain = optlab.SGD(lr=lr, **kwargs)
        theta, state = theta0.copy(), opt.init(theta0)
        shrunk, plain_state = theta0.copy(), plain.init(theta0)
        for _ in range(5):
            g = grad(theta)
            theta, state = opt.step(theta, g, state)
            # the same gradient, applied to the decayed point by the rule without decay
            shrunk, plain_state = plain.step(shrunk * (1 - lr * wd), g, plain_state)
            np.testing.assert_allclose(theta, shrunk, rtol=1e-14, atol=1e-14)
            shrunk = theta


# -- (b) with a schedule: the b-form and the m-form --------------------------------------------

COSINE = [0.5 * (1 + math.cos(math.pi * s / STEPS)) for s in range(STEPS)]


@pytest.mark.parametrize("path", [optlab_numpy, optlab_torch], ids=["numpy", "torch"])
def test_under_a_schedule_optlab_is_the_torch_form_with_the_papers_decay(path):
    grad, theta0 = quadratic(4)
    alpha, beta, lam_paper = 0.3, 0.9, 0.02
    opt = optlab.SGD(lr=alpha, momentum=beta, weight_decay=lam_paper / alpha,
                     decoupled_weight_decay=True)
    ours = path(grad, theta0, opt, COSINE)
    b_form = torch_form_sgdw(grad, theta0, alpha, beta, lam_paper, COSINE)
    m_form = paper_sgdw(grad, theta0, alpha, beta, lam_paper, COSINE)
    assert max_difference(ours, b_form) < 1e-12
    assert max_difference(ours, m_form) > 1e-3        # the momentum forms differ ...
    # ... only through the momentum: without it the two forms are one algorithm
    no_momentum = path(grad, theta0, opt.replace(momentum=0.0), COSINE)
    assert max_difference(no_momentum, paper_sgdw(grad, theta0, alpha, 0.0, lam_paper,
                                                  COSINE)) < 1e-12


@pytest.mark.parametrize("path", [optlab_numpy, optlab_torch], ids=["numpy", "torch"])
def test_the_decoupled_decay_follows_the_schedule_in_both_forms(path):
    """With no loss (g ≡ 0) only the decay acts: θ_T = Π (1 − η_t λ_paper) θ_0 in the paper's
    form, in the torch form and in optlab, i.e. the decay per step is γ_t λ_torch = η_t λ_paper."""
    theta0 = np.array([1.0, -2.0, 0.5])
    zero = lambda theta: np.zeros_like(theta)  # noqa: E731
    alpha, beta, lam_paper = 0.3, 0.9, 0.05
    opt = optlab.SGDW(alpha, beta, weight_decay=lam_paper / alpha)
    shrink = np.cumprod([1 - eta * lam_paper for eta in COSINE])
    for form in (path(zero, theta0, opt, COSINE),
                 paper_sgdw(zero, theta0, alpha, beta, lam_paper, COSINE),
                 torch_form_sgdw(zero, theta0, alpha, beta, lam_paper, COSINE)):
        np.testing.assert_allclose(np.array(form), shrink[:, None] * theta0, rtol=1e-13)
    # L2 under the same schedule decays through the momentum instead: not the same iterates
    l2 = path(zero, theta0, opt.replace(decoupled_weight_decay=False), COSINE)
    assert np.max(np.abs(l2[-1] - shrink[-1] * theta0)) > 1e-2


def test_train_batched_rows_are_single_torch_runs():
    """The chapter's path: a grid of SGDW rows (tensor lr and weight decay, a cosine factor) in
    train_batched equals the plain loop with optlab.torch_optimizer and LambdaLR."""
    from test_train import assert_row_matches, reference
    from optlab.datasets import load_digits
    from optlab.models import MLP
    from optlab.train import grid, train_batched

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        digits, model = load_digits(), MLP(64, 10, hidden=(8,))
        epochs, batch_size = 2, 256
        total = epochs * math.ceil(len(digits.y_train) / batch_size)
        cosine = lambda s: 0.5 * (1 + math.cos(math.pi * s / total))  # noqa: E731
        g = grid(lr=[0.05, 0.5], decay=[1e-3, 0.1])
        result = train_batched(optlab.SGDW(g["lr"], 0.9, weight_decay=g["decay"] / g["lr"]),
                               model, digits, 3, epochs=epochs, batch_size=batch_size,
                               lr_factor=cosine)
        for i in range(g.size):
            lr, wd = float(g["lr"][i]), float(g["decay"][i] / g["lr"][i])

            def make(params, lr=lr, wd=wd):
                return optlab.torch_optimizer(optlab.SGDW(lr, 0.9, weight_decay=wd), params)

            assert_row_matches(result, i, reference(model, digits, 3, make, epochs, batch_size,
                                                    cosine), model)
    finally:
        torch.set_num_threads(threads)


# -- (c) bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("make,error,message", [
    (lambda: optlab.SGD(lr=0.1, decoupled_weight_decay="yes"), TypeError,
     "decoupled_weight_decay must be True or False, got 'yes'"),
    (lambda: optlab.SGD(lr=0.1, decoupled_weight_decay=1), TypeError,
     "decoupled_weight_decay must be True or False, got 1"),
    (lambda: optlab.SGD(lr=0.1, decoupled_weight_decay=None), TypeError,
     "decoupled_weight_decay must be True or False, got None"),
    (lambda: optlab.SGDW(0.1, weight_decay=-0.5), ValueError,
     "Invalid weight_decay value: -0.5 (weight_decay must be >= 0)"),
    (lambda: optlab.SGDW(0.1, weight_decay=[0.1, float("nan")]), ValueError,
     "Invalid weight_decay value: nan (weight_decay must be >= 0)"),
    (lambda: optlab.SGDW(-0.1, weight_decay=0.1), ValueError,
     "Invalid learning rate: -0.1 (lr must be >= 0)"),
    (lambda: optlab.SGDW(0.1, 0.0, weight_decay=0.1, nesterov=True), ValueError,
     "Nesterov momentum requires a momentum and zero dampening"),
    (lambda: optlab.SGDW(0.1), TypeError, "weight_decay"),
])
def test_bad_input_names_the_argument(make, error, message):
    with pytest.raises(error, match=re.escape(message)):
        make()


def test_bad_input_changes_nothing():
    opt = optlab.SGDW(0.1, weight_decay=0.5)
    with pytest.raises(TypeError, match="decoupled_weight_decay must be True or False"):
        opt.replace(decoupled_weight_decay="no")
    assert opt.hyperparameters["decoupled_weight_decay"] is True
    # torch path: a bad group is not added; a NaN gradient leaves the decayed parameter as it was
    first, second = (torch.nn.Parameter(torch.tensor([1.0, -2.0])) for _ in range(2))
    ours = optlab.torch_optimizer(opt, [first])
    with pytest.raises(TypeError, match="decoupled_weight_decay must be True or False"):
        ours.add_param_group({"params": [second], "decoupled_weight_decay": 0})
    assert len(ours.param_groups) == 1
    first.grad = torch.tensor([0.5, 0.5])
    ours.step()
    before, buffer = first.detach().clone(), ours.state[first]["momentum_buffer"].clone()
    first.grad = torch.tensor([float("nan"), 1.0])
    with pytest.raises(FloatingPointError, match="parameter 0"):
        ours.step()
    torch.testing.assert_close(first.detach(), before, rtol=0, atol=0)
    torch.testing.assert_close(ours.state[first]["momentum_buffer"], buffer, rtol=0, atol=0)
    # NumPy path: the same, with nothing changed in the caller's arrays
    x = np.array([1.0, -2.0])
    state = opt.init(x)
    with pytest.raises(FloatingPointError):
        opt.step(x, np.array([np.nan, 1.0]), state)
    np.testing.assert_array_equal(x, [1.0, -2.0])
    assert state == {"step": 0, "momentum_buffer": None}


# -- (d) decoupled_weight_decay=False is the SGD of before ------------------------------------

def sgd_update_before(param, grad, state, *, lr, momentum, dampening, weight_decay, nesterov,
                      maximize):
    """optlab's sgd_update as it was before decoupled decay (commit 546d0e8), verbatim."""
    g = -grad if maximize else grad
    if is_active(weight_decay):
        g = g + weight_decay * param
    if is_active(momentum):
        b = state["momentum_buffer"]
        if b is None:
            b = state["momentum_buffer"] = clone(g)
        else:
            add_(scale_(b, momentum), g, 1 - dampening)
        g = g + momentum * b if nesterov else where(momentum != 0, b, g)
    add_(param, g, -lr)
    state["step"] += 1


class SGDBefore(optlab.SGD):
    rule = staticmethod(sgd_update_before)
    defaults = {k: v for k, v in optlab.SGD.defaults.items() if k != "decoupled_weight_decay"}

    @staticmethod
    def _check(h):
        h = optlab.SGD._check({**h, "decoupled_weight_decay": False})
        del h["decoupled_weight_decay"]
        return h


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kwargs", OPTIONS["SGD"], ids=str)
def test_not_decoupled_is_bit_identical_to_before(kwargs, dtype):
    rng = np.random.default_rng(5)
    params = [rng.normal(size=(3, 4)).astype(dtype), rng.normal(size=5).astype(dtype)]
    grads = [[rng.normal(size=p.shape).astype(dtype) for p in params] for _ in range(STEPS)]
    new, old = optlab.SGD(decoupled_weight_decay=False, **kwargs), SGDBefore(**kwargs)
    assert new.hyperparameters == {**old.hyperparameters, "decoupled_weight_decay": False}
    assert optlab.SGD(**kwargs).hyperparameters == new.hyperparameters   # False is the default
    # NumPy path
    a, sa, b, sb = params, new.init(params), params, old.init(params)
    for g in grads:
        a, sa = new.step(a, g, sa)
        b, sb = old.step(b, g, sb)
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    # torch path
    ta = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params]
    tb = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params]
    oa, ob = optlab.torch_optimizer(new, ta), optlab.torch_optimizer(old, tb)
    for g in grads:
        for x, y, gg in zip(ta, tb, g):
            x.grad, y.grad = torch.from_numpy(gg.copy()), torch.from_numpy(gg.copy())
        oa.step()
        ob.step()
        for x, y in zip(ta, tb):
            torch.testing.assert_close(x, y, rtol=0, atol=0)
    # and both are torch.optim.SGD (to its rounding), as tests/test_conformance.py checks
    ref = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params]
    torch_opt = torch.optim.SGD(ref, foreach=False, **kwargs)
    for g in grads:
        for x, gg in zip(ref, g):
            x.grad = torch.from_numpy(gg.copy())
        torch_opt.step()
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    for x, y in zip(ta, ref):
        torch.testing.assert_close(x, y, **tol)


def test_a_torch_sgd_checkpoint_loads_as_not_decoupled():
    """torch.optim.SGD's param groups have no decoupled_weight_decay: loading one into optlab's
    SGD keeps the optimizer's own setting (False by default), as for any option torch lacks."""
    p = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    theirs = torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1)
    p.grad = torch.tensor([0.1, 0.2])
    theirs.step()
    ours = optlab.torch_optimizer(optlab.SGD(lr=0.1, momentum=0.9, weight_decay=0.1), [p])
    ours.load_state_dict(theirs.state_dict())
    assert ours.param_groups[0]["decoupled_weight_decay"] is False
