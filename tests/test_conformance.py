"""optlab's NumPy path and torch path against torch.optim (single-tensor, foreach=False), and
against the authors' packages for AdaBound and AdaMod: the rows of ``optimizer_cases`` that have
a reference (``TORCH_CASES``)."""

import numpy as np
import pytest
import torch

import optlab
from optimizer_cases import (CASES, PACKAGE_WARNINGS, TORCH, TORCH_CASES, case_id,
                             float64_torch, make)  # noqa: F401  (a fixture, used by name)

pytestmark = PACKAGE_WARNINGS
FLOAT64 = pytest.mark.usefixtures("float64_torch")

STEPS = 200
TOLERANCE = {np.float64: dict(rtol=1e-10, atol=1e-12), np.float32: dict(rtol=1e-5, atol=1e-6)}
SHAPES = [(3, 4), (5,)]


def gradient_sequence(dtype, steps=STEPS, seed=0):
    """Random gradients for every step, with a few exactly zero entries (a real step in torch)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        grads = [rng.normal(size=s).astype(dtype) for s in SHAPES]
        grads[0][0, 0] = 0.0
        out.append(grads)
    return out


def start_params(dtype, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s).astype(dtype) for s in SHAPES]


def run_torch(name, kwargs, params, grad_seq, none_at=()):
    tensors = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params]
    opt = TORCH[name](tensors, foreach=False, **kwargs)
    history = []
    for t, grads in enumerate(grad_seq):
        for i, (x, g) in enumerate(zip(tensors, grads)):
            x.grad = None if (t, i) in none_at else torch.from_numpy(g.copy())
        opt.step()
        history.append([x.detach().numpy().copy() for x in tensors])
    return history, opt


def run_numpy(name, kwargs, params, grad_seq, none_at=()):
    opt = make(name, **kwargs)
    state = opt.init(params)
    history = []
    for t, grads in enumerate(grad_seq):
        grads = [None if (t, i) in none_at else g for i, g in enumerate(grads)]
        params, state = opt.step(params, grads, state)
        history.append(params)
    return history, state


def assert_histories_close(ours, theirs, dtype):
    worst = 0.0
    for t, (a_list, b_list) in enumerate(zip(ours, theirs)):
        for a, b in zip(a_list, b_list):
            assert a.dtype == b.dtype
            np.testing.assert_allclose(a, b, **TOLERANCE[dtype], err_msg=f"step {t + 1}")
            worst = max(worst, float(np.max(np.abs(a - b))))
    return worst


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", TORCH_CASES, ids=case_id)
@FLOAT64
def test_numpy_path_matches_torch(case, dtype):
    name, kwargs = case
    params, grads = start_params(dtype), gradient_sequence(dtype)
    ours, _ = run_numpy(name, kwargs, params, grads)
    theirs, _ = run_torch(name, kwargs, params, grads)
    assert_histories_close(ours, theirs, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case", TORCH_CASES, ids=case_id)
@FLOAT64
def test_torch_path_matches_torch(case, dtype):
    name, kwargs = case
    params, grads = start_params(dtype), gradient_sequence(dtype, steps=50)
    theirs, _ = run_torch(name, kwargs, params, grads)
    tensors = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params]
    opt = optlab.torch_optimizer(make(name, **kwargs), tensors)
    ours = []
    for step_grads in grads:
        for x, g in zip(tensors, step_grads):
            x.grad = torch.from_numpy(g.copy())
        opt.step()
        ours.append([x.detach().numpy().copy() for x in tensors])
    assert_histories_close(ours, theirs, dtype)


@pytest.mark.parametrize("case", TORCH_CASES, ids=case_id)
@FLOAT64
def test_none_gradient_skips_and_steps_are_counted_per_parameter(case):
    """The second parameter gets its first gradient at the 3rd call and misses the 7th."""
    name, kwargs = case
    params, grads = start_params(np.float64), gradient_sequence(np.float64, steps=20)
    none_at = {(0, 1), (1, 1), (6, 1), (10, 0)}
    ours, state = run_numpy(name, kwargs, params, grads, none_at)
    theirs, torch_opt = run_torch(name, kwargs, params, grads, none_at)
    assert_histories_close(ours, theirs, np.float64)
    torch_steps = [torch_opt.state[p].get("step") for p in torch_opt.param_groups[0]["params"]]
    assert [s["step"] for s in state] == [19, 17]
    if name != "SGD":  # torch's SGD keeps no step count
        assert [int(s) for s in torch_steps] == [19, 17]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_none_gradient_leaves_parameter_and_state_untouched(case):
    name, kwargs = case
    opt = make(name, **kwargs)
    params = start_params(np.float64)
    state = opt.init(params)
    params, state = opt.step(params, gradient_sequence(np.float64, 1)[0], state)
    new_params, new_state = opt.step(params, [None, np.ones(5)], state)
    assert new_params[0] is params[0] and new_state[0] is state[0]
    assert new_state[0]["step"] == 1 and new_state[1]["step"] == 2


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1, weight_decay=0.5)), ("SGD", dict(lr=0.1, momentum=0.9)),
    ("Adam", dict(lr=0.1)), ("AdamW", dict(lr=0.1, weight_decay=0.5)),
    ("RMSprop", dict(lr=0.1, momentum=0.9)),
])
@FLOAT64
def test_zero_gradient_is_a_real_step(name, kwargs):
    """After one real step, zero gradients still move the parameter through decay or momentum."""
    x0 = [np.array([1.0, -2.0])]
    grads = [[np.array([0.3, 0.3])]] + [[np.zeros(2)]] * 5
    ours, _ = run_numpy(name, kwargs, x0, grads)
    theirs, _ = run_torch(name, kwargs, x0, grads)
    assert_histories_close(ours, theirs, np.float64)
    assert not np.allclose(ours[-1][0], ours[0][0])


def test_nadam_with_float32_default_dtype_differs_from_float64_only_slightly():
    """torch keeps NAdam's μ product in a float32 tensor by default; optlab keeps float64.
    The paths then differ by about float32 rounding, far above float64 tolerance."""
    params, grads = start_params(np.float64), gradient_sequence(np.float64, steps=50)
    ours, _ = run_numpy("NAdam", {}, params, grads)
    theirs, _ = run_torch("NAdam", {}, params, grads)
    difference = max(float(np.max(np.abs(a - b))) for a, b in zip(ours[-1], theirs[-1]))
    assert 1e-12 < difference < 1e-6
