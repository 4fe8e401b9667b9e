"""AdaBound, AMSBound and AdaMod (optlab.bounded) against the authors' own packages.

The references are ``adabound`` 0.0.5 (Luo et al. 2019) and ``adamod`` 0.0.3 (Ding et al.
2019), pinned in requirements.txt. Each runs 200 steps in float64 on a random quadratic, on
Rosenbrock's valley and on a small torch network's four tensors, with several argument sets, and
optlab must follow it to 1e-12 relative on both of its paths (NumPy ``opt.step`` and
``optlab.torch_optimizer``), with a torch lr scheduler too. Then properties derived from the
papers' formulas, not from the code: AdaBound's step per coordinate lies between the bounds
η_l(t), η_u(t) and tends to SGD's with rate final_lr; AdaMod's never exceeds its EMA cap.

The argument sets are ones whose runs are well conditioned. Some are not: AdaMod with
lr=0.05, betas=(0.5, 0.9), beta3=0.5, eps=1e-3 on Rosenbrock moves the package's own run by
1.7e-6 when x0 moves by one unit in the last place, so no two implementations can agree there to
1e-12 (optlab and the package differ by 4.6e-5 after 200 steps, both within that noise).
"""

import copy
import math
import pickle
import re
import warnings

import adabound
import adamod
import numpy as np
import pytest
import torch

import optlab
from optimizer_cases import PACKAGE_WARNINGS, case_id, float64_torch  # noqa: F401  (a fixture)
from optlab.objectives import Rosenbrock
from optlab.run import trajectory

pytestmark = [PACKAGE_WARNINGS, pytest.mark.usefixtures("float64_torch")]

STEPS = 200
RTOL = 1e-12
REFERENCE = {"AdaBound": adabound.AdaBound, "AdaMod": adamod.AdaMod}
ARGUMENTS = {
    "AdaBound": [
        dict(),
        dict(lr=0.1),  # large: Adam's rate hits the upper bound
        dict(weight_decay=0.1),
        dict(amsbound=True),
        dict(gamma=0.1, final_lr=0.01),
        dict(lr=0.1, amsbound=True, weight_decay=0.05, gamma=0.05, final_lr=0.02),
        dict(lr=0.01, betas=(0.5, 0.99), eps=1e-4, gamma=0.5, final_lr=1e-3),
    ],
    "AdaMod": [
        dict(),
        dict(lr=0.1),
        dict(weight_decay=0.1),
        dict(beta3=0.9),
        dict(lr=0.02, betas=(0.8, 0.99), beta3=0.99, eps=1e-6, weight_decay=0.01),
    ],
}
CASES = [(name, kwargs) for name, rows in ARGUMENTS.items() for kwargs in rows]


# -- problems: a start (a list of arrays) and the exact gradient of a list of arrays ---------------
def quadratic(seed=0, n=6):
    """½θᵀAθ − bᵀθ with A symmetric positive definite (eigenvalues from 0.1 up)."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, n))
    a, b = q @ q.T / n + 0.1 * np.eye(n), rng.normal(size=n)
    return [rng.normal(size=n)], lambda ps: [a @ ps[0] - b]


def rosenbrock():
    f = Rosenbrock()
    return [np.array([-1.2, 1.0])], lambda ps: [f.grad(ps[0])]


def network(seed=0):
    """A 4-8-3 tanh network on fixed data (mean squared error): four tensors."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(32, 4, generator=generator)
    y = torch.sin(x @ torch.randn(4, 3, generator=generator))
    names = [name for name, _ in model.named_parameters()]

    def grad(ps):
        tensors = [torch.tensor(p, requires_grad=True) for p in ps]
        out = torch.func.functional_call(model, dict(zip(names, tensors)), (x,))
        loss = torch.nn.functional.mse_loss(out, y)
        return [g.numpy() for g in torch.autograd.grad(loss, tensors)]

    return [p.detach().numpy().copy() for p in model.parameters()], grad


PROBLEMS = {"quadratic": quadratic, "rosenbrock": rosenbrock, "network": network}


# -- three ways to run: the package, optlab's NumPy path, optlab's torch path ---------------------
def run_torch_optimizer(make, start, grad, steps, scheduler=None):
    """Iterates (steps, n) of a torch optimizer `make(tensors)` fed the exact gradients."""
    tensors = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in start]
    opt = make(tensors)
    schedule = None if scheduler is None else scheduler(opt)
    out = []
    for _ in range(steps):
        for x, g in zip(tensors, grad([x.detach().numpy().copy() for x in tensors])):
            x.grad = torch.from_numpy(np.array(g))
        opt.step()
        if schedule is not None:
            schedule.step()
        out.append(np.concatenate([x.detach().numpy().ravel() for x in tensors]))
    return np.array(out)


def run_reference(name, kwargs, start, grad, steps=STEPS, scheduler=None):
    return run_torch_optimizer(lambda ts: REFERENCE[name](ts, **kwargs), start, grad, steps,
                               scheduler)


def run_torch_path(name, kwargs, start, grad, steps=STEPS, scheduler=None):
    opt = getattr(optlab, name)(**kwargs)
    return run_torch_optimizer(lambda ts: optlab.torch_optimizer(opt, ts), start, grad, steps,
                               scheduler)


def run_numpy(opt, start, grad, steps=STEPS, lrs=None, state=None):
    """Iterates (steps, n) of optlab's NumPy path; lrs[t] is step t+1's lr (a schedule)."""
    params = [p.copy() for p in start]
    state = opt.init(params) if state is None else state
    out = []
    for t in range(steps):
        step_opt = opt if lrs is None else opt.replace(lr=lrs[t])
        params, state = step_opt.step(params, grad(params), state)
        out.append(np.concatenate([p.ravel() for p in params]))
    return np.array(out), params, state


def assert_close(ours, theirs, start):
    """Elementwise to RTOL relative, with RTOL times the iterates' scale as the absolute floor
    (a coordinate passing through 0 has no relative error); returns the largest gap."""
    scale = max(np.abs(theirs).max(), np.abs(np.concatenate([p.ravel() for p in start])).max())
    np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=RTOL * scale)
    assert np.abs(theirs[-1] - np.concatenate([p.ravel() for p in start])).max() > 1e-3, \
        "the run hardly moved: the comparison would prove nothing"
    return float(np.abs(ours - theirs).max() / scale)


# -- 1. both paths against the authors' packages --------------------------------------------------
@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_both_paths_match_the_authors_package(case, problem):
    name, kwargs = case
    start, grad = PROBLEMS[problem]()
    theirs = run_reference(name, kwargs, start, grad)
    ours_numpy = run_numpy(getattr(optlab, name)(**kwargs), start, grad)[0]
    ours_torch = run_torch_path(name, kwargs, start, grad)
    assert_close(ours_numpy, theirs, start)
    assert_close(ours_torch, theirs, start)


def multistep(opt):
    return torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[60, 130], gamma=0.1)


def warmup_then_step(opt):
    # LinearLR lowers the lr when it is made, before the first step: the package's base lr is
    # the one the optimizer was made with, not the one the first step sees
    return torch.optim.lr_scheduler.SequentialLR(opt, [
        torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=40),
        torch.optim.lr_scheduler.StepLR(opt, step_size=50, gamma=0.5)], milestones=[40])


@pytest.mark.parametrize("scheduler", [multistep, warmup_then_step])
@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("case", [("AdaBound", dict(lr=0.02, gamma=0.05, final_lr=2e-3)),
                                  ("AdaBound", dict(lr=0.05, amsbound=True, weight_decay=0.01)),
                                  ("AdaMod", dict(lr=0.05, beta3=0.9, weight_decay=0.01))],
                         ids=case_id)
def test_torch_path_with_an_lr_scheduler_matches_the_package(case, problem, scheduler):
    """A scheduler changes lr mid-run; AdaBound's bounds must move with it as the package's do."""
    name, kwargs = case
    start, grad = PROBLEMS[problem]()
    theirs = run_reference(name, kwargs, start, grad, scheduler=scheduler)
    ours = run_torch_path(name, kwargs, start, grad, scheduler=scheduler)
    assert_close(ours, theirs, start)
    if name == "AdaBound":  # bounds that ignored the schedule would be another run
        frozen = run_torch_path(name, kwargs, start, grad,
                                scheduler=lambda o: _Refresh(o, scheduler))
        assert np.abs(frozen - theirs).max() > 1e-6


class _Refresh:
    """A scheduler that also sets each group's base_lr to its new lr: fixed bounds."""

    def __init__(self, opt, scheduler):
        self.opt, self.inner = opt, scheduler(opt)
        for group in opt.param_groups:
            group["base_lr"] = group["lr"]

    def step(self):
        self.inner.step()
        for group in self.opt.param_groups:
            group["base_lr"] = group["lr"]


def test_numpy_path_with_a_schedule_matches_the_package_with_torchs_scheduler():
    """optlab.run.trajectory applies a schedule as opt.replace(lr=...): base_lr stays."""
    start, grad = quadratic()
    kwargs = dict(lr=0.02, gamma=0.05)
    theirs = run_reference("AdaBound", kwargs, start, grad, scheduler=multistep)
    traj = trajectory(optlab.AdaBound(**kwargs), _Objective(grad, start[0].size),
                                 start[0], STEPS,
                                 lr_schedule=optlab.schedules.MultiStepLR([60, 130], gamma=0.1))
    assert_close(traj.xs[1:], theirs, start)


class _Objective:
    def __init__(self, grad, dim):
        self.grad_list, self.dim = grad, dim

    def grad(self, x):
        return self.grad_list([x])[0]

    def value(self, x):
        return np.zeros(np.shape(x)[:-1])


def test_param_groups_with_their_own_lr_need_their_own_base_lr():
    """The package's base lr is each group's own lr at construction. optlab's group takes the
    optimizer's base_lr unless it is given one: with it, the runs agree."""
    start, grad = network()
    groups = lambda ts, extra: [{"params": ts[:2], "lr": 0.05, **extra}, {"params": ts[2:]}]  # noqa
    theirs = run_torch_optimizer(lambda ts: adabound.AdaBound(groups(ts, {}), lr=0.01),
                                 start, grad, STEPS, multistep)
    make = lambda extra: lambda ts: optlab.torch_optimizer(optlab.AdaBound(lr=0.01),  # noqa
                                                           groups(ts, extra))
    ours = run_torch_optimizer(make({"base_lr": 0.05}), start, grad, STEPS, multistep)
    assert_close(ours, theirs, start)
    inherited = run_torch_optimizer(make({}), start, grad, STEPS, multistep)
    assert np.abs(inherited - theirs).max() > 1e-6


def test_the_package_never_steps_a_group_added_later_and_optlab_does():
    """adabound 0.0.5 zips param_groups with the base lrs it recorded when it was made, so a
    group added by add_param_group is silently skipped. optlab keeps base_lr in each group."""
    a, b = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    theirs = adabound.AdaBound([a], lr=0.01)
    theirs.add_param_group({"params": [b]})
    c, d = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    ours = optlab.torch_optimizer(optlab.AdaBound(lr=0.01), [c])
    ours.add_param_group({"params": [d]})
    for p in (a, b, c, d):
        p.grad = torch.ones(2)
    theirs.step()
    ours.step()
    assert torch.equal(b, torch.ones(2)) and not torch.equal(a, torch.ones(2))
    assert torch.equal(c, a) and torch.equal(d, a)


# -- 2. checkpoints -------------------------------------------------------------------------------
@pytest.mark.parametrize("case", [("AdaBound", dict(lr=0.02, amsbound=True, weight_decay=0.01)),
                                  ("AdaMod", dict(lr=0.05, weight_decay=0.01))], ids=case_id)
def test_state_dict_round_trip_resumes_exactly(case):
    """Save at step 100 (optimizer and scheduler), load into an optimizer made with another lr,
    continue: bit for bit the uninterrupted run. base_lr travels in the checkpoint."""
    name, kwargs = case
    start, grad = network()
    whole = run_torch_path(name, kwargs, start, grad, scheduler=multistep)

    tensors = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in start]
    opt = optlab.torch_optimizer(getattr(optlab, name)(**kwargs), tensors)
    schedule = multistep(opt)
    for _ in range(100):
        for x, g in zip(tensors, grad([x.detach().numpy().copy() for x in tensors])):
            x.grad = torch.from_numpy(g)
        opt.step()
        schedule.step()
    saved = copy.deepcopy((opt.state_dict(), schedule.state_dict()))
    params = [x.detach().numpy().copy() for x in tensors]

    resumed = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params]
    other = getattr(optlab, name)(**{**kwargs, "lr": 0.5})
    new_opt = optlab.torch_optimizer(other, resumed)
    new_schedule = multistep(new_opt)
    new_opt.load_state_dict(saved[0])
    new_schedule.load_state_dict(saved[1])
    rest = []
    for _ in range(STEPS - 100):
        for x, g in zip(resumed, grad([x.detach().numpy().copy() for x in resumed])):
            x.grad = torch.from_numpy(g)
        new_opt.step()
        new_schedule.step()
        rest.append(np.concatenate([x.detach().numpy().ravel() for x in resumed]))
    np.testing.assert_array_equal(np.array(rest), whole[100:])
    if name == "AdaBound":
        assert new_opt.param_groups[0]["base_lr"] == kwargs["lr"]


@pytest.mark.parametrize("case", [("AdaBound", dict(lr=0.02, amsbound=True)),
                                  ("AdaMod", dict(lr=0.05, weight_decay=0.01))], ids=case_id)
def test_the_packages_checkpoint_loads_and_continues_as_the_package(case):
    name, kwargs = case
    start, grad = network()
    tensors = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in start]
    ref = REFERENCE[name](tensors, **kwargs)
    history = []
    for t in range(STEPS):
        if t == 100:
            saved = copy.deepcopy(ref.state_dict())
            params = [x.detach().numpy().copy() for x in tensors]
        for x, g in zip(tensors, grad([x.detach().numpy().copy() for x in tensors])):
            x.grad = torch.from_numpy(g)
        ref.step()
        history.append(np.concatenate([x.detach().numpy().ravel() for x in tensors]))

    resumed = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params]
    ours = optlab.torch_optimizer(getattr(optlab, name)(**kwargs), resumed)
    ours.load_state_dict(saved)
    rest = []
    for _ in range(STEPS - 100):
        for x, g in zip(resumed, grad([x.detach().numpy().copy() for x in resumed])):
            x.grad = torch.from_numpy(g)
        ours.step()
        rest.append(np.concatenate([x.detach().numpy().ravel() for x in resumed]))
    assert_close(np.array(rest), np.array(history[100:]), params)
    assert all(s["step"] == STEPS for s in ours.state.values())


@pytest.mark.parametrize("case", CASES[:1] + CASES[3:4] + CASES[-1:], ids=case_id)
def test_numpy_state_is_plain_data_that_pickles_and_resumes(case):
    name, kwargs = case
    start, grad = quadratic()
    opt = getattr(optlab, name)(**kwargs)
    whole = run_numpy(opt, start, grad)[0]
    _, params, state = run_numpy(opt, start, grad, steps=120)
    opt2, state2 = pickle.loads(pickle.dumps((opt, state)))
    rest = run_numpy(opt2, params, grad, steps=STEPS - 120, state=state2)[0]
    np.testing.assert_array_equal(rest, whole[120:])


# -- 3. bad input (the packages' own checks, with their messages: test_contract.BAD_ARGUMENTS) --
@pytest.mark.parametrize("kwargs,message", [
    (dict(gamma=0.0), "Invalid gamma parameter: 0.0 (gamma must lie in (0, 1)"),
    (dict(lr=0.0), "Invalid base learning rate: 0.0 (base_lr must be > 0"),
    (dict(lr=0.1, base_lr=0.0), "Invalid base learning rate: 0.0 (base_lr must be > 0"),
    (dict(weight_decay=-0.1), "Invalid weight_decay value: -0.1 (weight_decay must be >= 0)"),
    (dict(final_lr=float("nan")), "Invalid final learning rate: nan"),
])
def test_adabound_is_stricter_than_its_package(kwargs, message):
    """gamma = 0 and lr = 0 pass the package's checks and then divide by zero in its first
    step; a negative weight decay passes them and runs. optlab refuses each when it is made."""
    with pytest.raises(ValueError, match=re.escape(message)):
        optlab.AdaBound(**kwargs)
    if "gamma" in kwargs or kwargs == dict(lr=0.0):
        p = torch.nn.Parameter(torch.ones(2))
        ref = adabound.AdaBound([p], **kwargs)
        p.grad = torch.ones(2)
        with pytest.raises(ZeroDivisionError):
            ref.step()


def test_adamod_refuses_a_negative_weight_decay_and_wrong_types():
    with pytest.raises(ValueError, match=re.escape("weight_decay must be >= 0")):
        optlab.AdaMod(weight_decay=-1.0)
    with pytest.raises(TypeError, match="amsbound must be True or False"):
        optlab.AdaBound(amsbound=1)
    with pytest.raises(TypeError, match="unexpected argument"):
        optlab.AdaMod(amsbound=True)
    with pytest.raises(TypeError, match="beta3 must be a float"):
        optlab.AdaMod(beta3=None)


def test_a_bad_group_is_refused_on_the_torch_path_and_nothing_changes():
    p, q = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(2))
    opt = optlab.torch_optimizer(optlab.AdaBound(), [p])
    with pytest.raises(ValueError, match=re.escape("gamma must lie in (0, 1)")):
        opt.add_param_group({"params": [q], "gamma": 0.0})
    assert len(opt.param_groups) == 1


# -- 4. properties derived from the papers' formulas ----------------------------------------------
def paper_bounds(final_lr, speed, t):
    """Luo et al.'s bound functions with final rate α* and speed (their 1 − β₂, the package's
    gamma): η_l(t) = α* − α*/(speed·t + 1), η_u(t) = α* + α*/(speed·t)."""
    return final_lr - final_lr / (speed * t + 1), final_lr + final_lr / (speed * t)


def steps_and_momenta(opt, start, grad, steps, beta1):
    """Per step t: (t, d_t, m_t, δ_t) with d_t = θ_{t−1} − θ_t from optlab's NumPy path, m_t the
    EMA of the gradients recomputed here from the iterates (not read from optlab's state), and
    δ_t a few units in the last place of θ, the rounding error of the difference d_t."""
    xs, _, _ = run_numpy(opt, start, grad, steps)
    xs = np.vstack([np.concatenate([p.ravel() for p in start]), xs])
    sizes = np.cumsum([p.size for p in start])[:-1]
    m, out = np.zeros(xs.shape[1]), []
    for t in range(1, steps + 1):
        params = [a.reshape(p.shape) for a, p in zip(np.split(xs[t - 1], sizes), start)]
        g = np.concatenate([a.ravel() for a in grad(params)])
        m = beta1 * m + (1 - beta1) * g
        ulp = np.spacing(np.maximum(np.abs(xs[t - 1]), np.abs(xs[t])))
        out.append((t, xs[t - 1] - xs[t], m, 4 * ulp))
    return out


def assert_between(d, m, delta, low, high):
    """d = r·m with low ≤ r ≤ high per coordinate, up to δ and 1e-12 relative; returns how many
    coordinates sit at the lower bound, at the upper bound and strictly inside."""
    slack = delta + 1e-12 * high * np.abs(m)
    assert np.all(d * np.sign(m) >= low * np.abs(m) - slack)
    assert np.all(d * np.sign(m) <= high * np.abs(m) + slack)
    at_low = np.abs(d - low * m) <= slack
    at_high = np.abs(d - high * m) <= slack
    inside = ~at_low & ~at_high & (np.abs(m) > 0)
    return int(at_low.sum()), int(at_high.sum()), int(inside.sum())


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("kwargs", [dict(), dict(lr=0.1), dict(lr=0.03, gamma=0.05, final_lr=0.05),
                                    dict(amsbound=True, final_lr=0.01, gamma=0.01)])
def test_adabound_steps_lie_between_the_papers_bounds(kwargs, problem):
    start, grad = PROBLEMS[problem]()
    opt = optlab.AdaBound(**kwargs)
    h = opt.hyperparameters
    counts = np.zeros(3, dtype=int)
    for t, d, m, delta in steps_and_momenta(opt, start, grad, STEPS, h["betas"][0]):
        counts += assert_between(d, m, delta, *paper_bounds(h["final_lr"], h["gamma"], t))
    assert counts[0] + counts[1] > 0, counts  # the clip acts: the check is not vacuous


def test_both_bounds_bind():
    """In one run the step sits at η_l(t) in some coordinates and steps, at η_u(t) in others,
    and strictly between in others (the quadratic: 344, 463 and 393 of 1200)."""
    start, grad = quadratic()
    opt = optlab.AdaBound(lr=0.03, gamma=0.05, final_lr=0.05)
    counts = np.zeros(3, dtype=int)
    for t, d, m, delta in steps_and_momenta(opt, start, grad, STEPS, 0.9):
        counts += assert_between(d, m, delta, *paper_bounds(0.05, 0.05, t))
    assert np.all(counts > 100), counts


def test_adabound_defaults_are_the_papers_bound_functions():
    """With the defaults, the package's final_lr = 0.1 and gamma = 1e-3 give the paper's
    η_l(t) = 0.1 − 0.1/((1−β₂)t + 1), η_u(t) = 0.1 + 0.1/((1−β₂)t) at β₂ = 0.999."""
    start, grad = quadratic()
    beta2, clipped = 0.999, 0
    for t, d, m, delta in steps_and_momenta(optlab.AdaBound(), start, grad, STEPS, 0.9):
        low, high = 0.1 - 0.1 / ((1 - beta2) * t + 1), 0.1 + 0.1 / ((1 - beta2) * t)
        at_low, at_high, _ = assert_between(d, m, delta + 1e-11 * np.abs(m), low, high)
        clipped += at_low + at_high
    assert clipped > 0


def test_adabound_tends_to_sgd_with_rate_final_lr():
    """|r_t − α*| ≤ α*/(γ t) → 0 (from the bound functions), and from step T on AdaBound follows
    SGD with momentum β₁ in its EMA form (torch's SGD with lr α*(1−β₁), momentum β₁ and buffer
    m_T/(1−β₁)) ever more closely as T grows."""
    start, grad = quadratic()
    final_lr, gamma, beta1 = 0.05, 0.5, 0.9
    opt = optlab.AdaBound(lr=1e-3, final_lr=final_lr, gamma=gamma)
    for t, d, m, delta in steps_and_momenta(opt, start, grad, 2000, beta1):
        width = final_lr / (gamma * t)
        assert_between(d, m, delta, final_lr - width, final_lr + width)

    gaps = []
    for T in (100, 1000):
        _, params, state = run_numpy(opt, start, grad, steps=T)
        sgd = optlab.SGD(lr=final_lr * (1 - beta1), momentum=beta1)
        sgd_state = [{"step": T, "momentum_buffer": s["exp_avg"] / (1 - beta1)} for s in state]
        ours = run_numpy(opt, params, grad, steps=50, state=state)[0]
        theirs = run_numpy(sgd, params, grad, steps=50, state=sgd_state)[0]
        moved = np.abs(theirs[-1] - np.concatenate([p.ravel() for p in params])).max()
        gaps.append(np.abs(ours - theirs).max() / moved)
    assert gaps[1] < gaps[0] / 5 and gaps[1] < 1e-2, gaps


def adamod_cap(kwargs, grads):
    """m_t, η_t and s_t, Ding et al.'s EMA of the step sizes, for a gradient sequence, with the
    step size in the package's form η_t = γ√(1−β₂ᵗ)/((1−β₁ᵗ)(√v_t + ε))."""
    lr, (beta1, beta2), beta3, eps = (kwargs.get("lr", 1e-3), kwargs.get("betas", (0.9, 0.999)),
                                      kwargs.get("beta3", 0.999), kwargs.get("eps", 1e-8))
    m = v = s = 0.0
    out = []
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        eta = lr * math.sqrt(1 - beta2 ** t) / (1 - beta1 ** t) / (np.sqrt(v) + eps)
        s = beta3 * s + (1 - beta3) * eta
        out.append((m, eta, s))
    return out


@pytest.mark.parametrize("problem", ["quadratic", "rosenbrock"])
@pytest.mark.parametrize("kwargs", [dict(), dict(lr=0.1, beta3=0.9), dict(lr=0.05, beta3=0.5)])
def test_adamod_steps_never_exceed_the_ema_cap(kwargs, problem):
    start, grad = PROBLEMS[problem]()
    xs, _, _ = run_numpy(optlab.AdaMod(**kwargs), start, grad)
    xs = np.vstack([start[0], xs])
    grads = [grad([x])[0] for x in xs[:-1]]
    capped = free = 0
    for t, (m, eta, s) in enumerate(adamod_cap(kwargs, grads), start=1):
        step = np.abs(xs[t - 1] - xs[t])
        slack = 4 * np.spacing(np.abs(xs[t - 1])) + 1e-12 * s * np.abs(m)
        assert np.all(step <= s * np.abs(m) + slack), t
        capped += np.sum(eta > s * (1 + 1e-9))
        free += np.sum(eta < s * (1 - 1e-9))
    assert capped > 0  # the cap binds (at β₃ = 0.999, in all of the first 200 steps)
    if kwargs.get("beta3", 0.999) <= 0.9:
        assert free > 0  # a short average catches up with η_t, which then falls below it


def test_adamods_first_step_is_a_thousandth_of_adams():
    """s_0 = 0: the first rate is (1−β₃)η_1, and with ε = 0 the first step is exactly
    (1−β₃)·lr·sign(g), as Adam's first step is lr·sign(g)."""
    g = np.array([3.0, -0.25, 1e-3])
    x, _ = optlab.AdaMod(lr=0.01, eps=0.0).step(np.zeros(3), g, optlab.AdaMod().init(np.zeros(3)))
    np.testing.assert_allclose(x, -(1 - 0.999) * 0.01 * np.sign(g), rtol=1e-12)


def test_adamods_package_cap_is_looser_than_the_papers_early_and_equal_later():
    """Ding et al.'s Algorithm 1 caps η' = α/√v̂ (here ε = 0) and multiplies by m̂ = m/(1−β₁ᵗ);
    the package folds 1/(1−β₁ᵗ) into η before the EMA. Since 1−β₁ᵏ ≤ 1−β₁ᵗ for k ≤ t, the
    package's cap s_t is at least the paper's s'_t/(1−β₁ᵗ), equal at t = 1, and the ratio tends
    to 1. The paper's algorithm typed literally, against optlab's rule."""
    rng = np.random.default_rng(5)
    lr, beta1, beta2, beta3 = 1e-3, 0.9, 0.999, 0.99
    m = v = s_paper = 0.0
    ratios = []
    opt = optlab.AdaMod(lr=lr, beta3=beta3, eps=0.0)
    x = np.zeros(4)
    state = opt.init(x)
    for t in range(1, 3001):
        g = rng.normal(size=4)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        eta_paper = lr / np.sqrt(v / (1 - beta2 ** t))
        s_paper = beta3 * s_paper + (1 - beta3) * eta_paper
        x, state = opt.step(x, g, state)
        ratios.append(state["exp_avg_lr"] / (s_paper / (1 - beta1 ** t)))
    ratios = np.array(ratios)
    np.testing.assert_allclose(ratios[0], 1.0, rtol=1e-12)
    assert np.all(ratios >= 1 - 1e-12)
    assert ratios[20].min() > 1.5 and np.abs(ratios[-1] - 1).max() < 1e-6


# -- 5. SymPy: the same rule on expressions (sweeps: test_sweep_property, every hyperparameter) --
@pytest.mark.parametrize("opt", [optlab.AdaBound(lr=0.1, gamma=0.5, weight_decay=0.1),
                                 optlab.AMSBound(lr=0.1), optlab.AdaMod(lr=0.1, beta3=0.5)],
                         ids=repr)
def test_the_rule_runs_on_sympy_values_and_agrees_with_floats(opt):
    import sympy as sp

    from optlab.symbolic import run_rule

    grads = [sp.Rational(3, 2), sp.Rational(-1, 4), sp.Rational(1, 2), sp.Rational(2, 1)]
    thetas, _ = run_rule(opt, grads, param=sp.Rational(1, 3))
    x, state = np.array(1 / 3), opt.init(np.array(1 / 3))
    for g, theta in zip(grads, thetas[1:]):
        x, state = opt.step(x, np.array(float(g)), state)
        assert abs(float(sp.N(theta, 30)) - float(x)) <= 1e-14


def test_algorithm_boxes_render_and_cite():
    from optlab.display import algorithm_box_latex

    assert r"\operatorname{clip}" in algorithm_box_latex(optlab.adabound_update)
    assert r"\min(\eta_t, s_t)" in algorithm_box_latex(optlab.adamod_update)
    assert "Luo, Xiong, Liu" in optlab.adabound_update.__doc__
    assert "Ding, Ren" in optlab.adamod_update.__doc__


def test_repr_and_replace_keep_base_lr():
    opt = optlab.AdaBound(lr=0.01)
    assert opt.hyperparameters["base_lr"] == 0.01
    assert opt.replace(lr=0.001).hyperparameters["base_lr"] == 0.01  # a schedule's step
    assert opt.replace(lr=0.001, base_lr=None).hyperparameters["base_lr"] == 0.001  # a new lr
    assert "base_lr=0.01" in repr(opt)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert copy.deepcopy(opt).hyperparameters == opt.hyperparameters
